package callbacks

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signoff/signoff/approval"
	"github.com/signoff/signoff/auth/proof"
	"github.com/signoff/signoff/channel/slack/slackfake"
	"github.com/signoff/signoff/channel/slack/slackmsg"
	"github.com/signoff/signoff/config/identity"
	"github.com/signoff/signoff/workflows"
)

// grantedApproval is alice's access, approved by bob and granted for two
// hours.
func grantedApproval(t *testing.T) *approval.State {
	t.Helper()
	st := testApproval(approvalA, approval.Input{})
	st.Request.Duration = 2 * time.Hour
	st.Policy.RequiredApprovals = 1
	at := time.Now().Add(-time.Minute)
	st.Decide(approval.Attempt{ID: "d1", User: "bob", Decision: approval.DecisionApprove}, at)
	require.Equal(t, approval.StatusApproved, st.Status)
	st.StartGrant(st.ClosedAt)
	st.MarkGranted(at, "alice_db is a member of orders_read")
	return st
}

// revokeHarness serves st with proof keys, which the fake checks as the
// workflow does, and the users of testUsers plus root, a Signoff admin.
func revokeHarness(t *testing.T, st *approval.State) *harness {
	t.Helper()
	keys := proof.Generate()
	dir, err := identity.NewDirectory(append(append([]identity.User(nil), testUsers...),
		identity.User{Name: "root", SlackID: "U0ROOT", Admin: true}))
	require.NoError(t, err)
	hs := newHarness(t, func(o *Options) {
		o.Proofs = keys
		o.Directory = func() *identity.Directory { return dir }
	}, st)
	hs.apps.proofs = keys
	hs.fake.SetUser(slack.User{ID: "U0ROOT", Has2FA: yes()})
	// Bob administers the Slack workspace: that makes him no Signoff admin.
	hs.fake.SetUser(slack.User{ID: "U0BOB", Has2FA: yes(), IsAdmin: true})
	return hs
}

// revokeClick is user's click on "Revoke now" of st's outcome message, as
// the notifier renders it.
func (hs *harness) revokeClick(st *approval.State, user string) slackfake.Click {
	hs.t.Helper()
	blocks, err := json.Marshal(slackmsg.Render{PublicURL: "https://signoff.example.com"}.OutcomeBlocks(st))
	require.NoError(hs.t, err)
	c, ok := slackfake.Find(blocks, "Revoke now")
	require.True(hs.t, ok, "no Revoke now on the message")
	return slackfake.Click{TeamID: team, UserID: user, ChannelID: prodCh, MessageTS: prodTS, Blocks: blocks,
		ResponseURL: hs.fake.ResponseURL(), Control: c}
}

// TestRevokeNowByTheGrantee: the grantee's click asks the workflow for the
// revoke in their name, stamped, and they are told; Slack's retry of the
// same click asks nothing more, and a second click is told the revoke is
// under way already.
func TestRevokeNowByTheGrantee(t *testing.T) {
	st := grantedApproval(t)
	hs := revokeHarness(t, st)
	c := hs.revokeClick(st, "U0ALICE")
	c.ActionTS = "1700000002.000001"
	require.Equal(t, http.StatusOK, hs.send(c))
	msg := hs.responseTo(c.ResponseURL)
	assert.Equal(t, "ephemeral", msg.ResponseType)
	assert.Equal(t, "✅ Revoke requested: the access granted by *Deploy api* is being taken back now.", msg.Text)

	reqs := hs.apps.Revokes()
	require.Len(t, reqs, 1)
	assert.Equal(t, "alice", reqs[0].User)
	assert.False(t, reqs[0].Admin)
	assert.NotNil(t, reqs[0].Proof, "stamped")
	assert.True(t, strings.HasPrefix(reqs[0].AttemptID, workflows.UpdateRevoke+":slack:"), reqs[0].AttemptID)
	assert.Empty(t, hs.apps.Signals(), "a revoke decides nothing")
	got, err := hs.apps.Get(t.Context(), approvalA)
	require.NoError(t, err)
	assert.Equal(t, "alice", got.Grant.RevokeRequestedBy)

	// Slack delivers the same click again: the same attempt, not sent again.
	require.Equal(t, http.StatusOK, hs.send(c, "X-Slack-Retry-Num", "1", "X-Slack-Retry-Reason", "http_timeout"))
	hs.h.Idle()
	assert.Len(t, hs.apps.Revokes(), 1)

	// A second click on the message (not updated until the revoke is
	// done): the workflow refuses it; the clicker hears why.
	again := c
	again.ActionTS, again.ResponseURL = "1700000003.000001", hs.fake.ResponseURL()
	require.Equal(t, http.StatusOK, hs.send(again))
	text := hs.responseTo(again.ResponseURL).Text
	assert.True(t, strings.HasPrefix(text, "⏳ Already being revoked: <@U0ALICE> asked at <!date^"), text)
	reqs = hs.apps.Revokes()
	require.Len(t, reqs, 2)
	assert.NotEqual(t, reqs[0].AttemptID, reqs[1].AttemptID)
	got, _ = hs.apps.Get(t.Context(), approvalA)
	assert.Equal(t, approval.EventRevokeRefused, got.Events[len(got.Events)-1].Kind, "the refusal is in the audit trail")
}

// TestRevokeNowWho: the admin flag sent is the Signoff user's, never
// Slack's; the workflow refuses anyone but the grantee or an admin; people
// Slack's account checks refuse, or mapped to nobody, are refused without
// asking the workflow.
func TestRevokeNowWho(t *testing.T) {
	for _, tc := range []struct {
		name, user       string
		sent, admin      bool
		wantUser, prefix string
	}{
		{name: "Signoff admin", user: "U0ROOT", sent: true, admin: true, wantUser: "root", prefix: "✅ Revoke requested"},
		{name: "Slack admin, approver", user: "U0BOB", sent: true, wantUser: "bob",
			prefix: "❌ Not revoked: " + approval.ErrNotAllowedToRevoke.Error() + "."},
		{name: "mapped to nobody", user: "U0EVE", prefix: "❌ Not revoked: " + slackmsg.Escape(RefusedUnknownUser) + "."},
		{name: "unknown to Slack", user: "U0NOBODY", prefix: "❌ Not revoked: " + slackmsg.Escape(RefusedUnknownUser) + "."},
		{name: "guest", user: "U0GUEST", prefix: "❌ Not revoked: " + RefusedGuest + "."},
		{name: "deactivated", user: "U0GONE", prefix: "❌ Not revoked: " + RefusedDeleted + "."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := grantedApproval(t)
			hs := revokeHarness(t, st)
			c := hs.revokeClick(st, tc.user)
			require.Equal(t, http.StatusOK, hs.send(c))
			assert.True(t, strings.HasPrefix(hs.responseTo(c.ResponseURL).Text, tc.prefix), hs.responseTo(c.ResponseURL).Text)
			reqs := hs.apps.Revokes()
			if !tc.sent {
				assert.Empty(t, reqs, "refused before the workflow")
				return
			}
			require.Len(t, reqs, 1)
			assert.Equal(t, tc.wantUser, reqs[0].User)
			assert.Equal(t, tc.admin, reqs[0].Admin)
		})
	}
}

// TestRevokeNowOnARevokedGrant: the approval is over; the clicker is told
// when the access was revoked.
func TestRevokeNowOnARevokedGrant(t *testing.T) {
	st := grantedApproval(t)
	hs := revokeHarness(t, st)
	c := hs.revokeClick(st, "U0ALICE") // the message as it was while granted
	at := time.Now()
	st.MarkRevoked(at, "alice_db is not a member of orders_read")
	hs.apps.mu.Lock()
	hs.apps.states[approvalA] = clone(st)
	hs.apps.mu.Unlock()
	require.Equal(t, http.StatusOK, hs.send(c))
	assert.Equal(t, "❌ Not revoked: the access was revoked already, at "+slackmsg.Date(at)+". (*Deploy api*)",
		hs.responseTo(c.ResponseURL).Text)
	assert.Empty(t, hs.apps.Revokes())
}

// TestRevokeNowUnsigned: a click with a bad signature is refused before
// anything is read; nothing is revoked and no one is answered.
func TestRevokeNowUnsigned(t *testing.T) {
	st := grantedApproval(t)
	hs := revokeHarness(t, st)
	body := slackfake.InteractionBody(slackfake.BlockActions(hs.revokeClick(st, "U0ALICE")))
	req, err := http.NewRequest(http.MethodPost, hs.srv.URL+PathInteractions, strings.NewReader(body))
	require.NoError(t, err)
	req.Header = slackfake.Header("not-the-signing-secret", time.Now(), []byte(body))
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	hs.h.Idle()
	assert.Empty(t, hs.apps.Revokes())
	assert.Empty(t, hs.fake.Responses())
	assert.Empty(t, hs.fake.UserInfoCalls())
}
