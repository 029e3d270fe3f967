package workflows

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/signoff/signoff/approval"
	"github.com/signoff/signoff/auth/proof"
	"github.com/signoff/signoff/policy"
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
	// Request.Hash marshals JSON, which sorts map keys: deterministic.
	st := approval.New(in.ID, in.Requester, in.Request, in.Policy, in.CreatedAt) //workflowcheck:ignore
	r := &approvalRun{in: in, st: st, logger: workflow.GetLogger(ctx), changed: workflow.NewBufferedChannel(ctx, 1), keys: keys}
	// Decided before the handlers run: since changeFirstRun, messages wait
	// for the start's checks and count for nothing in a refused run.
	r.gateStart = workflow.GetVersion(ctx, changeFirstRun, workflow.DefaultVersion, 1) == 1
	r.st.Justification = in.Justification
	r.st.Initiator = in.Initiator
	r.st.Rules = in.Rules
	if err := r.registerHandlers(ctx); err != nil {
		return nil, err
	}
	// Approvals started before starts were stamped carry no stamp.
	if workflow.GetVersion(ctx, changeProvenStart, workflow.DefaultVersion, 1) == 1 {
		if _, ref := verify(ctx, in.ID, in); !ref.OK() {
			reason := "not started through Signoff: " + ref.Message
			r.logger.Info("start refused", "reason", reason)
			st.RefuseStart(reason, workflow.Now(ctx))
			r.startDone, r.startRefused = true, true
			if err := upsertStatus(ctx, st); err != nil {
				return nil, err
			}
			setDetails(ctx, st)
			return st, nil
		}
	}
	if r.gateStart {
		if reason := r.copiedRun(ctx); reason != "" {
			r.logger.Warn("start refused", "reason", reason)
			st.RefuseStart(reason, workflow.Now(ctx))
			r.startDone, r.startRefused = true, true
			if err := upsertStatus(ctx, st); err != nil {
				return nil, err
			}
			setDetails(ctx, st)
			return st, nil
		}
		r.startDone = true
	}
	countCreated(ctx, st)

	if in.Version < Version1 {
		// Since Version1 intake sets them at start: nothing to add.
		if err := upsertStatus(ctx, st); err != nil {
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
		_ = st.Cancel(approval.Actor{User: "temporal", Admin: true, Proof: "Temporal cancellation request"},
			"workflow cancelled in Temporal", workflow.Now(ctx))
	}
	countClosed(ctx, st)
	if err := upsertStatus(ctx, st); err != nil {
		return nil, err
	}
	setDetails(ctx, st)
	if st.Status == approval.StatusBypassed {
		r.notify(ctx, NoticeBreakGlass, nil)
	}

	if st.Status.Granted() {
		if st.Request.Duration > 0 && st.Request.Extends == "" {
			// Access for a while: the revoke time is set before the grant
			// runs, from when it was approved.
			st.StartGrant(st.ClosedAt)
		}
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

func (r *approvalRun) registerHandlers(ctx workflow.Context) error {
	st := r.st
	if err := workflow.SetQueryHandler(ctx, QueryState, func() (*approval.State, error) { return st, nil }); err != nil {
		return fmt.Errorf("set query handler: %w", err)
	}
	// Handlers change the state and wake the main loop; refusals are in the
	// state (and so in history) before the caller hears about them.
	handlers := map[string]any{
		UpdateDecide: func(ctx workflow.Context, req DecisionRequest) (DecideResult, error) {
			if err := r.awaitStart(ctx); err != nil {
				return DecideResult{}, err
			}
			a := r.receive(ctx, req)
			if !a.Accepted {
				return DecideResult{}, refusalError(a.RefusalCode, a.RefusalReason)
			}
			return DecideResult{Attempt: a, Approval: st}, nil
		},
		UpdateCancel: func(ctx workflow.Context, req CancelRequest) (*approval.State, error) {
			if err := r.awaitStart(ctx); err != nil {
				return nil, err
			}
			return st, r.cancel(ctx, req)
		},
		UpdateRevoke: func(ctx workflow.Context, req RevokeRequest) (*approval.State, error) {
			if err := r.awaitStart(ctx); err != nil {
				return nil, err
			}
			who := actorOf(ctx, r, req, req.User, req.Admin)
			return st, r.apply(ctx, st.RequestRevoke(who, req.Reason, workflow.Now(ctx)))
		},
		UpdateExtendGrant: func(ctx workflow.Context, req ExtendGrantRequest) (*approval.State, error) {
			if err := r.awaitStart(ctx); err != nil {
				return nil, err
			}
			who := actorOf(ctx, r, req, "signoff", false)
			return st, r.apply(ctx, st.Extend(who, req.Extension, req.To, workflow.Now(ctx)))
		},
		UpdateAcknowledgeRevoke: func(ctx workflow.Context, req AcknowledgeRevokeRequest) (*approval.State, error) {
			if err := r.awaitStart(ctx); err != nil {
				return nil, err
			}
			who := actorOf(ctx, r, req, req.User, req.Admin)
			return st, r.apply(ctx, st.AcknowledgeRevokeFailure(who, req.Reason, workflow.Now(ctx)))
		},
		UpdateBypass: func(ctx workflow.Context, req BypassRequest) (*approval.State, error) {
			if err := r.awaitStart(ctx); err != nil {
				return nil, err
			}
			who := actorOf(ctx, r, req, req.User, false)
			return st, r.apply(ctx, st.Bypass(who, req.Reason, workflow.Now(ctx)))
		},
		UpdateAddDelegate: func(ctx workflow.Context, req AddDelegateRequest) (bool, error) {
			if err := r.awaitStart(ctx); err != nil {
				return false, err
			}
			who := actorOf(ctx, r, req, "signoff", false)
			added, err := st.AddDelegate(who, req.From, req.To, workflow.Now(ctx))
			if err != nil || !added {
				return false, r.apply(ctx, err)
			}
			setDetails(ctx, st)
			if r.in.Version >= Version1 && slices.Contains(st.Prompted(), req.To) {
				// Asked now if from is awaited now; otherwise with from's
				// stage, as delegates snapshotted at creation are.
				r.notices = append(r.notices, notice{kind: NoticeDelegated, delegate: req.To})
			}
			return true, nil
		},
		UpdateAmend: func(ctx workflow.Context, req AmendRequest) (*approval.State, error) {
			if err := r.awaitStart(ctx); err != nil {
				return nil, err
			}
			who := actorOf(ctx, r, req, req.User, false)
			//workflowcheck:ignore (Request.Hash: JSON with sorted keys)
			err := r.apply(ctx, st.Amend(who, req.Request, workflow.Now(ctx)))
			// The caller sent the request: answering with it again would
			// double what every amendment adds to history.
			answer := *st
			answer.Request = approval.Request{}
			return &answer, err
		},
	}
	for _, name := range workflow.DeterministicKeys(handlers) {
		// The validator turns away oversized messages before they are
		// written to history; everything else is judged, and recorded, by
		// the handler.
		opts := workflow.UpdateHandlerOptions{Validator: r.validatorFor(name)}
		if err := workflow.SetUpdateHandlerWithOptions(ctx, name, handlers[name], opts); err != nil {
			return fmt.Errorf("set update handler %s: %w", name, err)
		}
	}
	// Signals are drained for the workflow's whole life, so attempts that
	// arrive while the action runs are still recorded (as refused).
	decisions := workflow.GetSignalChannel(ctx, SignalDecision)
	cancels := workflow.GetSignalChannel(ctx, SignalCancel)
	workflow.Go(ctx, func(ctx workflow.Context) {
		for {
			sel := workflow.NewSelector(ctx)
			sel.AddReceive(decisions, func(c workflow.ReceiveChannel, _ bool) {
				var req DecisionRequest
				c.Receive(ctx, &req)
				if r.awaitStart(ctx) == nil {
					r.receive(ctx, req)
				}
			})
			sel.AddReceive(cancels, func(c workflow.ReceiveChannel, _ bool) {
				var req CancelRequest
				c.Receive(ctx, &req)
				if err := r.awaitStart(ctx); err != nil {
					return
				}
				if err := r.cancel(ctx, req); err != nil {
					r.logger.Info("cancel refused", "user", req.User, "reason", err)
				}
			})
			sel.Select(ctx)
			if ctx.Err() != nil {
				return
			}
		}
	})
	return nil
}

// UnprovenAttemptPrefix starts the recorded ID of an attempt whose proof
// failed.
const UnprovenAttemptPrefix = "unproven:"

// changeProvenDecisions moves approvals started before decisions had to be
// proven to the proven rules at their first message, when their history
// allows (no message was handled under the old rules).
const changeProvenDecisions = "proven-decisions"

// changeProvenStart: since this change an approval checks, first thing,
// that it was started through Signoff (Input.Proof); an input written
// straight into Temporal names its own approvers and action.
const changeProvenStart = "proven-start"

// rules is the version of the rules this approval is judged by.
func (r *approvalRun) rules(ctx workflow.Context) int {
	if r.st.Rules == approval.RulesLegacy &&
		workflow.GetVersion(ctx, changeProvenDecisions, workflow.DefaultVersion, 1) == 1 {
		r.st.Rules = approval.RulesProven
	}
	return r.st.Rules
}

// receive judges one decision, from an update or a signal. A Slack click
// from a prompt whose posting is not recorded yet waits for the
// notification round to finish rather than being refused.
func (r *approvalRun) receive(ctx workflow.Context, req DecisionRequest) approval.Attempt {
	if prev, seen := r.st.Find(req.AttemptID); seen {
		return prev // a redelivery: recorded once
	}
	if r.rules(ctx) == approval.RulesLegacy {
		return r.receiveLegacy(ctx, req)
	}
	// Verification and the Rego check yield: the workflow does not end
	// before this attempt is recorded.
	r.checking++
	defer func() { r.checking-- }()
	a := AttemptOf(r.st, req)
	place, decider := req.Origin()
	var ref approval.Refusal
	a.Proof, ref = verify(ctx, r.st.ID, req)
	if !ref.OK() {
		// Recorded under an ID of its own: a forger who guesses the ID of
		// someone's coming attempt (an idempotency key, say) must not make
		// it a "redelivery" of their refused one.
		a.ID = UnprovenAttemptPrefix + a.ID
		return r.record(ctx, a, ref)
	}
	a = r.st.ForWhom(a, req.StandsInFor, req.OnBehalfOf)
	ref = r.st.Judge(a, place, workflow.Now(ctx))
	if ref.Code == approval.CodeNotPromptedHere && r.notifying > 0 {
		r.deferred = append(r.deferred, req)
		return a
	}
	if ref.OK() && r.st.Policy.Rego != "" {
		a.Verdict, ref = r.checkRego(ctx, a, decider)
		if ref.OK() {
			// The check yielded: judge again against the state as it is now.
			ref = r.st.Judge(a, place, workflow.Now(ctx))
		}
	}
	return r.record(ctx, a, ref)
}

// AttemptOf is the attempt a request makes; an option click gets its
// option's decision.
func AttemptOf(st *approval.State, req DecisionRequest) approval.Attempt {
	a := approval.Attempt{
		ID: req.AttemptID, User: req.User, Decision: req.Decision, Comment: req.Comment, Values: req.Values,
		Channel: req.Channel, SeenHash: req.SeenHash, RefusalReason: req.Refusal, IdentifiedBy: req.IdentifiedBy,
		Memberships: req.Memberships,
	}
	if req.Slack != nil && a.Decision == "" && len(a.Values) == 1 {
		if o, ok := st.Request.Input.Option(a.Values[0]); ok {
			a.Decision = o.Decision
		} else if a.RefusalReason == "" {
			a.Decision, a.RefusalCode, a.RefusalReason = approval.DecisionApprove, approval.CodeInvalidChoice, approval.RefusedInvalidChoice
		}
	}
	return a
}

func (r *approvalRun) record(ctx workflow.Context, a approval.Attempt, ref approval.Refusal) approval.Attempt {
	a = r.st.Apply(a, ref, workflow.Now(ctx))
	if !a.Accepted {
		r.logger.Info("decision refused", "user", a.User, "code", string(a.RefusalCode), "reason", a.RefusalReason)
		countRefused(ctx, a)
	}
	_ = r.apply(ctx, nil)
	return a
}

// verify checks a message's stamp in a local activity, whose verdict
// history keeps: replay does not depend on the keys a worker holds later.
// It returns how the message was proven, or the refusal.
func verify[M Provable[M]](ctx workflow.Context, approvalID string, m M) (string, approval.Refusal) {
	stamp, ref := stampOf(m)
	if !ref.OK() {
		return "", ref
	}
	ctx = workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
		StartToCloseTimeout: 10 * time.Second,
		RetryPolicy:         &temporal.RetryPolicy{MaximumAttempts: 3},
		Summary:             "verify " + m.proofKind() + " proof",
	})
	in := ProofInput{Subject: ProofSubject(approvalID, m), Stamp: *stamp}
	var v proof.Verdict
	err := workflow.ExecuteLocalActivity(ctx, ActivityVerifyProof, in).Get(ctx, &v)
	if err != nil {
		return "", approval.Refusal{Code: approval.CodeUnproven, Message: approval.RefusedUnproven + ": " + rootMessage(err)}
	}
	return ProofOutcome(v, workflow.Now(ctx))
}

// stampOf is m's stamp, or the refusal of a message that has none.
func stampOf[M Provable[M]](m M) (*proof.Stamp, approval.Refusal) {
	if s := m.stamp(); s != nil && s.MAC != "" {
		return s, approval.Refusal{}
	}
	return nil, approval.Refusal{Code: approval.CodeUnproven, Message: approval.RefusedUnproven}
}

// CheckStamp is verify without Temporal: how m was proven with k at now, or
// why it counts for nothing (for the in-memory approvals port).
func CheckStamp[M Provable[M]](k *proof.Keyring, approvalID string, m M, now time.Time) (string, approval.Refusal) {
	stamp, ref := stampOf(m)
	if !ref.OK() {
		return "", ref
	}
	return ProofOutcome(k.Check(ProofSubject(approvalID, m), *stamp), now)
}

// ProofOutcome is what a stamp's verdict means at now: how the message was
// proven, or why it counts for nothing.
func ProofOutcome(v proof.Verdict, now time.Time) (string, approval.Refusal) {
	if !v.OK {
		return "", approval.Refusal{Code: approval.CodeUnproven, Message: approval.RefusedUnproven + ": " + v.Error}
	}
	if ref := approval.CheckProofAge(v.IssuedAt, now); !ref.OK() {
		return "", ref
	}
	return fmt.Sprintf("gateway stamp (key %s, %s)", v.KeyID, v.IssuedAt.UTC().Format(time.RFC3339)), approval.Refusal{}
}

// actorOf is who asks for an operation: under the proven rules, the user
// and admin flag count only with a valid stamp, and the stamp's refusal
// is what the operation is refused for.
func actorOf[M Provable[M]](ctx workflow.Context, r *approvalRun, m M, user string, admin bool) approval.Actor {
	if r.rules(ctx) == approval.RulesLegacy {
		return approval.Actor{User: user, Admin: admin, Proof: "legacy: trusted as sent"}
	}
	who := approval.Actor{User: user}
	who.Proof, who.ProofRefusal = verify(ctx, r.st.ID, m)
	if who.Proof != "" {
		who.Admin = admin
	}
	return who
}

func (r *approvalRun) cancel(ctx workflow.Context, req CancelRequest) error {
	who := actorOf(ctx, r, req, req.User, req.Admin)
	return r.apply(ctx, r.st.Cancel(who, req.Reason, workflow.Now(ctx)))
}

// receiveLegacy judges a decision of an approval that began under the old
// rules exactly as those rules did, so its history replays: the user named
// is believed, a Slack click is checked against its place and Rego, other
// channels carry the gateway's verdict.
func (r *approvalRun) receiveLegacy(ctx workflow.Context, req DecisionRequest) approval.Attempt {
	if req.Slack == nil {
		return r.decide(ctx, req)
	}
	checked := CheckPlace(r.st, req)
	if checked.Refusal == approval.RefusedNotPromptedHere && r.notifying > 0 {
		r.deferred = append(r.deferred, req)
		return approval.Attempt{}
	}
	if checked.Refusal == "" && r.st.Policy.Rego != "" && !r.st.Status.Final() {
		r.checking++
		checked.Verdict, checked.Refusal = r.checkRegoLegacy(ctx, checked)
		r.checking--
	}
	return r.decide(ctx, checked)
}

// checkRego evaluates the policy's Rego module in a local activity, whose
// result history keeps for replay. It fails closed.
func (r *approvalRun) checkRego(ctx workflow.Context, a approval.Attempt, d policy.Decider) (string, approval.Refusal) {
	req := DecisionRequest{Decision: a.Decision, Comment: a.Comment, Values: a.Values, Channel: a.Channel, OnBehalfOf: a.OnBehalfOf}
	verdict, refusal := r.evalRego(ctx, d, req)
	if refusal != "" {
		return verdict, approval.Refusal{Code: approval.CodePolicyDenied, Message: refusal}
	}
	return verdict, approval.Refusal{}
}

func (r *approvalRun) checkRegoLegacy(ctx workflow.Context, req DecisionRequest) (verdict, refusal string) {
	return r.evalRego(ctx, req.Slack.Decider, req)
}

func (r *approvalRun) evalRego(ctx workflow.Context, d policy.Decider, req DecisionRequest) (verdict, refusal string) {
	ctx = workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
		StartToCloseTimeout: 10 * time.Second,
		RetryPolicy:         &temporal.RetryPolicy{MaximumAttempts: 3},
		Summary:             "rego check",
	})
	in := RegoCheck{Module: r.st.Policy.Rego, Input: RegoInput(r.st, d, req)}
	var v policy.RegoVerdict
	err := workflow.ExecuteLocalActivity(ctx, ActivityCheckRego, in).Get(ctx, &v)
	if err != nil {
		err = errors.New(rootMessage(err))
	}
	return RegoOutcome(v, err)
}

// flushDeferred judges the clicks that waited for a notification round.
func (r *approvalRun) flushDeferred(ctx workflow.Context) {
	pending := r.deferred
	r.deferred = nil
	for _, req := range pending {
		r.receive(ctx, req)
	}
}

// decide records a legacy decision as the old rules judged it.
func (r *approvalRun) decide(ctx workflow.Context, req DecisionRequest) approval.Attempt {
	a := r.st.Decide(approval.Attempt{
		ID: req.AttemptID, User: req.User, Decision: req.Decision, Comment: req.Comment,
		Values: req.Values, Channel: req.Channel, RefusalReason: req.Refusal, Verdict: req.Verdict,
	}, workflow.Now(ctx))
	if !a.Accepted {
		r.logger.Info("decision refused", "user", a.User, "reason", a.RefusalReason)
		countRefused(ctx, a)
	}
	_ = r.apply(ctx, nil)
	return a
}

// apply refreshes the UI details, wakes the main loop and maps a refusal to
// the error the caller gets.
func (r *approvalRun) apply(ctx workflow.Context, err error) error {
	setDetails(ctx, r.st)
	r.changed.SendAsync(true)
	if err != nil {
		return refusalError(approval.CodeOf(err), err.Error())
	}
	return nil
}

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
					if err := upsertApprovers(ctx, st); err != nil {
						r.logger.Info("approvers search attribute not updated", "error", err)
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

func upsertStatus(ctx workflow.Context, st *approval.State) error {
	err := workflow.UpsertTypedSearchAttributes(ctx,
		AttrStatus.ValueSet(string(st.Status)),
		AttrRequester.ValueSet(st.Requester),
		AttrEnvironment.ValueSet(st.Request.Environment),
	)
	if err != nil {
		return fmt.Errorf("upsert search attributes: %w", err)
	}
	return nil
}

// changeApproversAttribute keeps the Approvers search attribute current when
// escalation adds people; approvals started before it replay without.
const changeApproversAttribute = "approvers-attribute"

func upsertApprovers(ctx workflow.Context, st *approval.State) error {
	if workflow.GetVersion(ctx, changeApproversAttribute, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		return nil
	}
	people := append(st.Policy.AllApprovers(), st.ExtraApprovers...)
	slices.Sort(people)
	return workflow.UpsertTypedSearchAttributes(ctx, AttrApprovers.ValueSet(slices.Compact(people)))
}

// setDetails keeps the Temporal UI's "current details" readable. fmt only
// formats strings and ints here, which is deterministic.
//
//workflowcheck:ignore
func setDetails(ctx workflow.Context, st *approval.State) {
	var b strings.Builder
	fmt.Fprintf(&b, "**%s** — %s\n\n", st.Status, st.Request.Title)
	approved, required := st.Progress()
	stages := st.Policy.StageList()
	if len(stages) > 1 {
		fmt.Fprintf(&b, "Stage %d of %d (%s): ", st.Stage+1, len(stages), st.CurrentStage().Name)
	}
	fmt.Fprintf(&b, "%d of %d approvals (policy `%s`)", approved, required, st.Policy.Name)
	if len(st.ApprovedBy) > 0 {
		fmt.Fprintf(&b, ", approved by %s", strings.Join(st.ApprovedBy, ", "))
	}
	if st.Status == approval.StatusPending {
		fmt.Fprintf(&b, "\n\nWaiting for: %s; deadline %s", strings.Join(st.Pending(), ", "), st.Deadline.UTC().Format(time.RFC3339))
	}
	if st.Status == approval.StatusBypassed {
		fmt.Fprintf(&b, "\n\n**Break-glass** by %s: %s", st.BypassedBy, st.BypassReason)
	}
	if st.ActionResult != nil {
		fmt.Fprintf(&b, "\n\nAction: %s", actionSummary(st.ActionResult))
	}
	workflow.SetCurrentDetails(ctx, b.String())
}

func actionSummary(r *approval.ActionResult) string {
	if r.Success {
		return r.Type + " succeeded: " + r.Output
	}
	return r.Type + " failed: " + r.Error
}

// refusalError maps a refusal to an application error whose type the
// gateway turns into a gRPC code. Refusals without a code (recorded before
// codes existed) are classified by their message.
func refusalError(code approval.Code, reason string) error {
	if code == "" {
		code = approval.CodeOfMessage(reason)
	}
	typ := ErrTypeFailedPrecondition
	switch code.Class() {
	case approval.ClassPermission:
		typ = ErrTypePermissionDenied
	case approval.ClassInvalid:
		typ = ErrTypeInvalidArgument
	}
	return temporal.NewApplicationErrorWithOptions(reason, typ, temporal.ApplicationErrorOptions{
		NonRetryable: true, Details: []any{code},
	})
}

func rootMessage(err error) string {
	var app *temporal.ApplicationError
	if errors.As(err, &app) {
		return app.Message()
	}
	var to *temporal.TimeoutError
	if errors.As(err, &to) {
		return "timed out: " + to.Error()
	}
	return err.Error()
}

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
	v2 := workflow.GetVersion(ctx, changeGrantPeriod, workflow.DefaultVersion, 1) == 1
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
		if err := upsertStatus(ctx, st); err != nil {
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
	if err := upsertStatus(ctx, st); err != nil {
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
	if workflow.GetVersion(dctx, changeCancelRevokes, workflow.DefaultVersion, 1) != 1 {
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
		_ = st.RequestRevoke(approval.Actor{User: "temporal", Admin: true, Proof: "Temporal cancellation request"}, reason, now)
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
