package e2e

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"

	"github.com/signoff/signoff/approval"
	"github.com/signoff/signoff/approval/evidence"
	"github.com/signoff/signoff/channel/email/linktoken"
	"github.com/signoff/signoff/channel/email/smtpfake"
	"github.com/signoff/signoff/config"
	"github.com/signoff/signoff/internal/testenv"
	"github.com/signoff/signoff/workflows"
)

const (
	emailRelayUser = "signoff-relay"
	emailRelayPass = "relay-password-9c2e71"
)

// emailEnv is a stack that mails through a real SMTP server on 127.0.0.1
// (STARTTLS, AUTH), with the secrets in the environment.
type emailEnv struct {
	*testenv.Stack
	smtp        *smtpfake.Server
	keys        *linktoken.Keys
	evidencePub ed25519.PublicKey
	secrets     []string
}

// escalatingPolicy: bob decides sandbox requests; reminders every 2s; after
// 3s carol is told and dana may decide too.
const escalatingPolicy = `  - name: escalating
    match: { environment: sandbox }
    approvers: { users: [bob] }
    required_approvals: 1
    reminder: 2s
    escalation:
      - after: 3s
        notify: { users: [carol] }
        add_approvers: { users: [dana] }
    deadline: 1h
`

func startEmailEnv(t *testing.T) *emailEnv {
	t.Helper()
	fake := smtpfake.Start(t, smtpfake.Options{Username: emailRelayUser, Password: emailRelayPass})
	linkKey := make([]byte, 32)
	seed := make([]byte, ed25519.SeedSize)
	_, _ = rand.Read(linkKey)
	_, _ = rand.Read(seed)
	linkKeyB64 := base64.StdEncoding.EncodeToString(linkKey)
	seedB64 := base64.StdEncoding.EncodeToString(seed)
	env := map[string]string{
		config.EnvSMTPHost:             fake.Host,
		config.EnvSMTPPort:             strings.TrimPrefix(fake.Addr(), fake.Host+":"),
		config.EnvSMTPUsername:         emailRelayUser,
		config.EnvSMTPPassword:         emailRelayPass,
		config.EnvEmailLinkKey:         linkKeyB64,
		config.EnvEmailLinkKeyPrevious: "",
		evidence.EnvKey:                seedB64,
	}

	yaml := testenv.StackConfig
	// The stack's config has an email section of its own: this test's replaces it.
	yaml = regexp.MustCompile(`(?m)^email:\n(?:  .*\n)*`).ReplaceAllString(yaml, "")
	require.Contains(t, yaml, "notifiers: [log]")
	require.Contains(t, yaml, "  - name: default\n")
	yaml = strings.Replace(yaml, "notifiers: [log]", `notifiers: [log, email]
email:
  from: "Signoff <signoff@example.com>"
  tls: starttls
  ca_file: `+fake.CAFile+`
`, 1)
	yaml = strings.Replace(yaml, "  - name: default\n", escalatingPolicy+"  - name: default\n", 1)
	s := testenv.Start(t, testenv.Options{ConfigYAML: yaml, Env: env})
	keys, err := linktoken.New(linkKey)
	require.NoError(t, err)
	return &emailEnv{Stack: s, smtp: fake, keys: keys,
		evidencePub: ed25519.NewKeyFromSeed(seed).Public().(ed25519.PublicKey),
		secrets:     []string{emailRelayPass, linkKeyB64, seedB64}}
}

func (e *emailEnv) create(t *testing.T, body string) string {
	t.Helper()
	code, b := e.Do(http.MethodPost, "/v1/approvals", "dev-alice", body)
	require.Equal(t, http.StatusOK, code, string(b))
	return decodeApproval(t, b).GetId()
}

// state reads the approval (see the package's state).
func (e *emailEnv) state(t *testing.T, id string) *approval.State {
	t.Helper()
	return state(t, e.Stack, id)
}

// approveByMail confirms m's first decision link (Approve) in a fresh
// browser; the page must say the decision was accepted.
func (e *emailEnv) approveByMail(t *testing.T, m *smtpfake.Mail) {
	t.Helper()
	approve := m.Links(e.HTTPURL + "/d/")[0]
	b := newMailBrowser(t)
	csrf := b.open(approve)
	resp, body := b.do(http.MethodPost, approve, url.Values{"csrf": {csrf}}, nil)
	require.Equal(t, http.StatusOK, resp.StatusCode, body)
	require.Equal(t, "accepted", pageResult(body))
}

// mail waits for a message to addr whose subject starts with prefix and
// that is about approval id.
func (e *emailEnv) mail(t *testing.T, addr, prefix, id string) *smtpfake.Mail {
	t.Helper()
	return e.smtp.Wait(t, 30*time.Second, "to "+addr+" "+prefix, func(m *smtpfake.Mail) bool {
		for _, to := range m.Envelope.To {
			if to == addr && strings.HasPrefix(m.Subject, prefix) && strings.Contains(m.MessageID, id) {
				return true
			}
		}
		return false
	})
}

// mailBrowser is an HTTP client with cookies that does not follow redirects.
type mailBrowser struct {
	t *testing.T
	c *http.Client
	// hashes are the request_hash fields of the confirmation pages opened,
	// by link: a POST to the link sends it, as the page's form would.
	hashes map[string]string
}

func newMailBrowser(t *testing.T) *mailBrowser {
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	return &mailBrowser{t: t, hashes: map[string]string{}, c: &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (b *mailBrowser) do(method, u string, form url.Values, header map[string]string) (*http.Response, string) {
	b.t.Helper()
	var body io.Reader
	if form != nil {
		if h := b.hashes[u]; h != "" && !form.Has("request_hash") {
			form.Set("request_hash", h)
		}
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, u, body)
	require.NoError(b.t, err)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := b.c.Do(req)
	require.NoError(b.t, err)
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	require.NoError(b.t, err)
	return resp, string(out)
}

func (b *mailBrowser) get(u string) (*http.Response, string) {
	return b.do(http.MethodGet, u, nil, nil)
}

var (
	emailCSRFField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)
	emailHashField = regexp.MustCompile(`name="request_hash" value="([0-9a-f]+)"`)
)

// open loads a confirmation page and returns its CSRF field.
func (b *mailBrowser) open(link string) string {
	b.t.Helper()
	resp, body := b.get(link)
	require.Equal(b.t, http.StatusOK, resp.StatusCode, body)
	m := emailCSRFField.FindStringSubmatch(body)
	require.NotNil(b.t, m, "no CSRF field in:\n%s", body)
	h := emailHashField.FindStringSubmatch(body)
	require.NotNil(b.t, h, "no request_hash field in:\n%s", body)
	b.hashes[link] = h[1]
	return m[1]
}

func pageResult(body string) string {
	m := regexp.MustCompile(`data-result="([a-z_]+)"`).FindStringSubmatch(body)
	if m == nil {
		return ""
	}
	return m[1]
}

// attemptsBy counts recorded attempts of user.
func emailAttemptsBy(st *approval.State, user string) []approval.Attempt {
	var out []approval.Attempt
	for _, a := range st.Attempts {
		if a.User == user {
			out = append(out, a)
		}
	}
	return out
}

func linkToken(link string) string {
	return link[strings.LastIndex(link, "/d/")+3:]
}

// TestEmailApprovalEndToEnd: approvers get an email over SMTP with signed
// links; opening a link only shows a confirmation page; the POST from that
// page decides once, as the link's approver; bad, expired, foreign and
// reused links never decide; the requester is told; the audit trail page
// and the signed evidence export show it all.
func TestEmailApprovalEndToEnd(t *testing.T) {
	t.Parallel()
	e := startEmailEnv(t)
	id := e.create(t, `{"title":"Rotate the DB password","environment":"staging","resource":"db/main",
		"fields":{"ticket":"SEC-42","window":"tonight"}}`)
	bobMail := e.mail(t, "bob@example.com", "[Signoff] Approval needed: Rotate the DB password (staging)", id)
	carolMail := e.mail(t, "carol@example.com", "[Signoff] Approval needed", id)

	require.Contains(t, []string{"multipart/alternative"}, bobMail.ContentTypes[0])
	for _, want := range []string{"Requested by: alice", "Environment:  staging", "ticket: SEC-42", "window: tonight",
		"0 of 1 approvals; waiting for bob, carol", "Deadline:"} {
		require.Contains(t, bobMail.Text, want)
	}
	require.Contains(t, bobMail.HTML, "SEC-42")
	bobLinks := bobMail.Links(e.HTTPURL + "/d/")
	require.Len(t, bobLinks, 2, bobMail.Text)
	approveLink, rejectLink := bobLinks[0], bobLinks[1]
	carolApprove := carolMail.Links(e.HTTPURL + "/d/")[0]

	t.Run("opening links decides nothing", func(t *testing.T) {
		b := newMailBrowser(t)
		for range 3 {
			resp, body := b.get(approveLink)
			require.Equal(t, http.StatusOK, resp.StatusCode, body)
			require.Contains(t, body, "Approve this request?")
			require.Contains(t, body, "<strong>bob</strong>")
			require.Contains(t, body, "Rotate the DB password")
			csp := resp.Header.Get("Content-Security-Policy")
			require.Contains(t, csp, "default-src 'none'")
			require.Contains(t, csp, "style-src 'self'")
			require.Contains(t, csp, "frame-ancestors 'none'")
			require.Equal(t, "no-referrer", resp.Header.Get("Referrer-Policy"))
			var csrf *http.Cookie
			for _, c := range resp.Cookies() {
				if c.Name == "signoff_csrf" {
					csrf = c
				}
			}
			require.NotNil(t, csrf)
			require.True(t, csrf.HttpOnly)
			require.Equal(t, http.SameSiteStrictMode, csrf.SameSite)
		}
		resp, _ := b.do(http.MethodHead, rejectLink, nil, nil)
		require.Equal(t, http.StatusOK, resp.StatusCode)
		_, _ = newMailBrowser(t).get(carolApprove)
		st := e.state(t, id)
		require.Empty(t, st.Attempts, "a GET decided something")
		require.Equal(t, approval.StatusPending, st.Status)
	})

	t.Run("bad links never decide", func(t *testing.T) {
		b := newMailBrowser(t)
		tok := linkToken(approveLink)
		// Tampered: one character of the claims changed.
		i := strings.Index(tok, ".") + 10
		swap := "A"
		if tok[i] == 'A' {
			swap = "B"
		}
		flipped := tok[:i] + swap + tok[i+1:]
		resp, body := b.get(e.HTTPURL + "/d/" + flipped)
		require.Equal(t, http.StatusBadRequest, resp.StatusCode)
		require.Equal(t, "invalid", pageResult(body))
		// Signed by another key.
		stranger, err := linktoken.New(bytes.Repeat([]byte{9}, 32))
		require.NoError(t, err)
		c, err := e.keys.Verify(tok, time.Now())
		require.NoError(t, err)
		forged, err := stranger.Sign(c)
		require.NoError(t, err)
		resp, body = b.get(e.HTTPURL + "/d/" + forged)
		require.Equal(t, http.StatusBadRequest, resp.StatusCode)
		require.Equal(t, "invalid", pageResult(body))
		// Expired (signed with the real key).
		old := c
		old.Expires = time.Now().Add(-time.Minute).Unix()
		old.ID = "expired-link"
		expired, err := e.keys.Sign(old)
		require.NoError(t, err)
		resp, body = b.get(e.HTTPURL + "/d/" + expired)
		require.Equal(t, http.StatusGone, resp.StatusCode)
		require.Equal(t, "expired", pageResult(body))
		resp, body = b.do(http.MethodPost, e.HTTPURL+"/d/"+expired, url.Values{"csrf": {"x"}}, nil)
		require.Equal(t, http.StatusGone, resp.StatusCode, body)
		// A view link is not a decision link.
		view := bobMail.Links(e.HTTPURL + "/approvals/")[0]
		resp, _ = b.get(e.HTTPURL + "/d/" + view[strings.Index(view, "?t=")+3:])
		require.Equal(t, http.StatusBadRequest, resp.StatusCode)

		// POSTs without the confirmation page's CSRF cookie and field.
		resp, body = b.do(http.MethodPost, approveLink, url.Values{"comment": {"x"}}, nil)
		require.Equal(t, http.StatusForbidden, resp.StatusCode, body)
		bobCSRF := b.open(approveLink)
		resp, _ = b.do(http.MethodPost, approveLink, url.Values{"csrf": {bobCSRF + "x"}}, nil)
		require.Equal(t, http.StatusForbidden, resp.StatusCode)
		// Carol's page's CSRF field does not work on bob's link.
		carolCSRF := b.open(carolApprove)
		resp, _ = b.do(http.MethodPost, approveLink, url.Values{"csrf": {carolCSRF}}, nil)
		require.Equal(t, http.StatusForbidden, resp.StatusCode)
		// A cross-site form post is refused even with a valid token.
		resp, _ = b.do(http.MethodPost, approveLink, url.Values{"csrf": {bobCSRF}},
			map[string]string{"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"})
		require.Equal(t, http.StatusForbidden, resp.StatusCode)

		st := e.state(t, id)
		require.Empty(t, st.Attempts, "a bad link decided something")
	})

	t.Run("a link for someone who may not approve is refused and recorded", func(t *testing.T) {
		c, err := e.keys.Verify(linkToken(approveLink), time.Now())
		require.NoError(t, err)
		c.User, c.ID = "dana", "dana-link"
		tok, err := e.keys.Sign(c)
		require.NoError(t, err)
		link := e.HTTPURL + "/d/" + tok
		b := newMailBrowser(t)
		csrf := b.open(link)
		resp, body := b.do(http.MethodPost, link, url.Values{"csrf": {csrf}}, nil)
		require.Equal(t, http.StatusForbidden, resp.StatusCode, body)
		require.Equal(t, "refused", pageResult(body))
		require.Contains(t, body, approval.RefusedNotApprover)
		dana := emailAttemptsBy(e.state(t, id), "dana")
		require.Len(t, dana, 1)
		require.False(t, dana[0].Accepted)
		require.Equal(t, "email", dana[0].Channel)
		require.Equal(t, "email:dana-link", dana[0].ID)
	})

	t.Run("the confirmed POST decides once, as the link's approver", func(t *testing.T) {
		b := newMailBrowser(t)
		csrf := b.open(approveLink)
		resp, body := b.do(http.MethodPost, approveLink, url.Values{"csrf": {csrf}, "comment": {"rotated keys checked"}}, nil)
		require.Equal(t, http.StatusOK, resp.StatusCode, body)
		require.Equal(t, "accepted", pageResult(body))
		require.Contains(t, body, "Your approval was recorded")
		require.Contains(t, body, "now approved")

		st := e.state(t, id)
		require.Equal(t, approval.StatusApproved, st.Status)
		bob := emailAttemptsBy(st, "bob")
		require.Len(t, bob, 1)
		c, _ := e.keys.Verify(linkToken(approveLink), time.Now())
		require.Equal(t, c.AttemptID(), bob[0].ID)
		require.True(t, bob[0].Accepted)
		require.Equal(t, "email", bob[0].Channel)
		require.Equal(t, "rotated keys checked", bob[0].Comment)

		// Used again: the page says so, and nothing more is recorded.
		resp, body = b.do(http.MethodPost, approveLink, url.Values{"csrf": {csrf}}, nil)
		require.Equal(t, http.StatusConflict, resp.StatusCode, body)
		require.Equal(t, "used", pageResult(body))
		require.Contains(t, body, "This link was already used")
		resp, body = newMailBrowser(t).get(approveLink)
		require.Equal(t, http.StatusConflict, resp.StatusCode)
		require.Equal(t, "used", pageResult(body))
		// Another link of the same email: the approval is over.
		resp, body = newMailBrowser(t).get(rejectLink)
		require.Equal(t, http.StatusConflict, resp.StatusCode)
		require.Equal(t, "closed", pageResult(body))
		require.Len(t, emailAttemptsBy(e.state(t, id), "bob"), 1)
	})

	outcome := e.mail(t, "alice@example.com", "[Signoff] Approved: Rotate the DB password (staging)", id)
	require.Contains(t, outcome.Text, "approved by bob")
	require.Empty(t, outcome.Links("/d/"), "the requester gets no decision links")

	t.Run("audit trail page", func(t *testing.T) {
		page := e.HTTPURL + "/approvals/" + id
		// Without a link, a session or a token: off to sign in.
		resp, body := newMailBrowser(t).get(page)
		require.Equal(t, http.StatusSeeOther, resp.StatusCode, body)
		require.Equal(t, "/signin?next=%2Fapprovals%2F"+id, resp.Header.Get("Location"))

		// The outcome email's link opens a session, then drops the token
		// from the address.
		b := newMailBrowser(t)
		resp, _ = b.get(outcome.Links(e.HTTPURL + "/approvals/")[0])
		require.Equal(t, http.StatusSeeOther, resp.StatusCode)
		require.Equal(t, "/approvals/"+id, resp.Header.Get("Location"))
		resp, body = b.get(page)
		require.Equal(t, http.StatusOK, resp.StatusCode, body)
		require.Contains(t, resp.Header.Get("Content-Security-Policy"), "frame-ancestors 'none'")
		for _, want := range []string{"Audit trail", "Rotate the DB password", "viewed as alice", "Requested", "Notified",
			"email prompt: email:bob@example.com, email:carol@example.com", `data-type="decision"`,
			"not an approver for this request", "rotated keys checked", "via email", "signed email link",
			`data-type="outcome"`, "Approved", `data-type="action"`} {
			require.Contains(t, body, want)
		}
		// An API token works too.
		req, _ := http.NewRequest(http.MethodGet, page, nil)
		req.Header.Set("Authorization", "Bearer dev-dana")
		r2, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		r2.Body.Close()
		require.Equal(t, http.StatusOK, r2.StatusCode)
	})

	t.Run("links and sessions of one approval do not open another", func(t *testing.T) {
		other := e.create(t, `{"title":"Something else","environment":"staging"}`)
		b := newMailBrowser(t)
		resp, _ := b.get(bobMail.Links(e.HTTPURL + "/approvals/")[0])
		require.Equal(t, http.StatusSeeOther, resp.StatusCode)
		// bob's link token for approval id on the other approval's page.
		resp, body := b.get(e.HTTPURL + "/approvals/" + other + "?t=" + linkToken(approveLink))
		require.Equal(t, http.StatusForbidden, resp.StatusCode, body)
		// The session cookie is scoped to its approval: the other one asks
		// for a sign-in.
		resp, _ = b.get(e.HTTPURL + "/approvals/" + other)
		require.Equal(t, http.StatusSeeOther, resp.StatusCode)
		resp, _ = b.get(e.HTTPURL + "/approvals/" + id)
		require.Equal(t, http.StatusOK, resp.StatusCode)
	})

	t.Run("signed evidence export", func(t *testing.T) {
		code, body := e.Do(http.MethodGet, "/v1/approvals/"+id+"/evidence", "", "")
		require.Equal(t, http.StatusUnauthorized, code, string(body))
		code, body = e.Do(http.MethodGet, "/v1/approvals/"+id+"/evidence", "not-a-token", "")
		require.Equal(t, http.StatusUnauthorized, code, string(body))
		code, body = e.Do(http.MethodGet, "/v1/approvals/"+id+"/evidence", "dev-carol", "")
		require.Equal(t, http.StatusOK, code, string(body))
		res, err := evidence.Verify(body, e.evidencePub)
		require.NoError(t, err, string(body))
		doc := res.Document
		require.Equal(t, id, doc.Approval.ID)
		require.Equal(t, "carol", doc.ExportedBy)
		require.Equal(t, "default", doc.Approval.Policy.Name)
		require.NotEmpty(t, doc.Approval.Policy.Version)
		require.Equal(t, approval.StatusApproved, doc.Approval.Status)
		var types []string
		var sawEmailDecision, sawNotification bool
		for _, en := range doc.Entries {
			types = append(types, en.Type)
			if en.Type == "decision" && en.Channel == "email" && en.Actor == "bob" && en.Attempt.Accepted {
				sawEmailDecision = strings.HasPrefix(en.IdentifiedBy, "signed email link")
			}
			if en.Type == "notification" && strings.Contains(en.Detail, "email:bob@example.com") {
				sawNotification = true
			}
		}
		require.True(t, sawEmailDecision, "entries: %v", types)
		require.True(t, sawNotification, "entries: %v", types)
		require.Contains(t, types, "action")
		require.Contains(t, types, "outcome")
		// Still valid when pretty-printed differently, invalid when changed.
		var compact bytes.Buffer
		require.NoError(t, json.Compact(&compact, body))
		_, err = evidence.Verify(compact.Bytes(), e.evidencePub)
		require.NoError(t, err)
		_, err = evidence.Verify(bytes.Replace(body, []byte(`"actor": "bob"`), []byte(`"actor": "eve"`), 1), e.evidencePub)
		require.Error(t, err)
	})

	t.Run("no secret or link token in logs or history", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		iter := e.Client.GetWorkflowHistory(ctx, workflows.ApprovalWorkflowID(id), "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		var hist strings.Builder
		for iter.HasNext() {
			ev, err := iter.Next()
			require.NoError(t, err)
			hist.WriteString(ev.String())
		}
		logs := e.Logs.String()
		for _, s := range append(e.secrets, linkToken(approveLink), linkToken(carolApprove)) {
			require.NotContains(t, logs, s)
			require.NotContains(t, hist.String(), s)
		}
	})
}

// TestEmailRemindersAndEscalation: reminders go to the approver still
// awaited, threaded under the prompt; the escalation gives the added
// approver decision links and the notify-only person an audit link; the
// added approver decides by email; fired timers are in the audit trail.
func TestEmailRemindersAndEscalation(t *testing.T) {
	t.Parallel()
	e := startEmailEnv(t)
	id := e.create(t, `{"title":"Open the sandbox firewall","environment":"sandbox"}`)
	prompt := e.mail(t, "bob@example.com", "[Signoff] Approval needed", id)
	reminder := e.mail(t, "bob@example.com", "[Signoff] Reminder: approval needed", id)
	require.Equal(t, prompt.MessageID, reminder.Header.Get("In-Reply-To"))
	require.Len(t, reminder.Links(e.HTTPURL+"/d/"), 2)

	danaMail := e.mail(t, "dana@example.com", "[Signoff] Escalated", id)
	require.Contains(t, danaMail.Text, "You may now decide it.")
	carolMail := e.mail(t, "carol@example.com", "[Signoff] Escalated", id)
	require.Empty(t, carolMail.Links("/d/"), "carol is only told")
	require.Len(t, carolMail.Links("/approvals/"), 1)

	e.approveByMail(t, danaMail)
	st := e.state(t, id)
	require.Equal(t, approval.StatusApproved, st.Status)
	require.Equal(t, []string{"dana"}, st.ApprovedBy)

	// Bob's reminder link now finds the approval closed.
	resp, body := newMailBrowser(t).get(reminder.Links(e.HTTPURL + "/d/")[0])
	require.Equal(t, http.StatusConflict, resp.StatusCode)
	require.Equal(t, "closed", pageResult(body))

	code, doc := e.Do(http.MethodGet, "/v1/approvals/"+id+"/evidence", "dev-bob", "")
	require.Equal(t, http.StatusOK, code, string(doc))
	res, err := evidence.Verify(doc, e.evidencePub)
	require.NoError(t, err)
	var timers, escalations []string
	for _, en := range res.Document.Entries {
		switch en.Type {
		case "timer_fired":
			timers = append(timers, en.Detail)
		case "escalation":
			escalations = append(escalations, en.Detail)
		}
	}
	require.Contains(t, timers, "reminder")
	require.Contains(t, timers, "escalation level 1")
	require.Len(t, escalations, 1)

	page := newMailBrowser(t)
	resp, _ = page.get(carolMail.Links(e.HTTPURL + "/approvals/")[0])
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	resp, body = page.get(e.HTTPURL + "/approvals/" + id)
	require.Equal(t, http.StatusOK, resp.StatusCode, body)
	require.Contains(t, body, "Timer fired")
	require.Contains(t, body, "escalation level 1")
	require.Contains(t, body, "Escalated")
	require.Contains(t, body, "viewed as carol")
}
