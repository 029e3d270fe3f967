package worker

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
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
		// A grant target's DSN, and its password alone (a driver error
		// may quote one without the other).
		"ORDERS_DB_URL": "postgres://grantor:db-pass-4242@db.internal:5432/orders",
		"DB_PASSWORD":   "db-pass-4242",
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
  postgres: {targets: {orders: {url_env: ORDERS_DB_URL, roles: [orders_read]}}}
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

func TestKubernetesRBACIsRegisteredAndConfigChecked(t *testing.T) {
	cfg := parse(t, `actions:
  kubernetes:
    clusters:
      prod:
        server: https://k8s.acme.internal:6443
        token_env: PROD_KUBE_TOKEN
        ca_file: /etc/signoff/prod-ca.pem
        cluster_roles: [view]
        namespaces: {payments: [deployer]}
      dev: {server: "http://127.0.0.1:6443", token_env: DEV_KUBE_TOKEN, cluster_roles: [edit]}
`)
	// The gateway validates without the tokens.
	reg, err := NewActions(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !reg.Grants(action.KubernetesRBACType) {
		t.Fatalf("%s is not a grant action: %v", action.KubernetesRBACType, reg.Types())
	}
	ok := approval.Action{Type: action.KubernetesRBACType, Params: map[string]string{"cluster": "prod", "role": "deployer", "namespace": "payments", "subject": "alice"}}
	if err := reg.Validate(ok); err != nil {
		t.Fatal(err)
	}
	ok.Params["cluster"] = "dev"
	if err := reg.Validate(ok); err == nil {
		t.Error("a Role not configured on dev was allowed")
	}
	// The tokens are redacted from outputs and errors.
	vals := secretValues(cfg, Secrets{Env: lookupIn(map[string]string{"PROD_KUBE_TOKEN": "prod-token-1234", "DEV_KUBE_TOKEN": "dev-token-5678"})})
	for _, tok := range []string{"prod-token-1234", "dev-token-5678"} {
		if !slices.Contains(vals, tok) {
			t.Errorf("%s is not redacted: %v", tok, vals)
		}
	}

	bad := map[string]string{
		"{server: \"https://k8s.local\", cluster_roles: [view]}":                          "actions.kubernetes.clusters.c: server and token_env are required",
		"{token_env: T, cluster_roles: [view]}":                                           "actions.kubernetes.clusters.c: server and token_env are required",
		"{server: \"http://k8s.local\", token_env: T, cluster_roles: [view]}":             "actions.kubernetes.clusters.c.server must be an https URL",
		"{server: \"https://k8s.local\", token_env: T}":                                   "name cluster_roles or namespaces",
		"{server: \"https://k8s.local\", token_env: T, namespaces: {Bad_NS: [deployer]}}": "is not a namespace name",
	}
	for c, want := range bad {
		src := "actions: {kubernetes: {clusters: {c: " + c + "}}}"
		if _, err := NewActions(parse(t, src), nil); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: want error containing %q, got %v", src, want, err)
		}
	}
}
