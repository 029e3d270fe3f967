package secretstore

import (
	"fmt"
	"sync"

	"github.com/signoff/signoff/config"
)

// Kinds of store.
const (
	KindAWS    = "aws_secrets_manager"
	KindVault  = "vault_kv2"
	KindMemory = "memory"
)

var (
	sharedMu sync.Mutex
	shared   = map[string]*Memory{}
)

// Shared is the process's memory store named name: the gateway and the
// worker of one `signoff dev` process see the same one.
func Shared(name string) *Memory {
	sharedMu.Lock()
	defer sharedMu.Unlock()
	if shared[name] == nil {
		shared[name] = NewMemory()
	}
	return shared[name]
}

// Open returns the store target name configures. env finds the
// credentials the config names; devOnly allows the memory kind.
func Open(name string, t config.SecretTarget, env func(string) (string, bool), devOnly bool) (Store, error) {
	switch t.Kind {
	case KindMemory:
		if !devOnly {
			return nil, fmt.Errorf("actions.secrets.targets.%s: kind memory is for dev_only configs", name)
		}
		return Shared(name), nil
	}
	return openRemote(name, t, env)
}
