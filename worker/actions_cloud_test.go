package worker

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/signoff/signoff/activities/action"
	"github.com/signoff/signoff/approval"
	"github.com/signoff/signoff/auth/proof"
	"github.com/signoff/signoff/config"
	"github.com/signoff/signoff/temporal/codec"
)

func parse(t *testing.T, src string) *config.Loaded {
	t.Helper()
	cfg, err := config.Parse([]byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// lookupIn is an environment of fixed values, as the composition root
// hands it down.
func lookupIn(env map[string]string) func(string) (string, bool) {
	return func(name string) (string, bool) {
		v, ok := env[name]
		return v, ok
	}
}

// TestActionOutputsAreRedactedWithTheWorkersSecrets: every secret the
// worker finds in the environment handed down is scrubbed from what an
// action returns, here a webhook receiver that echoes them all.
func TestActionOutputsAreRedactedWithTheWorkersSecrets(t *testing.T) {
	codecKey := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{3}, 32))
	secrets := map[string]string{
		"SIGNOFF_WEBHOOK_SECRET": "webhook-hmac-key-1234",
		"MY_GH_TOKEN":            "plain-github-token-5678",
		"AWS_SECRET_ACCESS_KEY":  "aws/secret+key-abcdefgh",
		"SLACK_BOT_TOKEN":        "slack-bot-token-9999",
		"TEMPORAL_API_KEY":       "temporal-api-key-0000",
		codec.EnvKeys:            "k1:" + codecKey,
		proof.KeysEnv:            "p1:" + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{5}, 32)),
		config.EnvEmailLinkKey:   base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{6}, 32)),
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		for name, v := range secrets {
			if _, key, ok := strings.Cut(v, ":"); ok && (name == codec.EnvKeys || name == proof.KeysEnv) {
				v = key // what could leak is the key itself
			}
			fmt.Fprintf(w, "%s ", v)
		}
	}))
	defer srv.Close()
	cfg := parse(t, `actions:
  webhook: {allowed_url_prefixes: ["http://127.0.0.1:"]}
  github: {token_env: MY_GH_TOKEN}
`)
	reg, err := NewActions(cfg, lookupIn(secrets))
	if err != nil {
		t.Fatal(err)
	}
	// Outside an activity the webhook logs its response body to slog's
	// default logger, at debug level: capture it.
	var logged bytes.Buffer
	prev := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&logged, &slog.HandlerOptions{Level: slog.LevelDebug})))
	defer slog.SetDefault(prev)
	out, err := reg.Run(context.Background(), &approval.State{ID: "x", Request: approval.Request{Action: approval.Action{Type: "webhook", URL: srv.URL}}})
	if err != nil {
		t.Fatal(err)
	}
	if out != "HTTP 200 OK" {
		t.Errorf("output %q: only the status line is shown to readers", out)
	}
	log := logged.String()
	for name, v := range secrets {
		if _, key, ok := strings.Cut(v, ":"); ok && (name == codec.EnvKeys || name == proof.KeysEnv) {
			v = key
		}
		if strings.Contains(log, v) {
			t.Errorf("%s survives in the log: %q", name, log)
		}
	}
	if strings.Count(log, "[redacted]") != len(secrets) {
		t.Errorf("logged body %q", log)
	}
}

func TestCloudActionsAreRegisteredAndConfigChecked(t *testing.T) {
	reg, err := NewActions(parse(t, ""), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, typ := range []string{action.IAMDeactivateKeyType, action.GitHubDispatchType} {
		if !strings.Contains(strings.Join(reg.Types(), ","), typ) {
			t.Errorf("%s not registered: %v", typ, reg.Types())
		}
	}
	bad := map[string]string{
		"actions: {aws_iam: {endpoint: \"iam.local\"}}":                       "actions.aws_iam.endpoint",
		"actions: {github: {base_url: \"https://user:pw@ghe.local/api/v3\"}}": "actions.github.base_url",
		"actions: {github: {approval_id_input: \"has space\"}}":               "approval_id_input",
	}
	for src, want := range bad {
		if _, err := NewActions(parse(t, src), nil); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: want error containing %q, got %v", src, want, err)
		}
	}
}
