package web

import (
	"bytes"
	"context"
	"fmt"
	"html"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/signoff/signoff/approval"
	"github.com/signoff/signoff/auth/authn"
	"github.com/signoff/signoff/auth/proof"
	"github.com/signoff/signoff/channel/email/linktoken"
	"github.com/signoff/signoff/config/identity"
	"github.com/signoff/signoff/store/approvalstore"
	"github.com/signoff/signoff/workflows"
)

// decideFixture serves alice's approval from approvalstore.Memory, which judges
// the stamped decisions with the workflow's rules: bob and carol are its
// approvers, walt is a user with no part in it.
type decideFixture struct {
	mux    *http.ServeMux
	keys   *linktoken.Keys
	mem    *approvalstore.Memory
	proofs *proof.Keyring
}

func decideSetup(t *testing.T, required int, wrap func(*approvalstore.Memory) approvalstore.Approvals) *decideFixture {
	t.Helper()
	dir, err := identity.NewDirectory([]identity.User{
		{Name: "alice", Email: "alice@example.com"},
		{Name: "bob", Email: "bob@example.com"},
		{Name: "carol", Email: "carol@example.com"},
		{Name: "walt", Email: "walt@example.com"},
	})
	if err != nil {
		t.Fatal(err)
	}
	keys, err := linktoken.New(bytes.Repeat([]byte{3}, 32))
	if err != nil {
		t.Fatal(err)
	}
	proofs := proof.Generate()
	mem := approvalstore.NewMemory(proofs, func() time.Time { return now })
	err = mem.Start(context.Background(), workflows.Input{
		ID: approvalID, Requester: "alice", CreatedAt: now.Add(-time.Minute), Rules: approval.RulesProven,
		Request: approval.Request{Title: "Deploy api", Environment: "production", Action: approval.Action{Type: "noop"}},
		Policy: approval.Policy{Name: "production", Approvers: []string{"bob", "carol"}, RequiredApprovals: required,
			Deadline: time.Hour},
	})
	if err != nil {
		t.Fatal(err)
	}
	var port approvalstore.Approvals = mem
	if wrap != nil {
		port = wrap(mem)
	}
	h, err := New(Options{
		Keys: keys, Directory: func() *identity.Directory { return dir },
		Authn: authn.Static(func() *identity.Directory { return dir }, slog.Default()), Approvals: port, Proofs: proofs,
		PublicURL: "https://signoff.example.com", Now: func() time.Time { return now },
	})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	h.Mount(mux)
	return &decideFixture{mux: mux, keys: keys, mem: mem, proofs: proofs}
}

func (f *decideFixture) state(t *testing.T) *approval.State {
	t.Helper()
	st, err := f.mem.Get(context.Background(), approvalID)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// link is user's decision link as the email carries it: bound to the
// request the email showed.
func (f *decideFixture) link(t *testing.T, user string, d approval.Decision) (linktoken.Claims, string) {
	t.Helper()
	c := linktoken.Claims{Purpose: linktoken.PurposeDecide, Approval: approvalID, User: user, Decision: d,
		Expires: now.Add(time.Hour).Unix(), ID: "link-" + user,
		RequestHash: linktoken.ShortRequestHash(f.state(t).RequestHash)}
	tok, err := f.keys.Sign(c)
	if err != nil {
		t.Fatal(err)
	}
	return c, tok
}

func (f *decideFixture) serve(req *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	f.mux.ServeHTTP(rec, req)
	return rec
}

var hiddenHash = regexp.MustCompile(`name="request_hash" value="([^"]*)"`)

// open fetches the confirmation page and returns the request hash its form
// carries.
func (f *decideFixture) open(t *testing.T, token string) (*httptest.ResponseRecorder, string) {
	t.Helper()
	rec := f.serve(httptest.NewRequest(http.MethodGet, "/d/"+token, nil))
	m := hiddenHash.FindStringSubmatch(rec.Body.String())
	if m == nil {
		return rec, ""
	}
	return rec, m[1]
}

// post sends the confirmation form back with a valid CSRF pair, as the
// browser that opened the page would.
func (f *decideFixture) post(t *testing.T, c linktoken.Claims, token string, form url.Values) *httptest.ResponseRecorder {
	t.Helper()
	cookie := &http.Cookie{Name: csrfCookie, Value: strings.Repeat("c", 43)}
	form.Set("csrf", f.keys.CSRF(c.ID, cookie.Value))
	req := httptest.NewRequest(http.MethodPost, "/d/"+token, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "https://signoff.example.com")
	req.AddCookie(cookie)
	return f.serve(req)
}

func wantPage(t *testing.T, rec *httptest.ResponseRecorder, code int, result string) {
	t.Helper()
	if rec.Code != code || resultOf(rec) != result {
		t.Fatalf("got %d %q, want %d %q\n%s", rec.Code, resultOf(rec), code, result, rec.Body)
	}
}

// TestEmailDecisionCounts: a valid link confirmed with the page's
// request_hash counts, stamped, as the link's approver; one of two needed
// approvals leaves the request pending, the second grants it.
func TestEmailDecisionCounts(t *testing.T) {
	f := decideSetup(t, 2, nil)
	c, tok := f.link(t, "bob", approval.DecisionApprove)
	page, hash := f.open(t, tok)
	if page.Code != http.StatusOK || hash != f.state(t).RequestHash {
		t.Fatalf("confirmation page: %d, request_hash %q\n%s", page.Code, hash, page.Body)
	}
	rec := f.post(t, c, tok, url.Values{"request_hash": {hash}})
	wantPage(t, rec, http.StatusOK, "accepted")
	if !strings.Contains(rec.Body.String(), "still pending") {
		t.Errorf("page does not say the request is still pending:\n%s", rec.Body)
	}
	st := f.state(t)
	if st.Status != approval.StatusPending || len(st.Attempts) != 1 {
		t.Fatalf("after one approval: %s, %d attempts", st.Status, len(st.Attempts))
	}
	a := st.Attempts[0]
	if !a.Accepted || a.User != "bob" || a.Channel != ChannelEmail || a.ID != c.AttemptID() || a.Proof == "" {
		t.Fatalf("attempt %+v", a)
	}

	c, tok = f.link(t, "carol", approval.DecisionApprove)
	_, hash = f.open(t, tok)
	rec = f.post(t, c, tok, url.Values{"request_hash": {hash}})
	wantPage(t, rec, http.StatusOK, "accepted")
	if st := f.state(t); st.Status != approval.StatusApproved {
		t.Fatalf("after two approvals: %s", st.Status)
	}
}

// TestEmailDecisionOnOtherContentIsRefused: a request_hash that is not the
// request's is sent to the workflow, which records the attempt refused;
// the person is told, 409, and nothing counts.
func TestEmailDecisionOnOtherContentIsRefused(t *testing.T) {
	for _, tc := range []struct {
		name  string
		bound bool // the link carries the hash of the request it was sent for
		want  string
	}{
		// Dropped by the page, so the decision names no content.
		{"not the link's request", true, approval.RefusedContentUnbound},
		{"not the request", false, approval.RefusedContentChanged},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := decideSetup(t, 2, nil)
			c, tok := f.link(t, "bob", approval.DecisionApprove)
			if !tc.bound {
				c.RequestHash = ""
				var err error
				if tok, err = f.keys.Sign(c); err != nil {
					t.Fatal(err)
				}
			}
			rec := f.post(t, c, tok, url.Values{"request_hash": {strings.Repeat("0", 64)}})
			wantPage(t, rec, http.StatusConflict, "refused")
			st := f.state(t)
			if st.Status != approval.StatusPending || len(st.Attempts) != 1 {
				t.Fatalf("%s, %d attempts", st.Status, len(st.Attempts))
			}
			if a := st.Attempts[0]; a.Accepted || a.RefusalReason != tc.want || a.RefusalCode != approval.CodeContentChanged {
				t.Fatalf("attempt %+v, want refused: %s", a, tc.want)
			}
		})
	}
}

// TestEmailLinkOfSomeoneElseDoesNotCount: a signed link decides as the
// person it names, and the workflow refuses whoever may not decide (403,
// as a permission refusal); the attempt is recorded, not counted.
func TestEmailLinkOfSomeoneElseDoesNotCount(t *testing.T) {
	for _, tc := range []struct{ user, want string }{
		{"walt", approval.RefusedNotApprover},   // a user, not an approver
		{"alice", approval.RefusedSelfApproval}, // the requester
		{"mallory", RefusedUnknownUser},         // no longer in the directory
	} {
		t.Run(tc.user, func(t *testing.T) {
			f := decideSetup(t, 1, nil)
			c, tok := f.link(t, tc.user, approval.DecisionApprove)
			rec := f.post(t, c, tok, url.Values{"request_hash": {f.state(t).RequestHash}})
			wantPage(t, rec, http.StatusForbidden, "refused")
			if !strings.Contains(rec.Body.String(), html.EscapeString(tc.want)) {
				t.Errorf("page does not give the reason %q:\n%s", tc.want, rec.Body)
			}
			st := f.state(t)
			if approved, _ := st.Progress(); st.Status != approval.StatusPending || approved != 0 {
				t.Fatalf("%s with %d approvals", st.Status, approved)
			}
			if len(st.Attempts) != 1 || st.Attempts[0].Accepted || st.Attempts[0].RefusalReason != tc.want {
				t.Fatalf("attempts %+v", st.Attempts)
			}
		})
	}
}

// staleApprovals reads an approval as it was, to race a decision against
// the approval's end or a worker's silence.
type staleApprovals struct {
	*approvalstore.Memory
	st     *approval.State
	decide error
}

func (s staleApprovals) Get(context.Context, string) (*approval.State, error) { return s.st, nil }

func (s staleApprovals) Decide(ctx context.Context, id string, req workflows.DecisionRequest) (*workflows.DecideResult, error) {
	if s.decide != nil {
		return nil, s.decide
	}
	return s.Memory.Decide(ctx, id, req)
}

// TestEmailLinkOfFinishedApproval: once the approval has finished, the
// link says so (409) and sends nothing; a decision that races the end is
// refused as not pending (409); a worker that does not answer is a 503.
func TestEmailLinkOfFinishedApproval(t *testing.T) {
	reject := func(t *testing.T, mem *approvalstore.Memory, p *proof.Keyring) {
		t.Helper()
		dr := workflows.DecisionRequest{AttemptID: "api:1", User: "carol", Decision: approval.DecisionReject,
			Channel: "api", SeenHash: memState(t, mem).RequestHash}
		if _, err := mem.Decide(context.Background(), approvalID, workflows.Stamp(p, approvalID, dr, now)); err != nil {
			t.Fatal(err)
		}
	}
	t.Run("finished", func(t *testing.T) {
		f := decideSetup(t, 1, nil)
		reject(t, f.mem, f.proofs)
		c, tok := f.link(t, "bob", approval.DecisionApprove)
		page, _ := f.open(t, tok)
		wantPage(t, page, http.StatusConflict, "closed")
		wantPage(t, f.post(t, c, tok, url.Values{"request_hash": {f.state(t).RequestHash}}), http.StatusConflict, "closed")
		if n := len(f.state(t).Attempts); n != 1 {
			t.Fatalf("%d attempts: the link sent something", n)
		}
	})
	t.Run("finished while confirming", func(t *testing.T) {
		var stale *approval.State
		f := decideSetup(t, 1, func(m *approvalstore.Memory) approvalstore.Approvals {
			stale = memState(t, m)
			return staleApprovals{Memory: m, st: stale}
		})
		reject(t, f.mem, f.proofs)
		c, tok := f.link(t, "bob", approval.DecisionApprove)
		rec := f.post(t, c, tok, url.Values{"request_hash": {stale.RequestHash}})
		wantPage(t, rec, http.StatusConflict, "refused")
		if !strings.Contains(rec.Body.String(), approval.RefusedNotPending) {
			t.Errorf("page does not say the approval is no longer pending:\n%s", rec.Body)
		}
	})
	t.Run("no worker", func(t *testing.T) {
		f := decideSetup(t, 1, func(m *approvalstore.Memory) approvalstore.Approvals {
			return staleApprovals{Memory: m, st: memState(t, m), decide: fmt.Errorf("%w: decide: deadline", approvalstore.ErrUnavailable)}
		})
		c, tok := f.link(t, "bob", approval.DecisionApprove)
		wantPage(t, f.post(t, c, tok, url.Values{"request_hash": {f.state(t).RequestHash}}), http.StatusServiceUnavailable, "unavailable")
	})
}

// f0 reads the approval from m.
func memState(t *testing.T, m *approvalstore.Memory) *approval.State {
	t.Helper()
	st, err := m.Get(context.Background(), approvalID)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// TestSpentBudgetAnswers429: a person over their budget on one approval
// (approvalstore.Budget) is answered 429 with Retry-After, told nothing
// counted and when to try again.
func TestSpentBudgetAnswers429(t *testing.T) {
	f := webSetup(t, true, false)
	rec := httptest.NewRecorder()
	f.h.loadError(rec, fmt.Errorf("decide approval x: %w", &approvalstore.TooMany{RetryAfter: 2500 * time.Millisecond}))
	if rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") != "3" {
		t.Fatalf("answered %d, Retry-After %q", rec.Code, rec.Header().Get("Retry-After"))
	}
	if body := rec.Body.String(); !strings.Contains(body, "too many attempts on this approval. Try again in 3s") {
		t.Errorf("page:\n%s", body)
	}
}
