package web

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/signoff/signoff/approval"
	"github.com/signoff/signoff/config/identity"
	"github.com/signoff/signoff/intake"
	"github.com/signoff/signoff/policy"
	"github.com/signoff/signoff/policy/catalog"
)

const ordersItem = "postgres_role:role=orders_read,target=orders@production"

// accessFixture: alice's catalog has orders_read on orders in production
// (bob or carol approve, 4h at most); walt's is empty. Requests are
// recorded; refuse makes the next ones refused.
type accessFixture struct {
	*secretFixture
	mu     sync.Mutex
	calls  []accessCall
	refuse *Refused
}

type accessCall struct {
	User, RequestID string
	R               AccessRequest
}

func accessSetup(t *testing.T) *accessFixture {
	t.Helper()
	af := &accessFixture{}
	af.secretFixture = formSetup(t, false, func(o *Options, f *secretFixture) {
		o.Catalog = func(u *identity.User) []catalog.Item {
			if u.Name != "alice" {
				return nil
			}
			return []catalog.Item{{ID: ordersItem, Environment: "production",
				Grantable: catalog.Grantable{ActionType: "postgres_role", Title: "PostgreSQL role orders_read on orders",
					Params: map[string]string{"target": "orders", "role": "orders_read"},
					Ask:    []catalog.Field{{Param: "user", Hint: "the PostgreSQL login"}}},
				Policy: policy.Entry{Policy: policy.Policy{Name: "db-prod"}, Snapshot: approval.Policy{Name: "db-prod",
					Approvers: []string{"bob", "carol"}, RequiredApprovals: 1, MaxDuration: 4 * time.Hour, RequireJustification: true}}}}
		}
		o.RequestAccess = func(ctx context.Context, u *identity.User, requestID string, r AccessRequest) (*approval.State, error) {
			af.mu.Lock()
			af.calls = append(af.calls, accessCall{User: u.Name, RequestID: requestID, R: r})
			refuse := af.refuse
			af.mu.Unlock()
			if refuse != nil {
				return nil, refuse
			}
			id := intake.ApprovalID(u.Name, requestID)
			f.apps.mu.Lock()
			if _, ok := f.apps.states[id]; !ok {
				f.apps.states[id] = approval.New(id, u.Name, approval.Request{Title: "Access", Environment: "production", Duration: r.Duration,
					Action: approval.Action{Type: "postgres_role", Params: r.Fields}},
					approval.Policy{Name: "db-prod", Approvers: []string{"bob", "carol"}, RequiredApprovals: 1, Deadline: time.Hour, MaxDuration: 4 * time.Hour}, f.clock)
			}
			f.apps.mu.Unlock()
			return f.apps.Get(ctx, id)
		}
	})
	return af
}

func (af *accessFixture) Calls() []accessCall {
	af.mu.Lock()
	defer af.mu.Unlock()
	return slices.Clone(af.calls)
}

// TestWebAccessPage: the catalog as the signed-in person's page, each item
// with who approves, the longest grant and a form asking only for what the
// item leaves open; another person's page is theirs; signed out goes to
// sign-in.
func TestWebAccessPage(t *testing.T) {
	f := accessSetup(t)
	alice := f.browser()
	alice.signIn("alice")
	rec := alice.do(http.MethodGet, "/access", nil)
	page := rec.Body.String()
	if rec.Code != http.StatusOK {
		t.Fatalf("page: %d\n%s", rec.Code, page)
	}
	for _, want := range []string{`<a href="/access">Request access</a>`, "PostgreSQL role orders_read on orders",
		"in production", "<dd>db-prod</dd>", "<dd>1 of bob, carol</dd>", "<dd>4h</dd>",
		`name="item" value="` + ordersItem + `"`, `name="param.user"`, `name="duration" value="1h"`,
		`name="justification" rows="2" maxlength="4000" required`} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %q:\n%s", want, page)
		}
	}
	if strings.Contains(page, `name="param.role"`) {
		t.Error("the page asks for a param the config fixes")
	}
	walt := f.browser()
	walt.signIn("walt")
	if page := walt.do(http.MethodGet, "/access", nil).Body.String(); !strings.Contains(page, `id="empty-catalog"`) || strings.Contains(page, ordersItem) {
		t.Errorf("walt's catalog is not empty:\n%s", page)
	}
	if rec := f.browser().do(http.MethodGet, "/access", nil); rec.Code != http.StatusSeeOther || !strings.HasPrefix(rec.Header().Get("Location"), "/signin") {
		t.Errorf("signed out: %d %q", rec.Code, rec.Header().Get("Location"))
	}
}

// TestWebRequestAccess: the form requests in the signed-in person's name,
// once per attempt, with what they typed; a refusal comes back on the
// item's form with what was typed kept; a bad duration or a form from
// elsewhere requests nothing.
func TestWebRequestAccess(t *testing.T) {
	f := accessSetup(t)
	alice := f.browser()
	alice.signIn("alice")
	page := alice.do(http.MethodGet, "/access", nil).Body.String()
	form := func(mod func(url.Values)) url.Values {
		v := url.Values{"csrf": {hidden(page, "csrf")}, "attempt": {hidden(page, "attempt")}, "item": {ordersItem},
			"param.user": {" alice_login "}, "duration": {"2h"}, "justification": {"INC-7 "}}
		if mod != nil {
			mod(v)
		}
		return v
	}
	requestID := "web:access:" + hidden(page, "attempt")
	id := intake.ApprovalID("alice", requestID)
	for range 2 { // a double submit
		rec := alice.do(http.MethodPost, "/access", form(nil))
		if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/approvals/"+id+"?done=access_requested" {
			t.Fatalf("request: %d %q\n%s", rec.Code, rec.Header().Get("Location"), rec.Body)
		}
	}
	calls := f.Calls()
	want := accessCall{User: "alice", RequestID: requestID, R: AccessRequest{Item: ordersItem,
		Fields: map[string]string{"user": "alice_login"}, Duration: 2 * time.Hour, Justification: "INC-7"}}
	if len(calls) != 2 || calls[0].User != want.User || calls[0].RequestID != want.RequestID || calls[0].R.Item != want.R.Item ||
		calls[0].R.Duration != want.R.Duration || calls[0].R.Justification != want.R.Justification || calls[0].R.Fields["user"] != "alice_login" {
		t.Fatalf("calls %+v, want twice %+v", calls, want)
	}
	if page := alice.do(http.MethodGet, "/approvals/"+id+"?done=access_requested", nil).Body.String(); !strings.Contains(page, "Your access request was made") {
		t.Errorf("the approval's page does not confirm:\n%s", page)
	}

	t.Run("refused", func(t *testing.T) {
		f.mu.Lock()
		f.refuse = &Refused{Code: http.StatusForbidden, Reason: `policy "db-prod" lets only group data request it`}
		f.mu.Unlock()
		rec := alice.do(http.MethodPost, "/access", form(nil))
		body := rec.Body.String()
		if rec.Code != http.StatusForbidden || resultOf(rec) != "refused" || !strings.Contains(body, "lets only group data request it") ||
			!strings.Contains(body, `value="alice_login"`) {
			t.Errorf("refused: %d %q\n%s", rec.Code, resultOf(rec), body)
		}
	})
	n := len(f.Calls())
	t.Run("bad duration", func(t *testing.T) {
		rec := alice.do(http.MethodPost, "/access", form(func(v url.Values) { v.Set("duration", "forever") }))
		if rec.Code != http.StatusUnprocessableEntity || resultOf(rec) != "invalid" {
			t.Errorf("bad duration: %d %q", rec.Code, resultOf(rec))
		}
	})
	t.Run("no CSRF token", func(t *testing.T) {
		rec := alice.do(http.MethodPost, "/access", form(func(v url.Values) { v.Del("csrf") }))
		if rec.Code != http.StatusForbidden || resultOf(rec) != "forbidden" {
			t.Errorf("no CSRF: %d %q", rec.Code, resultOf(rec))
		}
	})
	if got := len(f.Calls()); got != n {
		t.Errorf("%d more requests made by refused forms", got-n)
	}
}
