package proof

import (
	"fmt"
	"os"
)

// FromEnv reads the ring from KeysEnv; the gateway and the worker both need
// it, and neither starts without it.
func FromEnv() (*Keyring, error) {
	spec := os.Getenv(KeysEnv)
	if spec == "" {
		return nil, fmt.Errorf("%s is not set: the gateway stamps every decision with it and the worker accepts only stamped ones; "+
			"give both the same value, e.g. %s=k1:$(openssl rand -base64 32)", KeysEnv, KeysEnv)
	}
	return Parse(spec)
}

// EnsureDevEnv sets KeysEnv to a fresh random ring when it is unset, for a
// dev stack whose gateway and worker share this process (or its children).
func EnsureDevEnv() error {
	if os.Getenv(KeysEnv) != "" {
		return nil
	}
	return os.Setenv(KeysEnv, Generate().Encode())
}
