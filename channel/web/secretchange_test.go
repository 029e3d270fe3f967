package web

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/signoff/signoff/approval"
	"github.com/signoff/signoff/auth/authn"
	"github.com/signoff/signoff/config/identity"
	"github.com/signoff/signoff/intake"
	"github.com/signoff/signoff/secretchange"
	"github.com/signoff/signoff/store/approvalstore"
	"github.com/signoff/signoff/store/peoplestore"
)

// The values of the tests: none may appear in a page or a log line.
const (
	oldPassword = "old-db-password"                 // in the store now
	newPassword = "n3w-Db-Passw0rd-for-production!" // proposed
	newToken    = "tok_0123456789abcdef"            // proposed
)

// listedApprovals are grantApprovals with an empty index, for the inbox.
type listedApprovals struct{ *grantApprovals }

func (listedApprovals) List(context.Context, approvalstore.Query) (approvalstore.Page, error) {
	return approvalstore.Page{}, nil
}

// syncBuffer keeps the handler's log lines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// secretCall is one proposal the pages made.
type secretCall struct {
	User, RequestID string
	P               SecretProposal
}

// secretFixture: alice proposes changes of production/api on prod-vault,
// which holds DB_PASSWORD and OLD_KEY; bob and carol approve them. The
// proposer diffs as the gateway does (fingerprints, lengths) and records
// each call; refuse or fail make it refuse or break.
type secretFixture struct {
	*webFixture
	apps *grantApprovals
	logs *syncBuffer
	fp   *secretchange.Fingerprinter

	mu     sync.Mutex
	calls  []secretCall
	refuse *Refused
	fail   error
}

func secretSetup(t *testing.T, on bool, targets ...SecretTarget) *secretFixture {
	t.Helper()
	return formSetup(t, on, nil, targets...)
}

// formSetup is secretSetup with mod changing the options before the
// handler is built (the other forms' own fakes).
func formSetup(t *testing.T, on bool, mod func(*Options, *secretFixture), targets ...SecretTarget) *secretFixture {
	t.Helper()
	dir, err := identity.NewDirectory([]identity.User{{Name: "alice"}, {Name: "bob"}, {Name: "carol"}, {Name: "walt"}})
	if err != nil {
		t.Fatal(err)
	}
	fp, err := secretchange.NewFingerprinter("k1", bytes.Repeat([]byte{9}, 32))
	if err != nil {
		t.Fatal(err)
	}
	f := &secretFixture{webFixture: &webFixture{t: t, dir: dir, clock: now},
		apps: &grantApprovals{states: map[string]*approval.State{}}, logs: &syncBuffer{}, fp: fp}
	clock := func() time.Time { return f.clock }
	directory := func() *identity.Directory { return dir }
	sessions, err := NewSessions(SessionOptions{Key: bytes.Repeat([]byte{7}, 32), TTL: time.Hour, Secure: true,
		Directory: directory, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	o := Options{
		Directory: directory, Authn: authn.Static(directory, slog.Default()), Approvals: listedApprovals{f.apps},
		PublicURL: "https://signoff.example.com", Now: clock, Sessions: sessions, DevSignIn: true,
		People: &peoplestore.Memory{Now: clock}, Logger: slog.New(slog.NewTextHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		SecretTargets: func() []SecretTarget { return targets },
	}
	if on {
		o.ProposeSecret = f.propose
	}
	if mod != nil {
		mod(&o, f)
	}
	f.h, err = New(o)
	if err != nil {
		t.Fatal(err)
	}
	f.mux = http.NewServeMux()
	f.h.Mount(f.mux)
	return f
}

var prodVault = SecretTarget{Name: "prod-vault", Secrets: []string{"production/*"}}

func (f *secretFixture) propose(ctx context.Context, user *identity.User, requestID string, p SecretProposal) (*approval.State, error) {
	f.mu.Lock()
	p.Edits = slices.Clone(p.Edits)
	f.calls = append(f.calls, secretCall{User: user.Name, RequestID: requestID, P: p})
	refuse, fail := f.refuse, f.fail
	f.mu.Unlock()
	switch {
	case refuse != nil:
		return nil, refuse
	case fail != nil:
		return nil, fail
	}
	current := map[string]string{"DB_PASSWORD": oldPassword, "OLD_KEY": "old-key-value"}
	diff, err := secretchange.Diff(f.fp, p.Target, p.Secret, current, p.Edits)
	if err != nil {
		return nil, &Refused{Code: http.StatusUnprocessableEntity, Reason: err.Error()}
	}
	change := &secretchange.Change{Target: p.Target, Secret: p.Secret, Keys: diff, BaseVersion: "7", KeyID: f.fp.ID}
	id := intake.ApprovalID(user.Name, requestID)
	f.apps.mu.Lock()
	if _, ok := f.apps.states[id]; !ok {
		st := approval.New(id, user.Name, approval.Request{Title: p.Title, Environment: p.Environment, Resource: p.Secret,
			Fields: intake.SecretFields(change), Secret: change,
			Action: approval.Action{Type: "secret_change", Params: map[string]string{"target": p.Target, "secret": p.Secret}}},
			approval.Policy{Name: "secrets", Approvers: []string{"bob", "carol"}, RequiredApprovals: 2, Deadline: time.Hour}, f.clock)
		st.Justification = p.Justification
		f.apps.states[id] = st
	}
	f.apps.mu.Unlock()
	return f.apps.Get(ctx, id)
}

func (f *secretFixture) Calls() []secretCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

// secretForm is alice's proposal as the form sends it: a rotate, a set and
// a delete; the other rows are sent empty, as browsers send them.
func secretForm(page string, mod func(url.Values)) url.Values {
	v := url.Values{"csrf": {hidden(page, "csrf")}, "attempt": {hidden(page, "attempt")}, "target": {"prod-vault"},
		"secret": {" production/api "}, "environment": {"production"}, "title": {"New DB password"},
		"justification": {"  the old one leaked  "}}
	for i := range secretRows {
		n := strconv.Itoa(i)
		v.Set("key"+n, "")
		v.Set("op"+n, "set")
		v.Set("value"+n, "")
	}
	v.Set("key0", "DB_PASSWORD")
	v.Set("op0", "rotate")
	v.Set("value0", newPassword)
	v.Set("key1", " NEW_TOKEN ")
	v.Set("value1", newToken)
	v.Set("key2", "OLD_KEY")
	v.Set("op2", "delete")
	if mod != nil {
		mod(v)
	}
	return v
}

// noValues fails when text shows any of the test's values.
func noValues(t *testing.T, what, text string) {
	t.Helper()
	for _, v := range []string{oldPassword, newPassword, newToken, "old-key-value"} {
		if strings.Contains(text, v) {
			t.Errorf("%s shows a value (%q):\n%s", what, v, text)
		}
	}
}

var passwordWithValue = regexp.MustCompile(`<input type="password"[^>]*\svalue=`)

// TestWebSecretForm: the inbox links the form; it offers the configured
// stores and ten rows of key, operation and a password field, and says
// values are sealed, staged and never shown again. Signed out, it sends to
// sign-in; with no proposer or no store it is not offered.
func TestWebSecretForm(t *testing.T) {
	f := secretSetup(t, true, prodVault, SecretTarget{Name: "staging-vault"})
	alice := f.browser()
	alice.signIn("alice")
	if inbox := alice.do(http.MethodGet, "/inbox", nil).Body.String(); !strings.Contains(inbox, `href="/secret-changes/new" id="propose-secret"`) {
		t.Errorf("the inbox does not link the form:\n%s", inbox)
	}
	rec := alice.do(http.MethodGet, "/secret-changes/new", nil)
	page := rec.Body.String()
	if rec.Code != http.StatusOK {
		t.Fatalf("form: %d\n%s", rec.Code, page)
	}
	for _, want := range []string{`id="secret-form"`, `action="/secret-changes"`,
		`<option value="prod-vault">prod-vault (production/*)</option>`, `<option value="staging-vault">staging-vault</option>`,
		`name="secret"`, `name="environment"`, `name="title"`, `name="justification"`,
		`<input type="password" id="value0" name="value0" autocomplete="off"`, `name="key9"`,
		`<option value="rotate">rotate</option>`, `<option value="delete">delete</option>`,
		"Values are sealed and staged", "never shown again"} {
		if !strings.Contains(page, want) {
			t.Errorf("the form lacks %q:\n%s", want, page)
		}
	}
	if n := strings.Count(page, `type="password"`); n != secretRows {
		t.Errorf("%d value fields, want %d", n, secretRows)
	}
	if hidden(page, "csrf") == "" || !attemptPattern.MatchString(hidden(page, "attempt")) {
		t.Error("the form has no CSRF token or attempt")
	}
	if h := rec.Header(); !strings.Contains(h.Get("Content-Security-Policy"), "form-action 'self'") || h.Get("Cache-Control") != "no-store" {
		t.Errorf("security headers: %v", h)
	}
	if rec := f.browser().do(http.MethodGet, "/secret-changes/new", nil); rec.Code != http.StatusSeeOther ||
		rec.Header().Get("Location") != "/signin?next=%2Fsecret-changes%2Fnew" {
		t.Errorf("signed out: %d %q", rec.Code, rec.Header().Get("Location"))
	}

	t.Run("one store is chosen", func(t *testing.T) {
		f := secretSetup(t, true, prodVault)
		b := f.browser()
		b.signIn("alice")
		if page := b.do(http.MethodGet, "/secret-changes/new", nil).Body.String(); !strings.Contains(page, `<option value="prod-vault" selected>`) {
			t.Errorf("the only store is not chosen:\n%s", page)
		}
	})
	t.Run("off", func(t *testing.T) {
		f := secretSetup(t, false, prodVault)
		b := f.browser()
		b.signIn("alice")
		if strings.Contains(b.do(http.MethodGet, "/inbox", nil).Body.String(), "propose-secret") {
			t.Error("the inbox links a form that is off")
		}
		rec := b.do(http.MethodGet, "/secret-changes/new", nil)
		if rec.Code != http.StatusNotFound || resultOf(rec) != "unavailable" {
			t.Errorf("form off: %d %q", rec.Code, resultOf(rec))
		}
	})
	t.Run("no store", func(t *testing.T) {
		f := secretSetup(t, true)
		b := f.browser()
		b.signIn("alice")
		if strings.Contains(b.do(http.MethodGet, "/inbox", nil).Body.String(), "propose-secret") {
			t.Error("the inbox links the form with no store to change")
		}
		page := b.do(http.MethodGet, "/secret-changes/new", nil).Body.String()
		if !strings.Contains(page, `id="no-targets"`) || strings.Contains(page, `id="secret-form"`) {
			t.Errorf("no store: %s", page)
		}
	})
}

// TestWebProposeSecret: alice's form proposes in her name, with the form's
// attempt as its request ID (a form sent twice proposes once) and exactly
// the keys, operations and values she gave; she lands on the approval's
// page, which shows the redacted diff as a table and never a value,
// neither does any log line.
func TestWebProposeSecret(t *testing.T) {
	f := secretSetup(t, true, prodVault)
	alice := f.browser()
	alice.signIn("alice")
	page := alice.do(http.MethodGet, "/secret-changes/new", nil).Body.String()
	form := secretForm(page, nil)
	requestID := "web:secret:" + form.Get("attempt")
	id := intake.ApprovalID("alice", requestID)
	for range 2 { // a double submit
		rec := alice.do(http.MethodPost, "/secret-changes", form)
		if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/approvals/"+id+"?done=secret_proposed" {
			t.Fatalf("propose: %d %q\n%s", rec.Code, rec.Header().Get("Location"), rec.Body)
		}
		noValues(t, "the redirect", rec.Body.String())
	}
	calls := f.Calls()
	want := secretCall{User: "alice", RequestID: requestID, P: SecretProposal{Target: "prod-vault", Secret: "production/api",
		Environment: "production", Title: "New DB password", Justification: "the old one leaked",
		Edits: []secretchange.Edit{{Key: "DB_PASSWORD", Op: secretchange.OpRotate, Value: newPassword},
			{Key: "NEW_TOKEN", Op: secretchange.OpSet, Value: newToken}, {Key: "OLD_KEY", Op: secretchange.OpDelete}}}}
	if len(calls) != 2 || !sameCall(calls[0], want) || !sameCall(calls[1], want) {
		t.Fatalf("calls %+v,\nwant twice %+v", calls, want)
	}
	if n := len(f.apps.states); n != 1 {
		t.Fatalf("%d approvals, want one", n)
	}

	fp := func(key, v string) string { return f.fp.Of("prod-vault", "production/api", key, v).Hash }
	for _, who := range []string{"alice", "bob"} {
		b := alice
		if who != "alice" {
			b = f.browser()
			b.signIn(who)
		}
		rec := b.do(http.MethodGet, "/approvals/"+id+"?done=secret_proposed", nil)
		page := rec.Body.String()
		if rec.Code != http.StatusOK {
			t.Fatalf("%s's page: %d\n%s", who, rec.Code, page)
		}
		for _, want := range []string{`id="secret-diff"`, "<code>production/api</code> on prod-vault (against version 7)",
			`<tr data-key="DB_PASSWORD"><th scope="row"><code>DB_PASSWORD</code></th><td>rotate</td><td>changed</td>`,
			"<td><code>" + fp("DB_PASSWORD", oldPassword) + "</code> (15 chars)</td>",
			"<td><code>" + fp("DB_PASSWORD", newPassword) + "</code> (31 chars)</td></tr>",
			`<tr data-key="NEW_TOKEN"><th scope="row"><code>NEW_TOKEN</code></th><td>set</td><td>added</td>` + "\n<td>none</td>",
			"<td><code>" + fp("NEW_TOKEN", newToken) + "</code> (20 chars)</td></tr>",
			`<tr data-key="OLD_KEY"><th scope="row"><code>OLD_KEY</code></th><td>delete</td><td>removed</td>`,
			"(13 chars)</td>\n<td>none</td></tr>", "Values are never shown",
			"<dd>secret_change</dd>"} {
			if !strings.Contains(page, want) {
				t.Errorf("%s's page lacks %q:\n%s", who, want, page)
			}
		}
		if strings.Contains(page, "<dt>key DB_PASSWORD</dt>") {
			t.Errorf("%s's page repeats the diff as fields", who)
		}
		noValues(t, who+"'s page", page)
		if who == "alice" && !strings.Contains(page, "Your secret change was proposed") {
			t.Error("alice is not told her change was proposed")
		}
		if who == "bob" && !strings.Contains(page, `id="decide-form"`) {
			t.Error("bob is not offered to decide on the diff")
		}
	}
	// The page an email link opens shows it too.
	st, err := f.apps.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	confirm := renderPage(t, "confirm", &confirmPage{PageTitle: "Approve", Summary: summarize(st)})
	if !strings.Contains(confirm, `id="secret-diff"`) || !strings.Contains(confirm, fp("NEW_TOKEN", newToken)) {
		t.Errorf("the confirmation page lacks the diff:\n%s", confirm)
	}
	noValues(t, "the confirmation page", confirm)
	noValues(t, "the log", f.logs.String())
	if !strings.Contains(f.logs.String(), "web secret change proposed") {
		t.Errorf("the proposal is not logged:\n%s", f.logs)
	}
}

func sameCall(a, b secretCall) bool {
	return a.User == b.User && a.RequestID == b.RequestID && slices.Equal(a.P.Edits, b.P.Edits) &&
		[6]string{a.P.Target, a.P.Secret, a.P.Environment, a.P.Title, a.P.Description, a.P.Justification} ==
			[6]string{b.P.Target, b.P.Secret, b.P.Environment, b.P.Title, b.P.Description, b.P.Justification}
}

// TestWebProposeSecretRefusals: a form from elsewhere or without the
// session's token, or from someone signed out, proposes nothing; a form
// the page refuses, or the proposer refuses, comes back with the reason,
// the keys, operations and text, and never a value (the page, nor a log
// line).
func TestWebProposeSecretRefusals(t *testing.T) {
	f := secretSetup(t, true, prodVault)
	alice := f.browser()
	alice.signIn("alice")
	page := alice.do(http.MethodGet, "/secret-changes/new", nil).Body.String()

	send := func(v url.Values, mod func(*http.Request)) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, "/secret-changes", strings.NewReader(v.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		for _, c := range alice.cookies {
			req.AddCookie(c)
		}
		if mod != nil {
			mod(req)
		}
		rec := httptest.NewRecorder()
		f.mux.ServeHTTP(rec, req)
		return rec
	}
	for name, tc := range map[string]struct {
		v   url.Values
		mod func(*http.Request)
	}{
		"no form token":     {secretForm(page, func(v url.Values) { v.Del("csrf") }), nil},
		"another token":     {secretForm(page, func(v url.Values) { v.Set("csrf", "x"+hidden(page, "csrf")) }), nil},
		"another origin":    {secretForm(page, nil), func(r *http.Request) { r.Header.Set("Origin", "https://evil.example") }},
		"a cross-site form": {secretForm(page, nil), func(r *http.Request) { r.Header.Set("Sec-Fetch-Site", "cross-site") }},
	} {
		rec := send(tc.v, tc.mod)
		if rec.Code != http.StatusForbidden || resultOf(rec) != "forbidden" {
			t.Errorf("%s: %d %q", name, rec.Code, resultOf(rec))
		}
		noValues(t, name, rec.Body.String())
	}
	if rec := f.browser().do(http.MethodPost, "/secret-changes", secretForm(page, nil)); rec.Code != http.StatusSeeOther ||
		!strings.HasPrefix(rec.Header().Get("Location"), "/signin") {
		t.Errorf("signed out: %d %q", rec.Code, rec.Header().Get("Location"))
	}
	// The page's own checks.
	for name, mod := range map[string]func(url.Values){
		"no key": func(v url.Values) {
			for i := range 3 {
				v.Set("key"+strconv.Itoa(i), "")
				v.Set("value"+strconv.Itoa(i), "")
			}
		},
		"a value without its key": func(v url.Values) { v.Set("key4", ""); v.Set("value4", newToken+"x") },
	} {
		rec := alice.do(http.MethodPost, "/secret-changes", secretForm(page, mod))
		body := rec.Body.String()
		if rec.Code != http.StatusUnprocessableEntity || !strings.Contains(body, `data-result="invalid"`) || !strings.Contains(body, `id="secret-form"`) {
			t.Errorf("%s: %d\n%s", name, rec.Code, body)
		}
		noValues(t, name, body)
	}
	if calls := f.Calls(); len(calls) != 0 {
		t.Fatalf("refused forms reached the proposer: %+v", calls)
	}

	// The proposer's refusal: the form comes back as sent, without values.
	form := secretForm(page, func(v url.Values) {
		v.Set("key3", "MISSING_KEY")
		v.Set("op3", "rotate")
		v.Set("value3", newPassword+"-2")
	})
	rec := alice.do(http.MethodPost, "/secret-changes", form)
	body := rec.Body.String()
	if rec.Code != http.StatusUnprocessableEntity || !strings.Contains(body, `data-result="refused"`) {
		t.Fatalf("refused: %d\n%s", rec.Code, body)
	}
	for _, want := range []string{"key MISSING_KEY: rotate: no such key (set adds one)", `name="key3" value="MISSING_KEY"`,
		`name="key0" value="DB_PASSWORD"`, `name="secret" value="production/api"`, `name="environment" value="production"`,
		`name="title" value="New DB password"`, ">the old one leaked</textarea>", `<option value="prod-vault" selected>`,
		"Nothing was proposed."} {
		if !strings.Contains(body, want) {
			t.Errorf("the refused form lacks %q:\n%s", want, body)
		}
	}
	if !regexp.MustCompile(`(?s)id="op3" name="op3">.*?<option value="rotate" selected>`).MatchString(body) {
		t.Error("the refused form loses a row's operation")
	}
	if passwordWithValue.MatchString(body) {
		t.Error("a value field is filled in")
	}
	if hidden(body, "attempt") != form.Get("attempt") || hidden(body, "csrf") != form.Get("csrf") {
		t.Error("the refused form is not the same attempt")
	}
	noValues(t, "the refused form", body)
	if strings.Contains(body, newPassword+"-2") {
		t.Error("the refused form shows the refused value")
	}

	// The store down, and a failure: said, without values.
	f.mu.Lock()
	f.refuse = &Refused{Code: http.StatusServiceUnavailable, Reason: "the target store could not be read or written; nothing was proposed, retry later"}
	f.mu.Unlock()
	rec = alice.do(http.MethodPost, "/secret-changes", secretForm(page, nil))
	if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), `data-result="unavailable"`) ||
		!strings.Contains(rec.Body.String(), "retry later") {
		t.Errorf("store down: %d\n%s", rec.Code, rec.Body)
	}
	noValues(t, "store down", rec.Body.String())
	f.mu.Lock()
	f.refuse, f.fail = nil, errors.New("approvals call failed")
	f.mu.Unlock()
	rec = alice.do(http.MethodPost, "/secret-changes", secretForm(page, nil))
	if rec.Code != http.StatusInternalServerError || !strings.Contains(rec.Body.String(), `data-result="error"`) ||
		strings.Contains(rec.Body.String(), "approvals call failed") {
		t.Errorf("failure: %d\n%s", rec.Code, rec.Body)
	}
	noValues(t, "failure", rec.Body.String())
	if n := len(f.Calls()); n != 3 {
		t.Errorf("%d proposals, want 3", n)
	}
	if n := len(f.apps.states); n != 0 {
		t.Errorf("%d approvals after refusals", n)
	}
	logs := f.logs.String()
	noValues(t, "the log", logs)
	if strings.Contains(logs, newPassword+"-2") || !strings.Contains(logs, "web secret change refused") {
		t.Errorf("the log:\n%s", logs)
	}
}
