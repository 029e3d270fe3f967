package e2e

import (
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"testing"
	"time"

	"github.com/oauth2-proxy/mockoidc"
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

// TestIdentityProviderGroupsDriveApprovers: a policy names a group of the
// identity provider. Nobody has signed in with it yet, so a request under
// it has no approvers and is refused. Bob signs in and the provider's
// groups claim puts him in the group: the next request has him as its
// approver, and the approval keeps why. When the provider drops him from
// the group, his next sign-in says so: later requests no longer count on
// him, and since the policy rechecks groups, his decision on the approval
// made while he was in is refused (left_group) and recorded.
func TestIdentityProviderGroupsDriveApprovers(t *testing.T) {
	t.Parallel()
	idp, err := mockoidc.Run()
	require.NoError(t, err)
	t.Cleanup(func() { _ = idp.Shutdown() })
	client := idp.Config()
	s := testenv.Start(t, testenv.Options{
		Mutate: func(c *config.Loaded) {
			c.OIDC = config.OIDC{Issuer: idp.Issuer(), Audience: client.ClientID, ClientID: client.ClientID,
				UserClaim: config.OIDCClaimEmail, GroupsClaim: "groups", Scopes: []string{"openid", "email", "groups"}}
			pols := append([]policy.Policy{{
				Name: "database", Match: policy.Match{Environment: "database"},
				Approvers:         policy.Approvers{OIDCGroups: []string{"db-oncall"}},
				RequiredApprovals: 1, Deadline: policy.Duration(time.Hour), RecheckGroups: true,
			}}, c.Config.Policies...)
			c.Config.Policies = pols
			set, err := policy.NewSet(pols, c.Directory, regopolicy.Check)
			require.NoError(t, err)
			c.Policies = set
		},
		Env: map[string]string{config.EnvSessionKey: testSessionKey, config.EnvOIDCClientSecret: client.ClientSecret},
	})
	create := func() (int, *pb.Approval) {
		code, body := s.Do(http.MethodPost, "/v1/approvals", "dev-alice", `{"title":"Vacuum the orders table","environment":"database"}`)
		if code != http.StatusOK {
			return code, nil
		}
		return code, decodeApproval(t, body)
	}
	signIn := func(groups ...string) {
		idp.QueueUser(&mockoidc.MockUser{Subject: "idp-bob", Email: "bob@example.com", EmailVerified: true, Groups: groups})
		jar, err := cookiejar.New(nil)
		require.NoError(t, err)
		resp, err := (&http.Client{Jar: jar, Timeout: 20 * time.Second}).Get(s.HTTPURL + "/auth/start")
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode, "bob lands on his inbox")
	}

	code, _ := create()
	require.Equal(t, http.StatusForbidden, code, "no one is known to be in db-oncall yet")

	signIn("db-oncall", "engineering")
	code, a := create()
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, []string{"bob"}, a.GetApprovers())
	require.Equal(t, []string{"bob"}, state(t, s, a.GetId()).Policy.OutsideGroups["oidc:db-oncall"])

	signIn("engineering")
	code, _ = create()
	require.Equal(t, http.StatusForbidden, code, "bob left db-oncall")
	require.Equal(t, []string{"bob"}, state(t, s, a.GetId()).Policy.Approvers, "the earlier approval keeps its snapshot")
	decide := fmt.Sprintf(`{"decision":"DECISION_APPROVE","request_hash":%q}`, a.GetRequestHash())
	code, body := s.Do(http.MethodPost, "/v1/approvals/"+a.GetId()+":decide", "dev-bob", decide)
	require.Equal(t, http.StatusForbidden, code, string(body))
	require.Contains(t, string(body), "no longer in the group that made them an approver")

	signIn("db-oncall")
	code, body = s.Do(http.MethodPost, "/v1/approvals/"+a.GetId()+":decide", "dev-bob", decide)
	require.Equal(t, http.StatusOK, code, "back in the group: %s", body)
}
