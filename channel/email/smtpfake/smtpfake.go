// Package smtpfake is a real SMTP server on 127.0.0.1 for tests: STARTTLS
// or implicit TLS with a certificate made for the test, AUTH PLAIN with a
// fixed username and password, and every accepted message kept for the test
// to read and parse.
package smtpfake

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// TLS modes, as in config.Email.TLS.
const (
	StartTLS = "starttls"
	Implicit = "implicit"
	None     = "none"
)

// Options shape a server.
type Options struct {
	// TLS is starttls (default), implicit or none.
	TLS string
	// Username and Password, when set, are required (AUTH PLAIN).
	Username, Password string
	// Reject lists recipients refused for good (550).
	Reject []string
}

// Message is one accepted mail.
type Message struct {
	From string
	To   []string
	Data []byte
}

// Server is a running fake relay.
type Server struct {
	Host string
	Port int
	// CAFile is a PEM file with the certificate the server presents.
	CAFile string

	opts     Options
	srv      *smtp.Server
	mu       sync.Mutex
	messages []Message
	notify   chan struct{}
	// AuthFailures counts refused logins.
	authFailures int
}

// Start listens on 127.0.0.1 and stops at test cleanup.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	if opts.TLS == "" {
		opts.TLS = StartTLS
	}
	s := &Server{opts: opts, notify: make(chan struct{}, 1)}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &session{s: s}, nil }))
	srv.Domain = "127.0.0.1"
	srv.ReadTimeout = 30 * time.Second
	srv.WriteTimeout = 30 * time.Second
	srv.MaxMessageBytes = 4 << 20
	srv.MaxRecipients = 50
	var l net.Listener
	var err error
	if opts.TLS != None {
		cert, caFile := selfSigned(t)
		s.CAFile = caFile
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	} else {
		// Only for tests of the plain-text mode: credentials would travel in
		// clear text, which go-smtp refuses unless told.
		srv.AllowInsecureAuth = true
	}
	if opts.TLS == Implicit {
		l, err = tls.Listen("tcp", "127.0.0.1:0", srv.TLSConfig)
	} else {
		l, err = net.Listen("tcp", "127.0.0.1:0")
	}
	if err != nil {
		t.Fatalf("smtpfake: listen: %v", err)
	}
	addr := l.Addr().(*net.TCPAddr)
	s.Host, s.Port = "127.0.0.1", addr.Port
	s.srv = srv
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(l)
	}()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		_ = l.Close()
		// Never hang a failing test's cleanup on a stuck server.
		select {
		case <-done:
		case <-ctx.Done():
		}
	})
	return s
}

// Addr is host:port.
func (s *Server) Addr() string { return net.JoinHostPort(s.Host, strconv.Itoa(s.Port)) }

// Messages returns what was accepted so far.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.messages...)
}

// AuthFailures counts refused logins.
func (s *Server) AuthFailures() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.authFailures
}

// Wait returns the first accepted message that match accepts, waiting up
// to timeout for it to arrive.
func (s *Server) Wait(t testing.TB, timeout time.Duration, what string, match func(*Mail) bool) *Mail {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		for _, m := range s.Messages() {
			parsed, err := Parse(m.Data)
			if err != nil {
				t.Fatalf("smtpfake: parse message: %v\n%s", err, m.Data)
			}
			parsed.Envelope = m
			if match(parsed) {
				return parsed
			}
		}
		select {
		case <-s.notify:
		case <-deadline.C:
			t.Fatalf("smtpfake: no mail %s within %s (got %d messages)", what, timeout, len(s.Messages()))
			return nil
		}
	}
}

type session struct {
	s      *Server
	authed bool
	from   string
	to     []string
}

var _ smtp.AuthSession = (*session)(nil)

func (ss *session) AuthMechanisms() []string { return []string{sasl.Plain} }

func (ss *session) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, username, password string) error {
		if username != ss.s.opts.Username || password != ss.s.opts.Password {
			ss.s.mu.Lock()
			ss.s.authFailures++
			ss.s.mu.Unlock()
			return smtp.ErrAuthFailed
		}
		ss.authed = true
		return nil
	}), nil
}

func (ss *session) Mail(from string, _ *smtp.MailOptions) error {
	if ss.s.opts.Username != "" && !ss.authed {
		return smtp.ErrAuthRequired
	}
	ss.from = from
	return nil
}

func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if slices.Contains(ss.s.opts.Reject, to) {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such mailbox"}
	}
	ss.to = append(ss.to, to)
	return nil
}

func (ss *session) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	ss.s.mu.Lock()
	ss.s.messages = append(ss.s.messages, Message{From: ss.from, To: ss.to, Data: b})
	ss.s.mu.Unlock()
	select {
	case ss.s.notify <- struct{}{}:
	default:
	}
	return nil
}

func (ss *session) Reset()        { ss.from, ss.to = "", nil }
func (ss *session) Logout() error { return nil }

// selfSigned makes a certificate for 127.0.0.1 and writes it as a CA file.
func selfSigned(t testing.TB) (tls.Certificate, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("smtpfake: key: %v", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "smtpfake"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		DNSNames:              []string{"localhost"},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatalf("smtpfake: certificate: %v", err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatalf("smtpfake: key: %v", err)
	}
	cert, err := tls.X509KeyPair(certPEM, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}))
	if err != nil {
		t.Fatalf("smtpfake: key pair: %v", err)
	}
	path := filepath.Join(t.TempDir(), "smtpfake-ca.pem")
	if err := os.WriteFile(path, certPEM, 0o600); err != nil {
		t.Fatalf("smtpfake: write CA: %v", err)
	}
	return cert, path
}
