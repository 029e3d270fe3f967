package callbacks

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signoff/signoff/approval"
	"github.com/signoff/signoff/auth/proof"
	"github.com/signoff/signoff/channel/slack/slackfake"
	"github.com/signoff/signoff/channel/slack/slackmsg"
	"github.com/signoff/signoff/workflows"
)

// TestClickIsCounted: a verified click of a configured approver becomes a
// decision signal; the clicker is told the result.
func TestClickIsCounted(t *testing.T) {
	hs := newHarness(t, nil)
	st := testApproval(approvalA, approval.Input{})
	c := hs.click(st, "U0BOB", "Approve", prodCh)
	c.ActionTS = "1700000001.000777"
	require.Equal(t, http.StatusOK, hs.send(c))

	msg := hs.responseTo(c.ResponseURL)
	assert.Equal(t, "ephemeral", msg.ResponseType)
	assert.False(t, msg.ReplaceOriginal)
	assert.Equal(t, "✅ Counted: you approved *Deploy api*. (1 of 2 approvals)", msg.Text)

	sigs := hs.apps.Signals()
	require.Len(t, sigs, 1)
	assert.Equal(t, "bob", sigs[0].User)
	assert.Equal(t, approval.DecisionApprove, sigs[0].Decision)
	assert.Equal(t, "slack:"+prodCh, sigs[0].Channel)
	assert.Empty(t, sigs[0].Refusal)
	assert.True(t, strings.HasPrefix(sigs[0].AttemptID, "slack:"))
	assert.NotContains(t, sigs[0].AttemptID, c.ActionTS, "the ID is derived, not the raw action_ts")
	as := hs.attempts(approvalA)
	require.Len(t, as, 1)
	assert.True(t, as[0].Accepted)
}

// recordingTB keeps what the fake fails a test with, to test the fake.
type recordingTB struct {
	testing.TB
	mu   sync.Mutex
	errs []string
}

func (r *recordingTB) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

// TestFakeChecksStampsAsTheWorkflowDoes: the harness's approvals fail the
// test on a click the workflow would not count (no stamp, another key's,
// a stamp over other content or for another approval) and record it
// refused; the handler's own stamp passes. Without this, a handler that
// stopped stamping would pass every test here.
func TestFakeChecksStampsAsTheWorkflowDoes(t *testing.T) {
	keys := proof.Generate()
	now := time.Now()
	req := workflows.DecisionRequest{AttemptID: "slack:1", User: "bob", Decision: approval.DecisionApprove, Channel: "slack:" + prodCh}
	otherUser := workflows.Stamp(keys, approvalA, req, now)
	otherUser.User = "carol"
	for name, tc := range map[string]struct {
		req  workflows.DecisionRequest
		want approval.Code // empty: counted
	}{
		"stamped":          {workflows.Stamp(keys, approvalA, req, now), ""},
		"unstamped":        {req, approval.CodeUnproven},
		"another key":      {workflows.Stamp(proof.Generate(), approvalA, req, now), approval.CodeUnproven},
		"other content":    {otherUser, approval.CodeUnproven},
		"another approval": {workflows.Stamp(keys, approvalB, req, now), approval.CodeUnproven},
		"stale":            {workflows.Stamp(keys, approvalA, req, now.Add(-24*time.Hour)), approval.CodeStaleProof},
	} {
		t.Run(name, func(t *testing.T) {
			rec := &recordingTB{TB: t}
			f := newFakeApprovals(rec, testApproval(approvalA, approval.Input{}))
			f.proofs = keys
			require.NoError(t, f.Click(context.Background(), approvalA, tc.req))
			st, err := f.Get(context.Background(), approvalA)
			require.NoError(t, err)
			require.Len(t, st.Attempts, 1)
			assert.Equal(t, tc.want, st.Attempts[0].RefusalCode)
			assert.Equal(t, tc.want == "", st.Attempts[0].Accepted)
			if tc.want == "" {
				assert.Empty(t, rec.errs)
			} else {
				assert.Len(t, rec.errs, 1, "the test fails")
			}
		})
	}
}

// TestRefusals: each person who may not decide is told why, and the
// attempt is still recorded — refused, not counted.
func TestRefusals(t *testing.T) {
	for _, tc := range []struct {
		name, user, team, channel string
		allowed                   []string
		require2FA                bool
		wantUser, want            string
	}{
		{name: "stranger", user: "U0EVE", wantUser: "slack:U0EVE", want: RefusedUnknownUser},
		{name: "unknown to Slack", user: "U0NOBODY", wantUser: "slack:U0NOBODY", want: RefusedUnknownUser},
		{name: "guest", user: "U0GUEST", wantUser: "gus", want: RefusedGuest},
		{name: "deactivated", user: "U0GONE", wantUser: "gone", want: RefusedDeleted},
		{name: "other workspace", user: "U0BOB", team: "T0OTHER", wantUser: "bob", want: RefusedWrongTeam},
		{name: "Slack Connect user", user: "U0EXT", wantUser: "ext", want: RefusedExternal},
		{name: "no 2FA when required", user: "U0CAROL", require2FA: true, wantUser: "carol", want: RefusedNo2FA},
		{name: "channel not allowed", user: "U0BOB", allowed: []string{"C0OTHER"}, wantUser: "bob", want: RefusedChannel},
		{name: "channel without the prompt", user: "U0BOB", channel: "C0RANDOM", wantUser: "bob", want: RefusedNotPromptedHere},
		{name: "requester", user: "U0ALICE", wantUser: "alice", want: approval.RefusedSelfApproval},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hs := newHarness(t, nil)
			hs.cfg.AllowedChannels, hs.cfg.Require2FA = tc.allowed, tc.require2FA
			c := hs.click(testApproval(approvalA, approval.Input{}), tc.user, "Approve", prodCh)
			if tc.team != "" {
				c.TeamID = tc.team
			}
			if tc.channel != "" {
				c.ChannelID = tc.channel
			}
			require.Equal(t, http.StatusOK, hs.send(c))
			msg := hs.responseTo(c.ResponseURL)
			assert.Equal(t, "❌ Not counted: "+slackmsg.Escape(tc.want)+". (*Deploy api*)", msg.Text)
			as := hs.attempts(approvalA)
			require.Len(t, as, 1, "the refusal is in the audit trail")
			assert.False(t, as[0].Accepted)
			assert.Equal(t, tc.want, as[0].RefusalReason)
			assert.Equal(t, tc.wantUser, as[0].User)
		})
	}
}

// TestPersonFoundByEmailAndChecksThatPass: no slack_id but a matching email
// counts; a DM prompt counts for its approver even with an allow-list; the
// allow-list admits its channels; 2FA passes when present.
func TestPersonFoundByEmailAndChecksThatPass(t *testing.T) {
	hs := newHarness(t, nil)
	hs.cfg.AllowedChannels, hs.cfg.Require2FA = []string{"C0OK"}, true
	st := testApproval(approvalA, approval.Input{})

	c := hs.click(st, "U0DANA", "Approve", "C0OK")
	require.Equal(t, http.StatusOK, hs.send(c))
	assert.Contains(t, hs.responseTo(c.ResponseURL).Text, "✅ Counted")

	c = hs.click(st, "U0BOB", "Approve", "D0BOB")
	require.Equal(t, http.StatusOK, hs.send(c))
	assert.Contains(t, hs.responseTo(c.ResponseURL).Text, "The approval is now *Approved*")

	as := hs.attempts(approvalA)
	require.Len(t, as, 2)
	assert.Equal(t, "dana", as[0].User)
	assert.True(t, as[0].Accepted && as[1].Accepted)
	// users.info was asked once per person: answers are cached.
	assert.Len(t, hs.fake.UserInfoCalls(), 2)
}

// TestDoubleClickAndSlackRetry: the same payload again (a Slack retry)
// is the same attempt; a second click is recorded once and refused.
func TestDoubleClickAndSlackRetry(t *testing.T) {
	hs := newHarness(t, nil)
	st := testApproval(approvalA, approval.Input{})
	c := hs.click(st, "U0BOB", "Approve", prodCh)
	c.ActionTS = "1700000001.000001"
	require.Equal(t, http.StatusOK, hs.send(c))
	require.Equal(t, http.StatusOK, hs.send(c, "X-Slack-Retry-Num", "1", "X-Slack-Retry-Reason", "http_timeout"))
	hs.responseTo(c.ResponseURL)
	hs.h.Idle()
	require.Len(t, hs.attempts(approvalA), 1, "a retry is the same attempt")

	again := c
	again.ActionTS = "1700000002.000002"
	again.ResponseURL = hs.fake.ResponseURL()
	require.Equal(t, http.StatusOK, hs.send(again))
	assert.Equal(t, "✅ Already counted: you approved *Deploy api*. (1 of 2 approvals)", hs.responseTo(again.ResponseURL).Text)
	as := hs.attempts(approvalA)
	require.Len(t, as, 2)
	assert.True(t, as[0].Accepted)
	assert.Equal(t, approval.RefusedAlreadyDecided, as[1].RefusalReason)
	approved, _ := (&approval.State{Attempts: as, Policy: approval.Policy{RequiredApprovals: 2}}).Progress()
	assert.Equal(t, 1, approved, "counted once")
}

// TestAnswerBeforeSlowTemporal: Slack gets its 200 within the budget even
// when Temporal is slow; the decision is delivered afterwards and the
// clicker told.
func TestAnswerBeforeSlowTemporal(t *testing.T) {
	hs := newHarness(t, func(o *Options) { o.AckBudget = 100 * time.Millisecond })
	hs.apps.gate = make(chan struct{})
	c := hs.click(testApproval(approvalA, approval.Input{}), "U0BOB", "Approve", prodCh)
	// Temporal stays blocked until the gate opens below: an answer that
	// waited for it would never come.
	require.Equal(t, http.StatusOK, hs.send(c))
	assert.Empty(t, hs.apps.Signals(), "not delivered yet")

	close(hs.apps.gate)
	assert.Contains(t, hs.responseTo(c.ResponseURL).Text, "✅ Counted")
	assert.Len(t, hs.apps.Signals(), 1)
}

// TestUnverifiedRequestsSignalNothing: bad signatures, a payload smuggled
// in the query string and oversize bodies are refused before parsing.
func TestUnverifiedRequestsSignalNothing(t *testing.T) {
	hs := newHarness(t, nil)
	payload := slackfake.BlockActions(hs.click(testApproval(approvalA, approval.Input{}), "U0BOB", "Approve", prodCh))
	body := slackfake.InteractionBody(payload)

	req, _ := http.NewRequest(http.MethodPost, hs.srv.URL+PathInteractions, strings.NewReader(body))
	req.Header = slackfake.Header("forged", time.Now(), []byte(body))
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)

	req, _ = http.NewRequest(http.MethodPost, hs.srv.URL+PathInteractions, strings.NewReader(body))
	req.Header = slackfake.Header(secret, time.Now().Add(-10*time.Minute), []byte(body))
	resp, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, "replay")

	// A signed empty body with the payload in the URL: never read.
	req, _ = slackfake.Request(hs.srv.URL+PathInteractions+"?payload="+url.QueryEscape(string(payload)), secret, "")
	resp, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode)

	code, _ := hs.post(PathInteractions, "payload="+strings.Repeat("x", MaxBody))
	assert.Equal(t, http.StatusRequestEntityTooLarge, code)

	code, _ = hs.post(PathCommands, "user_id=U0BOB")
	assert.Equal(t, http.StatusBadRequest, code)

	hs.h.Idle()
	assert.Empty(t, hs.apps.Signals())
	assert.Empty(t, hs.fake.Responses())
}

// TestModalForARequiredComment: Reject… opens a modal at once with the
// click's trigger; its submission rejects with the comment and the
// clicker is told by an ephemeral message.
func TestModalForARequiredComment(t *testing.T) {
	st := testApproval(approvalA, approval.Input{})
	st.Policy.RequireComment.Reject = true
	hs := newHarness(t, nil, st)
	c := hs.click(st, "U0BOB", "Reject…", prodCh)
	c.TriggerID = "trigger-123"
	require.Equal(t, http.StatusOK, hs.send(c))

	views := hs.fake.Views()
	require.Len(t, views, 1)
	assert.Equal(t, "trigger-123", views[0].TriggerID)
	assert.Equal(t, slackmsg.ModalCallbackID, views[0].View.CallbackID)
	meta, err := slackmsg.ParseModalMetadata(views[0].View.PrivateMetadata)
	require.NoError(t, err)
	assert.Equal(t, slackmsg.ModalMetadata{ApprovalID: approvalA, Verb: slackmsg.VerbRejectComment, Channel: prodCh, MessageTS: prodTS}, meta)
	assert.Empty(t, hs.apps.Signals(), "opening the modal decides nothing")

	sub := slackfake.Submission{TeamID: team, UserID: "U0BOB", ViewID: views[0].ID, CallbackID: slackmsg.ModalCallbackID,
		PrivateMetadata: views[0].View.PrivateMetadata}
	code, body := hs.post(PathInteractions, slackfake.InteractionBody(slackfake.ViewSubmission(sub)))
	require.Equal(t, http.StatusOK, code)
	assert.Contains(t, body, `"response_action":"errors"`, "an empty comment keeps the modal open")

	sub.Values = map[string]map[string]string{slackmsg.ModalBlockID: {slackmsg.ModalActionID: "  change freeze  "}}
	code, body = hs.post(PathInteractions, slackfake.InteractionBody(slackfake.ViewSubmission(sub)))
	require.Equal(t, http.StatusOK, code)
	assert.Empty(t, body, "an empty 200 closes the modal")

	require.True(t, hs.fake.Wait(10*time.Second, func() bool { return len(hs.fake.Ephemerals()) == 1 }))
	eph := hs.fake.Ephemerals()[0]
	assert.Equal(t, prodCh, eph.Channel)
	assert.Equal(t, "U0BOB", eph.User)
	assert.Equal(t, "✅ Counted: you rejected *Deploy api*. The approval is now *Rejected*.", eph.Text)
	as := hs.attempts(approvalA)
	require.Len(t, as, 1)
	assert.Equal(t, approval.DecisionReject, as[0].Decision)
	assert.Equal(t, "change freeze", as[0].Comment)
	assert.Equal(t, "slack:"+prodCh, as[0].Channel)
}

// TestTextInputModal: Respond opens a modal; the text becomes the value.
func TestTextInputModal(t *testing.T) {
	st := testApproval(approvalA, approval.Input{Type: approval.InputText, Prompt: "Ticket?"})
	hs := newHarness(t, nil, st)
	c := hs.click(st, "U0BOB", "Respond…", prodCh)
	require.Equal(t, http.StatusOK, hs.send(c))
	views := hs.fake.Views()
	require.Len(t, views, 1)
	sub := slackfake.Submission{TeamID: team, UserID: "U0BOB", ViewID: views[0].ID, CallbackID: slackmsg.ModalCallbackID,
		PrivateMetadata: views[0].View.PrivateMetadata,
		Values:          map[string]map[string]string{slackmsg.ModalBlockID: {slackmsg.ModalActionID: "OPS-42"}}}
	code, _ := hs.post(PathInteractions, slackfake.InteractionBody(slackfake.ViewSubmission(sub)))
	require.Equal(t, http.StatusOK, code)
	hs.h.Idle()
	as := hs.attempts(approvalA)
	require.Len(t, as, 1)
	assert.True(t, as[0].Accepted)
	assert.Equal(t, []string{"OPS-42"}, as[0].Values)
}

// TestSelectAndMultiselect: a select's choice decides as its option says;
// a multiselect's selection is read from the message state on Submit, and
// changing the selection alone decides nothing.
func TestSelectAndMultiselect(t *testing.T) {
	opts := []approval.Option{
		{Label: "Blue", Value: "blue", Decision: approval.DecisionApprove},
		{Label: "Green", Value: "green", Decision: approval.DecisionApprove},
		{Label: "Abort", Value: "abort", Decision: approval.DecisionReject},
	}
	sel := testApproval(approvalA, approval.Input{Type: approval.InputSelect, Options: opts})
	multi := testApproval(approvalB, approval.Input{Type: approval.InputMultiselect, Options: opts})
	hs := newHarness(t, nil, sel, multi)

	c := hs.click(sel, "U0BOB", "signoff:select:", prodCh)
	c.Selected = map[string][]string{c.Control.ActionID: {"abort"}}
	require.Equal(t, http.StatusOK, hs.send(c))
	assert.Contains(t, hs.responseTo(c.ResponseURL).Text, "you rejected")
	as := hs.attempts(approvalA)
	require.Len(t, as, 1)
	assert.Equal(t, approval.DecisionReject, as[0].Decision)
	assert.Equal(t, []string{"abort"}, as[0].Values)

	change := hs.click(multi, "U0CAROL", "signoff:multi:", prodCh)
	change.Selected = map[string][]string{change.Control.ActionID: {"blue"}}
	require.Equal(t, http.StatusOK, hs.send(change))

	submit := hs.click(multi, "U0CAROL", "Submit", prodCh)
	submit.Selected = map[string][]string{change.Control.ActionID: {"blue", "green"}}
	require.Equal(t, http.StatusOK, hs.send(submit))
	assert.Contains(t, hs.responseTo(submit.ResponseURL).Text, "✅ Counted")
	as = hs.attempts(approvalB)
	require.Len(t, as, 1, "the selection change recorded nothing")
	assert.Equal(t, []string{"blue", "green"}, as[0].Values)

	t.Run("a value no option has is refused", func(t *testing.T) {
		// On an approval still pending: bob's abort rejected sel.
		sel := testApproval(approvalA, approval.Input{Type: approval.InputSelect, Options: opts})
		hs := newHarness(t, nil, sel)
		c := hs.click(sel, "U0CAROL", "signoff:select:", prodCh)
		c.Selected = map[string][]string{c.Control.ActionID: {"purple"}}
		require.Equal(t, http.StatusOK, hs.send(c))
		assert.Contains(t, hs.responseTo(c.ResponseURL).Text, approval.RefusedInvalidChoice)
	})
}

func TestUnknownApproval(t *testing.T) {
	hs := newHarness(t, nil)
	c := hs.click(testApproval(approvalB, approval.Input{}), "U0BOB", "Approve", prodCh)
	require.Equal(t, http.StatusOK, hs.send(c))
	assert.Equal(t, "❌ There is no approval `"+approvalB+"`.", hs.responseTo(c.ResponseURL).Text)
	assert.Empty(t, hs.apps.Signals())
}

// TestClickOnFinishedApproval: a click on an approval that has finished
// is not delivered; the clicker is told it is no longer pending.
func TestClickOnFinishedApproval(t *testing.T) {
	st := testApproval(approvalA, approval.Input{})
	st.Decide(approval.Attempt{ID: "x", User: "carol", Decision: approval.DecisionReject}, time.Now())
	require.Equal(t, approval.StatusRejected, st.Status)
	hs := newHarness(t, nil, st)
	c := hs.click(st, "U0BOB", "Approve", prodCh)
	require.Equal(t, http.StatusOK, hs.send(c))
	assert.Equal(t, "❌ Not counted: "+approval.RefusedNotPending+".", hs.responseTo(c.ResponseURL).Text)
	assert.Empty(t, hs.apps.Signals())
	assert.Len(t, hs.attempts(approvalA), 1)
}

func TestResponseURLAllowed(t *testing.T) {
	api := "http://127.0.0.1:4567/api/"
	assert.True(t, responseURLAllowed("https://hooks.slack.com/actions/T1/1/abc", api))
	assert.True(t, responseURLAllowed("http://127.0.0.1:4567/response/1", api))
	for _, bad := range []string{
		"http://hooks.slack.com/actions/x", "https://hooks.slack.com.evil.io/x", "https://evil.io/x",
		"http://127.0.0.1:9999/response/1", "https://user@hooks.slack.com/x", "://", "file:///etc/passwd",
	} {
		assert.False(t, responseURLAllowed(bad, api), bad)
	}
}

// TestOutdatedPromptIsRefused: after an amendment, a click on a prompt
// showing the old request does not decide on the new one.
func TestOutdatedPromptIsRefused(t *testing.T) {
	st := testApproval(approvalA, approval.Input{})
	hs := newHarness(t, nil, st)
	old := hs.click(st, "U0BOB", "Approve", prodCh) // rendered at revision 0
	require.NoError(t, st.Amend(approval.Actor{User: "alice"}, approval.Request{Title: "Deploy api v3", Environment: "production"}, time.Now()))

	require.Equal(t, http.StatusOK, hs.send(old))
	assert.Contains(t, hs.responseTo(old.ResponseURL).Text, RefusedOutdated)

	current := hs.click(st, "U0BOB", "Approve", prodCh) // rendered at revision 1
	require.Equal(t, http.StatusOK, hs.send(current))
	assert.Contains(t, hs.responseTo(current.ResponseURL).Text, "✅ Counted: you approved *Deploy api v3*")
}
