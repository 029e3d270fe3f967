package proof

import "fmt"

// ErrNoKeys is why neither the gateway nor the worker starts without a ring.
var ErrNoKeys = fmt.Errorf("%s is not set: the gateway stamps every decision with it and the worker accepts only stamped ones; "+
	"give both the same value, e.g. %s=k1:$(openssl rand -base64 32)", KeysEnv, KeysEnv)
