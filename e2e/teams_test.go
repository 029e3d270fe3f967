package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	teamscallbacks "github.com/signoff/signoff/channel/teams/callbacks"
	"github.com/signoff/signoff/channel/teams/teamsfake"
	"github.com/signoff/signoff/channel/teams/teamsmsg"
	"github.com/signoff/signoff/config"
	"github.com/signoff/signoff/internal/testenv"
	pb "github.com/signoff/signoff/proto/signoff/v1"
)

const (
	teamsChannel  = "19:production-approvals@thread.tacv2"
	teamsAliceOID = "11111111-0000-4000-8000-0000000a11ce"
	teamsBobOID   = "11111111-0000-4000-8000-00000000b0b0"
	teamsCarolOID = "11111111-0000-4000-8000-0000000ca201"
)

// teamsStack is the stack with the Teams notifier and bot endpoint on
// fake Teams f: alice and bob have a teams_id, carol is known by email.
func teamsStack(t *testing.T, f *teamsfake.Server) *testenv.Stack {
	t.Helper()
	env := map[string]string{config.DefaultTeamsAppPasswordEnv: f.AppPassword()}
	setEnv(t, env) // the gateway reads the environment at start
	yaml := testenv.StackConfig
	for _, s := range []string{"notifiers: [log]", "slack_id: U0ALICE\n", "slack_id: U0BOB\n"} {
		require.Contains(t, yaml, s)
	}
	yaml = strings.Replace(yaml, "notifiers: [log]", "notifiers: [log, teams]\n"+teamsSection(f)+"  dm_approvers: true\n", 1)
	yaml = strings.Replace(yaml, "slack_id: U0ALICE\n", "slack_id: U0ALICE\n    teams_id: "+teamsAliceOID+"\n", 1)
	yaml = strings.Replace(yaml, "slack_id: U0BOB\n", "slack_id: U0BOB\n    teams_id: "+teamsBobOID+"\n", 1)
	return testenv.Start(t, testenv.Options{ConfigYAML: yaml, Env: env})
}

// teamsSection is the config's teams section for fake Teams f, prompts
// going to teamsChannel.
func teamsSection(f *teamsfake.Server) string {
	return fmt.Sprintf("teams:\n  app_id: %s\n  tenant_id: %s\n  service_url: %s\n  token_url: %s\n  openid_metadata_url: %s\n  default_conversation: %q\n",
		f.AppID(), f.TenantID(), f.ServiceURL(), f.TokenURL(), f.OpenIDMetadataURL(), teamsChannel)
}

// cardData is what a card's first Action.Execute carries.
func cardData(t *testing.T, m teamsfake.Message) (map[string]any, string) {
	t.Helper()
	require.Len(t, m.Activity.Attachments, 1)
	raw, err := json.Marshal(m.Activity.Attachments[0].Content)
	require.NoError(t, err)
	var card struct {
		Actions []struct {
			Type string         `json:"type"`
			Data map[string]any `json:"data"`
		} `json:"actions"`
	}
	require.NoError(t, json.Unmarshal(raw, &card))
	for _, a := range card.Actions {
		if a.Type == "Action.Execute" {
			return a.Data, string(raw)
		}
	}
	return nil, string(raw)
}

// TestTeamsApprovalThroughCards: a production approval is prompted in the
// Teams channel and in bob's personal chat; forged activities are refused
// at the door; the requester's and a stranger's clicks are refused and
// recorded; bob (by Entra object ID) and carol (by email, through the
// members API) approve from their cards, each told at once; bob's click
// delivered twice counts once; every card then shows the outcome without
// buttons. All through the real Bot Connector client, token endpoint and
// Bot Framework JWT verification against fake Teams.
func TestTeamsApprovalThroughCards(t *testing.T) {
	f := teamsfake.New(teamsfake.Options{})
	t.Cleanup(f.Close)
	f.AddChannel(teamsChannel)
	alice := teamsfake.User{TeamsID: "29:alice", AADObjectID: teamsAliceOID, Name: "Alice", Email: "alice@example.com"}
	bob := teamsfake.User{TeamsID: "29:bob", AADObjectID: teamsBobOID, Name: "Bob", Email: "bob@example.com"}
	carol := teamsfake.User{TeamsID: "29:carol", AADObjectID: teamsCarolOID, Name: "Carol", Email: "carol@example.com"}
	mallory := teamsfake.User{TeamsID: "29:mallory", AADObjectID: "11111111-0000-4000-8000-0000000bad00", Name: "Mallory", Email: "mallory@example.org"}
	for _, u := range []teamsfake.User{alice, bob, carol, mallory} {
		f.AddUser(u)
	}
	s := teamsStack(t, f)
	endpoint := s.HTTPURL + teamscallbacks.PathMessages

	code, body := s.Do(http.MethodPost, "/v1/approvals", "dev-alice",
		`{"request_id":"teams-e2e-1","title":"Deploy api v2.5.0","environment":"production","resource":"api",
		  "action":{"type":"noop"},"fields":{"version":"2.5.0"}}`)
	require.Equal(t, http.StatusOK, code, string(body))
	id := decodeApproval(t, body).GetId()

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	msgs, err := f.WaitMessages(ctx, 2)
	require.NoError(t, err, "the channel and bob's chat get a card")
	require.Len(t, msgs, 2, "carol has no teams_id: no personal message")
	var inChannel, bobChat teamsfake.Message
	for _, m := range msgs {
		if m.ConversationID == teamsChannel {
			inChannel = m
		} else {
			bobChat = m
		}
	}
	require.Equal(t, teamsChannel, inChannel.ConversationID)
	require.NotEmpty(t, bobChat.ConversationID)
	data, card := cardData(t, inChannel)
	require.Equal(t, id, data[teamsmsg.DataApprovalID])
	assert.Contains(t, card, "Deploy api v2.5.0")
	assert.Contains(t, card, "Action: noop → nothing runs")
	assert.Contains(t, card, "0 of 2 approvals")
	assert.NotContains(t, card, f.AppPassword())

	click := func(u teamsfake.User, conv, activityID, verb string, opts ...teamsfake.InvokeOption) (int, string) {
		t.Helper()
		d := map[string]any{}
		for k, v := range data {
			d[k] = v
		}
		raw, _ := json.Marshal(d)
		status, body, err := f.Invoke(ctx, endpoint, u, conv, teamsmsg.ActionInvokeValue{
			Action: teamsmsg.ExecuteAction{Type: "Action.Execute", Verb: verb, Data: raw}, Trigger: "manual"},
			append([]teamsfake.InvokeOption{teamsfake.WithActivityID(activityID)}, opts...)...)
		require.NoError(t, err)
		return status, string(body)
	}
	channelReply := teamsChannel + ";messageid=" + inChannel.ActivityID

	// Forged activities never get in.
	for name, opt := range map[string]teamsfake.InvokeOption{
		"a key the Bot Framework does not list": teamsfake.WithForeignKey(),
		"a key not endorsed for Teams":          teamsfake.WithUnendorsedKey(),
		"alg none":                              teamsfake.WithAlgNone(),
		"no token":                              teamsfake.WithoutAuth(),
	} {
		status, _ := click(bob, bobChat.ConversationID, "forged-"+name, teamsmsg.VerbApprove, opt)
		assert.Equal(t, http.StatusUnauthorized, status, name)
	}

	// The requester and a stranger: refused, told why, recorded.
	_, answer := click(alice, channelReply, "alice-1", teamsmsg.VerbApprove)
	assert.Contains(t, answer, "❌ Not counted: the requester may not decide their own request")
	_, answer = click(mallory, channelReply, "mallory-1", teamsmsg.VerbApprove)
	assert.Contains(t, answer, "❌ Not counted: your Teams account is not linked to a Signoff user")

	// bob approves in his chat; Teams delivers his click twice.
	for range 2 {
		_, answer = click(bob, bobChat.ConversationID, "bob-1", teamsmsg.VerbApprove)
		assert.Contains(t, answer, "✅ Counted: you approved this request.")
		assert.Contains(t, answer, "1 of 2 approvals")
	}
	// carol, known by email, approves in the channel.
	_, answer = click(carol, channelReply, "carol-1", teamsmsg.VerbApprove)
	assert.Contains(t, answer, "✅ Counted: you approved this request.")
	assert.Contains(t, answer, "Approved by bob and carol")

	// Every card Signoff posted shows the outcome, without buttons.
	require.NoError(t, f.Wait(ctx, func() bool {
		for _, m := range f.Messages() {
			if m.Updates == 0 {
				return false
			}
		}
		return true
	}), "cards updated with the outcome")
	for _, m := range f.Messages() {
		d, card := cardData(t, m)
		assert.Nil(t, d, "no buttons left")
		assert.Contains(t, card, "Approved by bob and carol")
	}

	code, body = s.Do(http.MethodGet, "/v1/approvals/"+id, "dev-alice", "")
	require.Equal(t, http.StatusOK, code, string(body))
	a := decodeApproval(t, body)
	assert.Equal(t, pb.Status_STATUS_APPROVED, a.GetStatus())
	ds := a.GetDecisions()
	require.Len(t, ds, 4, "forged activities left no trace; bob's redelivery counted once")
	want := []struct {
		user     string
		accepted bool
	}{{"alice", false}, {"teams:" + mallory.AADObjectID, false}, {"bob", true}, {"carol", true}}
	for i, w := range want {
		assert.Equal(t, w.user, ds[i].GetUser(), "decision %d", i)
		assert.Equal(t, w.accepted, ds[i].GetAccepted(), "decision %d", i)
		assert.Equal(t, "teams", ds[i].GetChannel(), "decision %d", i)
	}
}
