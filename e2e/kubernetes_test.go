package e2e

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signoff/signoff/config"
	"github.com/signoff/signoff/internal/fakecloud"
	"github.com/signoff/signoff/internal/testenv"
	"github.com/signoff/signoff/policy"
	pb "github.com/signoff/signoff/proto/signoff/v1"
)

// TestKubernetesBinding: alice asks for the ClusterRole view on cluster
// prod for an hour, from her catalog; bob approves; a ClusterRoleBinding
// for alice, labelled with the approval, exists on the local API server
// (reached with the service-account token from the worker's environment).
// alice revokes it now and the binding is gone.
func TestKubernetesBinding(t *testing.T) {
	t.Parallel()
	kube := fakecloud.NewKubernetes(t, "sa-token-e2e")
	s := testenv.Start(t, testenv.Options{
		Env: map[string]string{"SIGNOFF_TEST_KUBE_TOKEN": "sa-token-e2e"},
		Mutate: func(c *config.Loaded) {
			c.Actions.Kubernetes.Clusters = map[string]config.KubernetesCluster{
				"prod": {Server: kube.URL, TokenEnv: "SIGNOFF_TEST_KUBE_TOKEN", ClusterRoles: []string{"view"}},
			}
			putPolicies(t, c, policy.Policy{
				Name: "cluster-access", Match: policy.Match{Environment: "kubernetes", Action: "kubernetes_rbac"},
				Approvers: policy.Approvers{Groups: []string{"platform"}}, RequiredApprovals: 1,
				Deadline: policy.Duration(time.Hour), MaxDuration: policy.Duration(2 * time.Hour),
			})
		},
	})
	code, body := s.Do(http.MethodGet, "/v1/catalog?action_type=kubernetes_rbac", "dev-alice", "")
	require.Equal(t, http.StatusOK, code, string(body))
	assert.Contains(t, string(body), "kubernetes_rbac:cluster=prod,role=view@kubernetes")

	code, body = s.Do(http.MethodPost, "/v1/approvals", "dev-alice", `{"title":"Look at prod","environment":"kubernetes",
		"duration":"1h","action":{"type":"kubernetes_rbac","params":{"cluster":"prod","role":"view","subject":"alice@example.com"}}}`)
	require.Equal(t, http.StatusOK, code, string(body))
	a := decodeApproval(t, body)
	code, body = s.Do(http.MethodPost, "/v1/approvals/"+a.GetId()+":decide", "dev-bob",
		`{"decision":"DECISION_APPROVE","request_hash":"`+a.GetRequestHash()+`"}`)
	require.Equal(t, http.StatusOK, code, string(body))

	get := func() *pb.Approval {
		code, body := s.Do(http.MethodGet, "/v1/approvals/"+a.GetId(), "dev-alice", "")
		require.Equal(t, http.StatusOK, code, string(body))
		return decodeApproval(t, body)
	}
	testenv.Eventually(t, 30*time.Second, "granted", func() bool { return get().GetStatus() == pb.Status_STATUS_GRANTED })
	bindings := kube.Bindings()
	require.Len(t, bindings, 1)
	b := bindings[0]
	assert.Empty(t, b.Namespace, "a ClusterRoleBinding")
	assert.Equal(t, "ClusterRole", b.RoleRef.Kind)
	assert.Equal(t, "view", b.RoleRef.Name)
	require.Len(t, b.Subjects, 1)
	assert.Equal(t, "User", b.Subjects[0].Kind)
	assert.Equal(t, "alice@example.com", b.Subjects[0].Name)
	assert.Equal(t, "signoff", b.Meta.Labels["app.kubernetes.io/managed-by"])
	assert.Equal(t, a.GetId(), b.Meta.Annotations["signoff.dev/approval"], "the approval that created it")

	code, body = s.Do(http.MethodPost, "/v1/approvals/"+a.GetId()+":revoke", "dev-alice", `{"reason":"done"}`)
	require.Equal(t, http.StatusOK, code, string(body))
	testenv.Eventually(t, 30*time.Second, "revoked", func() bool { return get().GetStatus() == pb.Status_STATUS_REVOKED })
	assert.Empty(t, kube.Bindings(), "the binding is deleted")
}
