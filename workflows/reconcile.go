package workflows

import (
	"fmt"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/signoff/signoff/approval"
)

// The grant reconciler. An approval's workflow revokes its grant itself,
// even after every process died (its timers are Temporal's), and a
// cancellation ends the access too; what it cannot handle is its own end.
// A run terminated in Temporal (or failed, or timed out) while access is
// granted leaves the access in place for ever. A schedule runs
// ReconcileGrantsWorkflow every worker.reconcile_interval: it finds the
// closed approval runs whose last state holds access not revoked, and ends
// each in a ReconcileGrantWorkflow of its own whose ID names the approval's
// run. Temporal starts that ID once unless its run failed, so the child is
// both the revoke, retried, and the record that the grant was reconciled.
const (
	ReconcileWorkflowName      = "ReconcileGrantsWorkflow"
	ReconcileGrantWorkflowName = "ReconcileGrantWorkflow"

	// ActivityFindOrphanedGrants lists the grants to reconcile (→ Orphans).
	ActivityFindOrphanedGrants = "FindOrphanedGrants"
	// ActivityRevokeOrphanedGrant revokes one (OrphanedGrant →
	// RevokedGrant) through the RunAction activity's revoke.
	ActivityRevokeOrphanedGrant = "RevokeOrphanedGrant"

	// ReconcileActor is who an approval reconciled names as asking for
	// the revoke.
	ReconcileActor = "signoff-reconciler"

	// ErrTypeRevokeFailed fails a ReconcileGrantWorkflow whose revoke
	// failed: the next pass may start it again.
	ErrTypeRevokeFailed = "RevokeFailed"

	reconcileSchedulePrefix = "signoff-reconcile-grants:"
	reconcileGrantPrefix    = "signoff-reconcile-grant-"
)

// The reconciler's metrics, emitted by ReconcileGrantsWorkflow through the
// SDK's metrics handler (once per pass however often it is replayed).
const (
	// MetricGrantsReconciled counts grants the reconciler revoked (_total
	// on /metrics).
	MetricGrantsReconciled = "signoff_grants_reconciled"
	// MetricGrantsOrphaned is, after the worker's last pass, how many
	// grants of closed approvals may still hold access: their revoke
	// failed, runs still, waits for the next pass, or their state could
	// not be read. Zero when the reconciler keeps up; an alert watches it.
	MetricGrantsOrphaned = "signoff_grants_orphaned"
	// MetricReconcilePass is when the worker's last pass ended (Unix
	// seconds): each worker reports the passes it ran, so the alert reads
	// the gauge of workers whose pass is recent.
	MetricReconcilePass = "signoff_grants_reconcile_pass_timestamp_seconds"
)

// reconcileBatch bounds the grants one pass revokes; the rest wait for the
// next pass (counted as orphaned meanwhile).
const reconcileBatch = 50

// ReconcileScheduleID is the reconciler's schedule on taskQueue: one per
// deployment sharing a namespace.
func ReconcileScheduleID(taskQueue string) string { return reconcileSchedulePrefix + taskQueue }

// ReconcileGrantWorkflowID is the workflow that reconciles the grant of
// approval id's run runID (a reset makes other runs under one ID).
func ReconcileGrantWorkflowID(id, runID string) string {
	return reconcileGrantPrefix + id + "-" + runID
}

// ReconcileInput starts a pass: the notifiers told of each revoke, as
// configured when the worker last updated the schedule.
type ReconcileInput struct {
	Notifiers         []string `json:"notifiers,omitempty"`
	SecurityNotifiers []string `json:"security_notifiers,omitempty"`
}

// OrphanedGrant is a closed approval run whose last state holds access
// that was not revoked.
type OrphanedGrant struct {
	ApprovalID string `json:"approval_id"`
	RunID      string `json:"run_id"`
	// WorkflowStatus is how the run closed: Terminated, TimedOut, Failed
	// or Canceled.
	WorkflowStatus string `json:"workflow_status"`
	ActionType     string `json:"action_type"`
}

// UnreadableGrant is a closed approval run whose state could not be read:
// whether it still grants access is unknown.
type UnreadableGrant struct {
	ApprovalID string `json:"approval_id"`
	RunID      string `json:"run_id"`
	Error      string `json:"error"`
}

// Orphans is what a pass found.
type Orphans struct {
	Grants []OrphanedGrant `json:"grants,omitempty"`
	// InProgress are approvals whose reconciliation, started by an
	// earlier pass, still runs.
	InProgress []string          `json:"in_progress,omitempty"`
	Unreadable []UnreadableGrant `json:"unreadable,omitempty"`
}

// RevokedGrant is the revoke activity's answer.
type RevokedGrant struct {
	// Skipped says why nothing was done: a later run of the approval holds
	// its grant now, or its state holds no access.
	Skipped string                `json:"skipped,omitempty"`
	Result  approval.ActionResult `json:"result"`
	// Approval is the approval as revoked, for the notifiers.
	Approval approval.State `json:"approval"`
}

// ReconcileGrantInput starts the reconciliation of one grant.
type ReconcileGrantInput struct {
	Grant     OrphanedGrant `json:"grant"`
	Notifiers []string      `json:"notifiers,omitempty"`
}

// ReconcileGrantResult is what was done for one grant: the record.
type ReconcileGrantResult struct {
	ApprovalID string `json:"approval_id"`
	RunID      string `json:"run_id"`
	ActionType string `json:"action_type"`
	Revoked    bool   `json:"revoked"`
	// Output is the revoke's verified report, or why nothing was done.
	Output       string   `json:"output"`
	Notified     []string `json:"notified,omitempty"`
	NotifyFailed []string `json:"notify_failed,omitempty"`
}

// FailedGrant is a grant whose revoke failed this pass; the next pass
// tries again.
type FailedGrant struct {
	ApprovalID string `json:"approval_id"`
	RunID      string `json:"run_id"`
	Error      string `json:"error"`
}

// ReconcileResult is one pass: what it revoked and what may still hold
// access.
type ReconcileResult struct {
	Revoked    []ReconcileGrantResult `json:"revoked,omitempty"`
	Skipped    []ReconcileGrantResult `json:"skipped,omitempty"`
	Failed     []FailedGrant          `json:"failed,omitempty"`
	InProgress []string               `json:"in_progress,omitempty"`
	Unreadable []UnreadableGrant      `json:"unreadable,omitempty"`
	// Deferred grants were left for the next pass (reconcileBatch).
	Deferred int `json:"deferred,omitempty"`
}

// Orphaned is how many grants of closed approvals may still hold access
// after the pass.
func (r ReconcileResult) Orphaned() int {
	return len(r.Failed) + len(r.InProgress) + len(r.Unreadable) + r.Deferred
}

// ReconcileGrantsWorkflow is one pass of the reconciler.
func ReconcileGrantsWorkflow(ctx workflow.Context, in ReconcileInput) (ReconcileResult, error) {
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		// The activity heartbeats while it pages through visibility and
		// reads each closed approval's state.
		StartToCloseTimeout: 10 * time.Minute,
		HeartbeatTimeout:    time.Minute,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval: 5 * time.Second, BackoffCoefficient: 2, MaximumInterval: time.Minute, MaximumAttempts: 3,
		},
		Summary: "find grants whose approval's workflow closed without revoking them",
	})
	var found Orphans
	if err := workflow.ExecuteActivity(actx, ActivityFindOrphanedGrants).Get(ctx, &found); err != nil {
		return ReconcileResult{}, fmt.Errorf("find orphaned grants: %w", err)
	}
	res := ReconcileResult{InProgress: found.InProgress, Unreadable: found.Unreadable}
	grants := found.Grants
	if len(grants) > reconcileBatch {
		res.Deferred, grants = len(grants)-reconcileBatch, grants[:reconcileBatch]
	}
	notifiers := union(in.Notifiers, in.SecurityNotifiers)
	futures := make([]workflow.ChildWorkflowFuture, len(grants))
	for i, g := range grants {
		cctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{
			WorkflowID: ReconcileGrantWorkflowID(g.ApprovalID, g.RunID),
			// Once per run, unless the last try failed: a completed child
			// is the record that the grant was reconciled.
			WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE_FAILED_ONLY,
			// A revoke under way finishes even if this pass is cut short.
			ParentClosePolicy: enumspb.PARENT_CLOSE_POLICY_ABANDON,
			StaticSummary:     fmt.Sprintf("Revoke the %s grant of approval %s: its workflow was %s", g.ActionType, g.ApprovalID, closedAs(g.WorkflowStatus)),
		})
		futures[i] = workflow.ExecuteChildWorkflow(cctx, ReconcileGrantWorkflowName, ReconcileGrantInput{Grant: g, Notifiers: notifiers})
	}
	for i, f := range futures {
		g := grants[i]
		var r ReconcileGrantResult
		err := f.Get(ctx, &r)
		switch {
		case temporal.IsWorkflowExecutionAlreadyStartedError(err):
			res.InProgress = append(res.InProgress, g.ApprovalID)
		case err != nil:
			res.Failed = append(res.Failed, FailedGrant{ApprovalID: g.ApprovalID, RunID: g.RunID, Error: rootMessage(err)})
		case r.Revoked:
			res.Revoked = append(res.Revoked, r)
		default:
			res.Skipped = append(res.Skipped, r)
		}
	}
	h := workflow.GetMetricsHandler(ctx)
	// Adds 0 on a quiet pass: the series exists before the first revoke.
	h.Counter(MetricGrantsReconciled).Inc(int64(len(res.Revoked)))
	h.Gauge(MetricGrantsOrphaned).Update(float64(res.Orphaned()))
	h.Gauge(MetricReconcilePass).Update(float64(workflow.Now(ctx).Unix()))
	workflow.SetCurrentDetails(ctx, res.summary())
	return res, nil
}

// ReconcileGrantWorkflow revokes one orphaned grant, then tells the
// notifiers. A failed revoke fails the workflow, so the next pass may
// start it again.
func ReconcileGrantWorkflow(ctx workflow.Context, in ReconcileGrantInput) (ReconcileGrantResult, error) {
	g := in.Grant
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 2 * time.Minute,
		HeartbeatTimeout:    30 * time.Second,
		// Bounded: a revoke that keeps failing shows as failed (and in the
		// orphaned gauge) until a later pass gets it through.
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval: 5 * time.Second, BackoffCoefficient: 2, MaximumInterval: time.Minute, MaximumAttempts: 5,
		},
		Summary: "revoke the " + g.ActionType + " grant of approval " + g.ApprovalID,
	})
	var rev RevokedGrant
	if err := workflow.ExecuteActivity(actx, ActivityRevokeOrphanedGrant, g).Get(ctx, &rev); err != nil {
		// The cause keeps the activity's failure; the message says it plainly.
		return ReconcileGrantResult{}, temporal.NewApplicationErrorWithCause(
			"revoke the grant of approval "+g.ApprovalID+": "+rootMessage(err), ErrTypeRevokeFailed, err)
	}
	res := ReconcileGrantResult{ApprovalID: g.ApprovalID, RunID: g.RunID, ActionType: g.ActionType}
	if rev.Skipped != "" {
		res.Output = rev.Skipped
		workflow.SetCurrentDetails(ctx, "Nothing done: "+rev.Skipped)
		return res, nil
	}
	res.Revoked, res.Output = true, rev.Result.Output
	nctx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: time.Minute,
		HeartbeatTimeout:    30 * time.Second,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: time.Minute, MaximumAttempts: 5,
		},
	})
	futures := make([]workflow.Future, len(in.Notifiers))
	for i, name := range in.Notifiers {
		futures[i] = workflow.ExecuteActivity(workflow.WithActivityOptions(nctx, withSummary(nctx, "outcome via "+name)),
			ActivityNotify, NotifyInput{Notifier: name, Kind: NoticeOutcome, Approval: rev.Approval})
	}
	for i, f := range futures {
		// The access is gone whatever the notifiers answer: a failure is
		// recorded, not retried by a later pass.
		if err := f.Get(ctx, nil); err != nil {
			res.NotifyFailed = append(res.NotifyFailed, in.Notifiers[i]+": "+rootMessage(err))
			continue
		}
		res.Notified = append(res.Notified, in.Notifiers[i])
	}
	workflow.SetCurrentDetails(ctx, "**Revoked** the grant of approval "+g.ApprovalID+": "+res.Output+"\n\n"+ReconcileReason(g.WorkflowStatus))
	return res, nil
}

// ReconcileReason is what the approval's record, the notifiers and the
// log say of a revoke by the reconciler; status is how the approval's
// workflow closed.
func ReconcileReason(status string) string {
	return "access revoked by the reconciler: the approval's workflow was " + closedAs(status)
}

// closedAs words a workflow execution status ("TimedOut") for people.
func closedAs(status string) string {
	switch status {
	case "TimedOut":
		return "timed out"
	case "":
		return "closed"
	}
	return strings.ToLower(status)
}

// union is a, then what b adds, each once.
func union(a, b []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, s := range append(append([]string(nil), a...), b...) {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// summary is the pass's current details in the Temporal UI.
func (r ReconcileResult) summary() string {
	var b strings.Builder
	b.WriteString(fmt.Sprintf("**%d revoked**, %d may still hold access", len(r.Revoked), r.Orphaned()))
	for _, g := range r.Revoked {
		b.WriteString("\n\n- revoked approval " + g.ApprovalID + ": " + g.Output)
	}
	for _, g := range r.Failed {
		b.WriteString("\n\n- revoke failed for approval " + g.ApprovalID + ": " + g.Error)
	}
	for _, g := range r.Unreadable {
		b.WriteString("\n\n- state of approval " + g.ApprovalID + " unreadable: " + g.Error)
	}
	return b.String()
}
