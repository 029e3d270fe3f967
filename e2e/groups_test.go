package e2e

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signoff/signoff/config"
	"github.com/signoff/signoff/internal/testenv"
	"github.com/signoff/signoff/policy"
	"github.com/signoff/signoff/policy/regopolicy"
	pb "github.com/signoff/signoff/proto/signoff/v1"
)

// TestSlackUsergroupApprovers: a policy names a Slack user group as its
// approvers. The gateway reads the group's members from Slack when the
// approval is created (usergroups.users.list through slack-go against the
// fake Web API): dana, a member, is prompted and her decision counts;
// bob, who left the group before the request, is not an approver of it.
// The approval keeps who the group held and why. When Slack cannot answer,
// nothing is created (503) and nothing is lost: the retry creates it.
func TestSlackUsergroupApprovers(t *testing.T) {
	t.Parallel()
	f, env := startSlackFake(t)
	f.SetUsergroup("S0ONCALL", "U0DANA", "U0CAROL", "U0NOTAUSER")
	s := testenv.Start(t, testenv.Options{Env: env, Mutate: func(c *config.Loaded) {
		c.Notifiers = []string{"log", "slack"}
		c.Slack = config.Slack{TeamID: f.TeamID(), DefaultChannel: "#approvals", DMApprovers: true}
		pols := append([]policy.Policy{{
			Name: "oncall", Match: policy.Match{Environment: "oncall"},
			Approvers:         policy.Approvers{SlackUsergroups: []string{"S0ONCALL"}},
			RequiredApprovals: 1, Deadline: policy.Duration(time.Hour),
		}}, c.Config.Policies...)
		c.Config.Policies = pols
		set, err := policy.NewSet(pols, c.Directory, regopolicy.Check)
		require.NoError(t, err)
		c.Policies = set
	}})
	const create = `{"title":"Page the database on-call","environment":"oncall","request_id":"oncall-1"}`
	f.FailMethod("usergroups.users.list", "internal_error")
	code, body := s.Do(http.MethodPost, "/v1/approvals", "dev-alice", create)
	require.Equal(t, http.StatusServiceUnavailable, code, string(body))
	f.FailMethod("usergroups.users.list", "")

	code, body = s.Do(http.MethodPost, "/v1/approvals", "dev-alice", create)
	require.Equal(t, http.StatusOK, code, string(body))
	a := decodeApproval(t, body)
	assert.ElementsMatch(t, []string{"carol", "dana"}, a.GetApprovers(), "the group's configured members, read at creation")
	st := state(t, s, a.GetId())
	assert.Equal(t, []string{"carol", "dana"}, st.Policy.OutsideGroups["slack:S0ONCALL"])

	require.True(t, f.Wait(60*time.Second, func() bool {
		for _, m := range f.Messages() {
			if m.Requested == "U0DANA" {
				return true
			}
		}
		return false
	}), "dana was not prompted")

	decide := `{"decision":"DECISION_APPROVE","request_hash":"` + a.GetRequestHash() + `"}`
	code, body = s.Do(http.MethodPost, "/v1/approvals/"+a.GetId()+":decide", "dev-bob", decide)
	require.Equal(t, http.StatusNotFound, code, "bob is not in the group, so not an approver (nor a reader): %s", body)
	code, body = s.Do(http.MethodPost, "/v1/approvals/"+a.GetId()+":decide", "dev-dana", decide)
	require.Equal(t, http.StatusOK, code, string(body))
	require.Equal(t, pb.Status_STATUS_APPROVED, waitClosed(t, s, a.GetId()).GetStatus())
}
