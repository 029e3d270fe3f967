package workflows

// Timers: the deadline, reminders and escalation levels the workflow waits
// on until the approval's status is final.

import (
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/signoff/signoff/approval"
)

// wait runs the timers (deadline, reminders, escalation levels) until the
// status is final, prompting again when a stage opens or the request is
// amended.
func (r *approvalRun) wait(ctx workflow.Context) error {
	st := r.st
	pol := st.Policy
	now := workflow.Now(ctx)
	deadline := timer(ctx, st.Deadline.Sub(now), "deadline "+st.Deadline.UTC().Format(time.RFC3339))
	var reminder workflow.Future
	if pol.Reminder > 0 {
		reminder = timer(ctx, pol.Reminder, "reminder")
	}
	level := 0
	var escalation workflow.Future
	if len(pol.Escalations) > 0 {
		escalation = timer(ctx, st.CreatedAt.Add(pol.Escalations[0].After).Sub(now), "escalation level 1")
	}
	stage, revision := st.Stage, st.Revision
	for !st.Status.Final() {
		sel := workflow.NewSelector(ctx)
		sel.AddFuture(deadline, func(workflow.Future) { st.DeadlinePassed(workflow.Now(ctx)) })
		if reminder != nil {
			sel.AddFuture(reminder, func(workflow.Future) {
				reminder = timer(ctx, pol.Reminder, "reminder")
				if !st.Status.Final() {
					st.Record(workflow.Now(ctx), approval.EventReminded, "", strings.Join(st.Pending(), ", "))
					r.notify(ctx, NoticeReminder, nil)
				}
			})
		}
		if escalation != nil {
			sel.AddFuture(escalation, func(workflow.Future) {
				esc := st.Escalate(level, workflow.Now(ctx))
				setDetails(ctx, st)
				if len(esc.AddApprovers) > 0 {
					// The people added may now read the approval and find it in
					// their lists.
					if err := upsertApprovers(ctx, r.in, st); err != nil {
						r.logger.Info("approvers search attribute not updated", "error", err)
					}
					if err := r.syncAwaited(ctx); err != nil {
						r.logger.Info("awaited search attribute not updated", "error", err)
					}
				}
				level++
				escalation = nil
				if level < len(pol.Escalations) {
					escalation = timer(ctx, st.CreatedAt.Add(pol.Escalations[level].After).Sub(workflow.Now(ctx)),
						fmt.Sprintf("escalation level %d", level+1))
				}
				r.notify(ctx, NoticeEscalation, &esc)
			})
		}
		sel.AddReceive(r.changed, func(c workflow.ReceiveChannel, _ bool) { c.ReceiveAsync(nil) })
		sel.Select(ctx)
		if err := ctx.Err(); err != nil {
			return workflow.ErrCanceled
		}
		if !st.Status.Final() && (st.Stage != stage || st.Revision != revision) {
			// A new stage opened or the request changed: ask again.
			stage, revision = st.Stage, st.Revision
			r.notify(ctx, NoticePrompt, nil)
		}
	}
	return nil
}

// timer is a workflow timer with a summary for the Temporal UI; a duration
// already past fires at once.
func timer(ctx workflow.Context, d time.Duration, summary string) workflow.Future {
	if d <= 0 {
		f, s := workflow.NewFuture(ctx)
		s.Set(nil, nil)
		return f
	}
	return workflow.NewTimerWithOptions(ctx, d, workflow.TimerOptions{Summary: summary})
}
