package workflows

// Scheduled grants: access that starts later. Approved before its start,
// the grant waits on a timer the Temporal UI shows; a cancel before it
// (the requester, an admin, or Temporal) grants nothing.

import (
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/signoff/signoff/approval"
)

// awaitGrantStart holds an approved grant until its scheduled start and
// reports whether it is to be granted now. A grant not scheduled is granted
// at once; one whose window ended before the approval, or that was
// cancelled while it waited, is not granted at all, and the returned
// context is one a Temporal cancellation no longer reaches.
func (r *approvalRun) awaitGrantStart(ctx workflow.Context) (workflow.Context, bool, error) {
	st := r.st
	if st.Grant == nil || st.Request.StartAt.IsZero() {
		return ctx, true, nil
	}
	now := workflow.Now(ctx)
	if st.WindowPassed(now) {
		st.Record(now, approval.EventGrantWindowPassed, "", "the access asked for ended at "+stamp(st.Grant.RevokeAt)+
			", before the approval: nothing granted")
		return ctx, false, nil
	}
	if st.Grant.StartAt.IsZero() {
		// Approved inside the window: granted now, until the window ends.
		return ctx, true, nil
	}
	st.Record(now, approval.EventGrantScheduled, "", "granted at "+stamp(st.Grant.StartAt)+", revoked at "+stamp(st.Grant.RevokeAt))
	setDetails(ctx, st)
	r.notify(ctx, NoticeOutcome, nil)
	waiting := st.Status // approved or bypassed; a cancel changes it
	_, err := workflow.AwaitWithOptions(ctx, workflow.AwaitOptions{
		Timeout:      st.Grant.StartAt.Sub(now),
		TimerOptions: workflow.TimerOptions{Summary: startSummary(st)},
	}, func() bool { return st.Status != waiting })
	switch {
	case errors.Is(err, workflow.ErrCanceled) || temporal.IsCanceledError(err):
		// Cancelled in Temporal before the start: recorded like the API's
		// cancel, and nothing is granted.
		ctx, _ = workflow.NewDisconnectedContext(ctx)
		_ = st.Cancel(temporalCanceller,
			"workflow cancelled in Temporal", workflow.Now(ctx))
	case err != nil:
		return ctx, false, err
	}
	if st.Status != waiting {
		if err := upsertStatus(ctx, st, r.in.Version); err != nil {
			return ctx, false, err
		}
		setDetails(ctx, st)
		return ctx, false, nil
	}
	return ctx, true, nil
}

// temporalCanceller is who acts when Temporal itself cancels the workflow
// (UI or CLI): recorded as an admin, its proof the cancellation request.
var temporalCanceller = approval.Actor{User: "temporal", Admin: true, Proof: "Temporal cancellation request"}

// startSummary is the start timer as the Temporal UI shows it.
func startSummary(st *approval.State) string {
	return fmt.Sprintf("grant %s (%s) at %s", st.Request.Action.Type, st.Request.Title, stamp(st.Grant.StartAt))
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }
