package e2e

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/api/workflowservice/v1"

	"github.com/signoff/signoff/config"
	"github.com/signoff/signoff/grantlease"
	"github.com/signoff/signoff/intake"
	"github.com/signoff/signoff/internal/testenv"
	"github.com/signoff/signoff/policy"
	pb "github.com/signoff/signoff/proto/signoff/v1"
	"github.com/signoff/signoff/workflows"
)

// TestGrantRevokedAfterWorkflowTerminated: alice is granted a PostgreSQL
// role for an hour; an operator terminates the approval's workflow in
// Temporal, which no workflow code can handle. The grant reconciler (every
// 10 s here) revokes the role within a bounded wait, through the action's
// own revoke, and lets go of the lease; the record of it is the grant's
// ReconcileGrantWorkflow, the log warns with the approval's ID, the
// counter says one. A later pass leaves it alone.
func TestGrantRevokedAfterWorkflowTerminated(t *testing.T) {
	t.Parallel()
	admin := openPostgres(t)
	suffix := intake.NewID()[:8]
	role, login := "recon_read_"+suffix, "recon_user_"+suffix
	for _, q := range []string{`CREATE ROLE ` + role + ` NOLOGIN`, `CREATE ROLE ` + login + ` LOGIN`} {
		_, err := admin.Exec(q)
		require.NoError(t, err, q)
	}
	t.Cleanup(func() {
		for _, q := range []string{`DROP ROLE ` + login, `DROP ROLE ` + role} {
			_, _ = admin.Exec(q)
		}
	})
	member := func() bool {
		var n int
		require.NoError(t, admin.QueryRow(`SELECT count(*) FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.roleid
			JOIN pg_roles u ON u.oid = m.member WHERE r.rolname = $1 AND u.rolname = $2`, role, login).Scan(&n))
		return n > 0
	}
	s := testenv.Start(t, testenv.Options{
		Env: map[string]string{"SIGNOFF_TEST_GRANT_DB_URL": postgresURL()},
		Mutate: func(c *config.Loaded) {
			c.Worker.ReconcileInterval = policy.Duration(config.MinReconcileInterval)
			c.Actions.Postgres.Targets = map[string]config.PostgresTarget{
				"orders": {URLEnv: "SIGNOFF_TEST_GRANT_DB_URL", Roles: []string{role}},
			}
			putPolicies(t, c, policy.Policy{
				Name: "database-access", Match: policy.Match{Environment: "database"},
				Approvers: policy.Approvers{Groups: []string{"platform"}}, RequiredApprovals: 1,
				Deadline: policy.Duration(time.Hour), MaxDuration: policy.Duration(2 * time.Hour),
			})
		},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	code, body := s.Do(http.MethodPost, "/v1/approvals", "dev-alice", `{"title":"Read the orders table","environment":"database",
		"duration":"1h","action":{"type":"postgres_role","params":{"target":"orders","role":"`+role+`","user":"`+login+`"}}}`)
	require.Equal(t, http.StatusOK, code, string(body))
	a := decodeApproval(t, body)
	code, body = s.Do(http.MethodPost, "/v1/approvals/"+a.GetId()+":decide", "dev-bob",
		fmt.Sprintf(`{"decision":"DECISION_APPROVE","request_hash":%q}`, a.GetRequestHash()))
	require.Equal(t, http.StatusOK, code, string(body))
	testenv.Eventually(t, 60*time.Second, "the role is granted", func() bool {
		code, body := s.Do(http.MethodGet, "/v1/approvals/"+a.GetId(), "dev-alice", "")
		require.Equal(t, http.StatusOK, code, string(body))
		return decodeApproval(t, body).GetStatus() == pb.Status_STATUS_GRANTED && member()
	})

	// The operator's terminate: the workflow ends where it stands, with
	// its revoke an hour away.
	wid := workflows.ApprovalWorkflowID(a.GetId())
	desc, err := s.Client.DescribeWorkflowExecution(ctx, wid, "")
	require.NoError(t, err)
	runID := desc.GetWorkflowExecutionInfo().GetExecution().GetRunId()
	require.NoError(t, s.Client.TerminateWorkflow(ctx, wid, runID, "operator: stuck, terminated by hand"))

	testenv.Eventually(t, 90*time.Second, "the reconciler revokes the role", func() bool { return !member() })

	// The record: the grant's reconciliation, named after the run,
	// completed with the action's verified revoke and told the log.
	record := workflows.ReconcileGrantWorkflowID(a.GetId(), runID)
	var rec workflows.ReconcileGrantResult
	require.NoError(t, s.Client.GetWorkflow(ctx, record, "").Get(ctx, &rec))
	assert.True(t, rec.Revoked)
	assert.Equal(t, "postgres_role", rec.ActionType)
	assert.Contains(t, rec.Output, "revoked role "+role+" from "+login+" on orders (verified: not a member)")
	assert.Equal(t, []string{"log"}, rec.Notified)

	testenv.Eventually(t, 30*time.Second, "the warning naming the approval", func() bool {
		for _, line := range strings.Split(s.Logs.String(), "\n") {
			if strings.Contains(line, "level=WARN") && strings.Contains(line, `msg="access revoked by the reconciler: the approval's workflow was terminated"`) &&
				strings.Contains(line, "approval_id="+a.GetId()) {
				return true
			}
		}
		return false
	})
	reconciled := func() float64 { return metricSum(t, s.HTTPURL+"/metrics", "signoff_grants_reconciled_total") }
	testenv.Eventually(t, 30*time.Second, "signoff_grants_reconciled_total to count it", func() bool { return reconciled() == 1 })

	// The lease let go of the approval: a later grant of the role is not
	// kept from revoking it by a holder nobody will release.
	v, err := s.Client.QueryWorkflow(ctx, workflows.LeaseWorkflowID("postgres_role:orders:"+role+":"+login), "", workflows.QueryLease)
	require.NoError(t, err)
	var lease grantlease.State
	require.NoError(t, v.Get(&lease))
	assert.Empty(t, lease.Holders, "the terminated approval still holds the role's lease")

	// Done once: a pass that starts after the reconciliation finds it done.
	recDesc, err := s.Client.DescribeWorkflowExecution(ctx, record, "")
	require.NoError(t, err)
	after := recDesc.GetWorkflowExecutionInfo().GetCloseTime().AsTime()
	testenv.Eventually(t, 60*time.Second, "a later pass", func() bool {
		resp, err := s.Client.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{Query: fmt.Sprintf(
			"WorkflowType = '%s' AND ExecutionStatus = 'Completed' AND StartTime > '%s'", workflows.ReconcileWorkflowName, after.UTC().Format(time.RFC3339Nano))})
		require.NoError(t, err)
		return resp.GetCount() > 0
	})
	assert.Equal(t, 1.0, reconciled(), "a later pass reconciled it again")
	assert.Equal(t, 0.0, metricSum(t, s.HTTPURL+"/metrics", "signoff_grants_orphaned"))
	resp, err := s.Client.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{Query: fmt.Sprintf("WorkflowId = '%s'", record)})
	require.NoError(t, err)
	assert.EqualValues(t, 1, resp.GetCount(), "the grant was reconciled in one run")
	assert.False(t, member())
}

// metricSum adds up the values of every series of name on a /metrics page.
func metricSum(t *testing.T, url, name string) float64 {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var sum float64
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		f := strings.Fields(line)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		require.NoError(t, err, line)
		sum += v
	}
	require.NoError(t, sc.Err())
	return sum
}
