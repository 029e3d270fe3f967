package notifier

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/mail"
	"slices"
	"strings"

	gomail "github.com/wneessen/go-mail"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/signoff/signoff/approval"
	"github.com/signoff/signoff/config"
)

// relay is the SMTP server mail goes through.
type relay struct {
	sec      config.EmailSecrets
	implicit bool
	tls      *tls.Config
	opts     []gomail.Option
}

func newRelay(cfg config.Email, sec config.EmailSecrets) (*relay, error) {
	tlsCfg, err := cfg.TLSConfig(sec.Host)
	if err != nil {
		return nil, err
	}
	r := &relay{sec: sec, tls: tlsCfg, implicit: cfg.TLSMode() == config.EmailTLSImplicit}
	r.opts = []gomail.Option{
		gomail.WithPort(sec.Port),
		gomail.WithTimeout(cfg.SMTPTimeout()),
		gomail.WithTLSConfig(tlsCfg),
	}
	switch cfg.TLSMode() {
	case config.EmailTLSStartTLS:
		// Mandatory: a relay that does not offer STARTTLS never sees the
		// password or the links.
		r.opts = append(r.opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	case config.EmailTLSImplicit, config.EmailTLSNone:
		// Implicit TLS is set up by our dialer, before SMTP starts.
		r.opts = append(r.opts, gomail.WithTLSPolicy(gomail.NoTLS))
	}
	if sec.Username != "" {
		auth := gomail.WithOpportunisticSMTPAuth(gomail.SMTPAuthSCRAMSHA256PLUS, gomail.SMTPAuthSCRAMSHA256,
			gomail.SMTPAuthSCRAMSHA1, gomail.SMTPAuthCramMD5, gomail.SMTPAuthPlain, gomail.SMTPAuthLogin)
		if cfg.TLSMode() == config.EmailTLSNone {
			// Loopback only (checked by ValidateNotifier).
			auth = gomail.WithSMTPAuth(gomail.SMTPAuthPlainNoEnc)
		}
		// PLAIN and LOGIN refuse to send the password over a connection
		// that is not TLS, whatever the server advertises.
		r.opts = append(r.opts, auth, gomail.WithUsername(sec.Username), gomail.WithPassword(sec.Password))
	}
	return r, nil
}

// outgoing is one rendered email.
type outgoing struct {
	user      string
	to        string
	from      *mail.Address
	messageID string
	inReplyTo string
	subject   string
	text      string
	html      string
}

func (o outgoing) msg() (*gomail.Msg, error) {
	m := gomail.NewMsg()
	m.FromMailAddress(o.from)
	if err := m.To(o.to); err != nil {
		return nil, fmt.Errorf("recipient %q: %w", o.to, err)
	}
	m.Subject(o.subject)
	m.SetMessageIDWithValue(o.messageID)
	m.SetDate()
	m.SetGenHeader(gomail.Header("Auto-Submitted"), "auto-generated")
	m.SetGenHeader(gomail.HeaderXAutoResponseSuppress, "All")
	if o.inReplyTo != "" {
		m.SetGenHeader(gomail.HeaderInReplyTo, "<"+o.inReplyTo+">")
		m.SetGenHeader(gomail.HeaderReferences, "<"+o.inReplyTo+">")
	}
	m.SetBodyString(gomail.TypeTextPlain, o.text)
	m.AddAlternativeString(gomail.TypeTextHTML, o.html)
	return m, nil
}

// send delivers every message over one connection. Messages the relay
// accepted in an earlier attempt of this activity are skipped; a recipient
// the relay refuses for good is reported, not retried.
func (r *relay) send(ctx context.Context, logger *slog.Logger, out []outgoing) (approval.Delivery, error) {
	var sent []string
	if activity.IsActivity(ctx) && activity.HasHeartbeatDetails(ctx) {
		if err := activity.GetHeartbeatDetails(ctx, &sent); err != nil {
			logger.Warn("unreadable heartbeat: sending everything again", "err", err)
			sent = nil
		}
	}
	var d approval.Delivery
	var refused []string
	var client *gomail.Client
	defer func() {
		if client != nil {
			_ = client.Close()
		}
	}()
	for _, o := range out {
		if slices.Contains(sent, o.messageID) {
			record(&d, o)
			continue
		}
		m, err := o.msg()
		if err != nil {
			refused = append(refused, o.to)
			logger.Warn("email not sent", "to", o.to, "err", err)
			continue
		}
		if client == nil {
			client, err = r.dial(ctx)
			if err != nil {
				return approval.Delivery{}, err
			}
		}
		if err := client.Send(m); err != nil {
			var se *gomail.SendError
			if errors.As(err, &se) && se.Reason == gomail.ErrSMTPRcptTo && !se.IsTemp() {
				refused = append(refused, o.to)
				logger.Warn("relay refused the recipient", "to", o.to, "code", se.ErrorCode())
				continue
			}
			return approval.Delivery{}, fmt.Errorf("send to %s: %w", o.to, err)
		}
		sent = append(sent, o.messageID)
		if activity.IsActivity(ctx) {
			activity.RecordHeartbeat(ctx, sent)
		}
		logger.Info("email sent", "to", o.to, "message_id", o.messageID)
		record(&d, o)
	}
	if len(d.Targets) == 0 && len(refused) > 0 {
		return d, temporal.NewNonRetryableApplicationError(
			"the relay refused every recipient: "+strings.Join(refused, ", "), ErrTypeRefused, nil)
	}
	for _, a := range refused {
		d.Targets = append(d.Targets, "email-refused:"+a)
	}
	return d, nil
}

// dial connects, secures and authenticates. Our own dialer keeps the
// connection, to close it when STARTTLS or AUTH fails (go-mail leaves it
// open then).
func (r *relay) dial(ctx context.Context) (*gomail.Client, error) {
	var conn net.Conn
	dialer := func(ctx context.Context, network, addr string) (net.Conn, error) {
		nd := &net.Dialer{}
		var c net.Conn
		var err error
		if r.implicit {
			c, err = (&tls.Dialer{NetDialer: nd, Config: r.tls}).DialContext(ctx, network, addr)
		} else {
			c, err = nd.DialContext(ctx, network, addr)
		}
		conn = c
		return c, err
	}
	c, err := gomail.NewClient(r.sec.Host, append(slices.Clone(r.opts), gomail.WithDialContextFunc(dialer))...)
	if err != nil {
		return nil, fmt.Errorf("smtp client: %w", err)
	}
	if err := c.DialWithContext(ctx); err != nil {
		if conn != nil {
			_ = conn.Close()
		}
		// go-mail's errors name the host and the SMTP answer, never the
		// password.
		return nil, fmt.Errorf("connect to smtp relay %s:%d: %w", r.sec.Host, r.sec.Port, err)
	}
	return c, nil
}

// record notes a delivered email in the activity's result.
func record(d *approval.Delivery, o outgoing) {
	d.Targets = append(d.Targets, "email:"+o.to)
	d.Messages = append(d.Messages, approval.MessageRef{Notifier: Name, Channel: o.to, ID: o.messageID, User: o.user})
}
