// Package activities holds the worker's side effects: prompting people
// through notifiers and running the approved action. Each outside system
// plugs in behind the Notifier or action.Runner interface without touching
// the workflow.
package activities

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/signoff/signoff/activities/action"
	"github.com/signoff/signoff/approval"
	"github.com/signoff/signoff/auth/proof"
	"github.com/signoff/signoff/grantlease"
	"github.com/signoff/signoff/store/leasestore"
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
	// Leases keep who holds each granted resource, so overlapping grants
	// revoke only at the last end. Nil: every grant revokes on its own.
	Leases leasestore.Store
	// Extender moves a grant's revoke time once its extension is approved.
	Extender GrantExtender
	// Runs lists a workflow ID's runs, for the approval's first-run check.
	Runs RunLister
}

// GrantNotifier is implemented by notifiers that tell a grantee their
// access ends soon their own way; others refresh the outcome message.
type GrantNotifier interface {
	GrantEnding(ctx context.Context, st *approval.State) (approval.Delivery, error)
}

// DelegateNotifier is implemented by notifiers that can ask one delegate,
// added after the approval was created, to decide; the others have nothing
// to send (their channel posts already show the approval).
type DelegateNotifier interface {
	Delegated(ctx context.Context, st *approval.State, delegate string) (approval.Delivery, error)
}

// Notify sends a prompt or an outcome through one notifier.
func (a *Activities) Notify(ctx context.Context, in workflows.NotifyInput) (_ approval.Delivery, err error) {
	defer countNotify(ctx, in.Notifier, &err)
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
	case in.Kind == workflows.NoticeDelegated:
		if d, ok := n.(DelegateNotifier); ok && in.Delegate != "" {
			return d.Delegated(ctx, &in.Approval, in.Delegate)
		}
		return approval.Delivery{}, nil
	case in.Kind == workflows.NoticeGrantEnding:
		if g, ok := n.(GrantNotifier); ok {
			return g.GrantEnding(ctx, &in.Approval)
		}
		return n.Outcome(ctx, &in.Approval)
	case in.Kind == workflows.NoticeReminder, in.Kind == workflows.NoticeEscalation:
		return n.Prompt(ctx, &in.Approval)
	case in.Kind == workflows.NoticeBreakGlass, in.Kind == workflows.NoticeRevokeFailed:
		return n.Outcome(ctx, &in.Approval)
	default:
		return approval.Delivery{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("unknown notification kind %q", in.Kind), "UnknownKind", nil)
	}
}

// RunAction runs the approved action, or revokes what a grant action
// granted. Failures the runner marks permanent are not retried; the result
// (redacted) goes into the approval either way.
func (a *Activities) RunAction(ctx context.Context, in workflows.ActionInput) (_ approval.ActionResult, err error) {
	defer heartbeat(ctx)()
	defer countAction(ctx, in, &err)
	st := &in.Approval
	var out string
	resource := a.Actions.Resource(st.Request.Action)
	switch {
	case in.Phase == workflows.PhaseExtend:
		out, err = a.extend(ctx, st)
	case in.Phase == workflows.PhaseDiscard:
		out, err = a.Actions.Discard(ctx, st)
	case in.Phase == workflows.PhaseRevoke && a.Leases != nil && resource != "":
		out, err = a.revokeHeld(ctx, st, resource)
	case in.Phase == workflows.PhaseRevoke:
		out, err = a.Actions.Revoke(ctx, st)
	case a.Leases != nil && resource != "" && st.Grant != nil:
		out, err = a.grantHeld(ctx, st, resource)
	default:
		out, err = a.Actions.Run(ctx, st)
	}
	if err != nil {
		return approval.ActionResult{}, err
	}
	return approval.ActionResult{Type: st.Request.Action.Type, Success: true, Output: out}, nil
}

// grantHeld grants under the resource's lease: it looks first, so access
// in place before any Signoff grant is marked as not Signoff's to revoke.
// It reads the lease's generation before it looks: if another grant's
// revoke ends between the look and the hold, the access seen was that
// grant's, and the hold is refused as busy (the retry looks again).
func (a *Activities) grantHeld(ctx context.Context, st *approval.State, resource string) (string, error) {
	gen, err := a.Leases.Generation(ctx, resource)
	if err != nil {
		return "", fmt.Errorf("hold %s: %w", resource, err)
	}
	present, err := a.Actions.Holds(ctx, st)
	if err != nil {
		return "", err
	}
	view, err := a.Leases.HoldSeen(ctx, resource, st.ID, st.Grant.RevokeAt, present, gen)
	if err != nil {
		return "", fmt.Errorf("hold %s: %w", resource, err)
	}
	out, err := a.Actions.Run(ctx, st)
	if err != nil {
		return "", err
	}
	return out + leaseNote(view, "its revoke will leave it"), nil
}

// revokeHeld revokes unless the access is not this grant's alone to take
// back: another grant still due needs it, or it was in place before any
// Signoff grant. The hold ends only once the revoke is verified.
func (a *Activities) revokeHeld(ctx context.Context, st *approval.State, resource string) (string, error) {
	view, err := a.Leases.Release(ctx, resource, st.ID)
	if err != nil {
		return "", fmt.Errorf("release %s: %w", resource, err)
	}
	var out string
	if view.Outside || len(view.Others) > 0 {
		out = "not revoked" + leaseNote(view, "left as it was")
	} else if out, err = a.Actions.Revoke(ctx, st); err != nil {
		return "", err
	}
	if err := a.Leases.Released(ctx, resource, st.ID); err != nil {
		return "", fmt.Errorf("released %s: %w", resource, err)
	}
	return out, nil
}

// leaseNote says why access outlives this grant, if it does.
func leaseNote(v grantlease.View, outside string) string {
	if v.Outside {
		return "; the access was in place before any Signoff grant: " + outside
	}
	if len(v.Others) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("; also granted by ")
	for i, h := range v.Others {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "approval %s until %s", h.Approval, h.Until.UTC().Format(time.RFC3339))
	}
	return b.String()
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
