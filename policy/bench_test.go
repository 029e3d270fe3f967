package policy

import (
	"testing"

	"github.com/signoff/signoff/approval"
)

func BenchmarkResolve(b *testing.B) {
	set, err := NewSet(parse(&testing.T{}, good), dir(&testing.T{}), nil)
	if err != nil {
		b.Fatal(err)
	}
	req := approval.Request{Environment: "production", Action: approval.Action{Type: "webhook"}}
	for b.Loop() {
		if _, err := set.Resolve(req, "alice"); err != nil {
			b.Fatal(err)
		}
	}
}
