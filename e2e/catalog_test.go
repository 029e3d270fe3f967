package e2e

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signoff/signoff/config"
	"github.com/signoff/signoff/internal/testenv"
	"github.com/signoff/signoff/policy"
	pb "github.com/signoff/signoff/proto/signoff/v1"
)

// TestCatalogDiffersAsTheConfigSays: the config can grant a PostgreSQL
// role and an IAM group. Only alice may request the role (requesters), and
// bob alone approves the group, so: alice's catalog has both, carol's the
// group, bob's nothing (he could never get the group approved). alice
// requests her catalog item as it says and the approval runs under its
// policy; carol asking for the role anyway is refused, 403, nothing
// started.
func TestCatalogDiffersAsTheConfigSays(t *testing.T) {
	t.Parallel()
	s := testenv.Start(t, testenv.Options{
		Mutate: func(c *config.Loaded) {
			c.Actions.Postgres.Targets = map[string]config.PostgresTarget{
				"orders": {URLEnv: "SIGNOFF_TEST_UNUSED_DB_URL", Roles: []string{"orders_read"}},
			}
			c.Actions.AWSIAM.Groups = []string{"auditors"}
			putPolicies(t, c, policy.Policy{
				Name: "database-access", Match: policy.Match{Environment: "database", Action: "postgres_role"},
				Requesters: policy.Requesters{Users: []string{"alice"}},
				Approvers:  policy.Approvers{Groups: []string{"platform"}}, RequiredApprovals: 1,
				Deadline: policy.Duration(time.Hour), MaxDuration: policy.Duration(2 * time.Hour),
			}, policy.Policy{
				Name: "iam-access", Match: policy.Match{Environment: "database", Action: "aws_iam_group"},
				Approvers: policy.Approvers{Users: []string{"bob"}}, RequiredApprovals: 1, RequireJustification: true,
				Deadline: policy.Duration(time.Hour), MaxDuration: policy.Duration(time.Hour),
			})
		},
	})
	catalogOf := func(token, query string) []*pb.CatalogItem {
		t.Helper()
		code, body := s.Do(http.MethodGet, "/v1/catalog"+query, token, "")
		require.Equal(t, http.StatusOK, code, string(body))
		var out pb.ListCatalogResponse
		require.NoError(t, protojsonUnmarshal(body, &out), string(body))
		return out.GetItems()
	}
	ids := func(items []*pb.CatalogItem) []string {
		var out []string
		for _, it := range items {
			out = append(out, it.GetId())
		}
		return out
	}
	const role, group = "postgres_role:role=orders_read,target=orders@database", "aws_iam_group:group=auditors@database"
	alice := catalogOf("dev-alice", "")
	assert.Equal(t, []string{group, role}, ids(alice))
	assert.Equal(t, []string{group}, ids(catalogOf("dev-carol", "")))
	assert.Empty(t, catalogOf("dev-bob", ""), "bob could never get the group approved, and may not ask for the role")
	assert.Equal(t, []string{role}, ids(catalogOf("dev-alice", "?environment=database&action_type=postgres_role")))
	assert.Empty(t, catalogOf("dev-alice", "?environment=production"), "production's policy grants nothing")

	it := alice[1]
	assert.Equal(t, "database-access", it.GetPolicyName())
	assert.Equal(t, "2h", it.GetMaxDuration())
	require.Len(t, it.GetStages(), 1)
	assert.Equal(t, []string{"bob", "carol"}, it.GetStages()[0].GetApprovers())
	require.Len(t, it.GetAsk(), 1)
	assert.Equal(t, "user", it.GetAsk()[0].GetParam())
	assert.True(t, alice[0].GetRequireJustification())

	// signoff catalog says the same, with the request that asks for each.
	res := runCLI(t, cliEnv(s, "dev-alice"), "catalog", "--environment", "database")
	require.Equal(t, 0, res.code, res.stderr)
	assert.Contains(t, res.stdout, "PostgreSQL role orders_read on orders")
	assert.Contains(t, res.stdout, "1 of bob, carol")
	assert.Contains(t, res.stdout, "--environment database --action postgres_role --param role=orders_read --param target=orders --param user=<user> --duration <up to 2h>")
	res = runCLI(t, cliEnv(s, "dev-bob"), "catalog")
	require.Equal(t, 0, res.code, res.stderr)
	assert.Contains(t, res.stderr, "nothing you may request here")

	// alice asks for the item as the catalog describes it.
	code, body := s.Do(http.MethodPost, "/v1/approvals", "dev-alice", `{"title":"Read orders","environment":"`+it.GetEnvironment()+`",
		"duration":"90m","action":{"type":"`+it.GetAction().GetType()+`","params":{"target":"orders","role":"orders_read","user":"alice_login"}}}`)
	require.Equal(t, http.StatusOK, code, string(body))
	a := decodeApproval(t, body)
	assert.Equal(t, "database-access", a.GetPolicyName())
	assert.Equal(t, pb.Status_STATUS_PENDING, a.GetStatus())

	// carol may not ask for what is not in her catalog.
	code, body = s.Do(http.MethodPost, "/v1/approvals", "dev-carol", `{"title":"Read orders","environment":"database",
		"duration":"90m","action":{"type":"postgres_role","params":{"target":"orders","role":"orders_read","user":"carol_login"}}}`)
	require.Equal(t, http.StatusForbidden, code, string(body))
	assert.True(t, strings.Contains(string(body), `lets only alice request it`), string(body))
	code, body = s.Do(http.MethodGet, "/v1/approvals?environment=database", "dev-carol", "")
	require.Equal(t, http.StatusOK, code, string(body))
	assert.NotContains(t, string(body), "carol_login", "carol's refused request started nothing")
}
