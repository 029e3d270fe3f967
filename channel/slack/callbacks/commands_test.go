package callbacks

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signoff/signoff/approval"
	"github.com/signoff/signoff/auth/proof"
	"github.com/signoff/signoff/channel/slack/slackfake"
	"github.com/signoff/signoff/config/identity"
	"github.com/signoff/signoff/store/peoplestore"
)

func (hs *harness) command(user, text string) slack.WebhookMessage {
	hs.t.Helper()
	cmd := slackfake.Command{TeamID: team, UserID: user, ChannelID: prodCh, Text: text, ResponseURL: hs.fake.ResponseURL()}
	code, body := hs.post(PathCommands, cmd.Form().Encode())
	require.Equal(hs.t, http.StatusOK, code, body)
	var msg slack.WebhookMessage
	require.NoError(hs.t, json.Unmarshal([]byte(body), &msg), body)
	assert.Equal(hs.t, "ephemeral", msg.ResponseType, "only the caller sees it")
	return msg
}

func TestSlashCommand(t *testing.T) {
	done := testApproval(approvalB, approval.Input{})
	done.Decide(approval.Attempt{ID: "x", User: "carol", Decision: approval.DecisionReject, Comment: "no"}, time.Now())
	hs := newHarness(t, nil, testApproval(approvalA, approval.Input{}), done)

	t.Run("help", func(t *testing.T) {
		assert.Contains(t, hs.command("U0BOB", "help").Text, "/signoff list")
		assert.Contains(t, hs.command("U0BOB", "").Text, "/signoff status <id>")
		unknown := hs.command("U0BOB", "approve-everything")
		assert.Contains(t, unknown.Text, "Unknown command `approve-everything`")
		assert.Contains(t, unknown.Text, "/signoff list")
	})
	t.Run("list shows what the caller may decide, with buttons", func(t *testing.T) {
		msg := hs.command("U0BOB", "list")
		require.NotNil(t, msg.Blocks)
		b, _ := json.Marshal(msg.Blocks)
		assert.Contains(t, msg.Text, "1 approval(s) waiting for you")
		assert.Contains(t, slackfake.Text(b), "approval `"+approvalA+"`")
		assert.NotContains(t, string(b), approvalB, "finished approvals are not listed")
		approve, ok := slackfake.Find(b, "Approve")
		require.True(t, ok)
		assert.Equal(t, "signoff:approve:"+approvalA, approve.ActionID)

		assert.Equal(t, "Nothing is waiting for you. 🎉", hs.command("U0ALICE", "list").Text, "the requester decides nothing")
	})
	t.Run("status", func(t *testing.T) {
		msg := hs.command("U0ALICE", "status "+approvalB)
		b, _ := json.Marshal(msg.Blocks)
		assert.Contains(t, slackfake.Text(b), "❌ *Rejected* by <@U0CAROL>")
		assert.Empty(t, slackfake.Controls(b))
		msg = hs.command("U0BOB", "status "+approvalA)
		b, _ = json.Marshal(msg.Blocks)
		assert.Contains(t, slackfake.Text(b), "0 of 2 approvals")
		assert.NotEmpty(t, slackfake.Controls(b), "bob may decide: buttons")
		assert.Contains(t, hs.command("U0BOB", "status nope").Text, "Usage")
		assert.Contains(t, hs.command("U0BOB", "status "+strings.Repeat("c", 26)).Text, "There is no approval")
	})
	t.Run("strangers are refused", func(t *testing.T) {
		assert.Equal(t, "❌ "+RefusedUnknownUser+".", hs.command("U0EVE", "list").Text)
		assert.Equal(t, "❌ "+RefusedGuest+".", hs.command("U0GUEST", "status "+approvalA).Text)
	})
}

// TestListLeavesOutUnreadable: an approval the index lists but that
// cannot be read is left out of /signoff list.
func TestListLeavesOutUnreadable(t *testing.T) {
	hs := newHarness(t, nil)
	hs.apps.ghosts = []string{approvalB}
	states, err := hs.h.pending(context.Background(), listScan)
	require.NoError(t, err)
	require.Len(t, states, 1)
	assert.Equal(t, approvalA, states[0].ID)
	assert.Contains(t, hs.command("U0BOB", "list").Text, "1 approval(s) waiting for you")
}

// TestSlowCommandAnswersLater: past the ack budget the command answers at
// once and posts the result to the response_url when it comes.
func TestSlowCommandAnswersLater(t *testing.T) {
	hs := newHarness(t, func(o *Options) { o.AckBudget = 50 * time.Millisecond })
	hs.apps.listGate = make(chan struct{})
	cmd := slackfake.Command{TeamID: team, UserID: "U0BOB", ChannelID: prodCh, Text: "list", ResponseURL: hs.fake.ResponseURL()}
	code, body := hs.post(PathCommands, cmd.Form().Encode())
	require.Equal(t, http.StatusOK, code)
	assert.Contains(t, body, "Working on it")
	assert.Empty(t, hs.fake.Responses())

	close(hs.apps.listGate)
	msg := hs.responseTo(cmd.ResponseURL)
	assert.Equal(t, "ephemeral", msg.ResponseType)
	assert.Contains(t, msg.Text, "1 approval(s) waiting for you")
}

// TestSlashStatusIsScoped: /signoff status shows an approval only to those
// who may read it (access.CanRead); anyone else is told it does not exist,
// in the very words used for an unknown ID.
func TestSlashStatusIsScoped(t *testing.T) {
	st := testApproval(approvalA, approval.Input{})
	st.ExtraApprovers = []string{"xavier"} // added by escalation
	users := append(slices.Clone(testUsers),
		identity.User{Name: "walt", SlackID: "U0WALT"},
		identity.User{Name: "xavier", SlackID: "U0XAVIER"},
		identity.User{Name: "audrey", SlackID: "U0AUDREY", Roles: []string{identity.RoleAuditor}},
		identity.User{Name: "root", SlackID: "U0ROOT", Admin: true},
		identity.User{Name: "cody", SlackID: "U0CODY", Roles: []string{identity.RoleCodec}},
	)
	dir, err := identity.NewDirectory(users)
	require.NoError(t, err)
	hs := newHarness(t, func(o *Options) { o.Directory = func() *identity.Directory { return dir } }, st)
	for _, id := range []string{"U0WALT", "U0XAVIER", "U0AUDREY", "U0ROOT", "U0CODY"} {
		hs.fake.SetUser(slack.User{ID: id, Has2FA: yes()})
	}
	unknown := strings.Repeat("c", 26)
	for slackID, mayRead := range map[string]bool{
		"U0WALT":   false, // no part in it
		"U0CODY":   false, // the codec role reads payloads, not approvals
		"U0ALICE":  true,  // requester
		"U0BOB":    true,  // approver
		"U0XAVIER": true,  // approver added by escalation
		"U0AUDREY": true,  // auditor
		"U0ROOT":   true,  // admin
	} {
		t.Run(slackID, func(t *testing.T) {
			msg := hs.command(slackID, "status "+approvalA)
			b, _ := json.Marshal(msg.Blocks)
			if !mayRead {
				missing := hs.command(slackID, "status "+unknown)
				assert.Equal(t, strings.Replace(missing.Text, unknown, approvalA, 1), msg.Text)
				assert.Nil(t, msg.Blocks)
				assert.NotContains(t, msg.Text, "Deploy api")
				return
			}
			assert.Equal(t, "Pending: Deploy api", msg.Text)
			assert.Contains(t, slackfake.Text(b), "Deploy api")
		})
	}
}

// TestSlashDelegate: /signoff delegate names the delegate by Slack mention
// or user name and the end as people write it; the delegation is bob's,
// whoever he names; /signoff delegations shows it to both; only bob ends it.
// The approval already waiting for bob gets carol as his delegate at once.
func TestSlashDelegate(t *testing.T) {
	store := &peoplestore.Memory{}
	keys := proof.Generate()
	waiting := testApproval(approvalA, approval.Input{})
	waiting.Rules = approval.RulesDelegation
	hs := newHarness(t, func(o *Options) { o.People, o.Proofs = store, keys }, waiting)
	hs.apps.proofs = keys

	assert.Contains(t, hs.command("U0BOB", "delegate carol").Text, "Usage")
	assert.Contains(t, hs.command("U0BOB", "delegate mallory until 3d").Text, "is not a Signoff user")
	assert.Contains(t, hs.command("U0BOB", "delegate carol until someday").Text, "is not a date")
	assert.Contains(t, hs.command("U0BOB", "delegate <@U0BOB|bob> until 3d").Text, "nobody delegates to themselves")

	day := time.Now().UTC().AddDate(0, 0, 10)
	msg := hs.command("U0BOB", "delegate <@U0CAROL|carol> until "+day.Format(time.DateOnly)+" covering my leave")
	through := time.Date(day.Year(), day.Month(), day.Day()+1, 0, 0, 0, 0, time.UTC)
	require.Contains(t, msg.Text, "✅ carol decides for you until "+through.Format("Mon 2 Jan 2006 15:04 MST"))
	assert.Contains(t, msg.Text, "They are asked on the 1 approval(s) waiting for you now.")
	got, err := hs.apps.Get(context.Background(), approvalA)
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"bob": "carol"}, got.Policy.Delegates)
	st, err := store.State(context.Background())
	require.NoError(t, err)
	require.Len(t, st.Delegations, 1)
	d := st.Delegations[0]
	assert.Equal(t, "bob", d.From)
	assert.Equal(t, "covering my leave", d.Reason)
	assert.Contains(t, hs.command("U0CAROL", "delegations").Text, "bob → carol")
	assert.Contains(t, hs.command("U0CAROL", "undelegate "+d.ID).Text, "only the person who delegated")
	assert.Contains(t, hs.command("U0BOB", "undelegate "+d.ID).Text, "✅ Delegation")
	assert.Equal(t, "No delegations by you or to you.", hs.command("U0BOB", "delegations").Text)
}
