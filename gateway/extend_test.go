package gateway

import (
	"context"
	"errors"
	"fmt"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/signoff/signoff/approval"
	"github.com/signoff/signoff/auth/proof"
	"github.com/signoff/signoff/config"
	"github.com/signoff/signoff/config/identity"
	"github.com/signoff/signoff/intake"
	pb "github.com/signoff/signoff/proto/signoff/v1"
	"github.com/signoff/signoff/store/approvalstore"
)

// grantingActions accepts postgres_role, which grants access for a while.
type grantingActions struct{}

func (grantingActions) Validate(a approval.Action) error {
	if a.Type != "postgres_role" {
		return fmt.Errorf("unknown action type %q", a.Type)
	}
	return nil
}

func (grantingActions) Grants(typ string) bool { return typ == "postgres_role" }

// grantPort is the in-memory port with hand-made grants beside it:
// approvalstore.Memory runs no action, so it never grants.
type grantPort struct {
	*approvalstore.Memory
	mu     sync.Mutex
	grants map[string]*approval.State
}

func (p *grantPort) Get(ctx context.Context, id string) (*approval.State, error) {
	p.mu.Lock()
	st, ok := p.grants[id]
	p.mu.Unlock()
	if ok {
		c := *st
		return &c, nil
	}
	return p.Memory.Get(ctx, id)
}

// bob and carol (platform) approve database access, up to 8h at a time.
const extendTestConfig = `dev_only: true
users:
  - {name: alice, token: t-alice}
  - {name: bob, token: t-bob, groups: [platform]}
  - {name: carol, token: t-carol, groups: [platform]}
  - {name: walt, token: t-walt}
policies:
  - name: database-access
    match: {environment: database}
    approvers: {groups: [platform]}
    required_approvals: 1
    deadline: 1h
    max_duration: 8h
`

const grantID = "gggggggggggggggggggggggggg"

// extendFixture serves alice's grant of orders_read, approved by bob and
// granted for two hours.
func extendFixture(t *testing.T) (*testService, *grantPort) {
	t.Helper()
	cfg, err := config.Parse([]byte(extendTestConfig))
	if err != nil {
		t.Fatal(err)
	}
	keys := proof.Generate()
	port := &grantPort{Memory: approvalstore.NewMemory(keys, nil), grants: map[string]*approval.State{}}
	at := time.Now().Add(-10 * time.Minute)
	st := approval.New(grantID, "alice", approval.Request{Title: "Read orders", Environment: "database", Duration: 2 * time.Hour,
		Action: approval.Action{Type: "postgres_role", Params: map[string]string{"target": "orders", "role": "orders_read", "user": "alice_db"}}},
		approval.Policy{Name: "database-access", Approvers: []string{"bob", "carol"}, RequiredApprovals: 1, Deadline: time.Hour,
			MaxDuration: 8 * time.Hour}, at.Add(-time.Minute))
	st.Decide(approval.Attempt{ID: "a1", User: "bob", Decision: approval.DecisionApprove}, at)
	st.StartGrant(st.ClosedAt)
	st.MarkGranted(at, "alice_db is a member of orders_read")
	if st.Status != approval.StatusGranted {
		t.Fatalf("status %s, want granted", st.Status)
	}
	port.grants[grantID] = st
	s := NewService(config.NewLive(cfg, nil), port, grantingActions{}, keys, slog.New(slog.DiscardHandler))
	return &testService{Service: s, port: port.Memory, dir: cfg.Directory}, port
}

// TestExtendGrant: the grantee's request for more time is an approval of
// its own under the grant's policy, once per request_id; the API maps
// every refusal to its code.
func TestExtendGrant(t *testing.T) {
	ts, port := extendFixture(t)
	req := &pb.ExtendGrantRequest{Id: grantID, Duration: "1h", Justification: "the migration runs late", RequestId: "ext-1"}
	a, err := ts.ExtendGrant(ts.as(t, "alice"), req)
	if err != nil {
		t.Fatalf("alice extends: %v", err)
	}
	if a.GetExtends() != grantID || a.GetStatus() != pb.Status_STATUS_PENDING || a.GetDuration() != "1h0m0s" ||
		a.GetTitle() != "Extend: Read orders" || a.GetId() != intake.ApprovalID("alice", "ext-1") {
		t.Fatalf("extension %v", a)
	}
	again, err := ts.ExtendGrant(ts.as(t, "alice"), req)
	if err != nil || again.GetId() != a.GetId() {
		t.Fatalf("the same request_id again: %v, %v", again.GetId(), err)
	}
	st, err := ts.port.Get(context.Background(), a.GetId())
	if err != nil || st.Justification != "the migration runs late" || !slices.Equal(st.Pending(), []string{"bob", "carol"}) {
		t.Fatalf("started %+v, %v", st, err)
	}

	for _, c := range []struct {
		name, user, duration string
		code                 codes.Code
		msg                  string
	}{
		{"an approver", "bob", "1h", codes.PermissionDenied, "only the grantee (alice) may ask to extend this grant"},
		{"over max_duration", "alice", "9h", codes.InvalidArgument, `longer than policy "database-access" allows`},
		{"a bad duration", "alice", "soon", codes.InvalidArgument, "want a positive duration"},
	} {
		_, err := ts.ExtendGrant(ts.as(t, c.user), &pb.ExtendGrantRequest{Id: grantID, Duration: c.duration})
		wantCode(t, c.name, err, c.code, c.msg)
	}
	_, err = ts.ExtendGrant(ts.as(t, "walt"), &pb.ExtendGrantRequest{Id: grantID, Duration: "1h"})
	wantNotFound(t, "walt, who may not read the grant", err)
	_, err = ts.ExtendGrant(ts.as(t, "alice"), &pb.ExtendGrantRequest{Id: unknownID, Duration: "1h"})
	wantNotFound(t, "an unknown approval", err)

	port.mu.Lock()
	port.grants[grantID].MarkRevoked(time.Now(), "alice_db is not a member of orders_read")
	port.mu.Unlock()
	_, err = ts.ExtendGrant(ts.as(t, "alice"), &pb.ExtendGrantRequest{Id: grantID, Duration: "1h"})
	wantCode(t, "a revoked grant", err, codes.FailedPrecondition, "grants no access now (status Revoked)")
}

// TestServiceExtend: what Slack and the web pages call answers in
// channel-neutral errors, each channel telling them its own way.
func TestServiceExtend(t *testing.T) {
	ts, _ := extendFixture(t)
	user := func(name string) *identity.User {
		u, ok := ts.dir.Lookup(name)
		if !ok {
			t.Fatalf("no user %s", name)
		}
		return u
	}
	st, err := ts.Extend(context.Background(), user("alice"), grantID, 30*time.Minute, "", "")
	if err != nil || st.Request.Extends != grantID || st.Request.Duration != 30*time.Minute || st.Requester != "alice" {
		t.Fatalf("alice extends: %+v, %v", st, err)
	}
	other, err := ts.Extend(context.Background(), user("alice"), grantID, 30*time.Minute, "", "")
	if err != nil || other.ID == st.ID {
		t.Fatalf("without a request ID every call is a new approval: %v, %v", other, err)
	}
	for _, c := range []struct {
		name          string
		user, id      string
		d             time.Duration
		justification string
		want          error
	}{
		{"an approver", "bob", grantID, time.Hour, "", intake.ErrDenied},
		{"a stranger", "walt", grantID, time.Hour, "", approvalstore.ErrNotFound},
		{"a malformed ID", "alice", "NOT-AN-ID", time.Hour, "", approvalstore.ErrNotFound},
		{"no duration", "alice", grantID, 0, "", intake.ErrInvalid},
		{"over 90 days", "alice", grantID, 91 * 24 * time.Hour, "", intake.ErrInvalid},
		{"over max_duration", "alice", grantID, 9 * time.Hour, "", intake.ErrInvalid},
		{"a long justification", "alice", grantID, time.Hour, strings.Repeat("x", maxDescription+1), intake.ErrInvalid},
	} {
		if _, err := ts.Extend(context.Background(), user(c.user), c.id, c.d, c.justification, ""); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
}

// TestWebExtendIsWired: the approval page's "Ask for more time" starts the
// extension through the service, as the API does, and lands on it.
func TestWebExtendIsWired(t *testing.T) {
	ts, port := extendFixture(t)
	cfg := ts.conf()
	logger := slog.New(slog.DiscardHandler)
	sessions, err := newSessions(cfg, ts.live, nil, logger) // dev_only: a key for the process
	if err != nil || sessions == nil {
		t.Fatalf("sessions: %v", err)
	}
	mux := http.NewServeMux()
	d := Deps{Config: cfg, Live: ts.live, Logger: logger, Authn: staticAuthn(ts.live), Approvals: port, Proofs: ts.proofs,
		Sessions: sessions, Service: ts.Service}
	if err := mountWeb(mux, d); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	csrf := regexp.MustCompile(`name="csrf" value="([^"]*)"`)
	read := func(resp *http.Response, err error) (int, string, string) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get("Location"), string(b)
	}
	_, _, page := read(c.Get(srv.URL + "/signin"))
	m := csrf.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no dev sign-in form:\n%s", page)
	}
	if code, _, _ := read(c.PostForm(srv.URL+"/signin/dev", url.Values{"user": {"alice"}, "csrf": {html.UnescapeString(m[1])}})); code != http.StatusSeeOther {
		t.Fatalf("sign in: %d", code)
	}
	_, _, page = read(c.Get(srv.URL + "/approvals/" + grantID))
	attempt := regexp.MustCompile(`name="attempt" value="([^"]*)"`).FindStringSubmatch(page)
	if !strings.Contains(page, `id="extend-form"`) || attempt == nil {
		t.Fatalf("alice's grant page offers no extension:\n%s", page)
	}
	code, loc, body := read(c.PostForm(srv.URL+"/approvals/"+grantID+"/extend", url.Values{
		"csrf": {html.UnescapeString(csrf.FindStringSubmatch(page)[1])}, "attempt": {html.UnescapeString(attempt[1])},
		"duration": {"2h"}, "justification": {"the migration runs late"}}))
	ext := intake.ApprovalID("alice", "web:extend:"+html.UnescapeString(attempt[1]))
	if code != http.StatusSeeOther || loc != "/approvals/"+ext+"?done=extend_asked" {
		t.Fatalf("extend: %d %q\n%s", code, loc, body)
	}
	st, err := ts.port.Get(context.Background(), ext)
	if err != nil || st.Request.Extends != grantID || st.Request.Duration != 2*time.Hour || st.Justification != "the migration runs late" {
		t.Fatalf("the extension: %+v, %v", st, err)
	}
}
