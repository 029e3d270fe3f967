package app

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/signoff/signoff/approval"
	"github.com/signoff/signoff/auth/proof"
	"github.com/signoff/signoff/config"
)

const minimalConfig = "dev_only: true\nusers: [{name: bob, token: t1}]\nnotifiers: [log]\n"

func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestSettingsFrom(t *testing.T) {
	cfg, err := config.Parse([]byte(minimalConfig))
	if err != nil {
		t.Fatal(err)
	}
	// Nothing set: no keys, and no error (only the gateway and the worker
	// need proof keys, and they say so).
	set, err := SettingsFrom(cfg, env(nil))
	if err != nil || set.Proofs != nil || set.Codec != nil {
		t.Fatalf("empty environment: %+v, %v", set, err)
	}
	if _, err := NewWorker(nil, cfg, set, slog.New(slog.DiscardHandler)); !errors.Is(err, proof.ErrNoKeys) {
		t.Errorf("worker without proof keys: %v", err)
	}
	if _, err := NewGateway(context.Background(), nil, config.NewLive(cfg, nil), set, slog.New(slog.DiscardHandler)); !errors.Is(err, proof.ErrNoKeys) {
		t.Errorf("gateway without proof keys: %v", err)
	}
	keys := proof.Generate().Encode()
	set, err = SettingsFrom(cfg, env(map[string]string{proof.KeysEnv: keys, config.EnvNotifiers: "log,email"}))
	if err != nil || set.Proofs == nil || !slices.Equal(set.Notifiers, []string{"log", "email"}) {
		t.Fatalf("with keys: %+v, %v", set, err)
	}
	if _, err := SettingsFrom(cfg, env(map[string]string{proof.KeysEnv: "k1:short"})); err == nil || !strings.Contains(err.Error(), proof.KeysEnv) {
		t.Errorf("bad proof keys: %v", err)
	}
}

// Load applies the environment's overrides, and a reload applies them again;
// LiveActions validates with the config in force.
func TestLoadAndReload(t *testing.T) {
	path := filepath.Join(t.TempDir(), "signoff.yaml")
	write := func(s string) {
		if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(minimalConfig)
	live, _, err := Load(path, env(map[string]string{config.EnvNotifiers: "log"}))
	if err != nil {
		t.Fatal(err)
	}
	actions := NewLiveActions(live, env(nil))
	hook := approval.Action{Type: "webhook", URL: "https://deploy.example.com/hooks/api"}
	if err := actions.Validate(hook); err == nil {
		t.Fatal("a webhook no config allows was accepted")
	}
	write(minimalConfig + "notifiers: [log, email]\nactions: {webhook: {allowed_url_prefixes: [\"https://deploy.example.com/hooks/\"]}}\n")
	if _, err := live.Reload(); err == nil {
		t.Fatal("a duplicate key was accepted")
	}
	write(strings.Replace(minimalConfig, "notifiers: [log]\n", "", 1) + "notifiers: [email]\nactions: {webhook: {allowed_url_prefixes: [\"https://deploy.example.com/hooks/\"]}}\n")
	next, err := live.Reload()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(next.Notifiers, []string{"log"}) {
		t.Errorf("the override was not applied on reload: %v", next.Notifiers)
	}
	if err := actions.Validate(hook); err != nil {
		t.Errorf("the reloaded allow-list was not used: %v", err)
	}
}
