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

	t.Setenv(EnvSMTPHost, "smtp.example.com")
	t.Setenv(EnvSMTPPort, "")
	t.Setenv(EnvSMTPUsername, "relay")
	t.Setenv(EnvSMTPPassword, "hunter2-secret")
	sec, err := e.EmailSecretsFromEnv()
	if err != nil || sec.Port != 465 {
		t.Fatalf("implicit TLS default port: %d %v", sec.Port, err)
	}
	if sec, _ := (Email{}).EmailSecretsFromEnv(); sec.Port != 587 {
		t.Fatalf("STARTTLS default port: %d", sec.Port)
	}
	for _, s := range []string{sec.String(), fmt.Sprintf("%v %+v %#v", sec, sec, sec)} {
		if strings.Contains(s, "hunter2") {
			t.Fatalf("password printed: %s", s)
		}
	}
	t.Setenv(EnvSMTPPort, "seventy")
	if _, err := e.EmailSecretsFromEnv(); err == nil {
		t.Fatal("a bad port must be refused")
	}

	t.Setenv(EnvEmailLinkKey, "")
	err = Email{From: "not an address", TLS: "ssl"}.ValidateNotifier(EmailSecrets{Username: "relay"})
	for _, want := range []string{"email.from", EnvSMTPHost, "email.tls", "both", EnvEmailLinkKey} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("want %q in %v", want, err)
		}
	}
	t.Setenv(EnvEmailLinkKey, "set")
	if err := e.ValidateNotifier(EmailSecrets{Host: "smtp.example.com", Port: 465, Username: "u", Password: "p"}); err != nil {
		t.Fatalf("valid: %v", err)
	}
	if err := (Email{From: "a@example.com", TLS: "none"}).ValidateNotifier(EmailSecrets{Host: "127.0.0.1", Port: 25}); err != nil {
		t.Fatalf("plain text to loopback: %v", err)
	}
}
