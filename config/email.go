package config

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/mail"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/signoff/signoff/policy"
)

// Environment variables of the email notifier and its decision pages. Secrets are never read from the config file.
const (
	EnvSMTPHost     = "SMTP_HOST"
	EnvSMTPPort     = "SMTP_PORT"
	EnvSMTPUsername = "SMTP_USERNAME"
	EnvSMTPPassword = "SMTP_PASSWORD"
	// EnvEmailLinkKey signs the links in emails (base64, at least 32
	// bytes); EnvEmailLinkKeyPrevious is still accepted, for rotation.
	EnvEmailLinkKey         = "SIGNOFF_EMAIL_LINK_KEY"
	EnvEmailLinkKeyPrevious = "SIGNOFF_EMAIL_LINK_KEY_PREVIOUS"
)

// SMTP transport security modes.
const (
	EmailTLSStartTLS = "starttls"
	EmailTLSImplicit = "implicit"
	// EmailTLSNone sends in clear text; only to a relay on loopback.
	EmailTLSNone = "none"
)

// Email configures the email notifier. The relay's address and credentials
// come from SMTP_HOST, SMTP_PORT, SMTP_USERNAME and SMTP_PASSWORD (see
// EmailSecretsFrom).
type Email struct {
	// From is the sender, "Signoff <signoff@example.com>" or a bare address.
	From string `yaml:"from"`
	// TLS is starttls (default), implicit (SMTPS, usually port 465) or none
	// (loopback relays only).
	TLS string `yaml:"tls"`
	// CAFile adds a CA to trust for the relay's certificate (a private
	// relay); the system roots are trusted either way.
	CAFile string `yaml:"ca_file"`
	// SubjectPrefix starts every subject (default "[Signoff]").
	SubjectPrefix string `yaml:"subject_prefix"`
	// Timeout bounds connecting and each SMTP command (default 30s).
	Timeout policy.Duration `yaml:"timeout"`
	// SecurityRecipients are addresses also told about every break-glass.
	SecurityRecipients []string `yaml:"security_recipients"`
	// ViewLinkTTL is how long links to an approval's audit trail work
	// after its deadline (default 30 days).
	ViewLinkTTL policy.Duration `yaml:"view_link_ttl"`
}

// EmailSecrets are the relay's address and credentials, from the
// environment.
type EmailSecrets struct {
	Host string
	// Port is SMTP_PORT; 0 until Email.WithDefaultPort picks the TLS
	// mode's when it is unset.
	Port     int
	Username string
	Password string
}

// String never prints the password.
func (s EmailSecrets) String() string {
	pw := "unset"
	if s.Password != "" {
		pw = "set"
	}
	return fmt.Sprintf("EmailSecrets{host:%s port:%d username:%s password:%s}", s.Host, s.Port, s.Username, pw)
}

// GoString keeps %#v as quiet as %v.
func (s EmailSecrets) GoString() string { return s.String() }

// EmailSecretsFrom reads the relay settings through getenv (the process
// environment, or a snapshot of it). Port is 0 when SMTP_PORT is unset: the
// config's TLS mode picks it (Email.WithDefaultPort).
func EmailSecretsFrom(getenv func(string) string) (EmailSecrets, error) {
	s := EmailSecrets{
		Host:     strings.TrimSpace(getenv(EnvSMTPHost)),
		Username: getenv(EnvSMTPUsername),
		Password: getenv(EnvSMTPPassword),
	}
	if p := strings.TrimSpace(getenv(EnvSMTPPort)); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return s, fmt.Errorf("%s %q: want a port number", EnvSMTPPort, p)
		}
		s.Port = n
	}
	return s, nil
}

// WithDefaultPort is sec with the port defaulted when SMTP_PORT was unset:
// 587 for STARTTLS, 465 for implicit TLS and 25 without TLS.
func (e Email) WithDefaultPort(sec EmailSecrets) EmailSecrets {
	if sec.Port != 0 {
		return sec
	}
	switch e.TLSMode() {
	case EmailTLSImplicit:
		sec.Port = 465
	case EmailTLSNone:
		sec.Port = 25
	default:
		sec.Port = 587
	}
	return sec
}

// TLSMode is the configured mode, starttls by default.
func (e Email) TLSMode() string {
	if e.TLS == "" {
		return EmailTLSStartTLS
	}
	return strings.ToLower(e.TLS)
}

// Prefix is the subject prefix.
func (e Email) Prefix() string {
	if e.SubjectPrefix == "" {
		return "[Signoff]"
	}
	return e.SubjectPrefix
}

// SMTPTimeout is the connect and command timeout.
func (e Email) SMTPTimeout() time.Duration {
	if e.Timeout > 0 {
		return time.Duration(e.Timeout)
	}
	return 30 * time.Second
}

// ViewTTL is how long audit-trail links outlive the deadline.
func (e Email) ViewTTL() time.Duration {
	if e.ViewLinkTTL > 0 {
		return time.Duration(e.ViewLinkTTL)
	}
	return 30 * 24 * time.Hour
}

// TLSConfig is the client TLS config for the relay: system roots plus
// CAFile, verifying the host name.
func (e Email) TLSConfig(host string) (*tls.Config, error) {
	cfg := &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
	if e.CAFile == "" {
		return cfg, nil
	}
	pem, err := os.ReadFile(e.CAFile)
	if err != nil {
		return nil, fmt.Errorf("email.ca_file: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("email.ca_file %s: no PEM certificate in it", e.CAFile)
	}
	cfg.RootCAs = pool
	return cfg, nil
}

// ValidateNotifier checks what the notifier needs: a sender, a relay and a
// TLS mode that keeps credentials off the wire. The link key
// (SIGNOFF_EMAIL_LINK_KEY) is read and checked by the composition root,
// which hands it to the notifier.
func (e Email) ValidateNotifier(sec EmailSecrets) error {
	var errs []error
	if _, err := mail.ParseAddress(e.From); err != nil {
		errs = append(errs, fmt.Errorf("email.from %q: %v", e.From, err))
	}
	if sec.Host == "" {
		errs = append(errs, fmt.Errorf("%s is not set", EnvSMTPHost))
	}
	switch e.TLSMode() {
	case EmailTLSStartTLS, EmailTLSImplicit:
	case EmailTLSNone:
		if sec.Host != "" && !isLoopback(sec.Host) {
			errs = append(errs, fmt.Errorf("email.tls none: only for a relay on loopback, not %q", sec.Host))
		}
	default:
		errs = append(errs, fmt.Errorf("email.tls %q: want starttls, implicit or none", e.TLS))
	}
	if (sec.Username == "") != (sec.Password == "") {
		errs = append(errs, fmt.Errorf("set both %s and %s, or neither", EnvSMTPUsername, EnvSMTPPassword))
	}
	for _, a := range e.SecurityRecipients {
		if _, err := mail.ParseAddress(a); err != nil {
			errs = append(errs, fmt.Errorf("email.security_recipients %q: %v", a, err))
		}
	}
	return errors.Join(errs...)
}
