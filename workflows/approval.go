package workflows

// The approval workflow itself: the run's state, the workflow function and
// its main line (start checks, waiting, the action, the grant, the
// outcome). Each job it hands off has a file of its own: handlers.go
// (updates, signals, the query), decisions.go, proof.go, rego.go,
// timers.go, notices.go, action.go, grant.go, visibility.go, errors.go;
// docs/versions.md lists the version branches and when each may go.

import (
	"errors"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/signoff/signoff/approval"
	"github.com/signoff/signoff/auth/proof"
)

// approvalRun is one execution's state and its wiring.
type approvalRun struct {
	in     Input
	st     *approval.State
	logger interface {
		Info(string, ...any)
		Warn(string, ...any)
	}
	// changed wakes the main loop after a handler moved the state.
	changed workflow.Channel
	// notifying counts notification rounds in flight; deferred holds Slack
	// clicks that arrived before the prompt they came from was recorded.
	notifying int
	deferred  []DecisionRequest
	// checking counts Rego checks in flight: the workflow does not end
	// before their attempts are recorded.
	checking int
	// notices are the rounds waiting for the notice loop (Version1);
	// sending is true while it runs one.
	notices []notice
	sending bool
	// keys check stamps in update validators (admission.go); nil where the
	// workflow is replayed or tested without them.
	keys *proof.Keyring
	// gateStart makes every message wait until the start is checked
	// (startDone), and count for nothing if it was refused.
	gateStart, startDone, startRefused bool
	// grantCancelled is set when a cancellation in Temporal ended a grant:
	// security is told of the outcome.
	grantCancelled bool
	// awaited is AttrAwaitedBy as last set (Version2): at start by intake.
	awaited []string
	// signatureKeys check messages' signatures in workflow code
	// (Version4): the worker's public keys as the start's admission
	// recorded them.
	signatureKeys map[string][]byte
	keysAt        time.Time
}

// notice is one notification round to send.
type notice struct {
	kind     NoticeKind
	esc      *approval.Escalation
	delegate string
}

// ApprovalWorkflow waits for decisions until the quorum of every stage, a
// rejection, a cancellation, break-glass or the deadline, reminding and
// escalating on the policy's timers; then runs the action if granted and
// reports the outcome. Its result is the final approval.State.
func ApprovalWorkflow(ctx workflow.Context, in Input) (*approval.State, error) {
	return runApproval(ctx, in, nil)
}

// Approval is ApprovalWorkflow whose update validators check stamps with
// keys, the worker's ring: an attempt that would be refused past its
// sender's cap of kept refusals is then turned away before it reaches
// history (admission.go). Without keys validators admit more, never less.
func Approval(keys *proof.Keyring) func(workflow.Context, Input) (*approval.State, error) {
	return func(ctx workflow.Context, in Input) (*approval.State, error) { return runApproval(ctx, in, keys) }
}

func runApproval(ctx workflow.Context, in Input, keys *proof.Keyring) (*approval.State, error) {
	checkVersion(in)
	// Request.Hash marshals JSON, which sorts map keys: deterministic.
	st := approval.New(in.ID, in.Requester, in.Request, in.Policy, in.CreatedAt) //workflowcheck:ignore
	r := &approvalRun{in: in, st: st, logger: workflow.GetLogger(ctx), changed: workflow.NewBufferedChannel(ctx, 1), keys: keys}
	// Decided before the handlers run: since changeFirstRun, messages wait
	// for the start's checks and count for nothing in a refused run.
	r.gateStart = newSide(ctx, in, changeFirstRun)
	r.st.Justification = in.Justification
	r.st.Initiator = in.Initiator
	r.st.Rules = in.Rules
	r.awaited = Awaited(st) // as intake set it at start
	if err := r.registerHandlers(ctx); err != nil {
		return nil, err
	}
	refuse := func(reason string) (*approval.State, error) {
		r.logger.Warn("start refused", "reason", reason)
		st.RefuseStart(reason, workflow.Now(ctx))
		r.startDone, r.startRefused = true, true
		if err := upsertStatus(ctx, st, r.in.Version); err != nil {
			return nil, err
		}
		setDetails(ctx, st)
		return st, nil
	}
	switch {
	case in.Version >= Version4:
		if reason := r.admit(ctx); reason != "" {
			return refuse(reason)
		}
		r.startDone = true
	default:
		// Approvals started before starts were stamped carry no stamp.
		if newSide(ctx, in, changeProvenStart) {
			if _, ref := verify(ctx, in.ID, in); !ref.OK() {
				return refuse("not started through Signoff: " + ref.Message)
			}
		}
		if r.gateStart {
			if reason := r.copiedRun(ctx); reason != "" {
				return refuse(reason)
			}
			r.startDone = true
		}
	}
	countCreated(ctx, st)

	if in.Version < Version1 {
		// Since Version1 intake sets them at start: nothing to add.
		if err := upsertStatus(ctx, st, r.in.Version); err != nil {
			return nil, err
		}
	}
	setDetails(ctx, st)
	if in.Version >= Version1 {
		// On a context of its own: after a cancellation in Temporal, the
		// outcome must still go out.
		nctx, _ := workflow.NewDisconnectedContext(ctx)
		workflow.Go(nctx, r.noticeLoop)
	}
	r.notify(ctx, NoticePrompt, nil)

	if err := r.wait(ctx); err != nil {
		if !errors.Is(err, workflow.ErrCanceled) {
			return nil, err
		}
		// Cancelled from Temporal itself (UI or CLI): record it and still
		// tell people, on a context that is not cancelled.
		ctx, _ = workflow.NewDisconnectedContext(ctx)
		_ = st.Cancel(temporalCanceller,
			"workflow cancelled in Temporal", workflow.Now(ctx))
	}
	countClosed(ctx, st)
	if err := upsertStatus(ctx, st, r.in.Version); err != nil {
		return nil, err
	}
	setDetails(ctx, st)
	if st.Status == approval.StatusBypassed {
		r.notify(ctx, NoticeBreakGlass, nil)
	}

	if st.Status.Granted() {
		if st.Request.Duration > 0 && st.Request.Extends == "" {
			// Access for a while: the revoke time is set before the grant
			// runs, from when it was approved (or the start it asked for).
			st.StartGrant(st.ClosedAt)
		}
		run := true
		if st.Grant != nil {
			// A scheduled grant waits for its start; cancelled before it,
			// or its window ended, it is not granted at all.
			var err error
			if ctx, run, err = r.awaitGrantStart(ctx); err != nil {
				return nil, err
			}
		}
		if run {
			phase := ""
			if st.Request.Extends != "" {
				phase = PhaseExtend
			}
			// A grant cancelled in Temporal while it runs is waited for, so
			// the revoke that follows cannot overtake it (since changeFirstRun).
			actx := ctx
			if r.gateStart && st.Grant != nil {
				actx = workflow.WithWaitForCancellation(ctx, true)
			}
			st.ActionResult = runAction(actx, st, in.Version >= Version1 && st.Request.Action.Type == LocalAction && phase == "", phase)
			st.Record(workflow.Now(ctx), approval.EventAction, "", actionSummary(st.ActionResult))
			setDetails(ctx, st)
			if st.Grant != nil {
				var err error
				if ctx, err = r.grantPeriod(ctx); err != nil {
					return nil, err
				}
			}
		}
	}
	if st.Request.Secret != nil && (!st.Status.Granted() || st.ActionResult == nil || !st.ActionResult.Success) {
		// A secret change that will not be applied: its staged values go.
		res := runAction(ctx, st, false, PhaseDiscard)
		st.Record(workflow.Now(ctx), approval.EventDiscarded, "", actionSummary(res))
	}
	r.notify(ctx, NoticeOutcome, nil)
	if in.Version >= Version1 {
		// The outcome updates the prompts: the rounds before it, late when
		// a notifier was down, go out first, each once.
		if err := workflow.Await(ctx, func() bool { return len(r.notices) == 0 && !r.sending }); err != nil {
			return nil, err
		}
	}

	// Let in-flight update handlers answer, and Rego checks record their
	// attempts, before the workflow closes.
	if err := workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) && r.checking == 0 }); err != nil {
		return nil, err
	}
	return st, nil
}

// changeProvenStart: since this change an approval checks, first thing,
// that it was started through Signoff (Input.Proof); an input written
// straight into Temporal names its own approvers and action.
const changeProvenStart = "proven-start"
