package worker

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/signoff/signoff/channel/email/linktoken"
	"github.com/signoff/signoff/config"
)

// TestEmailNotifierTakesItsSecretsFromTheRoot: the relay and the link key
// are what the composition root handed down; the worker reads no
// environment.
func TestEmailNotifierTakesItsSecretsFromTheRoot(t *testing.T) {
	t.Setenv(config.EnvEmailLinkKey, "c2lnbm9mZi10ZXN0LWxpbmsta2V5LTMyLWJ5dGVzLWxvbmc=")
	t.Setenv(config.EnvSMTPHost, "smtp.example.com")
	cfg := parse(t, "notifiers: [email]\nemail: {from: signoff@example.com}\n")
	logger := slog.New(slog.DiscardHandler)

	_, err := newEmailNotifier(cfg, Secrets{}, logger)
	for _, want := range []string{config.EnvEmailLinkKey + " is not set", config.EnvSMTPHost} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("no secrets handed down: want %q in %v", want, err)
		}
	}
	bad := errors.New("SMTP_PORT \"x\": want a port number")
	if _, err := newEmailNotifier(cfg, Secrets{EmailErr: bad}, logger); !errors.Is(err, bad) {
		t.Errorf("relay settings error: %v", err)
	}
	keys, err := linktoken.New(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	sec := Secrets{Email: config.EmailSecrets{Host: "smtp.example.com"}, EmailLinks: keys}
	if _, err := newEmailNotifier(cfg, sec, logger); err != nil {
		t.Errorf("with secrets: %v", err)
	}
}

func TestSlackNotifierTakesItsSecretsFromTheRoot(t *testing.T) {
	t.Setenv(config.EnvSlackBotToken, "xoxb-from-the-environment")
	cfg := parse(t, "notifiers: [slack]\nslack: {default_channel: \"#approvals\"}\n")
	logger := slog.New(slog.DiscardHandler)
	if _, err := newSlackNotifier(cfg, Secrets{}, logger); err == nil || !strings.Contains(err.Error(), config.EnvSlackBotToken) {
		t.Errorf("no token handed down: %v", err)
	}
	sec := Secrets{Slack: config.SlackSecrets{BotToken: "xoxb-1", APIURL: "http://slack.example.com/api/"}}
	if _, err := newSlackNotifier(cfg, sec, logger); err == nil || !strings.Contains(err.Error(), "must use https") {
		t.Errorf("the API URL override is checked: %v", err)
	}
	sec.Slack.APIURL = "http://127.0.0.1:1/api/"
	if _, err := newSlackNotifier(cfg, sec, logger); err != nil {
		t.Errorf("with secrets: %v", err)
	}
}

func TestTeamsNotifierTakesItsSecretFromTheRoot(t *testing.T) {
	t.Setenv(config.DefaultTeamsAppPasswordEnv, "from-the-process-environment")
	cfg := parse(t, "notifiers: [teams]\nteams: {app_id: bot, tenant_id: tenant, default_conversation: \"19:a@thread.tacv2\"}\n")
	logger := slog.New(slog.DiscardHandler)
	if _, err := newTeamsNotifier(cfg, Secrets{}, logger); err == nil || !strings.Contains(err.Error(), config.DefaultTeamsAppPasswordEnv) {
		t.Errorf("no secret handed down: %v", err)
	}
	sec := Secrets{Env: lookupIn(map[string]string{config.DefaultTeamsAppPasswordEnv: "s3cret"})}
	if _, err := newTeamsNotifier(cfg, sec, logger); err != nil {
		t.Errorf("with the secret: %v", err)
	}
	if got := newRedactor(cfg, sec)("token s3cret leaked"); strings.Contains(got, "s3cret") {
		t.Errorf("the bot's secret is scrubbed from action outputs: %q", got)
	}
}
