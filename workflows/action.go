package workflows

// The action: running a granted approval's action (and its grant,
// extension, revoke and discard phases) as an activity.

import (
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/signoff/signoff/approval"
)

// runAction runs the granted approval's action, as a local activity when
// local (it reaches nothing outside the worker).
func runAction(ctx workflow.Context, st *approval.State, local bool, phase string) *approval.ActionResult {
	retry := &temporal.RetryPolicy{
		InitialInterval:    time.Second,
		BackoffCoefficient: 2,
		MaximumInterval:    time.Minute,
		MaximumAttempts:    8,
	}
	summary := "run " + st.Request.Action.Type + " action"
	switch phase {
	case PhaseRevoke:
		summary = "revoke " + st.Request.Action.Type
	case PhaseExtend:
		summary = "extend grant " + st.Request.Extends
	case PhaseDiscard:
		summary = "discard what " + st.Request.Action.Type + " kept"
	}
	var res approval.ActionResult
	var f workflow.Future
	if local {
		ctx = workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
			StartToCloseTimeout: 10 * time.Second, RetryPolicy: retry, Summary: summary,
		})
		f = workflow.ExecuteLocalActivity(ctx, ActivityRunAction, ActionInput{Approval: st.ForActivity(), Phase: phase})
	} else {
		ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
			StartToCloseTimeout: 2 * time.Minute, HeartbeatTimeout: 30 * time.Second, Summary: summary, RetryPolicy: retry,
		})
		f = workflow.ExecuteActivity(ctx, ActivityRunAction, ActionInput{Approval: st.ForActivity(), Phase: phase})
	}
	err := f.Get(ctx, &res)
	if err != nil {
		res = approval.ActionResult{Type: st.Request.Action.Type, Success: false, Error: rootMessage(err)}
	}
	res.FinishTime = workflow.Now(ctx)
	return &res
}

func actionSummary(r *approval.ActionResult) string {
	if r.Success {
		return r.Type + " succeeded: " + r.Output
	}
	return r.Type + " failed: " + r.Error
}
