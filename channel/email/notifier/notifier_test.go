package notifier

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/testsuite"

	"github.com/signoff/signoff/activities"
	"github.com/signoff/signoff/approval"
	"github.com/signoff/signoff/channel/email/linktoken"
	"github.com/signoff/signoff/channel/email/smtpfake"
	"github.com/signoff/signoff/config"
	"github.com/signoff/signoff/config/identity"
	"github.com/signoff/signoff/workflows"
)

const (
	smtpUser  = "signoff-relay"
	smtpPass  = "relay-secret-5f1d"
	publicURL = "https://signoff.example.com"
)

var created = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func directory(t *testing.T) *identity.Directory {
	t.Helper()
	d, err := identity.NewDirectory([]identity.User{
		{Name: "alice", Email: "alice@example.com"},
		{Name: "bob", Email: "bob@example.com", Groups: []string{"platform"}},
		{Name: "carol", Email: "carol@example.com", Groups: []string{"platform"}},
		{Name: "dana", Email: "dana@example.com"},
		{Name: "erin"}, // no email
	})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func state(input approval.Input) *approval.State {
	return approval.New("abcdefghijklmnopqrstuvwxyz", "alice", approval.Request{
		Title: "Deploy api v2.3.0", Environment: "production", Resource: "api",
		Fields: map[string]string{"version": "2.3.0", "commit": "abc123"},
		Action: approval.Action{Type: "noop"}, Input: input,
	}, approval.Policy{Name: "production", Version: "v7", Approvers: []string{"bob", "carol"}, RequiredApprovals: 2,
		Deadline: 24 * time.Hour}, created)
}

type fixture struct {
	srv  *smtpfake.Server
	n    *Notifier
	keys *linktoken.Keys
	logs *bytes.Buffer
}

func setup(t *testing.T, fake smtpfake.Options, mode string, mutate func(*Options)) *fixture {
	t.Helper()
	t.Setenv(config.EnvEmailLinkKey, "c2lnbm9mZi10ZXN0LWxpbmsta2V5LTMyLWJ5dGVzLWxvbmc=")
	srv := smtpfake.Start(t, fake)
	keys, err := linktoken.New(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	logs := &bytes.Buffer{}
	o := Options{
		Config:    config.Email{From: "Signoff <signoff@example.com>", TLS: mode, CAFile: srv.CAFile, Timeout: 0},
		Secrets:   config.EmailSecrets{Host: srv.Host, Port: srv.Port, Username: smtpUser, Password: smtpPass},
		Keys:      keys,
		PublicURL: publicURL,
		Directory: directory(t),
		Logger:    slog.New(slog.NewTextHandler(logs, nil)),
		Now:       func() time.Time { return created.Add(time.Minute) },
	}
	if mutate != nil {
		mutate(&o)
	}
	n, err := New(o)
	if err != nil {
		t.Fatalf("new notifier: %v", err)
	}
	return &fixture{srv: srv, n: n, keys: keys, logs: logs}
}

func (f *fixture) mailTo(t *testing.T, addr string) []*smtpfake.Mail {
	t.Helper()
	var out []*smtpfake.Mail
	for _, m := range f.srv.Messages() {
		if slices.Contains(m.To, addr) {
			p, err := smtpfake.Parse(m.Data)
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			p.Envelope = m
			out = append(out, p)
		}
	}
	return out
}

func tokenOf(t *testing.T, link, prefix string) string {
	t.Helper()
	u, err := url.Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	if prefix == "/d/" {
		return strings.TrimPrefix(u.Path, "/d/")
	}
	return u.Query().Get("t")
}

// A prompt reaches each pending approver over STARTTLS with AUTH, as
// multipart text + HTML with everything an approver needs and one signed
// link per decision, bound to that approver.
func TestPromptOverStartTLS(t *testing.T) {
	f := setup(t, smtpfake.Options{Username: smtpUser, Password: smtpPass}, config.EmailTLSStartTLS, nil)
	st := state(approval.Input{})
	d, err := f.n.Prompt(context.Background(), st)
	if err != nil {
		t.Fatalf("prompt: %v", err)
	}
	if !slices.Equal(d.Targets, []string{"email:bob@example.com", "email:carol@example.com"}) {
		t.Fatalf("targets %v", d.Targets)
	}
	if len(d.Messages) != 2 || d.Messages[0].Notifier != "email" || d.Messages[0].User != "bob" {
		t.Fatalf("message refs %+v", d.Messages)
	}
	for _, who := range []string{"bob", "carol"} {
		mails := f.mailTo(t, who+"@example.com")
		if len(mails) != 1 {
			t.Fatalf("%s got %d mails", who, len(mails))
		}
		m := mails[0]
		if m.Envelope.From != "signoff@example.com" {
			t.Errorf("envelope from %q", m.Envelope.From)
		}
		if !slices.Equal(m.ContentTypes, []string{"multipart/alternative", "text/plain", "text/html"}) {
			t.Errorf("MIME structure %v", m.ContentTypes)
		}
		if m.Subject != "[Signoff] Approval needed: Deploy api v2.3.0 (production)" {
			t.Errorf("subject %q", m.Subject)
		}
		if !strings.HasPrefix(m.MessageID, "<signoff.abcdefghijklmnopqrstuvwxyz.prompt.r0-s0.") || !strings.HasSuffix(m.MessageID, "@example.com>") {
			t.Errorf("message id %q", m.MessageID)
		}
		if m.Header.Get("Auto-Submitted") != "auto-generated" {
			t.Errorf("Auto-Submitted %q", m.Header.Get("Auto-Submitted"))
		}
		for _, want := range []string{"Deploy api v2.3.0", "alice", "production", "commit", "abc123", "version",
			"2.3.0", "Mon 2 Mar 2026 12:00 UTC", "0 of 2 approvals; waiting for bob, carol", "Decide as " + who} {
			if !strings.Contains(m.Text, want) {
				t.Errorf("%s: text lacks %q:\n%s", who, want, m.Text)
			}
			if !strings.Contains(m.HTML, want) && !strings.Contains(m.HTML, strings.ReplaceAll(want, "Decide as "+who, "<strong>"+who+"</strong>")) {
				t.Errorf("%s: html lacks %q", who, want)
			}
		}
		links := m.Links(publicURL + "/d/")
		if len(links) != 2 {
			t.Fatalf("%s: want approve and reject links, got %v", who, links)
		}
		for i, dec := range []approval.Decision{approval.DecisionApprove, approval.DecisionReject} {
			c, err := f.keys.Verify(tokenOf(t, links[i], "/d/"), created)
			if err != nil {
				t.Fatalf("link %d: %v", i, err)
			}
			if c.Purpose != linktoken.PurposeDecide || c.User != who || c.Approval != st.ID || c.Decision != dec ||
				c.ExpiresAt() != st.Deadline || c.RequestHash != st.RequestHash[:16] {
				t.Errorf("link %d claims %+v", i, c)
			}
			if !strings.Contains(m.HTML, `href="`+links[i]+`"`) {
				t.Errorf("html lacks link %d", i)
			}
		}
		view := m.Links(publicURL + "/approvals/")
		if len(view) != 1 {
			t.Fatalf("view links %v", view)
		}
		if c, err := f.keys.Verify(tokenOf(t, view[0], "?t="), created); err != nil || c.Purpose != linktoken.PurposeView || c.User != who {
			t.Errorf("view link: %+v %v", c, err)
		}
	}
	if strings.Contains(f.logs.String(), smtpPass) {
		t.Fatal("the SMTP password is in the logs")
	}
}

// Sending the same notification again (a retried activity) produces the
// same Message-IDs and the same links, so duplicates are recognisable and
// a decision through either copy counts once.
func TestRetryIsRecognisable(t *testing.T) {
	f := setup(t, smtpfake.Options{Username: smtpUser, Password: smtpPass}, config.EmailTLSStartTLS, nil)
	st := state(approval.Input{})
	for range 2 {
		if _, err := f.n.Prompt(context.Background(), st); err != nil {
			t.Fatal(err)
		}
	}
	mails := f.mailTo(t, "bob@example.com")
	if len(mails) != 2 {
		t.Fatalf("want 2 copies, got %d", len(mails))
	}
	if mails[0].MessageID != mails[1].MessageID || !slices.Equal(mails[0].Links("/d/"), mails[1].Links("/d/")) {
		t.Fatalf("copies differ: %s %s", mails[0].MessageID, mails[1].MessageID)
	}
	// A new stage is a new prompt with new links.
	st.Stage = 1
	st.Policy.Stages = []approval.Stage{{Name: "one", Approvers: []string{"bob"}, RequiredApprovals: 1},
		{Name: "two", Approvers: []string{"bob", "carol"}, RequiredApprovals: 1}}
	if _, err := f.n.Prompt(context.Background(), st); err != nil {
		t.Fatal(err)
	}
	mails = f.mailTo(t, "bob@example.com")
	if mails[2].MessageID == mails[0].MessageID || mails[2].Links("/d/")[0] == mails[0].Links("/d/")[0] {
		t.Fatal("a new stage must get new Message-IDs and links")
	}
}

// Within a retried activity, messages the relay already accepted (recorded
// in the heartbeat) are not sent again.
func TestHeartbeatSkipsWhatWasSent(t *testing.T) {
	f := setup(t, smtpfake.Options{Username: smtpUser, Password: smtpPass}, config.EmailTLSStartTLS, nil)
	st := state(approval.Input{})
	bobID := f.n.messageID(st, workflows.NoticePrompt, "r0-s0", "bob@example.com")

	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestActivityEnvironment()
	acts := &activities.Activities{Notifiers: map[string]activities.Notifier{Name: f.n}, Logger: slog.Default()}
	env.RegisterActivity(acts)
	env.SetHeartbeatDetails([]string{bobID})
	v, err := env.ExecuteActivity(acts.Notify, workflows.NotifyInput{Notifier: Name, Kind: workflows.NoticePrompt, Approval: *st})
	if err != nil {
		t.Fatalf("notify: %v", err)
	}
	var d approval.Delivery
	if err := v.Get(&d); err != nil {
		t.Fatal(err)
	}
	if got := f.mailTo(t, "bob@example.com"); len(got) != 0 {
		t.Fatalf("bob's mail was sent again: %d", len(got))
	}
	if got := f.mailTo(t, "carol@example.com"); len(got) != 1 {
		t.Fatalf("carol got %d mails", len(got))
	}
	// The audit trail still lists both: bob's went out in the first attempt.
	if !slices.Equal(d.Targets, []string{"email:bob@example.com", "email:carol@example.com"}) || d.Messages[0].ID != bobID {
		t.Fatalf("delivery %+v", d)
	}
}

// Button inputs get one link per option, carrying the option's value and
// decision.
func TestOptionLinks(t *testing.T) {
	f := setup(t, smtpfake.Options{Username: smtpUser, Password: smtpPass}, config.EmailTLSStartTLS, nil)
	st := state(approval.Input{Type: approval.InputButton, Prompt: "Which window?", Options: []approval.Option{
		{Label: "Ship now", Value: "now", Style: "primary", Decision: approval.DecisionApprove},
		{Label: "Ship tonight", Value: "tonight", Decision: approval.DecisionApprove},
		{Label: "Do not ship", Value: "no", Style: "danger", Decision: approval.DecisionReject},
	}})
	if _, err := f.n.Prompt(context.Background(), st); err != nil {
		t.Fatal(err)
	}
	m := f.mailTo(t, "bob@example.com")[0]
	links := m.Links("/d/")
	if len(links) != 3 {
		t.Fatalf("links %v", links)
	}
	want := []struct {
		value string
		dec   approval.Decision
	}{{"now", approval.DecisionApprove}, {"tonight", approval.DecisionApprove}, {"no", approval.DecisionReject}}
	for i, w := range want {
		c, err := f.keys.Verify(tokenOf(t, links[i], "/d/"), created)
		if err != nil || c.Option != w.value || c.Decision != w.dec {
			t.Fatalf("link %d: %+v %v", i, c, err)
		}
	}
	for _, s := range []string{"Which window?", "Ship now:", "Ship tonight:", "Do not ship:"} {
		if !strings.Contains(m.Text, s) {
			t.Errorf("text lacks %q", s)
		}
	}
	if !strings.Contains(m.HTML, "background:#1a7f37\">Ship now</a>") || !strings.Contains(m.HTML, "background:#cf222e\">Do not ship</a>") {
		t.Errorf("option styles missing:\n%s", m.HTML)
	}
}

// Reminders go to those still awaited, threaded under their prompt;
// escalations give new approvers decision links and notify-only people a
// link to the audit trail; the outcome goes to the requester without
// decision links.
func TestFollowUpsReachTheRightPeople(t *testing.T) {
	f := setup(t, smtpfake.Options{Username: smtpUser, Password: smtpPass}, config.EmailTLSStartTLS, nil)
	st := state(approval.Input{})
	d, err := f.n.Prompt(context.Background(), st)
	if err != nil {
		t.Fatal(err)
	}
	st.Messages = d.Messages
	st.Decide(approval.Attempt{ID: "a1", User: "bob", Decision: approval.DecisionApprove, Channel: "api"}, created.Add(time.Minute))

	st.Record(created.Add(time.Hour), "reminded", "", "carol")
	if _, err := f.n.Remind(context.Background(), st); err != nil {
		t.Fatal(err)
	}
	if got := f.mailTo(t, "bob@example.com"); len(got) != 1 {
		t.Fatalf("bob decided: no reminder for him, got %d mails", len(got))
	}
	carol := f.mailTo(t, "carol@example.com")
	if len(carol) != 2 || !strings.HasPrefix(carol[1].Subject, "[Signoff] Reminder: approval needed") {
		t.Fatalf("carol's reminder: %d mails", len(carol))
	}
	if carol[1].Header.Get("In-Reply-To") != carol[0].MessageID || !strings.Contains(carol[1].MessageID, ".reminder.n1.") {
		t.Fatalf("reminder threading: in-reply-to %q, prompt %q, id %q", carol[1].Header.Get("In-Reply-To"), carol[0].MessageID, carol[1].MessageID)
	}
	if !strings.Contains(carol[1].Text, "1 of 2 approvals; waiting for carol; approved by bob") {
		t.Fatalf("reminder progress:\n%s", carol[1].Text)
	}

	st.Policy.Escalations = []approval.Escalation{{After: time.Hour,
		Notify:       approval.Targets{Users: []string{"alice", "erin"}, Channels: []string{"#oncall", "oncall@example.com"}},
		AddApprovers: []string{"dana"}}}
	esc := st.Escalate(0, created.Add(2*time.Hour))
	d, err = f.n.Escalate(context.Background(), st, esc)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(d.Targets, []string{"email:dana@example.com", "email:alice@example.com", "email:oncall@example.com"}) {
		t.Fatalf("escalation targets %v (erin has no email, #oncall is a chat channel)", d.Targets)
	}
	dana := f.mailTo(t, "dana@example.com")
	if len(dana) != 1 || len(dana[0].Links("/d/")) != 2 || !strings.Contains(dana[0].Text, "You may now decide it.") {
		t.Fatalf("dana, the added approver, needs decision links")
	}
	if c, err := f.keys.Verify(tokenOf(t, dana[0].Links("/d/")[0], "/d/"), created); err != nil || c.User != "dana" {
		t.Fatalf("dana's link %+v %v", c, err)
	}
	list := f.mailTo(t, "oncall@example.com")
	if len(list) != 1 || len(list[0].Links("/d/")) != 0 || len(list[0].Links("/approvals/")) != 1 {
		t.Fatalf("a notify-only address gets the audit link and no decision links")
	}

	st.Decide(approval.Attempt{ID: "a2", User: "carol", Decision: approval.DecisionApprove, Channel: "email"}, created.Add(3*time.Hour))
	st.ActionResult = &approval.ActionResult{Type: "noop", Success: true, Output: "nothing to do"}
	d, err = f.n.Outcome(context.Background(), st)
	if err != nil {
		t.Fatal(err)
	}
	alice := f.mailTo(t, "alice@example.com")
	out := alice[len(alice)-1]
	if !slices.Equal(d.Targets, []string{"email:alice@example.com"}) || out.Subject != "[Signoff] Approved: Deploy api v2.3.0 (production)" {
		t.Fatalf("outcome %v %q", d.Targets, out.Subject)
	}
	for _, s := range []string{"approved by bob, carol", "Action noop succeeded.", "nothing to do"} {
		if !strings.Contains(out.Text, s) {
			t.Errorf("outcome lacks %q:\n%s", s, out.Text)
		}
	}
	if len(out.Links("/d/")) != 0 || len(out.Links("/approvals/")) != 1 {
		t.Fatal("the outcome has an audit link and no decision links")
	}
}

// TestDelegatedMailsTheDelegate: a delegate added while the approval
// waits gets decision links of their own, told for whom; nobody else is
// mailed; a delegate without an address is nobody to mail, not an error.
func TestDelegatedMailsTheDelegate(t *testing.T) {
	f := setup(t, smtpfake.Options{Username: smtpUser, Password: smtpPass}, config.EmailTLSStartTLS, nil)
	st := state(approval.Input{})
	st.Policy.Delegates = map[string]string{"bob": "dana"}
	d, err := f.n.Delegated(context.Background(), st, "dana")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(d.Targets, []string{"email:dana@example.com"}) {
		t.Fatalf("targets %v", d.Targets)
	}
	dana := f.mailTo(t, "dana@example.com")
	if len(dana) != 1 || !strings.HasPrefix(dana[0].Subject, "[Signoff] Approval needed") ||
		!strings.Contains(dana[0].Text, "bob delegated their approvals to you") || len(dana[0].Links("/d/")) != 2 {
		t.Fatalf("dana's mail: %d mails", len(dana))
	}
	if c, err := f.keys.Verify(tokenOf(t, dana[0].Links("/d/")[0], "/d/"), created); err != nil || c.User != "dana" {
		t.Fatalf("dana's link %+v %v", c, err)
	}
	for _, other := range []string{"bob@example.com", "carol@example.com", "alice@example.com"} {
		if got := f.mailTo(t, other); len(got) != 0 {
			t.Fatalf("%s mailed %d times", other, len(got))
		}
	}
	st.Policy.Delegates["carol"] = "erin"
	if d, err := f.n.Delegated(context.Background(), st, "erin"); err != nil || len(d.Targets) != 0 {
		t.Fatalf("erin has no address: %v %v", d.Targets, err)
	}
}

func TestBreakGlassTellsApproversAndSecurity(t *testing.T) {
	f := setup(t, smtpfake.Options{Username: smtpUser, Password: smtpPass}, config.EmailTLSStartTLS, func(o *Options) {
		o.Config.SecurityRecipients = []string{"Security <security@example.com>"}
	})
	st := state(approval.Input{})
	st.Policy.Enforcement = approval.EnforcementSoft
	if err := st.Bypass(approval.Actor{User: "alice"}, "prod is down", created.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	d, err := f.n.BreakGlass(context.Background(), st)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(d.Targets, []string{"email:bob@example.com", "email:carol@example.com", "email:security@example.com"}) {
		t.Fatalf("targets %v", d.Targets)
	}
	m := f.mailTo(t, "security@example.com")[0]
	if !strings.Contains(m.Text, "alice used break-glass") || !strings.Contains(m.Text, "Reason: prod is down") || len(m.Links("/d/")) != 0 {
		t.Fatalf("break-glass mail:\n%s", m.Text)
	}
}

// Plain text with AUTH is allowed to a loopback relay only (a local MTA).
func TestPlainTextToLoopback(t *testing.T) {
	f := setup(t, smtpfake.Options{TLS: smtpfake.None, Username: smtpUser, Password: smtpPass}, config.EmailTLSNone, nil)
	if _, err := f.n.Prompt(context.Background(), state(approval.Input{})); err != nil {
		t.Fatalf("prompt to a loopback relay: %v", err)
	}
	if len(f.srv.Messages()) != 2 || f.srv.AuthFailures() != 0 {
		t.Fatalf("got %d messages", len(f.srv.Messages()))
	}
}

func TestImplicitTLS(t *testing.T) {
	f := setup(t, smtpfake.Options{TLS: smtpfake.Implicit, Username: smtpUser, Password: smtpPass}, config.EmailTLSImplicit, nil)
	if _, err := f.n.Prompt(context.Background(), state(approval.Input{})); err != nil {
		t.Fatalf("prompt over implicit TLS: %v", err)
	}
	if len(f.srv.Messages()) != 2 {
		t.Fatalf("got %d messages", len(f.srv.Messages()))
	}
}

// Wrong credentials fail the activity (to be retried) without the
// password in the error; a relay without STARTTLS never gets anything.
func TestRelayFailures(t *testing.T) {
	t.Run("wrong password", func(t *testing.T) {
		f := setup(t, smtpfake.Options{Username: smtpUser, Password: "another"}, config.EmailTLSStartTLS, nil)
		_, err := f.n.Prompt(context.Background(), state(approval.Input{}))
		if err == nil || strings.Contains(err.Error(), smtpPass) {
			t.Fatalf("want an error without the password, got %v", err)
		}
		if f.srv.AuthFailures() != 1 || len(f.srv.Messages()) != 0 {
			t.Fatalf("auth failures %d, messages %d", f.srv.AuthFailures(), len(f.srv.Messages()))
		}
	})
	t.Run("no STARTTLS", func(t *testing.T) {
		f := setup(t, smtpfake.Options{TLS: smtpfake.None}, config.EmailTLSStartTLS, func(o *Options) {
			o.Secrets.Username, o.Secrets.Password = "", ""
		})
		_, err := f.n.Prompt(context.Background(), state(approval.Input{}))
		if err == nil || !strings.Contains(err.Error(), "STARTTLS") {
			t.Fatalf("want a STARTTLS error, got %v", err)
		}
		if len(f.srv.Messages()) != 0 {
			t.Fatal("mail went out in clear text")
		}
	})
	t.Run("refused recipient", func(t *testing.T) {
		f := setup(t, smtpfake.Options{Username: smtpUser, Password: smtpPass, Reject: []string{"bob@example.com"}}, config.EmailTLSStartTLS, nil)
		d, err := f.n.Prompt(context.Background(), state(approval.Input{}))
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(d.Targets, []string{"email:carol@example.com", "email-refused:bob@example.com"}) {
			t.Fatalf("targets %v", d.Targets)
		}
	})
	t.Run("plain text is for loopback only", func(t *testing.T) {
		t.Setenv(config.EnvEmailLinkKey, "x")
		err := config.Email{From: "signoff@example.com", TLS: "none"}.ValidateNotifier(config.EmailSecrets{Host: "smtp.example.com", Port: 25})
		if err == nil || !strings.Contains(err.Error(), "loopback") {
			t.Fatalf("got %v", err)
		}
	})
}

// grantedState is alice's access for two hours, approved by bob and carol.
func grantedState(t *testing.T) *approval.State {
	t.Helper()
	st := state(approval.Input{})
	st.Request.Duration = 2 * time.Hour
	st.Request.Action = approval.Action{Type: "postgres_role", Params: map[string]string{"target": "orders", "role": "orders_read", "user": "alice_db"}}
	st.Policy.MaxDuration = 8 * time.Hour
	at := created.Add(10 * time.Minute)
	st.Decide(approval.Attempt{ID: "a1", User: "bob", Decision: approval.DecisionApprove}, at)
	st.Decide(approval.Attempt{ID: "a2", User: "carol", Decision: approval.DecisionApprove}, at)
	st.StartGrant(st.ClosedAt)
	st.ActionResult = &approval.ActionResult{Type: "postgres_role", Success: true, Output: "alice_db is a member of orders_read"}
	st.MarkGranted(at.Add(time.Second), st.ActionResult.Output)
	if st.Status != approval.StatusGranted {
		t.Fatalf("status %s, want granted", st.Status)
	}
	return st
}

// The grant-ending notice is one mail, to the grantee alone, with the end,
// the approval's page, the CLI command and the audit link, and no
// decision links; an extension's new end is a mail of its own.
func TestGrantEndingMailsTheGranteeOnly(t *testing.T) {
	f := setup(t, smtpfake.Options{Username: smtpUser, Password: smtpPass}, config.EmailTLSStartTLS, nil)
	st := grantedState(t)
	acts := &activities.Activities{Notifiers: map[string]activities.Notifier{Name: f.n}, Logger: slog.Default()}
	d, err := acts.Notify(context.Background(), workflows.NotifyInput{Notifier: Name, Kind: workflows.NoticeGrantEnding, Approval: *st})
	if err != nil {
		t.Fatalf("notify: %v", err)
	}
	if !slices.Equal(d.Targets, []string{"email:alice@example.com"}) || len(f.srv.Messages()) != 1 {
		t.Fatalf("targets %v, %d mails: the grantee only", d.Targets, len(f.srv.Messages()))
	}
	m := f.mailTo(t, "alice@example.com")[0]
	end := "Sun 1 Mar 2026 14:10 UTC"
	if m.Subject != "[Signoff] Your access ends at "+end+": Deploy api v2.3.0 (production)" {
		t.Errorf("subject %q", m.Subject)
	}
	if !strings.Contains(m.MessageID, fmt.Sprintf(".grant-ending.e%d.", st.Grant.RevokeAt.Unix())) {
		t.Errorf("message id %q", m.MessageID)
	}
	page := publicURL + "/approvals/" + st.ID
	for _, want := range []string{"Your access ends soon", "The access this approval granted you ends at " + end + ": it is revoked then.",
		page, "signoff extend " + st.ID + " --duration 1h", "for at most 8h at a time", "orders_read"} {
		if !strings.Contains(m.Text, want) {
			t.Errorf("text lacks %q:\n%s", want, m.Text)
		}
		if !strings.Contains(m.HTML, want) {
			t.Errorf("html lacks %q:\n%s", want, m.HTML)
		}
	}
	if len(m.Links("/d/")) != 0 {
		t.Error("decision links in a grant-ending mail")
	}
	links := m.Links(page)
	if len(links) != 2 || links[0] != page {
		t.Fatalf("links %v: want the page, then the audit trail", links)
	}
	view := m.Links(page + "?t=")
	if len(view) != 1 {
		t.Fatalf("audit links %v", view)
	}
	if c, err := f.keys.Verify(tokenOf(t, view[0], "?t="), created); err != nil || c.Purpose != linktoken.PurposeView || c.User != "alice" {
		t.Errorf("view link: %+v %v", c, err)
	}
	for _, secret := range []string{smtpPass, "c2lnbm9mZi10ZXN0LWxpbmsta2V5"} {
		if strings.Contains(string(f.srv.Messages()[0].Data), secret) || strings.Contains(f.logs.String(), secret) {
			t.Fatalf("a secret in the mail or the logs: %q", secret)
		}
	}

	// Extended: the new end is told again, in a new mail.
	const ext = "eeeeeeeeeeeeeeeeeeeeeeeeee"
	if err := st.Extend(approval.Actor{User: "signoff", Proof: "test"}, ext, st.Grant.RevokeAt.Add(time.Hour), st.Grant.RevokeAt.Add(-5*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if _, err := f.n.GrantEnding(context.Background(), st); err != nil {
		t.Fatal(err)
	}
	mails := f.mailTo(t, "alice@example.com")
	if len(mails) != 2 || mails[1].MessageID == mails[0].MessageID ||
		mails[1].Subject != "[Signoff] Your access ends at Sun 1 Mar 2026 15:10 UTC: Deploy api v2.3.0 (production)" ||
		!strings.Contains(mails[1].Text, "It was extended already, last by approval "+ext+".") {
		t.Fatalf("after the extension: %d mails, %q\n%s", len(mails), mails[len(mails)-1].Subject, mails[len(mails)-1].Text)
	}

	t.Run("a grantee without an email address", func(t *testing.T) {
		st := grantedState(t)
		st.Requester = "erin"
		if _, err := f.n.GrantEnding(context.Background(), st); err == nil || !strings.Contains(err.Error(), "nobody to email") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("a policy allowing less than an hour", func(t *testing.T) {
		st := grantedState(t)
		st.Policy.MaxDuration = 45 * time.Minute
		if help := f.n.extendHelp(st); !strings.Contains(help, "--duration 45m") || !strings.Contains(help, "at most 45m at a time") {
			t.Fatalf("help:\n%s", help)
		}
	})
}

// Each outcome notice of a grant is a mail of its own: the extension's
// says the new end and which approval extended it.
func TestOutcomeOfAnExtendedGrant(t *testing.T) {
	f := setup(t, smtpfake.Options{Username: smtpUser, Password: smtpPass}, config.EmailTLSStartTLS, nil)
	st := grantedState(t)
	if _, err := f.n.Outcome(context.Background(), st); err != nil {
		t.Fatal(err)
	}
	const ext = "eeeeeeeeeeeeeeeeeeeeeeeeee"
	if err := st.Extend(approval.Actor{User: "signoff", Proof: "test"}, ext, st.Grant.RevokeAt.Add(time.Hour), st.Grant.RevokeAt.Add(-5*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if _, err := f.n.Outcome(context.Background(), st); err != nil {
		t.Fatal(err)
	}
	mails := f.mailTo(t, "alice@example.com")
	if len(mails) != 2 || mails[0].MessageID == mails[1].MessageID {
		t.Fatalf("%d mails, ids %q", len(mails), mails[len(mails)-1].MessageID)
	}
	if !strings.Contains(mails[0].Text, "Your request was approved by bob, carol: access is granted until Sun 1 Mar 2026 14:10 UTC.") {
		t.Errorf("granted:\n%s", mails[0].Text)
	}
	if !strings.Contains(mails[1].Text, "Your access was extended by approval "+ext+": it now ends at Sun 1 Mar 2026 15:10 UTC.") {
		t.Errorf("extended:\n%s", mails[1].Text)
	}
}
