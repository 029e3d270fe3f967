package workflows

// The grant period: granted access is held until its revoke time (moved by
// extensions, told before the end) or an early revoke, then revoked until
// the revoke is verified; a cancellation in Temporal ends it.

import (
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/signoff/signoff/approval"
)

// revokeRetry is how long a failed revoke waits before the next try: a
// revoke is never given up (a standing privilege nobody notices is what
// this exists to prevent), and every failure is recorded and told.
func revokeRetry(failures int) time.Duration {
	return min(time.Duration(failures)*time.Minute, 10*time.Minute)
}

// Changes to the grant period: the grantee is told before the end, the end
// moves with approved extensions, a failing revoke sets RevokeFailing and
// may be taken over by an admin. Grants started before keep their path.
const changeGrantPeriod = "grant-period-v2"

// grantPeriod holds granted access until its revoke time, or until the
// grantee or an admin asks for the revoke, then revokes it, trying again
// until the revoke is verified. A grant that failed is revoked too: it may
// have half happened.
func (r *approvalRun) grantPeriod(ctx workflow.Context) (workflow.Context, error) {
	st := r.st
	v2 := newSide(ctx, r.in, changeGrantPeriod)
	now := workflow.Now(ctx)
	cancelledEarly := false
	if ctx.Err() != nil {
		// Cancelled while the grant ran: it may have landed all the same.
		var err error
		if ctx, err = r.endGrantOnCancel(ctx, workflow.ErrCanceled); err != nil {
			return ctx, err
		}
		cancelledEarly = r.grantCancelled
	}
	if st.ActionResult.Success {
		st.MarkGranted(now, st.ActionResult.Output)
		if err := upsertStatus(ctx, st, r.in.Version); err != nil {
			return ctx, err
		}
		setDetails(ctx, st)
		r.notify(ctx, NoticeOutcome, nil)
		if cancelledEarly {
			r.askRevokeForCancel(ctx)
		}
		hold := r.holdGrantV0
		if v2 {
			hold = r.holdGrant
		}
		if err := hold(ctx); err != nil {
			if ctx, err = r.endGrantOnCancel(ctx, err); err != nil {
				return ctx, err
			}
			r.askRevokeForCancel(ctx)
		}
	} else if cancelledEarly {
		r.askRevokeForCancel(ctx)
	}
	for {
		res := runAction(ctx, st, false, PhaseRevoke)
		if res.Success {
			st.MarkRevoked(workflow.Now(ctx), res.Output)
			break
		}
		st.RevokeFailed(workflow.Now(ctx), res.Error)
		setDetails(ctx, st)
		r.notify(ctx, NoticeRevokeFailed, nil)
		if !v2 {
			if err := workflow.Sleep(ctx, revokeRetry(st.Grant.RevokeFailures)); err != nil {
				return ctx, err
			}
			continue
		}
		if st.Grant.RevokeFailures == 1 {
			if err := workflow.UpsertTypedSearchAttributes(ctx, AttrRevokeFailing.ValueSet(true)); err != nil {
				return ctx, fmt.Errorf("upsert search attributes: %w", err)
			}
		}
		// Wait for the next try, or for an admin to take the revoke over.
		taken := func() bool { return st.Grant.AcknowledgedBy != "" }
		if _, err := workflow.AwaitWithOptions(ctx, workflow.AwaitOptions{
			Timeout:      revokeRetry(st.Grant.RevokeFailures),
			TimerOptions: workflow.TimerOptions{Summary: "try the revoke again"},
		}, taken); err != nil {
			if ctx, err = r.endGrantOnCancel(ctx, err); err != nil {
				return ctx, err
			}
			r.askRevokeForCancel(ctx)
		}
		if taken() {
			st.MarkRevokeTakenOver(workflow.Now(ctx))
			break
		}
	}
	if v2 && st.Grant.RevokeFailures > 0 {
		if err := workflow.UpsertTypedSearchAttributes(ctx, AttrRevokeFailing.ValueSet(false)); err != nil {
			return ctx, fmt.Errorf("upsert search attributes: %w", err)
		}
	}
	if err := upsertStatus(ctx, st, r.in.Version); err != nil {
		return ctx, err
	}
	setDetails(ctx, st)
	return ctx, nil
}

// changeCancelRevokes: since this change a cancellation in Temporal (UI,
// CLI) while access is granted ends the access now: the revoke runs, and is
// retried, on a context the cancellation does not reach, and the outcome
// goes to the security notifiers too. Before, the workflow ended cancelled
// and the access stayed for ever.
const changeCancelRevokes = "cancel-revokes-grant"

// endGrantOnCancel turns a cancellation during the grant period into the
// context the rest of the workflow runs on, one the cancellation does not
// reach; askRevokeForCancel then records the revoke Temporal asked for. Any
// other error, or a history from before the change, is returned as it was.
func (r *approvalRun) endGrantOnCancel(ctx workflow.Context, err error) (workflow.Context, error) {
	if !errors.Is(err, workflow.ErrCanceled) && !temporal.IsCanceledError(err) {
		return ctx, err
	}
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	if !newSide(dctx, r.in, changeCancelRevokes) {
		return ctx, err
	}
	r.grantCancelled = true
	r.logger.Info("grant ends: workflow cancelled in Temporal", "approval_id", r.st.ID)
	return dctx, nil
}

// askRevokeForCancel records the revoke a cancellation in Temporal asked
// for: as a revoke request while access is granted (the grant period then
// ends at once), as an event otherwise.
func (r *approvalRun) askRevokeForCancel(ctx workflow.Context) {
	st, now := r.st, workflow.Now(ctx)
	if !st.Grant.RevokeRequestedAt.IsZero() {
		return
	}
	reason := "workflow cancelled in Temporal: the access ends now"
	if st.Status == approval.StatusGranted {
		if err := st.RequestRevoke(temporalCanceller, reason, now); err != nil {
			r.logger.Warn("revoke for the cancellation not recorded", "error", err)
		}
	} else {
		st.Record(now, approval.EventRevokeRequested, "temporal", reason)
	}
	setDetails(ctx, st)
}

// holdGrantV0 is the grant period of grants started before
// changeGrantPeriod: one timer, no notice, no extension.
func (r *approvalRun) holdGrantV0(ctx workflow.Context) error {
	st := r.st
	wait := st.Grant.RevokeAt.Sub(workflow.Now(ctx))
	if wait <= 0 {
		return nil
	}
	_, err := workflow.AwaitWithOptions(ctx, workflow.AwaitOptions{
		Timeout:      wait,
		TimerOptions: workflow.TimerOptions{Summary: revokeSummary(st)},
	}, func() bool { return !st.Grant.RevokeRequestedAt.IsZero() })
	return err
}

// holdGrant waits for the revoke time, which an approved extension moves
// later, or for a revoke asked for now. The revoke timer stays pending the
// whole time (the Temporal UI shows it with its summary); the grantee is
// told once per end, endingLead before it.
func (r *approvalRun) holdGrant(ctx workflow.Context) error {
	st := r.st
	for {
		now := workflow.Now(ctx)
		end := st.Grant.RevokeAt
		if !st.Grant.RevokeRequestedAt.IsZero() || !now.Before(end) {
			return nil
		}
		tctx, cancel := workflow.WithCancel(ctx)
		fired, noticeDue := false, false
		workflow.Go(tctx, func(c workflow.Context) {
			if workflow.NewTimerWithOptions(c, end.Sub(now), workflow.TimerOptions{Summary: revokeSummary(st)}).Get(c, nil) == nil {
				fired = true
			}
		})
		if lead := endingLead(st.Grant); lead > 0 && !st.Grant.EndingNoticeFor.Equal(end) {
			if at := end.Add(-lead); at.After(now) {
				workflow.Go(tctx, func(c workflow.Context) {
					if workflow.NewTimerWithOptions(c, at.Sub(now), workflow.TimerOptions{Summary: "tell the grantee the access ends soon"}).Get(c, nil) == nil {
						noticeDue = true
					}
				})
			} else {
				noticeDue = true
			}
		}
		err := workflow.Await(ctx, func() bool {
			return fired || noticeDue || !st.Grant.RevokeRequestedAt.IsZero() || !st.Grant.RevokeAt.Equal(end)
		})
		if noticeDue && !fired && st.Grant.RevokeAt.Equal(end) && st.Grant.RevokeRequestedAt.IsZero() {
			st.NoticeEnding(workflow.Now(ctx))
			r.notify(ctx, NoticeGrantEnding, nil)
			// The revoke timer keeps running: wait for it (or a change).
			err = workflow.Await(ctx, func() bool {
				return fired || !st.Grant.RevokeRequestedAt.IsZero() || !st.Grant.RevokeAt.Equal(end)
			})
		}
		cancel()
		if err != nil {
			return err
		}
		if !st.Grant.RevokeAt.Equal(end) {
			setDetails(ctx, st)
			r.notify(ctx, NoticeOutcome, nil)
		}
		if fired {
			return nil
		}
	}
}

// endingLead is how long before its end the grantee is told a grant ends:
// a quarter of the grant, at most a quarter of an hour; none for grants
// under two minutes.
func endingLead(g *approval.Grant) time.Duration {
	span := g.RevokeAt.Sub(g.GrantedAt)
	if span < 2*time.Minute {
		return 0
	}
	return min(span/4, 15*time.Minute)
}

func revokeSummary(st *approval.State) string {
	return fmt.Sprintf("revoke %s (%s) at %s", st.Request.Action.Type, st.Request.Title, st.Grant.RevokeAt.UTC().Format(time.RFC3339))
}
