package secretstore

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/signoff/signoff/config"
)

// DefaultVaultTokenEnv is where a vault_kv2 target's token is read when
// its token_env is not set.
const DefaultVaultTokenEnv = "VAULT_TOKEN"

// openRemote opens the stores reached over the network: AWS Secrets
// Manager (region default us-east-1; credentials from the SDK's chain,
// loaded on first use) and Vault KV v2 (address required, mount default
// secret, the token read now from env(token_env)). Nothing is called
// here.
func openRemote(name string, t config.SecretTarget, env func(string) (string, bool)) (Store, error) {
	field := "actions.secrets.targets." + name
	switch t.Kind {
	case KindAWS:
		if err := unused(field, t.Kind, map[string]string{"address": t.Address, "mount": t.Mount, "token_env": t.TokenEnv}); err != nil {
			return nil, err
		}
		if t.Endpoint != "" {
			if u, err := url.Parse(t.Endpoint); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
				return nil, fmt.Errorf("%s.endpoint %q: want an http(s) URL", field, t.Endpoint)
			}
		}
		return NewAWS(AWSOptions{Region: t.Region, Endpoint: t.Endpoint, Profile: t.Profile}), nil
	case KindVault:
		if err := unused(field, t.Kind, map[string]string{"region": t.Region, "endpoint": t.Endpoint, "profile": t.Profile}); err != nil {
			return nil, err
		}
		if t.Address == "" {
			return nil, fmt.Errorf("%s.address is required for %s (https://vault.example.com:8200)", field, KindVault)
		}
		if u, err := url.Parse(t.Address); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return nil, fmt.Errorf("%s.address %q: want an http(s) URL", field, t.Address)
		}
		tokenEnv := t.TokenEnv
		if tokenEnv == "" {
			tokenEnv = DefaultVaultTokenEnv
		}
		token, _ := env(tokenEnv)
		if token = strings.TrimSpace(token); token == "" {
			return nil, fmt.Errorf("%s: the Vault token variable %s is not set or empty (token_env)", field, tokenEnv)
		}
		v, err := NewVault(VaultOptions{Address: t.Address, Mount: t.Mount, Token: token})
		if err != nil {
			return nil, fmt.Errorf("%s: %w", field, err)
		}
		return v, nil
	}
	return nil, fmt.Errorf("%s: kind %q: want %s, %s or %s", field, t.Kind, KindAWS, KindVault, KindMemory)
}

// unused refuses fields set that kind does not read: a target half
// configured for another kind is a mistake.
func unused(field, kind string, fields map[string]string) error {
	for _, k := range sortedKeys(fields) {
		if fields[k] != "" {
			return fmt.Errorf("%s.%s is not used by kind %s", field, k, kind)
		}
	}
	return nil
}
