package activities

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/converter"

	"github.com/signoff/signoff/approval"
	"github.com/signoff/signoff/temporal/connect"
	"github.com/signoff/signoff/workflows"
)

// ReconcileClient is what the grant reconciler asks Temporal; a
// client.Client has it.
type ReconcileClient interface {
	ListWorkflow(ctx context.Context, req *workflowservice.ListWorkflowExecutionsRequest) (*workflowservice.ListWorkflowExecutionsResponse, error)
	DescribeWorkflowExecution(ctx context.Context, workflowID, runID string) (*workflowservice.DescribeWorkflowExecutionResponse, error)
	QueryWorkflow(ctx context.Context, workflowID, runID, queryType string, args ...any) (converter.EncodedValue, error)
}

// GrantReconciler's methods are the grant reconciler's activities
// (workflows/reconcile.go): they find the grants of approvals whose
// workflow closed without revoking them, and revoke them with the
// approval workflow's own revoke (RunAction).
type GrantReconciler struct {
	Client ReconcileClient
	// TaskQueue scopes the search to this deployment's approvals: another
	// deployment in the namespace has actions of its own.
	TaskQueue string
	// Activities run the revoke, with the worker's actions and leases.
	Activities *Activities
	Logger     *slog.Logger
	// Now stamps the revoke in the state told to the notifiers (nil:
	// time.Now).
	Now func() time.Time

	mu sync.Mutex
	// settled are approval runs known to need nothing: a closed run
	// never changes, so each is read once per worker, not once per pass.
	settled map[string]bool
}

// maxSettled bounds the memory of settled runs; past it, it starts over.
const maxSettled = 10000

// reconcilePage is how many closed approvals one visibility call lists.
const reconcilePage = 100

// orphanQuery selects this task queue's approval runs that closed other
// than by returning (terminated, timed out, failed, or cancelled before
// cancellations revoked) with a status under which access may be held:
// Granted, or Approved and Bypassed for a run ended while its grant ran.
// A terminated run keeps the search attributes it last upserted.
func orphanQuery(taskQueue string) string {
	statuses := func(vs ...string) string {
		for i, v := range vs {
			vs[i] = connect.Quote(v)
		}
		return "(" + strings.Join(vs, ", ") + ")"
	}
	return fmt.Sprintf("WorkflowType = %s AND TaskQueue = %s AND ExecutionStatus IN %s AND %s IN %s",
		connect.Quote(workflows.WorkflowName), connect.Quote(taskQueue),
		statuses(enumspb.WORKFLOW_EXECUTION_STATUS_TERMINATED.String(), enumspb.WORKFLOW_EXECUTION_STATUS_TIMED_OUT.String(),
			enumspb.WORKFLOW_EXECUTION_STATUS_FAILED.String(), enumspb.WORKFLOW_EXECUTION_STATUS_CANCELED.String()),
		workflows.AttrStatus.GetName(),
		statuses(string(approval.StatusGranted), string(approval.StatusApproved), string(approval.StatusBypassed)))
}

// HoldsAccess reports whether st, an approval's last state, may leave
// access in place: a grant that is not revoked (nor taken over by an
// admin, who removes it by hand). A grant whose action was still running
// may have landed: it counts.
func HoldsAccess(st *approval.State) bool {
	g := st.Grant
	return g != nil && g.RevokedAt.IsZero() && g.AcknowledgedBy == "" && st.Status.Granted()
}

// FindOrphanedGrants lists the closed approval runs whose last state
// holds access, except those reconciled already (their
// ReconcileGrantWorkflow completed) or being reconciled.
func (r *GrantReconciler) FindOrphanedGrants(ctx context.Context) (workflows.Orphans, error) {
	defer heartbeat(ctx)()
	var out workflows.Orphans
	var token []byte
	for {
		resp, err := r.Client.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			Query: orphanQuery(r.TaskQueue), PageSize: reconcilePage, NextPageToken: token,
		})
		if err != nil {
			return workflows.Orphans{}, fmt.Errorf("list closed approvals: %w", err)
		}
		for _, e := range resp.GetExecutions() {
			if err := ctx.Err(); err != nil {
				return workflows.Orphans{}, err
			}
			r.examine(ctx, e.GetExecution().GetWorkflowId(), e.GetExecution().GetRunId(), &out)
		}
		if token = resp.GetNextPageToken(); len(token) == 0 {
			break
		}
	}
	for _, g := range out.Grants {
		r.Logger.Warn("granted access outlived its approval's workflow: revoking it",
			"approval_id", g.ApprovalID, "run_id", g.RunID, "workflow_status", g.WorkflowStatus, "action", g.ActionType)
	}
	for _, u := range out.Unreadable {
		r.Logger.Warn("cannot tell whether a closed approval still grants access",
			"approval_id", u.ApprovalID, "run_id", u.RunID, "err", u.Error)
	}
	return out, nil
}

// examine adds one listed run to out if its grant needs reconciling.
func (r *GrantReconciler) examine(ctx context.Context, wid, runID string, out *workflows.Orphans) {
	id, ok := strings.CutPrefix(wid, workflows.ApprovalWorkflowID(""))
	if !ok || r.isSettled(runID) {
		return
	}
	unreadable := func(err error) {
		out.Unreadable = append(out.Unreadable, workflows.UnreadableGrant{ApprovalID: id, RunID: runID, Error: err.Error()})
	}
	status, err := r.closedLatest(ctx, wid, runID)
	if err != nil {
		unreadable(err)
		return
	}
	if status == "" {
		// A later run runs: looked at again next pass, as it may end
		// without revoking (a copy ends at once; a reset run can be
		// terminated too).
		return
	}
	done, err := r.reconciled(ctx, id, runID)
	switch {
	case err != nil:
		unreadable(err)
		return
	case done == enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED:
		r.settle(runID)
		return
	case done == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING:
		out.InProgress = append(out.InProgress, id)
		return
	}
	st, err := r.state(ctx, wid, runID)
	if err != nil {
		unreadable(err)
		return
	}
	if !HoldsAccess(st) {
		r.settle(runID)
		return
	}
	out.Grants = append(out.Grants, workflows.OrphanedGrant{
		ApprovalID: id, RunID: runID, WorkflowStatus: status, ActionType: st.Request.Action.Type,
	})
}

// closedLatest returns how run runID of wid closed ("Terminated"), or ""
// when a later run of the approval still runs: after a reset, the new run
// holds the grant and revokes it. A later run that has ended holds nothing
// (a copy started under the approval's ID is refused at its start and ends
// at once), so it does not excuse runID's grant.
func (r *GrantReconciler) closedLatest(ctx context.Context, wid, runID string) (string, error) {
	desc, err := r.Client.DescribeWorkflowExecution(ctx, wid, "")
	if err != nil {
		return "", fmt.Errorf("describe %s: %w", wid, err)
	}
	info := desc.GetWorkflowExecutionInfo()
	if info.GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
		return "", nil
	}
	if info.GetExecution().GetRunId() == runID {
		return info.GetStatus().String(), nil
	}
	own, err := r.Client.DescribeWorkflowExecution(ctx, wid, runID)
	if err != nil {
		return "", fmt.Errorf("describe %s run %s: %w", wid, runID, err)
	}
	return own.GetWorkflowExecutionInfo().GetStatus().String(), nil
}

// reconciled is the status of the run's ReconcileGrantWorkflow, or
// UNSPECIFIED when none was started.
func (r *GrantReconciler) reconciled(ctx context.Context, id, runID string) (enumspb.WorkflowExecutionStatus, error) {
	desc, err := r.Client.DescribeWorkflowExecution(ctx, workflows.ReconcileGrantWorkflowID(id, runID), "")
	var notFound *serviceerror.NotFound
	if errors.As(err, &notFound) {
		return enumspb.WORKFLOW_EXECUTION_STATUS_UNSPECIFIED, nil
	}
	if err != nil {
		return 0, fmt.Errorf("describe the reconciliation of %s: %w", id, err)
	}
	return desc.GetWorkflowExecutionInfo().GetStatus(), nil
}

// state reads a closed run's last state: the query replays its history on
// a worker.
func (r *GrantReconciler) state(ctx context.Context, wid, runID string) (*approval.State, error) {
	v, err := r.Client.QueryWorkflow(ctx, wid, runID, workflows.QueryState)
	if err != nil {
		return nil, fmt.Errorf("query the state of %s: %w", wid, err)
	}
	var st approval.State
	if err := v.Get(&st); err != nil {
		return nil, fmt.Errorf("decode the state of %s: %w", wid, err)
	}
	return &st, nil
}

// RevokeOrphanedGrant revokes the grant of a closed approval run through
// RunAction's revoke, as the approval's workflow would have: the action
// looks first and reads back (postgres_role, aws_iam_group), and its
// lease is released, so a retry or a second pass changes nothing. It
// answers with the approval as revoked, for the notifiers.
func (r *GrantReconciler) RevokeOrphanedGrant(ctx context.Context, g workflows.OrphanedGrant) (workflows.RevokedGrant, error) {
	// Reading a long closed run replays its whole history: keep alive.
	defer heartbeat(ctx)()
	wid := workflows.ApprovalWorkflowID(g.ApprovalID)
	// Looked at again: the approval may have been reset since the pass
	// found it.
	status, err := r.closedLatest(ctx, wid, g.RunID)
	if err != nil {
		return workflows.RevokedGrant{}, err
	}
	if status == "" {
		return workflows.RevokedGrant{Skipped: "a later run of the approval holds its grant"}, nil
	}
	st, err := r.state(ctx, wid, g.RunID)
	if err != nil {
		return workflows.RevokedGrant{}, err
	}
	if !HoldsAccess(st) {
		return workflows.RevokedGrant{Skipped: "the approval's last state holds no access"}, nil
	}
	res, err := r.Activities.RunAction(ctx, workflows.ActionInput{Approval: st.ForActivity(), Phase: workflows.PhaseRevoke})
	if err != nil {
		r.Logger.Warn("the reconciler could not revoke a grant whose approval's workflow closed",
			"approval_id", g.ApprovalID, "run_id", g.RunID, "workflow_status", status, "err", err)
		return workflows.RevokedGrant{}, err
	}
	reason := workflows.ReconcileReason(status)
	now := r.now()
	st.Grant.RevokeRequestedBy, st.Grant.RevokeRequestedAt, st.Grant.RevokeReason = workflows.ReconcileActor, now, reason
	st.Record(now, approval.EventRevokeRequested, workflows.ReconcileActor, reason)
	st.MarkRevoked(now, res.Output)
	r.Logger.Warn(reason, "approval_id", g.ApprovalID, "run_id", g.RunID, "workflow_status", status,
		"action", st.Request.Action.Type, "grantee", st.Requester, "output", res.Output)
	return workflows.RevokedGrant{Result: res, Approval: st.ForActivity()}, nil
}

func (r *GrantReconciler) isSettled(runID string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.settled[runID]
}

func (r *GrantReconciler) settle(runID string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.settled == nil || len(r.settled) >= maxSettled {
		r.settled = map[string]bool{}
	}
	r.settled[runID] = true
}

func (r *GrantReconciler) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}
