package workflows

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/signoff/signoff/approval"
)

// One approval, one run. Intake starts an approval's workflow once, under
// a new ID, refusing duplicates; anyone with write access to Temporal can
// start another run under the same ID (any ID-reuse or conflict policy)
// with the first run's input copied byte for byte, stamp and all, and then
// re-send its accepted updates. Such a run must approve nothing and run
// nothing, so a run checks, before it asks anyone, that
//   - its start was stamped just before Temporal started it (a stamp
//     copied from history is older), and
//   - Temporal knows no other run under its ID.
// Either failing refuses the start, as an unproven start is refused: the
// run asks no one, runs nothing, and shows why (status, timeline, log).
// The check is a local activity, whose answer history keeps for replay.

// changeFirstRun: since this change an approval checks that it is the only
// run of its ID, started at once from its stamp.
const changeFirstRun = "first-run"

// startMaxDelay bounds how long after its stamp a start may reach Temporal:
// intake stamps and starts in one call; clocks may differ by proofMaxSkew.
const (
	startMaxDelay = 10 * time.Minute
	startMaxSkew  = 5 * time.Minute
)

// startCheckFor is how long a start's check asks visibility again before
// it gives up (the run is then refused): a day of an unreachable or
// overloaded visibility store, never a slow query.
const startCheckFor = 24 * time.Hour

// copiedRun returns why this run is not the approval's own, or "".
func (r *approvalRun) copiedRun(ctx workflow.Context) string {
	info := workflow.GetInfo(ctx)
	if p := r.in.Proof; p != nil {
		if reason := copiedStamp(info.WorkflowStartTime, p.IssuedAt); reason != "" {
			return reason
		}
	}
	lctx := startCheck(ctx, "check this is the approval's only run")
	var others []string
	in := RunsInput{WorkflowID: info.WorkflowExecution.ID, RunID: info.WorkflowExecution.RunID}
	if err := workflow.ExecuteLocalActivity(lctx, ActivityEarlierRuns, in).Get(ctx, &others); err != nil {
		return "could not check that this is the approval's only run: " + rootMessage(err)
	}
	if len(others) > 0 {
		return fmt.Sprintf("another run of this approval exists (%s): this run is a copy", others[0])
	}
	return ""
}

// startCheck is ctx for a start's check in a local activity, asked until
// it answers: a run that cannot tell must not act, and must not be refused
// because visibility was slow to answer (without ScheduleToClose the SDK
// gives a local activity one attempt).
func startCheck(ctx workflow.Context, summary string) workflow.Context {
	return workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
		StartToCloseTimeout:    10 * time.Second,
		ScheduleToCloseTimeout: startCheckFor,
		RetryPolicy:            &temporal.RetryPolicy{MaximumInterval: time.Minute},
		Summary:                summary,
	})
}

// copiedStamp says why a start at started with a stamp issued at issued is
// a copy of an earlier one, or "".
func copiedStamp(started, issued time.Time) string {
	if d := started.Sub(issued); d > startMaxDelay || -d > startMaxSkew {
		return fmt.Sprintf("started %s after it was stamped: a copy of an earlier start", d.Round(time.Second))
	}
	return ""
}

// awaitStart holds a message until the start's checks are done, and
// refuses it if the start was refused: a copied run, or one started
// straight in Temporal, must not record decisions it received before it
// knew.
func (r *approvalRun) awaitStart(ctx workflow.Context) error {
	if !r.gateStart {
		return nil
	}
	if err := workflow.Await(ctx, func() bool { return r.startDone }); err != nil {
		return err
	}
	if r.startRefused {
		return refusalError(approval.CodeNotPending, "this run of the approval was refused at start: "+r.st.CancelReason)
	}
	return nil
}
