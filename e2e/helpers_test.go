package e2e

import (
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

func protojsonUnmarshal(b []byte, m proto.Message) error {
	return protojson.Unmarshal(b, m)
}
