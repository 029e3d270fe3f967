package workflows

// Notices: notification rounds, queued and sent in order off the main loop
// (Version1) or at once (before it), one notify activity per notifier.

import (
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/signoff/signoff/approval"
)

// notify sends a notification round: queued for the notice loop, or, for
// approvals started before Version1, at once and awaited.
func (r *approvalRun) notify(ctx workflow.Context, kind NoticeKind, esc *approval.Escalation) {
	if r.in.Version < Version1 {
		r.notifyAll(ctx, notice{kind: kind, esc: esc})
		return
	}
	r.notices = append(r.notices, notice{kind: kind, esc: esc})
}

// noticeLoop sends the queued rounds one after the other, in the order they
// were queued (a reminder after its prompt, the outcome last), for the
// workflow's whole life.
func (r *approvalRun) noticeLoop(ctx workflow.Context) {
	for {
		if err := workflow.Await(ctx, func() bool { return len(r.notices) > 0 }); err != nil {
			return
		}
		n := r.notices[0]
		r.notices, r.sending = r.notices[1:], true
		r.notifyAll(ctx, n)
		r.sending = false
	}
}

// notifyAll runs one notify activity per notifier in parallel. A notifier
// that fails is recorded and never blocks the approval: people can still
// decide through the other channels and the API. Break-glass also goes to
// the security notifiers.
func (r *approvalRun) notifyAll(ctx workflow.Context, n notice) {
	st, kind := r.st, n.kind
	opts := workflow.ActivityOptions{
		StartToCloseTimeout: time.Minute,
		HeartbeatTimeout:    30 * time.Second,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:    time.Second,
			BackoffCoefficient: 2,
			MaximumInterval:    time.Minute,
			MaximumAttempts:    10,
		},
	}
	if r.in.Version >= Version1 {
		// Off the loop a round may wait out an outage: retried at least
		// every two minutes for a day, blocking nothing but the rounds after
		// it. (The attempts are counted, not unlimited, so the day binds.)
		opts.RetryPolicy.MaximumInterval = 2 * time.Minute
		opts.RetryPolicy.MaximumAttempts = 1000
		opts.ScheduleToCloseTimeout = 24 * time.Hour
	}
	ctx = workflow.WithActivityOptions(ctx, opts)
	notifiers := r.in.Notifiers
	if kind == NoticeBreakGlass || kind == NoticeRevokeFailed || (kind == NoticeOutcome && r.grantCancelled) {
		notifiers = append(append([]string(nil), notifiers...), r.in.SecurityNotifiers...)
	}
	r.notifying++
	defer func() {
		if r.notifying--; r.notifying == 0 {
			r.flushDeferred(ctx)
		}
	}()
	futures := make([]workflow.Future, len(notifiers))
	snapshot := st.ForActivity() // one copy for the round: every notifier sees the same state
	for i, name := range notifiers {
		in := NotifyInput{Notifier: name, Kind: kind, Approval: snapshot, Escalation: n.esc, Delegate: n.delegate}
		summary := string(kind) + " via " + name
		if name == LocalNotifier && r.in.Version >= Version1 {
			lctx := workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
				StartToCloseTimeout: 10 * time.Second, RetryPolicy: &temporal.RetryPolicy{MaximumAttempts: 3}, Summary: summary,
			})
			futures[i] = workflow.ExecuteLocalActivity(lctx, ActivityNotify, in)
			continue
		}
		actx := workflow.WithActivityOptions(ctx, withSummary(ctx, summary))
		futures[i] = workflow.ExecuteActivity(actx, ActivityNotify, in)
	}
	for i, f := range futures {
		var d approval.Delivery
		if err := f.Get(ctx, &d); err != nil {
			st.Record(workflow.Now(ctx), approval.EventNotifyFailed, "", fmt.Sprintf("%s %s: %s", notifiers[i], kind, rootMessage(err)))
			continue
		}
		st.Messages = append(st.Messages, d.Messages...)
		st.Record(workflow.Now(ctx), approval.EventNotified, "", fmt.Sprintf("%s %s: %s", notifiers[i], kind, strings.Join(d.Targets, ", ")))
	}
}

func withSummary(ctx workflow.Context, summary string) workflow.ActivityOptions {
	o := workflow.GetActivityOptions(ctx)
	o.Summary = summary
	return o
}
