package web

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/signoff/signoff/approval"
	"github.com/signoff/signoff/workflows"
)

// inboxHas reports whether b's inbox view lists the fixture's approval.
func (b *browser) inboxHas(view string) bool {
	b.f.t.Helper()
	rec := b.do(http.MethodGet, "/inbox?view="+view, nil)
	if rec.Code != http.StatusOK {
		b.f.t.Fatalf("inbox %s: %d\n%s", view, rec.Code, rec.Body)
	}
	return strings.Contains(rec.Body.String(), `data-id="`+approvalID+`"`)
}

// TestInboxViews: an approval waits for the approvers who have not decided
// yet, is among its requester's requests, and is in nobody else's inbox;
// whether it keeps who is awaited (Version2: one index query) or not
// (older approvals: their candidates' states are read).
func TestInboxViews(t *testing.T) {
	for _, version := range []int{0, workflows.Version2} {
		t.Run(fmt.Sprintf("version %d", version), func(t *testing.T) { inboxViews(t, version) })
	}
}

func inboxViews(t *testing.T, version int) {
	f := webSetupVersion(t, true, false, version)
	want := map[string]map[string]bool{
		"alice": {"waiting": false, "requests": true, "all": true},
		"bob":   {"waiting": true, "requests": false, "all": true},
		"walt":  {"waiting": false, "requests": false, "all": false},
		"dana":  {"waiting": false, "requests": false, "all": true}, // admin reads all
	}
	browsers := map[string]*browser{}
	for user, views := range want {
		b := f.browser()
		b.signIn(user)
		browsers[user] = b
		for view, listed := range views {
			if got := b.inboxHas(view); got != listed {
				t.Errorf("%s's %s view lists the approval: %v, want %v", user, view, got, listed)
			}
		}
	}
	bob := browsers["bob"]
	if n := strings.Count(bob.do(http.MethodGet, "/inbox?view=waiting", nil).Body.String(), `data-id="`+approvalID+`"`); n != 1 {
		t.Errorf("bob's waiting view lists the approval %d times", n)
	}
	page := bob.do(http.MethodGet, "/approvals/"+approvalID, nil).Body.String()
	rec := bob.do(http.MethodPost, "/approvals/"+approvalID+"/decide", url.Values{
		"csrf": {hidden(page, "csrf")}, "attempt": {hidden(page, "attempt")},
		"request_hash": {hidden(page, "request_hash")}, "decision": {"approve"},
	})
	if rec.Code != http.StatusSeeOther {
		t.Fatalf("bob approves: %d\n%s", rec.Code, rec.Body)
	}
	if bob.inboxHas("waiting") {
		t.Error("the approval still waits for bob after his approval")
	}
	if !browsers["dana"].inboxHas("all") {
		t.Error("dana's all view lost the approval")
	}
	carol := f.browser()
	carol.signIn("carol")
	if !carol.inboxHas("waiting") {
		t.Error("the approval no longer waits for carol")
	}
}

// TestWebDecision: the approval's page offers its approvers the decision
// form; a decision counts once as the signed-in person through the web
// channel, however often the form is sent, and only with the session's
// form token and the content the page showed.
func TestWebDecision(t *testing.T) {
	f := webSetup(t, true, false)
	bob := f.browser()
	bob.signIn("bob")
	rec := bob.do(http.MethodGet, "/approvals/"+approvalID, nil)
	page := rec.Body.String()
	if rec.Code != http.StatusOK || !strings.Contains(page, `id="decide-form"`) || !strings.Contains(page, `id="action-view"`) {
		t.Fatalf("bob's approval page: %d\n%s", rec.Code, page)
	}
	form := url.Values{
		"csrf": {hidden(page, "csrf")}, "attempt": {hidden(page, "attempt")},
		"request_hash": {hidden(page, "request_hash")}, "decision": {"approve"}, "comment": {"ship it"},
	}
	// Another session's form token, and no token: refused before the
	// workflow hears of it.
	carol := f.browser()
	carol.signIn("carol")
	carolPage := carol.do(http.MethodGet, "/approvals/"+approvalID, nil).Body.String()
	for name, csrf := range map[string]string{"carol's token": hidden(carolPage, "csrf"), "no token": ""} {
		bad := url.Values{}
		for k, v := range form {
			bad[k] = v
		}
		bad.Set("csrf", csrf)
		if rec := bob.do(http.MethodPost, "/approvals/"+approvalID+"/decide", bad); rec.Code != http.StatusForbidden {
			t.Errorf("%s: %d", name, rec.Code)
		}
	}
	if n := len(f.state().Attempts); n != 0 {
		t.Fatalf("%d attempts recorded from refused forms", n)
	}
	// A stale request_hash is the workflow's refusal: recorded, 409.
	stale := url.Values{}
	for k, v := range form {
		stale[k] = v
	}
	stale.Set("request_hash", strings.Repeat("0", 64))
	stale.Set("attempt", strings.Repeat("s", 32))
	if rec := bob.do(http.MethodPost, "/approvals/"+approvalID+"/decide", stale); rec.Code != http.StatusConflict || resultOf(rec) != "refused" {
		t.Fatalf("stale content: %d %q", rec.Code, resultOf(rec))
	}
	for range 2 { // a double submit
		rec = bob.do(http.MethodPost, "/approvals/"+approvalID+"/decide", form)
		if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/approvals/"+approvalID+"?done=approved" {
			t.Fatalf("bob approves: %d %q\n%s", rec.Code, rec.Header().Get("Location"), rec.Body)
		}
	}
	st := f.state()
	var accepted []approval.Attempt
	for _, a := range st.Attempts {
		if a.Accepted {
			accepted = append(accepted, a)
		}
	}
	if len(accepted) != 1 || st.Status != approval.StatusPending {
		t.Fatalf("after bob's approval sent twice: %d accepted, %s", len(accepted), st.Status)
	}
	a := accepted[0]
	if a.User != "bob" || a.Channel != ChannelWeb || a.Comment != "ship it" || a.IdentifiedBy != "web session (dev sign-in)" || a.Proof == "" {
		t.Fatalf("attempt %+v", a)
	}
	after := bob.do(http.MethodGet, "/approvals/"+approvalID+"?done=approved", nil).Body.String()
	if strings.Contains(after, `id="decide-form"`) || !strings.Contains(after, "Your approval was recorded.") {
		t.Errorf("page after the decision:\n%s", after)
	}
	// Someone with no part in it: not even told it exists.
	walt := f.browser()
	walt.signIn("walt")
	if rec := walt.do(http.MethodGet, "/approvals/"+approvalID, nil); rec.Code != http.StatusNotFound {
		t.Errorf("walt reads the approval: %d", rec.Code)
	}
	wf := url.Values{"csrf": {hidden(walt.do(http.MethodGet, "/inbox", nil).Body.String(), "csrf")}, "decision": {"approve"},
		"request_hash": {st.RequestHash}}
	if rec := walt.do(http.MethodPost, "/approvals/"+approvalID+"/decide", wf); rec.Code != http.StatusNotFound {
		t.Errorf("walt decides: %d", rec.Code)
	}
	// The requester may not approve their own request: no form.
	alice := f.browser()
	alice.signIn("alice")
	if page := alice.do(http.MethodGet, "/approvals/"+approvalID, nil).Body.String(); strings.Contains(page, `id="decide-form"`) ||
		!strings.Contains(page, `id="cancel-form"`) || strings.Contains(page, `id="bypass-form"`) {
		t.Errorf("alice's page offers the wrong forms:\n%s", page)
	}
}

// TestWebCancelAndBypass: the requester cancels from the page; under a soft
// policy they may break glass, with a reason.
func TestWebCancelAndBypass(t *testing.T) {
	f := webSetup(t, true, false)
	alice := f.browser()
	alice.signIn("alice")
	page := alice.do(http.MethodGet, "/approvals/"+approvalID, nil).Body.String()
	rec := alice.do(http.MethodPost, "/approvals/"+approvalID+"/cancel", url.Values{
		"csrf": {hidden(page, "csrf")}, "attempt": {hidden(page, "attempt")}, "reason": {"not needed"}})
	if rec.Code != http.StatusSeeOther || f.state().Status != approval.StatusCancelled {
		t.Fatalf("cancel: %d, %s\n%s", rec.Code, f.state().Status, rec.Body)
	}

	f = webSetup(t, true, true)
	alice = f.browser()
	alice.signIn("alice")
	page = alice.do(http.MethodGet, "/approvals/"+approvalID, nil).Body.String()
	if !strings.Contains(page, `id="bypass-form"`) {
		t.Fatalf("no break-glass form under a soft policy:\n%s", page)
	}
	form := url.Values{"csrf": {hidden(page, "csrf")}, "attempt": {hidden(page, "attempt")}}
	if rec := alice.do(http.MethodPost, "/approvals/"+approvalID+"/bypass", form); rec.Code != http.StatusUnprocessableEntity {
		t.Fatalf("break-glass without a reason: %d", rec.Code)
	}
	form.Set("reason", "prod is down")
	if rec := alice.do(http.MethodPost, "/approvals/"+approvalID+"/bypass", form); rec.Code != http.StatusSeeOther || f.state().Status != approval.StatusBypassed {
		t.Fatalf("break-glass: %d, %s", rec.Code, f.state().Status)
	}
}

// TestWebDelegation: bob delegates to walt on the delegations page; the
// approval then waits in walt's inbox "for bob", its page offers him the
// decision in bob's place, and his approval counts as "walt for bob".
// walt cannot end bob's delegation; bob can.
func TestWebDelegation(t *testing.T) {
	f := webSetup(t, true, false)
	bob := f.browser()
	bob.signIn("bob")
	page := bob.do(http.MethodGet, "/delegations", nil).Body.String()
	rec := bob.do(http.MethodPost, "/delegations", url.Values{"csrf": {hidden(page, "csrf")}, "attempt": {hidden(page, "attempt")},
		"to": {"walt"}, "until": {"3d"}, "reason": {"on leave"}})
	if rec.Code != http.StatusSeeOther {
		t.Fatalf("delegate: %d\n%s", rec.Code, rec.Body)
	}
	st, _ := f.people.State(context.Background())
	if len(st.Delegations) != 1 || st.Delegations[0].From != "bob" || st.Delegations[0].To != "walt" {
		t.Fatalf("delegations %+v", st.Delegations)
	}
	id := st.Delegations[0].ID

	walt := f.browser()
	walt.signIn("walt")
	inbox := walt.do(http.MethodGet, "/inbox?view=waiting", nil).Body.String()
	if !strings.Contains(inbox, `data-id="`+approvalID+`"`) || !strings.Contains(inbox, `data-for="bob"`) {
		t.Fatalf("walt's inbox:\n%s", inbox)
	}
	page = walt.do(http.MethodGet, "/approvals/"+approvalID, nil).Body.String()
	if !strings.Contains(page, `id="deciding-for"`) || hidden(page, "on_behalf_of") != "bob" {
		t.Fatalf("walt's approval page:\n%s", page)
	}
	rec = walt.do(http.MethodPost, "/approvals/"+approvalID+"/decide", url.Values{
		"csrf": {hidden(page, "csrf")}, "attempt": {hidden(page, "attempt")}, "request_hash": {hidden(page, "request_hash")},
		"on_behalf_of": {"bob"}, "decision": {"approve"},
	})
	if rec.Code != http.StatusSeeOther {
		t.Fatalf("walt approves for bob: %d\n%s", rec.Code, rec.Body)
	}
	a := f.state().Attempts[0]
	if !a.Accepted || a.User != "walt" || a.OnBehalfOf != "bob" || f.state().ApprovedBy[0] != "walt for bob" {
		t.Fatalf("attempt %+v", a)
	}

	dpage := walt.do(http.MethodGet, "/delegations", nil).Body.String()
	if strings.Contains(dpage, `id="revoke-`+id+`"`) {
		t.Error("walt is offered to end bob's delegation")
	}
	if rec := walt.do(http.MethodPost, "/delegations/"+id+"/revoke", url.Values{"csrf": {hidden(dpage, "csrf")}}); rec.Code != http.StatusForbidden {
		t.Errorf("walt ends bob's delegation: %d", rec.Code)
	}
	bpage := bob.do(http.MethodGet, "/delegations", nil).Body.String()
	if rec := bob.do(http.MethodPost, "/delegations/"+id+"/revoke", url.Values{"csrf": {hidden(bpage, "csrf")}}); rec.Code != http.StatusSeeOther {
		t.Fatalf("bob ends his delegation: %d", rec.Code)
	}
	if rec := walt.do(http.MethodGet, "/approvals/"+approvalID, nil); rec.Code != http.StatusOK {
		t.Errorf("walt no longer reads the approval he decided for bob: %d", rec.Code)
	}
}

// TestWebRevokeNeedsAGrant: there is nothing to revoke on a pending
// approval: no form, and a form sent anyway is refused by the workflow's
// rules and recorded.
func TestWebRevokeNeedsAGrant(t *testing.T) {
	f := webSetup(t, true, false)
	alice := f.browser()
	alice.signIn("alice")
	page := alice.do(http.MethodGet, "/approvals/"+approvalID, nil).Body.String()
	if strings.Contains(page, `id="revoke-form"`) {
		t.Fatal("a revoke form on a pending approval")
	}
	rec := alice.do(http.MethodPost, "/approvals/"+approvalID+"/revoke", url.Values{
		"csrf": {hidden(page, "csrf")}, "attempt": {hidden(page, "attempt")}, "reason": {"done"}})
	if rec.Code != http.StatusConflict || resultOf(rec) != "refused" {
		t.Fatalf("revoke of a pending approval: %d %q", rec.Code, resultOf(rec))
	}
	if st := f.state(); st.Status != approval.StatusPending || st.Events[len(st.Events)-1].Kind != approval.EventRevokeRefused {
		t.Fatalf("after the refused revoke: %s, %+v", st.Status, st.Events)
	}
}
