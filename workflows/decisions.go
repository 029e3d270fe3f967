package workflows

// Decisions: judging one attempt (receive, AttemptOf, record), the Slack
// clicks deferred until their prompt is recorded, and the path of
// approvals judged by the old rules (approval.RulesLegacy: receiveLegacy,
// decide).

import (
	"go.temporal.io/sdk/workflow"

	"github.com/signoff/signoff/approval"
)

// UnprovenAttemptPrefix starts the recorded ID of an attempt whose proof
// failed.
const UnprovenAttemptPrefix = "unproven:"

// changeProvenDecisions moves approvals started before decisions had to be
// proven to the proven rules at their first message, when their history
// allows (no message was handled under the old rules).
const changeProvenDecisions = "proven-decisions"

// rules is the version of the rules this approval is judged by.
func (r *approvalRun) rules(ctx workflow.Context) int {
	if r.st.Rules == approval.RulesLegacy &&
		newSide(ctx, r.in, changeProvenDecisions) {
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
	a.Proof, ref = proven(ctx, r, req)
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
		Memberships: req.Memberships, Duration: req.Duration,
	}
	if req.FromPrompt() && a.Decision == "" && len(a.Values) == 1 {
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

// receiveLegacy judges a decision of an approval that began under the old
// rules exactly as those rules did, so its history replays: the user named
// is believed, a click on a prompt is checked against its place and Rego,
// other channels carry the gateway's verdict.
func (r *approvalRun) receiveLegacy(ctx workflow.Context, req DecisionRequest) approval.Attempt {
	if !req.FromPrompt() {
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
