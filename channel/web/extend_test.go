package web

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/signoff/signoff/approval"
	"github.com/signoff/signoff/approval/access"
	"github.com/signoff/signoff/approval/evidence"
	"github.com/signoff/signoff/auth/authn"
	"github.com/signoff/signoff/config/identity"
	"github.com/signoff/signoff/intake"
	"github.com/signoff/signoff/store/approvalstore"
	"github.com/signoff/signoff/store/peoplestore"
)

// grantApprovals reads a hand-made grant (approvalstore.Memory runs no action,
// so it never grants) and the extensions started beside it.
type grantApprovals struct {
	approvalstore.Approvals // nil: any other call panics
	mu                      sync.Mutex
	states                  map[string]*approval.State
}

func (g *grantApprovals) Get(_ context.Context, id string) (*approval.State, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	st, ok := g.states[id]
	if !ok {
		return nil, approvalstore.ErrNotFound
	}
	b, err := json.Marshal(st)
	if err != nil {
		return nil, err
	}
	var out approval.State
	return &out, json.Unmarshal(b, &out)
}

func (g *grantApprovals) Record(_ context.Context, id string) (approvalstore.Record, error) {
	return approvalstore.Record{RunID: "run-1"}, nil
}

// extendCall is one request for more time the pages made.
type extendCall struct {
	User, Grant              string
	Duration                 time.Duration
	Justification, RequestID string
}

// extendFixture is alice's access to orders, approved by bob, granted for
// two hours, at most four at a time; bob and carol approve its policy,
// walt has no part in it, dana is an admin. Extend starts extensions as
// the gateway's Service.Extend does, and records each call.
type extendFixture struct {
	*webFixture
	apps  *grantApprovals
	mu    sync.Mutex
	calls []extendCall
}

func extendSetup(t *testing.T) *extendFixture {
	t.Helper()
	dir, err := identity.NewDirectory([]identity.User{
		{Name: "alice"}, {Name: "bob"}, {Name: "carol"}, {Name: "walt"}, {Name: "dana", Admin: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	st := approval.New(approvalID, "alice", approval.Request{Title: "Read orders", Environment: "database", Duration: 2 * time.Hour,
		Action: approval.Action{Type: "postgres_role", Params: map[string]string{"target": "orders", "role": "orders_read", "user": "alice_db"}}},
		approval.Policy{Name: "database-access", Approvers: []string{"bob", "carol"}, RequiredApprovals: 1, Deadline: time.Hour,
			MaxDuration: 4 * time.Hour}, now.Add(-20*time.Minute))
	st.Decide(approval.Attempt{ID: "a1", User: "bob", Decision: approval.DecisionApprove}, now.Add(-10*time.Minute))
	st.StartGrant(st.ClosedAt)
	st.MarkGranted(now.Add(-10*time.Minute), "alice_db is a member of orders_read")
	if st.Status != approval.StatusGranted {
		t.Fatalf("status %s, want granted", st.Status)
	}
	f := &extendFixture{webFixture: &webFixture{t: t, dir: dir, clock: now},
		apps: &grantApprovals{states: map[string]*approval.State{approvalID: st}}}
	clock := func() time.Time { return f.clock }
	directory := func() *identity.Directory { return dir }
	sessions, err := NewSessions(SessionOptions{Key: bytes.Repeat([]byte{7}, 32), TTL: time.Hour, Secure: true,
		Directory: directory, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	f.h, err = New(Options{
		Directory: directory, Authn: authn.Static(directory, slog.Default()), Approvals: f.apps,
		PublicURL: "https://signoff.example.com", Now: clock, Sessions: sessions, DevSignIn: true,
		People: &peoplestore.Memory{Now: clock}, Extend: f.extend,
	})
	if err != nil {
		t.Fatal(err)
	}
	f.mux = http.NewServeMux()
	f.h.Mount(f.mux)
	return f
}

func (f *extendFixture) extend(ctx context.Context, user *identity.User, grantID string, d time.Duration, justification, requestID string) (*approval.State, error) {
	f.mu.Lock()
	f.calls = append(f.calls, extendCall{User: user.Name, Grant: grantID, Duration: d, Justification: justification, RequestID: requestID})
	f.mu.Unlock()
	grant, err := f.apps.Get(ctx, grantID)
	if err != nil {
		return nil, err
	}
	if !access.CanRead(grant, user) {
		return nil, approvalstore.ErrNotFound
	}
	r, err := intake.Extension(grant, user.Name, d)
	if err != nil {
		return nil, err
	}
	if d > grant.Policy.MaxDuration {
		return nil, fmt.Errorf("%w: duration %s is longer than policy %q allows (%s)", intake.ErrInvalid, d, grant.Policy.Name, grant.Policy.MaxDuration)
	}
	id := intake.ApprovalID(user.Name, requestID)
	f.apps.mu.Lock()
	if _, ok := f.apps.states[id]; !ok {
		st := approval.New(id, user.Name, r, grant.Policy, f.clock)
		st.Justification = justification
		f.apps.states[id] = st
	}
	f.apps.mu.Unlock()
	return f.apps.Get(ctx, id)
}

func (f *extendFixture) Calls() []extendCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]extendCall(nil), f.calls...)
}

// TestWebExtendForm: the grantee's page offers "Ask for more time", with
// durations up to the policy's max_duration (an hour chosen) and the
// current end; an approver's, an admin's and the page of a grant being
// revoked do not.
func TestWebExtendForm(t *testing.T) {
	f := extendSetup(t)
	alice := f.browser()
	alice.signIn("alice")
	page := alice.do(http.MethodGet, "/approvals/"+approvalID, nil).Body.String()
	for _, want := range []string{`id="extend-form"`, `action="/approvals/` + approvalID + `/extend"`,
		`<option value="15m">15 minutes</option>`, `<option value="1h" selected>1 hour</option>`, `<option value="4h">4 hours</option>`,
		"Your access ends at Sun 1 Mar 2026 13:50:00 UTC.", `name="justification"`, "Justification (optional)"} {
		if !strings.Contains(page, want) {
			t.Errorf("alice's page lacks %q:\n%s", want, page)
		}
	}
	if strings.Contains(page, `value="8h"`) {
		t.Error("a duration over the policy's max_duration is offered")
	}
	for _, who := range []string{"bob", "dana"} {
		b := f.browser()
		b.signIn(who)
		if page := b.do(http.MethodGet, "/approvals/"+approvalID, nil).Body.String(); strings.Contains(page, `id="extend-form"`) {
			t.Errorf("%s is offered to extend alice's grant", who)
		}
	}
	f.apps.mu.Lock()
	f.apps.states[approvalID].Grant.RevokeFailures = 1
	f.apps.mu.Unlock()
	if page := alice.do(http.MethodGet, "/approvals/"+approvalID, nil).Body.String(); strings.Contains(page, `id="extend-form"`) {
		t.Error("extend offered while the revoke is under way")
	}

	t.Run("durations", func(t *testing.T) {
		got := durationChoices(90 * time.Minute)
		var values []string
		for _, c := range got {
			values = append(values, c.Value+"="+c.Label)
		}
		if want := "15m=15 minutes 30m=30 minutes 1h=1 hour 1h30m=90 minutes"; strings.Join(values, " ") != want || !got[2].Selected {
			t.Errorf("choices %v, want %s with 1h chosen", values, want)
		}
		if got := durationChoices(20 * time.Minute); len(got) != 2 || got[1].Value != "20m" || !got[1].Selected {
			t.Errorf("under an hour: %+v", got)
		}
		if got := durationChoices(2 * 24 * time.Hour); got[len(got)-1].Value != "2d" || got[len(got)-1].Label != "2 days" {
			t.Errorf("days: %+v", got)
		}
	})
}

// TestWebExtend: the grantee's form starts the extension in their name,
// with the form's attempt as its request ID, so a form sent twice asks
// once; they land on the new approval's page.
func TestWebExtend(t *testing.T) {
	f := extendSetup(t)
	alice := f.browser()
	alice.signIn("alice")
	page := alice.do(http.MethodGet, "/approvals/"+approvalID, nil).Body.String()
	form := url.Values{"csrf": {hidden(page, "csrf")}, "attempt": {hidden(page, "attempt")},
		"duration": {"2h"}, "justification": {"  the migration runs late  "}}
	ext := intake.ApprovalID("alice", "web:extend:"+form.Get("attempt"))
	for range 2 { // a double submit
		rec := alice.do(http.MethodPost, "/approvals/"+approvalID+"/extend", form)
		if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/approvals/"+ext+"?done=extend_asked" {
			t.Fatalf("extend: %d %q\n%s", rec.Code, rec.Header().Get("Location"), rec.Body)
		}
	}
	calls := f.Calls()
	if len(calls) != 2 || calls[0] != (extendCall{User: "alice", Grant: approvalID, Duration: 2 * time.Hour,
		Justification: "the migration runs late", RequestID: "web:extend:" + form.Get("attempt")}) || calls[1] != calls[0] {
		t.Fatalf("calls %+v", calls)
	}
	if n := len(f.apps.states); n != 2 {
		t.Fatalf("%d approvals, want the grant and one extension", n)
	}
	after := alice.do(http.MethodGet, "/approvals/"+ext+"?done=extend_asked", nil).Body.String()
	for _, want := range []string{"You asked for more time", "Extend: Read orders", "extends approval", approvalID, "waiting for bob, carol"} {
		if !strings.Contains(after, want) {
			t.Errorf("the extension's page lacks %q:\n%s", want, after)
		}
	}
}

// TestWebExtendRefusals: forms from elsewhere and malformed forms ask
// nothing; the rules (the grantee only, within max_duration, granted now)
// are told; someone who may not read the grant is told it does not exist.
func TestWebExtendRefusals(t *testing.T) {
	f := extendSetup(t)
	alice := f.browser()
	alice.signIn("alice")
	page := alice.do(http.MethodGet, "/approvals/"+approvalID, nil).Body.String()
	form := func(mod func(url.Values)) url.Values {
		v := url.Values{"csrf": {hidden(page, "csrf")}, "attempt": {hidden(page, "attempt")}, "duration": {"1h"}}
		if mod != nil {
			mod(v)
		}
		return v
	}
	post := func(b *browser, v url.Values) (int, string) {
		rec := b.do(http.MethodPost, "/approvals/"+approvalID+"/extend", v)
		return rec.Code, resultOf(rec)
	}
	for name, tc := range map[string]struct {
		v      url.Values
		code   int
		result string
	}{
		"no form token":   {form(func(v url.Values) { v.Del("csrf") }), http.StatusForbidden, "forbidden"},
		"no duration":     {form(func(v url.Values) { v.Del("duration") }), http.StatusUnprocessableEntity, "invalid"},
		"a bad duration":  {form(func(v url.Values) { v.Set("duration", "soon") }), http.StatusUnprocessableEntity, "invalid"},
		"a long text":     {form(func(v url.Values) { v.Set("justification", strings.Repeat("x", 4001)) }), http.StatusUnprocessableEntity, "invalid"},
		"a negative time": {form(func(v url.Values) { v.Set("duration", "-1h") }), http.StatusUnprocessableEntity, "invalid"},
	} {
		if code, result := post(alice, tc.v); code != tc.code || result != tc.result {
			t.Errorf("%s: %d %q, want %d %q", name, code, result, tc.code, tc.result)
		}
	}
	if code := crossOrigin(f, alice, form(nil), "https://evil.example"); code != http.StatusForbidden {
		t.Errorf("cross-origin: %d", code)
	}
	if calls := f.Calls(); len(calls) != 0 {
		t.Fatalf("refused forms reached the starter: %+v", calls)
	}

	// The rules, told.
	code, result := post(alice, form(func(v url.Values) { v.Set("duration", "5h") }))
	if code != http.StatusUnprocessableEntity || result != "refused" {
		t.Errorf("over max_duration: %d %q", code, result)
	}
	bob := f.browser()
	bob.signIn("bob")
	bobPage := bob.do(http.MethodGet, "/approvals/"+approvalID, nil).Body.String()
	rec := bob.do(http.MethodPost, "/approvals/"+approvalID+"/extend", url.Values{"csrf": {hidden(bobPage, "csrf")}, "duration": {"1h"}})
	if rec.Code != http.StatusForbidden || resultOf(rec) != "refused" || !strings.Contains(rec.Body.String(), "only the grantee (alice) may ask") {
		t.Errorf("bob extends alice's grant: %d %q\n%s", rec.Code, resultOf(rec), rec.Body)
	}
	walt := f.browser()
	walt.signIn("walt")
	waltCSRF := hidden(walt.do(http.MethodGet, "/delegations", nil).Body.String(), "csrf")
	calls := len(f.Calls())
	if rec := walt.do(http.MethodPost, "/approvals/"+approvalID+"/extend", url.Values{"csrf": {waltCSRF}, "duration": {"1h"}}); rec.Code != http.StatusNotFound {
		t.Errorf("walt extends alice's grant: %d", rec.Code)
	}
	if len(f.Calls()) != calls {
		t.Error("walt's form reached the starter")
	}
	f.apps.mu.Lock()
	f.apps.states[approvalID].MarkRevoked(now, "alice_db is not a member of orders_read")
	f.apps.mu.Unlock()
	code, result = post(alice, form(nil))
	if code != http.StatusUnprocessableEntity || result != "refused" {
		t.Errorf("a revoked grant: %d %q", code, result)
	}

	// Signed out: to the sign-in page, nothing asked.
	calls = len(f.Calls())
	if rec := f.browser().do(http.MethodPost, "/approvals/"+approvalID+"/extend", form(nil)); rec.Code != http.StatusSeeOther ||
		!strings.HasPrefix(rec.Header().Get("Location"), "/signin") {
		t.Errorf("signed out: %d %q", rec.Code, rec.Header().Get("Location"))
	}
	if len(f.Calls()) != calls {
		t.Error("a signed-out form reached the starter")
	}
}

// crossOrigin sends b's form to the extend route from origin.
func crossOrigin(f *extendFixture, b *browser, v url.Values, origin string) int {
	req := httptest.NewRequest(http.MethodPost, "/approvals/"+approvalID+"/extend", strings.NewReader(v.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", origin)
	for _, c := range b.cookies {
		req.AddCookie(c)
	}
	rec := httptest.NewRecorder()
	f.mux.ServeHTTP(rec, req)
	return rec.Code
}

// TestGrantFactsAndTimeline: the access facts list each extension; the
// timeline names the grant's new events.
func TestGrantFactsAndTimeline(t *testing.T) {
	st := actionState(approval.Action{Type: "postgres_role"})
	st.Request.Duration = time.Hour
	st.Decide(approval.Attempt{ID: "a1", User: "bob", Decision: approval.DecisionApprove}, now)
	st.StartGrant(now)
	st.MarkGranted(now, "granted")
	const ext = "eeeeeeeeeeeeeeeeeeeeeeeeee"
	if err := st.Extend(approval.Actor{User: "signoff", Proof: "test"}, ext, now.Add(3*time.Hour), now.Add(50*time.Minute)); err != nil {
		t.Fatal(err)
	}
	s := summarize(st)
	want := field{Key: "Extended", Value: "at Sun 1 Mar 2026 12:50:00 UTC by approval " + ext +
		": until Sun 1 Mar 2026 15:00:00 UTC (was Sun 1 Mar 2026 13:00:00 UTC)"}
	found := false
	for _, a := range s.Access {
		found = found || a == want
		if a.Key == "Revoked at" && a.Value != "Sun 1 Mar 2026 15:00:00 UTC (planned)" {
			t.Errorf("planned revoke %q, want the extended end", a.Value)
		}
	}
	if !found {
		t.Errorf("access facts %+v lack %+v", s.Access, want)
	}
	entries := timelineView([]evidence.Entry{
		{Type: "extended"}, {Type: "extend_refused"}, {Type: "grant_ending"},
		{Type: "revoke_acknowledged"}, {Type: "revoke_acknowledge_refused"},
	})
	for i, w := range []struct{ label, class string }{
		{"Access extended", "ok"}, {"Extension refused", "bad"}, {"Grantee told the access ends soon", "warn"},
		{"Failing revoke taken over", "warn"}, {"Take-over of the revoke refused", "bad"},
	} {
		if entries[i].Label != w.label || entries[i].Class != w.class {
			t.Errorf("%s: %q %q, want %q %q", entries[i].Type, entries[i].Label, entries[i].Class, w.label, w.class)
		}
	}
}
