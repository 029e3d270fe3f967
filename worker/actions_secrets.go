package worker

import (
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/signoff/signoff/activities/action"
	"github.com/signoff/signoff/config"
	"github.com/signoff/signoff/secretchange"
	"github.com/signoff/signoff/store/secretstore"
)

// secretActions registers secret_change with its configured stores. The
// keys (SIGNOFF_SECRET_KEYS) are read from the environment handed down:
// without them the action validates but every proposal and apply is
// refused. A dev_only config without keys gets a key made up for the
// process.
func secretActions(cfg *config.Loaded, sec Secrets, reg *action.Registry) error {
	sc := &action.SecretChange{Targets: map[string]action.SecretTarget{}, Client: &http.Client{Timeout: 30 * time.Second}}
	for name, t := range cfg.Actions.Secrets.Targets {
		store, err := secretstore.Open(name, t, sec.Env.Lookup, cfg.DevOnly)
		if err != nil {
			return err
		}
		target := action.SecretTarget{Store: store, Secrets: t.Secrets}
		if t.Roll != nil {
			if err := checkBaseURL(fmt.Sprintf("actions.secrets.targets.%s.roll.url", name), t.Roll.URL); err != nil || t.Roll.URL == "" {
				return fmt.Errorf("actions.secrets.targets.%s.roll.url: want an absolute http(s) URL", name)
			}
			target.Roll = &action.RollHook{URL: t.Roll.URL, Secret: []byte(sec.Env.Get(t.Roll.SecretEnv))}
		}
		sc.Targets[name] = target
	}
	keys, err := secretKeys(cfg, sec)
	if err != nil {
		return err
	}
	sc.Keys = keys
	reg.Register(action.SecretChangeType, sc)
	return nil
}

var (
	devSecretKeysOnce = sync.OnceValue(secretchange.GenerateKeys)
)

// secretKeys parses SIGNOFF_SECRET_KEYS; nil when unset (a dev_only
// config gets one key per process, shared by its gateway and worker).
func secretKeys(cfg *config.Loaded, sec Secrets) (*secretchange.Keys, error) {
	spec := sec.Env.Get(secretchange.EnvKeys)
	switch {
	case spec != "":
		return secretchange.ParseKeys(spec)
	case cfg.DevOnly:
		return devSecretKeysOnce(), nil
	}
	return nil, nil
}
