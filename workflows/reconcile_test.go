package workflows

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/signoff/signoff/approval"
	"github.com/signoff/signoff/temporal/connect"
)

// reconcileFakes stand in for the reconciler's activities and the
// notifiers, and record what the workflows asked of them.
type reconcileFakes struct {
	found Orphans
	// fail names the approvals whose revoke fails; skip, those with
	// nothing to do.
	fail, skip map[string]bool

	mu       sync.Mutex
	revokeIn map[string]string // approval ID → workflow ID the revoke ran in
	notified []string          // "approval notifier kind status"
}

func (f *reconcileFakes) register(env *testsuite.TestWorkflowEnvironment) {
	env.RegisterWorkflowWithOptions(ReconcileGrantWorkflow, workflow.RegisterOptions{Name: ReconcileGrantWorkflowName})
	env.RegisterActivityWithOptions(func(context.Context) (Orphans, error) {
		return f.found, nil
	}, activity.RegisterOptions{Name: ActivityFindOrphanedGrants})
	env.RegisterActivityWithOptions(func(ctx context.Context, g OrphanedGrant) (RevokedGrant, error) {
		f.mu.Lock()
		f.revokeIn[g.ApprovalID] = activity.GetInfo(ctx).WorkflowExecution.ID
		f.mu.Unlock()
		switch {
		case f.fail[g.ApprovalID]:
			return RevokedGrant{}, temporal.NewNonRetryableApplicationError("target refused", "ActionFailed", nil)
		case f.skip[g.ApprovalID]:
			return RevokedGrant{Skipped: "a later run of the approval holds its grant"}, nil
		}
		st := approval.State{ID: g.ApprovalID, Status: approval.StatusRevoked, Requester: "alice"}
		return RevokedGrant{Result: approval.ActionResult{Type: g.ActionType, Success: true, Output: "revoked " + g.ApprovalID}, Approval: st}, nil
	}, activity.RegisterOptions{Name: ActivityRevokeOrphanedGrant})
	env.RegisterActivityWithOptions(func(_ context.Context, in NotifyInput) (approval.Delivery, error) {
		f.mu.Lock()
		f.notified = append(f.notified, fmt.Sprintf("%s %s %s %s", in.Approval.ID, in.Notifier, in.Kind, in.Approval.Status))
		f.mu.Unlock()
		if in.Notifier == "email" {
			return approval.Delivery{}, temporal.NewNonRetryableApplicationError("relay down", "Refused", nil)
		}
		return approval.Delivery{Targets: []string{in.Notifier + ":" + in.Approval.Requester}}, nil
	}, activity.RegisterOptions{Name: ActivityNotify})
}

// runPass runs one ReconcileGrantsWorkflow against f and returns its
// result and the metrics it emitted.
func runPass(t *testing.T, f *reconcileFakes, in ReconcileInput) (ReconcileResult, map[string][]sample, *testsuite.TestWorkflowEnvironment) {
	t.Helper()
	m, err := connect.NewMetrics(nil)
	require.NoError(t, err)
	var ts testsuite.WorkflowTestSuite
	ts.SetMetricsHandler(m.Handler)
	env := ts.NewTestWorkflowEnvironment()
	if f.revokeIn == nil {
		f.revokeIn = map[string]string{}
	}
	f.register(env)
	env.ExecuteWorkflow(ReconcileGrantsWorkflow, in)
	require.True(t, env.IsWorkflowCompleted())
	require.NoError(t, env.GetWorkflowError())
	var res ReconcileResult
	require.NoError(t, env.GetWorkflowResult(&res))
	return res, samples(t, prometheus.Gatherer(m.Registry)), env
}

func gauge(t *testing.T, all map[string][]sample, name string) float64 {
	t.Helper()
	s, ok := find(all, name, nil)
	require.True(t, ok, "no %s series", name)
	return s.value
}

// A pass revokes each grant found in a child workflow named after the
// approval's run, tells every notifier (security's too) of the revoke,
// and counts what it revoked and what may still hold access.
func TestReconcilePassRevokesAndCounts(t *testing.T) {
	f := &reconcileFakes{
		found: Orphans{
			Grants: []OrphanedGrant{
				{ApprovalID: "a1", RunID: "r1", WorkflowStatus: "Terminated", ActionType: "postgres_role"},
				{ApprovalID: "a2", RunID: "r2", WorkflowStatus: "Terminated", ActionType: "aws_iam_group"},
			},
			InProgress: []string{"a4"},
			Unreadable: []UnreadableGrant{{ApprovalID: "a3", RunID: "r3", Error: "query failed"}},
		},
		fail: map[string]bool{"a2": true},
	}
	res, metrics, env := runPass(t, f, ReconcileInput{Notifiers: []string{"log", "email"}, SecurityNotifiers: []string{"log", "slack"}})

	require.Len(t, res.Revoked, 1)
	got := res.Revoked[0]
	require.Equal(t, ReconcileGrantResult{ApprovalID: "a1", RunID: "r1", ActionType: "postgres_role", Revoked: true, Output: "revoked a1",
		Notified: []string{"log", "slack"}, NotifyFailed: []string{"email: relay down"}}, got)
	require.Equal(t, []FailedGrant{{ApprovalID: "a2", RunID: "r2", Error: "revoke the grant of approval a2: target refused"}}, res.Failed)
	require.Equal(t, []string{"a4"}, res.InProgress)
	require.Equal(t, 3, res.Orphaned(), "the failed, the unreadable and the one in progress")

	require.Equal(t, ReconcileGrantWorkflowID("a1", "r1"), f.revokeIn["a1"], "each grant is revoked in the workflow named after its run")
	require.Equal(t, ReconcileGrantWorkflowID("a2", "r2"), f.revokeIn["a2"])
	require.ElementsMatch(t, []string{"a1 log outcome Revoked", "a1 email outcome Revoked", "a1 slack outcome Revoked"}, f.notified,
		"the notifiers hear of the revoke, each once; nobody of the failed one")

	reconciled, ok := find(metrics, MetricGrantsReconciled+"_total", nil)
	require.True(t, ok)
	require.Equal(t, 1.0, reconciled.value)
	require.Equal(t, 3.0, gauge(t, metrics, MetricGrantsOrphaned))
	require.Equal(t, float64(env.Now().Unix()), gauge(t, metrics, MetricReconcilePass))
}

// A quiet pass revokes nothing and still reports: the counter's series
// exists (at 0) and the gauge says 0.
func TestReconcileQuietPass(t *testing.T) {
	res, metrics, _ := runPass(t, &reconcileFakes{}, ReconcileInput{Notifiers: []string{"log"}})
	require.Empty(t, res.Revoked)
	require.Zero(t, res.Orphaned())
	reconciled, ok := find(metrics, MetricGrantsReconciled+"_total", nil)
	require.True(t, ok, "the counter's series exists before the first revoke")
	require.Zero(t, reconciled.value)
	require.Zero(t, gauge(t, metrics, MetricGrantsOrphaned))
}

// A grant the activity finds nothing to do for (a reset's later run holds
// it) is recorded as skipped: not counted, nobody told.
func TestReconcileSkipped(t *testing.T) {
	f := &reconcileFakes{
		found: Orphans{Grants: []OrphanedGrant{{ApprovalID: "a1", RunID: "r1", WorkflowStatus: "Terminated", ActionType: "postgres_role"}}},
		skip:  map[string]bool{"a1": true},
	}
	res, metrics, _ := runPass(t, f, ReconcileInput{Notifiers: []string{"log"}})
	require.Empty(t, res.Revoked)
	require.Len(t, res.Skipped, 1)
	require.False(t, res.Skipped[0].Revoked)
	require.Contains(t, res.Skipped[0].Output, "later run")
	require.Empty(t, f.notified)
	reconciled, _ := find(metrics, MetricGrantsReconciled+"_total", nil)
	require.Zero(t, reconciled.value)
	require.Zero(t, gauge(t, metrics, MetricGrantsOrphaned))
}

// A pass revokes at most reconcileBatch grants; the rest wait for the
// next pass and count as orphaned meanwhile.
func TestReconcileBatch(t *testing.T) {
	f := &reconcileFakes{}
	for i := range reconcileBatch + 2 {
		f.found.Grants = append(f.found.Grants, OrphanedGrant{ApprovalID: fmt.Sprintf("a%02d", i), RunID: "r", WorkflowStatus: "Failed", ActionType: "postgres_role"})
	}
	res, metrics, _ := runPass(t, f, ReconcileInput{})
	require.Len(t, res.Revoked, reconcileBatch)
	require.Equal(t, 2, res.Deferred)
	require.Len(t, f.revokeIn, reconcileBatch)
	require.Equal(t, 2.0, gauge(t, metrics, MetricGrantsOrphaned))
}

// A pass that cannot list fails (red in the UI), and reports nothing: the
// gauge of a pass that did not look would be a guess.
func TestReconcileFindFails(t *testing.T) {
	var ts testsuite.WorkflowTestSuite
	env := ts.NewTestWorkflowEnvironment()
	env.RegisterWorkflowWithOptions(ReconcileGrantWorkflow, workflow.RegisterOptions{Name: ReconcileGrantWorkflowName})
	env.RegisterActivityWithOptions(func(context.Context) (Orphans, error) {
		return Orphans{}, errors.New("visibility unavailable")
	}, activity.RegisterOptions{Name: ActivityFindOrphanedGrants})
	env.ExecuteWorkflow(ReconcileGrantsWorkflow, ReconcileInput{})
	require.True(t, env.IsWorkflowCompleted())
	require.ErrorContains(t, env.GetWorkflowError(), "visibility unavailable")
}

func TestReconcileReason(t *testing.T) {
	require.Equal(t, "access revoked by the reconciler: the approval's workflow was terminated", ReconcileReason("Terminated"))
	require.Equal(t, "access revoked by the reconciler: the approval's workflow was timed out", ReconcileReason("TimedOut"))
}
