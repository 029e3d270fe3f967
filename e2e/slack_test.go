package e2e

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signoff/signoff/channel/slack/slackfake"
	"github.com/signoff/signoff/config"
	"github.com/signoff/signoff/internal/testenv"
	"github.com/signoff/signoff/policy"
	"github.com/signoff/signoff/policy/regopolicy"
	pb "github.com/signoff/signoff/proto/signoff/v1"
)

const slackSigningSecret = "e2e-signing-secret-4f1c9a7d2b"

// postSlack posts a form body to the gateway signed as Slack signs it
// (signature computed with the secret, or forged with another).
func postSlack(t *testing.T, s *testenv.Stack, path, secret, body string) int {
	t.Helper()
	req, err := slackfake.Request(s.HTTPURL+path, secret, body)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	return resp.StatusCode
}

// slackResponse waits for the message the gateway posts to a response_url.
func slackResponse(t *testing.T, f *slackfake.Server, responseURL string) string {
	t.Helper()
	var text string
	ok := f.Wait(30*time.Second, func() bool {
		for _, r := range f.Responses() {
			if strings.HasSuffix(responseURL, r.Path) {
				text = r.Message.Text
				return true
			}
		}
		return false
	})
	require.True(t, ok, "nothing posted to %s", responseURL)
	return text
}

// TestSlack drives an approval through Slack as people use it: the prompt
// is posted to the policy's channel and each approver's DM, clicks arrive
// as Slack sends them (signed form field `payload`), a stranger's click is
// refused but recorded, a forged one is turned away, and after the quorum
// every prompt is updated and the action's result replied in thread.
func TestSlack(t *testing.T) {
	t.Parallel()
	f, env := startSlackFake(t)
	for _, u := range []slack.User{
		slackUser("U0ALICE", "alice@example.com", true),
		slackUser("U0BOB", "bob@example.com", true),
		slackUser("U0CAROL", "carol@example.com", true),
		slackUser("U0EVE", "eve@example.org", true),
	} {
		f.SetUser(u)
	}
	s := testenv.Start(t, testenv.Options{Env: env, Mutate: func(c *config.Loaded) {
		c.Notifiers = []string{"log", "slack"}
		c.Slack = config.Slack{
			TeamID:         f.TeamID(),
			DefaultChannel: "#approvals",
			PolicyChannels: map[string]string{"production": "#production-approvals"},
			DMApprovers:    true,
		}
	}})

	code, body := s.Do(http.MethodPost, "/v1/approvals", "dev-alice",
		`{"request_id":"slack-e2e-1","title":"Deploy api v2.4.0","environment":"production","resource":"api","fields":{"version":"2.4.0"}}`)
	require.Equal(t, http.StatusOK, code, string(body))
	id := decodeApproval(t, body).GetId()

	require.True(t, f.Wait(60*time.Second, func() bool { return len(f.Messages()) >= 3 }), "prompts not posted")
	prompts := f.Messages()
	require.Len(t, prompts, 3)
	byTarget := map[string]slackfake.Message{}
	for _, m := range prompts {
		byTarget[m.Requested] = m
		assert.Equal(t, "false", m.UnfurlLinks)
		assert.Contains(t, slackfake.Text(m.Blocks), "0 of 2 approvals")
		assert.NotContains(t, string(m.Blocks), f.Token())
	}
	channel, ok := byTarget["#production-approvals"]
	require.True(t, ok, "the production policy's channel gets the prompt: %v", byTarget)
	carolDM, ok := byTarget["U0CAROL"]
	require.True(t, ok, "carol gets a DM")
	approve, ok := slackfake.Find(channel.Blocks, "Approve")
	require.True(t, ok)
	assert.Equal(t, "signoff:approve:"+id, approve.ActionID)

	clickOn := func(m slackfake.Message, user string) slackfake.Click {
		c, ok := slackfake.Find(m.Blocks, "Approve")
		require.True(t, ok)
		return slackfake.Click{TeamID: f.TeamID(), UserID: user, ChannelID: m.Channel, MessageTS: m.TS,
			Blocks: m.Blocks, ResponseURL: f.ResponseURL(), Control: c}
	}
	decisions := func() []*pb.DecisionAttempt {
		code, body := s.Do(http.MethodGet, "/v1/approvals/"+id, "dev-alice", "")
		require.Equal(t, http.StatusOK, code, string(body))
		return decodeApproval(t, body).GetDecisions()
	}

	// Bob approves in the channel: counted, and he is told so.
	bob := clickOn(channel, "U0BOB")
	require.Equal(t, http.StatusOK, postSlack(t, s, "/slack/interactions", slackSigningSecret,
		slackfake.InteractionBody(slackfake.BlockActions(bob))))
	assert.Equal(t, "✅ Counted: you approved *Deploy api v2.4.0*. (1 of 2 approvals)", slackResponse(t, f, bob.ResponseURL))

	// A stranger's click is refused, told why, and kept in the audit trail.
	eve := clickOn(channel, "U0EVE")
	require.Equal(t, http.StatusOK, postSlack(t, s, "/slack/interactions", slackSigningSecret,
		slackfake.InteractionBody(slackfake.BlockActions(eve))))
	assert.Contains(t, slackResponse(t, f, eve.ResponseURL), "❌ Not counted: your Slack account is not linked")

	// A forged click (wrong secret) is refused at the door.
	forged := clickOn(carolDM, "U0CAROL")
	require.Equal(t, http.StatusUnauthorized, postSlack(t, s, "/slack/interactions", "not-the-secret",
		slackfake.InteractionBody(slackfake.BlockActions(forged))))

	ds := decisions()
	require.Len(t, ds, 2, "the forged click left no trace")
	assert.Equal(t, "bob", ds[0].GetUser())
	assert.True(t, ds[0].GetAccepted())
	assert.Equal(t, "slack:"+channel.Channel, ds[0].GetChannel())
	assert.Equal(t, "slack:U0EVE", ds[1].GetUser())
	assert.False(t, ds[1].GetAccepted())

	// `/signoff list` shows carol what waits for her, with its buttons
	// (read from Temporal visibility, eventually consistent).
	testenv.Eventually(t, 30*time.Second, "/signoff list to show the approval", func() bool {
		cmd := slackfake.Command{TeamID: f.TeamID(), UserID: "U0CAROL", ChannelID: channel.Channel, Text: "list", ResponseURL: f.ResponseURL()}
		req, err := slackfake.Request(s.HTTPURL+"/slack/commands", slackSigningSecret, cmd.Form().Encode())
		require.NoError(t, err)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		var msg slack.WebhookMessage
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&msg))
		if msg.Blocks == nil {
			return false
		}
		b, _ := json.Marshal(msg.Blocks)
		c, ok := slackfake.Find(b, "Approve")
		return ok && c.ActionID == "signoff:approve:"+id
	})

	// Carol approves from her DM: the quorum is reached.
	carol := clickOn(carolDM, "U0CAROL")
	require.Equal(t, http.StatusOK, postSlack(t, s, "/slack/interactions", slackSigningSecret,
		slackfake.InteractionBody(slackfake.BlockActions(carol))))
	assert.Contains(t, slackResponse(t, f, carol.ResponseURL), "The approval is now *Approved*")

	// Every prompt is updated (buttons gone, outcome shown) and the
	// channel's thread gets the action's result.
	require.True(t, f.Wait(60*time.Second, func() bool {
		return len(f.Updates()) >= 3 && len(f.Messages()) >= 4
	}), "outcome not posted: %d updates, %d messages", len(f.Updates()), len(f.Messages()))
	updated := map[string]bool{}
	for _, u := range f.Updates() {
		updated[u.Channel+":"+u.TS] = true
		assert.Empty(t, slackfake.Controls(u.Blocks))
		assert.Contains(t, slackfake.Text(u.Blocks), "✅ *Approved* by <@U0BOB> and <@U0CAROL> at ")
	}
	for _, m := range prompts {
		assert.True(t, updated[m.Channel+":"+m.TS], "prompt %s not updated", m.Requested)
	}
	reply := f.Messages()[3]
	assert.Equal(t, channel.Channel, reply.Channel)
	assert.Equal(t, channel.TS, reply.ThreadTS)
	assert.Contains(t, reply.Text, "Action `noop` succeeded")

	code, body = s.Do(http.MethodGet, "/v1/approvals/"+id, "dev-alice", "")
	require.Equal(t, http.StatusOK, code)
	final := decodeApproval(t, body)
	assert.Equal(t, pb.Status_STATUS_APPROVED, final.GetStatus())
	assert.Equal(t, []string{"bob", "carol"}, final.GetApprovedBy())
	assert.Len(t, final.GetDecisions(), 3)
}

// TestSlackClickRunsRego: a policy's Rego module sees the clicker's Slack
// account; a click it denies is refused with its verdict, one it allows
// counts.
func TestSlackClickRunsRego(t *testing.T) {
	t.Parallel()
	f, env := startSlackFake(t)
	f.SetUser(slackUser("U0BOB", "bob@example.com", true))
	f.SetUser(slackUser("U0CAROL", "carol@example.com", false))
	s := testenv.Start(t, testenv.Options{Env: env, Mutate: func(c *config.Loaded) {
		c.Notifiers = []string{"slack"}
		c.Slack = config.Slack{TeamID: f.TeamID(), DefaultChannel: "#approvals"}
		pols := append([]policy.Policy{{
			Name: "regulated", Match: policy.Match{Environment: "regulated"}, Approvers: policy.Approvers{Groups: []string{"platform"}},
			RequiredApprovals: 1, Deadline: policy.Duration(time.Hour),
			Rego: "package signoff\nallow if input.decider.slack.has_2fa\n" +
				"deny contains \"decide in Slack with 2FA\" if not input.decider.slack.has_2fa\n",
		}}, c.Config.Policies...)
		c.Config.Policies = pols
		set, err := policy.NewSet(pols, c.Directory, regopolicy.Check)
		require.NoError(t, err)
		c.Policies = set
	}})
	code, body := s.Do(http.MethodPost, "/v1/approvals", "dev-alice", `{"title":"Open the audit bucket","environment":"regulated"}`)
	require.Equal(t, http.StatusOK, code, string(body))
	id := decodeApproval(t, body).GetId()
	require.True(t, f.Wait(60*time.Second, func() bool { return len(f.Messages()) >= 1 }), "no prompt")
	prompt := f.Messages()[0]
	approve, ok := slackfake.Find(prompt.Blocks, "Approve")
	require.True(t, ok)
	clickAs := func(user string) slackfake.Click {
		c := slackfake.Click{TeamID: f.TeamID(), UserID: user, ChannelID: prompt.Channel, MessageTS: prompt.TS,
			Blocks: prompt.Blocks, ResponseURL: f.ResponseURL(), Control: approve}
		require.Equal(t, http.StatusOK, postSlack(t, s, "/slack/interactions", slackSigningSecret,
			slackfake.InteractionBody(slackfake.BlockActions(c))))
		return c
	}

	carol := clickAs("U0CAROL")
	assert.Contains(t, slackResponse(t, f, carol.ResponseURL), "❌ Not counted: denied by the approval policy: decide in Slack with 2FA")
	bob := clickAs("U0BOB")
	assert.Contains(t, slackResponse(t, f, bob.ResponseURL), "The approval is now *Approved*")

	final := waitClosed(t, s, id)
	require.Equal(t, pb.Status_STATUS_APPROVED, final.GetStatus())
	d := final.GetDecisions()
	require.Len(t, d, 2)
	assert.Equal(t, "carol", d[0].GetUser())
	assert.False(t, d[0].GetAccepted())
	assert.Equal(t, "rego: deny: [decide in Slack with 2FA]", d[0].GetVerdict())
	assert.Equal(t, "bob", d[1].GetUser())
	assert.Equal(t, "rego: allow", d[1].GetVerdict())
}
