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
)

// Notification kinds.
const (
	KindPrompt     = "prompt"
	KindReminder   = "reminder"
	KindEscalation = "escalation"
	KindBreakGlass = "break_glass"
	KindOutcome    = "outcome"
)

// Notifier delivers prompts and outcomes through one channel. Implementations
// must be safe to call twice for the same approval (activities retry).
type Notifier interface {
	Prompt(ctx context.Context, st *approval.State) (Delivery, error)
	Outcome(ctx context.Context, st *approval.State) (Delivery, error)
}

// FollowUp is implemented by notifiers that word reminders, escalations and
// break-glass alerts their own way. Without it, a reminder or an escalation
// is sent as a fresh prompt and break-glass as an outcome.
type FollowUp interface {
	Remind(ctx context.Context, st *approval.State) (Delivery, error)
	Escalate(ctx context.Context, st *approval.State, esc approval.Escalation) (Delivery, error)
	BreakGlass(ctx context.Context, st *approval.State) (Delivery, error)
}

// Delivery says where a notification went, for the audit trail.
type Delivery struct {
	Targets []string `json:"targets"`
	// Messages posted, kept in the workflow so Outcome can update them.
	Messages []approval.MessageRef `json:"messages,omitempty"`
}

// NotifyInput asks one notifier to send one kind of message.
type NotifyInput struct {
	Notifier string         `json:"notifier"`
	Kind     string         `json:"kind"`
	Approval approval.State `json:"approval"`
	// Escalation is the level being applied, for KindEscalation.
	Escalation *approval.Escalation `json:"escalation,omitempty"`
}

// ActionInput runs the action of a granted approval.
type ActionInput struct {
	Approval approval.State `json:"approval"`
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
func (a *Activities) Notify(ctx context.Context, in NotifyInput) (Delivery, error) {
	n, ok := a.Notifiers[in.Notifier]
	if !ok {
		return Delivery{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("notifier %q is not configured on this worker", in.Notifier), "UnknownNotifier", nil)
	}
	f, followUp := n.(FollowUp)
	switch {
	case in.Kind == KindPrompt:
		return n.Prompt(ctx, &in.Approval)
	case in.Kind == KindOutcome:
		return n.Outcome(ctx, &in.Approval)
	case in.Kind == KindReminder && followUp:
		return f.Remind(ctx, &in.Approval)
	case in.Kind == KindEscalation && followUp && in.Escalation != nil:
		return f.Escalate(ctx, &in.Approval, *in.Escalation)
	case in.Kind == KindBreakGlass && followUp:
		return f.BreakGlass(ctx, &in.Approval)
	case in.Kind == KindReminder, in.Kind == KindEscalation:
		return n.Prompt(ctx, &in.Approval)
	case in.Kind == KindBreakGlass:
		return n.Outcome(ctx, &in.Approval)
	default:
		return Delivery{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("unknown notification kind %q", in.Kind), "UnknownKind", nil)
	}
}

// RunAction runs the approved action. Failures the runner marks permanent
// are not retried; the result (redacted) goes into the approval either way.
func (a *Activities) RunAction(ctx context.Context, in ActionInput) (approval.ActionResult, error) {
	defer heartbeat(ctx)()
	out, err := a.Actions.Run(ctx, &in.Approval)
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
