package proof

import (
	"fmt"
	"os"
)

// ErrNoKeys is why neither the gateway nor the worker starts without a ring.
var ErrNoKeys = fmt.Errorf("%s is not set: the gateway stamps every decision with it and the worker accepts only stamped ones; "+
	"give both the same value, e.g. %s=k1:$(openssl rand -base64 32)", KeysEnv, KeysEnv)

// EnsureDevEnv sets KeysEnv to a fresh random ring when it is unset, for a
// dev stack whose gateway and worker share this process (or its children).
func EnsureDevEnv() error {
	if os.Getenv(KeysEnv) != "" {
		return nil
	}
	return os.Setenv(KeysEnv, Generate().Encode())
}
