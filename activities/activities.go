// Package activities holds the worker's side effects: prompting people
// through notifiers and running the approved action. Each outside system
// plugs in behind the Notifier or action.Runner interface without touching
// the workflow.
package activities

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/signoff/signoff/activities/action"
	"github.com/signoff/signoff/approval"
	"github.com/signoff/signoff/proof"
	"github.com/signoff/signoff/workflows"
)

// Notifier delivers prompts and outcomes through one channel. Implementations
// must be safe to call twice for the same approval (activities retry).
type Notifier interface {
	Prompt(ctx context.Context, st *approval.State) (approval.Delivery, error)
	Outcome(ctx context.Context, st *approval.State) (approval.Delivery, error)
}

// FollowUp is implemented by notifiers that word reminders, escalations and
// break-glass alerts their own way. Without it, a reminder or an escalation
// is sent as a fresh prompt and break-glass as an outcome.
type FollowUp interface {
	Remind(ctx context.Context, st *approval.State) (approval.Delivery, error)
	Escalate(ctx context.Context, st *approval.State, esc approval.Escalation) (approval.Delivery, error)
	BreakGlass(ctx context.Context, st *approval.State) (approval.Delivery, error)
}

// Activities is registered with the worker; its methods are the activities.
type Activities struct {
	Notifiers map[string]Notifier
	Actions   *action.Registry
	Logger    *slog.Logger
	// Proofs verifies the gateway's stamps on decisions and operations.
	Proofs *proof.Keyring
}

// Notify sends a prompt or an outcome through one notifier.
func (a *Activities) Notify(ctx context.Context, in workflows.NotifyInput) (approval.Delivery, error) {
	n, ok := a.Notifiers[in.Notifier]
	if !ok {
		return approval.Delivery{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("notifier %q is not configured on this worker", in.Notifier), "UnknownNotifier", nil)
	}
	f, followUp := n.(FollowUp)
	switch {
	case in.Kind == workflows.NoticePrompt:
		return n.Prompt(ctx, &in.Approval)
	case in.Kind == workflows.NoticeOutcome:
		return n.Outcome(ctx, &in.Approval)
	case in.Kind == workflows.NoticeReminder && followUp:
		return f.Remind(ctx, &in.Approval)
	case in.Kind == workflows.NoticeEscalation && followUp && in.Escalation != nil:
		return f.Escalate(ctx, &in.Approval, *in.Escalation)
	case in.Kind == workflows.NoticeBreakGlass && followUp:
		return f.BreakGlass(ctx, &in.Approval)
	case in.Kind == workflows.NoticeReminder, in.Kind == workflows.NoticeEscalation:
		return n.Prompt(ctx, &in.Approval)
	case in.Kind == workflows.NoticeBreakGlass, in.Kind == workflows.NoticeRevokeFailed:
		return n.Outcome(ctx, &in.Approval)
	default:
		return approval.Delivery{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("unknown notification kind %q", in.Kind), "UnknownKind", nil)
	}
}

// RunAction runs the approved action. Failures the runner marks permanent
// are not retried; the result (redacted) goes into the approval either way.
func (a *Activities) RunAction(ctx context.Context, in workflows.ActionInput) (approval.ActionResult, error) {
	defer heartbeat(ctx)()
	run := a.Actions.Run
	if in.Phase == workflows.PhaseRevoke {
		run = a.Actions.Revoke
	}
	out, err := run(ctx, &in.Approval)
	if err != nil {
		return approval.ActionResult{}, err
	}
	return approval.ActionResult{Type: in.Approval.Request.Action.Type, Success: true, Output: out}, nil
}

// heartbeat reports the activity alive until the returned func is called.
// Temporal counts the heartbeat timeout from the start of an attempt: an
// action slower than it (an IAM read-back, a slow webhook) would otherwise
// be declared lost and run again while still running, and a crashed
// worker's attempt is retried after the heartbeat timeout rather than the
// whole start-to-close timeout.
func heartbeat(ctx context.Context) (stop func()) {
	if !activity.IsActivity(ctx) || activity.GetInfo(ctx).HeartbeatTimeout <= 0 {
		return func() {}
	}
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(activity.GetInfo(ctx).HeartbeatTimeout / 3)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				activity.RecordHeartbeat(ctx)
			}
		}
	}()
	return func() { close(done) }
}
