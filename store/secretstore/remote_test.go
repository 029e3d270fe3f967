package secretstore

import (
	"context"
	"strings"
	"testing"

	"github.com/signoff/signoff/config"
	"github.com/signoff/signoff/internal/fakevault"
)

// envOf is an environment lookup over m.
func envOf(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestOpenRemoteErrors(t *testing.T) {
	env := envOf(map[string]string{"VAULT_TOKEN_PROD": "hvs.x", "EMPTY": " "})
	for _, tc := range []struct {
		name string
		t    config.SecretTarget
		want string
	}{
		{"unknown kind", config.SecretTarget{Kind: "gcp"}, `actions.secrets.targets.prod: kind "gcp": want aws_secrets_manager, vault_kv2 or memory`},
		{"no kind", config.SecretTarget{}, `kind "": want`},
		{"vault without address", config.SecretTarget{Kind: KindVault, TokenEnv: "VAULT_TOKEN_PROD"}, "actions.secrets.targets.prod.address is required"},
		{"vault address not a URL", config.SecretTarget{Kind: KindVault, Address: "vault:8200", TokenEnv: "VAULT_TOKEN_PROD"}, `address "vault:8200": want an http(s) URL`},
		{"vault token unset", config.SecretTarget{Kind: KindVault, Address: "https://vault.example.com:8200", TokenEnv: "VAULT_TOKEN_STAGING"}, "VAULT_TOKEN_STAGING is not set or empty"},
		{"vault token empty", config.SecretTarget{Kind: KindVault, Address: "https://vault.example.com:8200", TokenEnv: "EMPTY"}, "EMPTY is not set or empty"},
		{"vault default token env", config.SecretTarget{Kind: KindVault, Address: "https://vault.example.com:8200"}, "VAULT_TOKEN is not set or empty"},
		{"vault with aws fields", config.SecretTarget{Kind: KindVault, Address: "https://vault.example.com:8200", TokenEnv: "VAULT_TOKEN_PROD", Region: "eu-west-1"}, "prod.region is not used by kind vault_kv2"},
		{"aws with vault fields", config.SecretTarget{Kind: KindAWS, TokenEnv: "VAULT_TOKEN_PROD"}, "prod.token_env is not used by kind aws_secrets_manager"},
		{"aws endpoint not a URL", config.SecretTarget{Kind: KindAWS, Endpoint: "localhost:4566"}, `endpoint "localhost:4566": want an http(s) URL`},
	} {
		_, err := Open("prod", tc.t, env, false)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: want %q, got %v", tc.name, tc.want, err)
		}
		if err != nil && strings.Contains(err.Error(), "hvs.x") {
			t.Errorf("%s: the error shows the token: %v", tc.name, err)
		}
	}
	if _, err := Open("dev", config.SecretTarget{Kind: KindMemory}, env, false); err == nil {
		t.Error("memory opened outside dev_only")
	}
}

func TestOpenRemote(t *testing.T) {
	ctx := context.Background()

	// AWS: region defaults to us-east-1; nothing is called until used.
	s, err := Open("prod", config.SecretTarget{Kind: KindAWS, Endpoint: "http://127.0.0.1:1", Profile: "ops"}, envOf(nil), false)
	if err != nil {
		t.Fatal(err)
	}
	a, ok := s.(*AWS)
	if !ok || a.opts.Region != "us-east-1" || a.opts.Profile != "ops" || a.opts.Endpoint != "http://127.0.0.1:1" || a.client != nil {
		t.Fatalf("AWS store %#v", s)
	}
	if s, err = Open("prod", config.SecretTarget{Kind: KindAWS, Region: "eu-west-1"}, envOf(nil), false); err != nil || s.(*AWS).opts.Region != "eu-west-1" {
		t.Fatalf("region: %v", err)
	}

	// Vault: the token from token_env, mount default secret.
	f := fakevault.New(t, testVaultToken)
	f.AddSecret("prod/db", map[string]string{"password": "p"})
	s, err = Open("prod", config.SecretTarget{Kind: KindVault, Address: f.URL, TokenEnv: "SIGNOFF_VAULT_TOKEN"},
		envOf(map[string]string{"SIGNOFF_VAULT_TOKEN": testVaultToken}), false)
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := s.(*Vault); !ok || v.mount != "secret" {
		t.Fatalf("Vault store %#v", s)
	}
	got, err := s.Read(ctx, "prod/db")
	if err != nil || got.Data["password"] != "p" || got.Version != "1" {
		t.Fatalf("Read: %+v, %v", got, err)
	}
	// VAULT_TOKEN when token_env is not set.
	s, err = Open("prod", config.SecretTarget{Kind: KindVault, Address: f.URL, Mount: "secret"}, envOf(map[string]string{"VAULT_TOKEN": testVaultToken}), false)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := s.Read(ctx, "prod/db"); err != nil || !got.Exists {
		t.Fatalf("Read: %+v, %v", got, err)
	}
}
