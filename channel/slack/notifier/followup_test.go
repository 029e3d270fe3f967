package notifier

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signoff/signoff/activities"
	"github.com/signoff/signoff/approval"
	"github.com/signoff/signoff/channel/slack/slackfake"
)

var _ activities.FollowUp = (*Notifier)(nil)

// TestEscalateReachesTheLevelsChannelsAndPeople: an escalation posts the
// prompt to its channels and to the people it notifies or adds, who get
// working buttons; the prompts are returned so the outcome updates them.
func TestEscalateReachesTheLevelsChannelsAndPeople(t *testing.T) {
	f := slackfake.New()
	defer f.Close()
	n := newNotifier(t, f, prodConfig, f.Token())
	st := pending(ids[0])
	esc := approval.Escalation{After: time.Hour, Notify: approval.Targets{Channels: []string{"#oncall"}, Users: []string{"carol"}},
		AddApprovers: []string{"carol", "dave"}}
	d, err := n.Escalate(context.Background(), st, esc)
	require.NoError(t, err)
	msgs := f.Messages()
	require.Len(t, msgs, 2, "dave has no slack_id; carol is told once")
	assert.Equal(t, []string{"#oncall", "U0CAROL"}, []string{msgs[0].Requested, msgs[1].Requested})
	assert.Equal(t, []string{"slack:#oncall", "slack:@carol"}, d.Targets)
	require.Len(t, d.Messages, 2)
	_, ok := slackfake.Find(msgs[0].Blocks, "Approve")
	assert.True(t, ok, "the escalated prompt can be decided from")
}

// TestBreakGlassAlertsChannelAndApprovers: break-glass is told at once to
// the policy's channel and every approver, with who and why.
func TestBreakGlassAlertsChannelAndApprovers(t *testing.T) {
	f := slackfake.New()
	defer f.Close()
	n := newNotifier(t, f, prodConfig, f.Token())
	st := pending(ids[1])
	st.Policy.Enforcement = approval.EnforcementSoft
	require.NoError(t, st.Bypass(approval.Actor{User: "alice"}, "prod is down <!channel>", time.Now()))
	d, err := n.BreakGlass(context.Background(), st)
	require.NoError(t, err)
	msgs := f.Messages()
	require.Len(t, msgs, 3)
	for _, m := range msgs {
		assert.Contains(t, m.Text, "Break-glass: alice bypassed approval of *Deploy api*")
		assert.NotContains(t, m.Text, "<!channel>", "user text is escaped")
		assert.Empty(t, slackfake.Controls(m.Blocks))
	}
	assert.Empty(t, d.Messages, "alerts are not prompts to update")
}
