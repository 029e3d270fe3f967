package e2e

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/signoff/signoff/activities/action"
	"github.com/signoff/signoff/channel/slack/slackfake"
	"github.com/signoff/signoff/config"
	"github.com/signoff/signoff/internal/fakecloud"
	"github.com/signoff/signoff/internal/testenv"
	pb "github.com/signoff/signoff/proto/signoff/v1"
)

// TestSeedScenarioExpiredKey is the product's first story end to end: a
// request to deactivate an expired access key → a Slack prompt with
// Deactivate / Keep → an approver clicks Deactivate → IAM sees exactly one
// UpdateAccessKey → the Slack thread says the key is inactive.
func TestSeedScenarioExpiredKey(t *testing.T) {
	actionEnv(t)
	iam := fakecloud.NewIAM(t, e2eAWSKeyID, e2eAWSSecret)
	const key = "AKIAE2EEXPIRED00CCCC"
	iam.AddKey("carol", key, "Active")
	gh := fakecloud.NewGitHub(t, e2eGitHubToken)

	f, env := startSlackFake(t)
	f.SetUser(slackUser("U0BOB", "bob@example.com", true))
	cloud := cloudConfig(iam.URL, gh.URL)
	s := testenv.Start(t, testenv.Options{Env: env, Mutate: func(c *config.Loaded) {
		cloud(c)
		c.Notifiers = []string{"slack"}
		c.Slack = config.Slack{TeamID: f.TeamID(), DefaultChannel: "#security-approvals"}
	}})

	code, body := s.Do(http.MethodPost, "/v1/approvals", "dev-alice", `{
		"request_id": "expired-key-`+key+`",
		"title": "Deactivate expired access key of carol",
		"environment": "aws", "resource": "iam/carol",
		"fields": {"access_key_id": "`+key+`", "age_days": "97"},
		"action": {"type": "`+action.IAMDeactivateKeyType+`", "params": {"user_name": "carol", "access_key_id": "`+key+`"}},
		"input": {"type": "button", "prompt": "Deactivate this key?", "options": [
			{"label": "Deactivate", "value": "deactivate", "style": "danger", "decision": "DECISION_APPROVE"},
			{"label": "Keep", "value": "keep", "decision": "DECISION_REJECT"}]}}`)
	require.Equal(t, http.StatusOK, code, string(body))
	id := decodeApproval(t, body).GetId()

	require.True(t, f.Wait(60*time.Second, func() bool { return len(f.Messages()) >= 1 }), "no prompt in Slack")
	prompt := f.Messages()[0]
	require.Contains(t, slackfake.Text(prompt.Blocks), "Deactivate expired access key of carol")
	deactivate, ok := slackfake.Find(prompt.Blocks, "Deactivate")
	require.True(t, ok, "the Deactivate option is a button")
	_, ok = slackfake.Find(prompt.Blocks, "Keep")
	require.True(t, ok, "the Keep option is a button")

	// A person clicks seconds later; wait until the workflow has recorded
	// where the prompt went, which is what the click is checked against.
	testenv.Eventually(t, 30*time.Second, "the prompt to be recorded", func() bool {
		code, body := s.Do(http.MethodGet, "/v1/approvals/"+id, "dev-bob", "")
		require.Equal(t, http.StatusOK, code, string(body))
		for _, e := range decodeApproval(t, body).GetEvents() {
			if e.GetKind() == "notified" {
				return true
			}
		}
		return false
	})
	click := slackfake.Click{TeamID: f.TeamID(), UserID: "U0BOB", ChannelID: prompt.Channel, MessageTS: prompt.TS,
		Blocks: prompt.Blocks, ResponseURL: f.ResponseURL(), Control: deactivate}
	require.Equal(t, http.StatusOK, postSlack(t, s, "/slack/interactions", slackSigningSecret,
		slackfake.InteractionBody(slackfake.BlockActions(click))))

	final := waitAction(t, s, id, 60*time.Second)
	require.Equal(t, pb.Status_STATUS_APPROVED, final.GetStatus())
	require.Equal(t, []string{"deactivate"}, final.GetDecisions()[0].GetValues())
	require.True(t, final.GetActionResult().GetSuccess(), final.GetActionResult().GetError())
	require.Len(t, iam.Calls("UpdateAccessKey"), 1, "IAM saw exactly one UpdateAccessKey")
	require.Equal(t, "Inactive", iam.Status(key))

	require.True(t, f.Wait(60*time.Second, func() bool { return len(f.Messages()) >= 2 && len(f.Updates()) >= 1 }),
		"no outcome in Slack")
	reply := f.Messages()[1]
	require.Equal(t, prompt.TS, reply.ThreadTS, "the result is a thread reply to the prompt")
	require.Contains(t, reply.Text, "now Inactive")
	require.NotContains(t, reply.Text, key, "the full key ID is masked")
	require.Empty(t, slackfake.Controls(f.Updates()[0].Blocks), "buttons are gone")
}
