package config

import (
	"fmt"
	"strings"
	"testing"
)

func TestEmailSection(t *testing.T) {
	l, err := Parse([]byte(`
notifiers: [email]
email:
  from: "Signoff <signoff@example.com>"
  tls: implicit
  subject_prefix: "[Approvals]"
  security_recipients: [security@example.com]
  view_link_ttl: 48h
`))
	if err != nil {
		t.Fatal(err)
	}
	e := l.Email
	if e.TLSMode() != EmailTLSImplicit || e.Prefix() != "[Approvals]" || e.ViewTTL().Hours() != 48 || e.SMTPTimeout().Seconds() != 30 {
		t.Fatalf("email section %+v", e)
	}
	if _, err := Parse([]byte("email:\n  form: x@example.com\n")); err == nil {
		t.Fatal("a misspelt key must be refused")
	}

	env := map[string]string{
		EnvSMTPHost:     " smtp.example.com ",
		EnvSMTPPort:     "",
		EnvSMTPUsername: "relay",
		EnvSMTPPassword: "hunter2-secret",
	}
	getenv := func(k string) string { return env[k] }
	sec, err := EmailSecretsFrom(getenv)
	if err != nil || sec.Host != "smtp.example.com" || sec.Port != 0 {
		t.Fatalf("secrets: %v %v", sec, err)
	}
	if sec := e.WithDefaultPort(sec); sec.Port != 465 {
		t.Fatalf("implicit TLS default port: %d", sec.Port)
	}
	if sec := (Email{}).WithDefaultPort(sec); sec.Port != 587 {
		t.Fatalf("STARTTLS default port: %d", sec.Port)
	}
	if sec := (Email{TLS: "none"}).WithDefaultPort(sec); sec.Port != 25 {
		t.Fatalf("plain text default port: %d", sec.Port)
	}
	env[EnvSMTPPort] = "2525"
	if sec, err := EmailSecretsFrom(getenv); err != nil || e.WithDefaultPort(sec).Port != 2525 {
		t.Fatalf("SMTP_PORT wins: %v %v", sec, err)
	}
	for _, s := range []string{sec.String(), fmt.Sprintf("%v %+v %#v", sec, sec, sec)} {
		if strings.Contains(s, "hunter2") {
			t.Fatalf("password printed: %s", s)
		}
	}
	env[EnvSMTPPort] = "seventy"
	if _, err := EmailSecretsFrom(getenv); err == nil || !strings.Contains(err.Error(), EnvSMTPPort) {
		t.Fatalf("a bad port must be refused: %v", err)
	}

	err = Email{From: "not an address", TLS: "ssl"}.ValidateNotifier(EmailSecrets{Username: "relay"})
	for _, want := range []string{"email.from", EnvSMTPHost, "email.tls", "both"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("want %q in %v", want, err)
		}
	}
	if err := e.ValidateNotifier(EmailSecrets{Host: "smtp.example.com", Port: 465, Username: "u", Password: "p"}); err != nil {
		t.Fatalf("valid: %v", err)
	}
	if err := (Email{From: "a@example.com", TLS: "none"}).ValidateNotifier(EmailSecrets{Host: "127.0.0.1", Port: 25}); err != nil {
		t.Fatalf("plain text to loopback: %v", err)
	}
}
