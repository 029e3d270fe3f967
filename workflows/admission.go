package workflows

import (
	"errors"

	"go.temporal.io/sdk/workflow"

	"github.com/signoff/signoff/approval"
)

// Admission keeps an approval out of reach of Temporal's limits for anyone
// who cannot change its outcome.
//
// Every update Temporal admits counts toward its limit of distinct updates
// per execution (2,000) and adds events to history; an update turned away
// by its validator counts toward neither and leaves no trace. Refused
// attempts are kept in full up to a cap per person and per approval
// (approval.KeepsRefusalOf); past the cap the judge would only count them.
// So the validator turns away an attempt past the cap that the judge would
// refuse even if its stamp were good: the sender hears the same refusal,
// the gateway logs it, and the workflow keeps room for the people who can
// still decide. An attempt that might count is always admitted.
//
// Validators are not replayed, so they may use the worker's key ring
// directly; with no ring (replay, tests) they assume the better case for
// the sender, which only ever admits more.

// notRecorded marks a refusal turned away before history.
const notRecorded = " (not recorded: the approval keeps no more refusals from this person)"

// admitDecision is the decide validator's judgement.
//
//workflowcheck:ignore (validators are not replayed)
func (r *approvalRun) admitDecision(ctx workflow.Context, req DecisionRequest) error {
	st := r.st
	if _, seen := st.Find(req.AttemptID); seen || st.Rules == approval.RulesLegacy {
		return nil
	}
	if r.keptEither(req.User) {
		return nil // kept whatever its stamp: no need to check it here
	}
	proven, known := provenNow(ctx, r, req)
	if r.keeps(req.User, proven, known) {
		return nil
	}
	if known && !proven {
		return refusalError(approval.CodeUnproven, approval.RefusedUnproven+notRecorded)
	}
	a := AttemptOf(st, req)
	a.Proof = "admission"
	a = st.ForWhom(a, req.StandsInFor, req.OnBehalfOf)
	place, _ := req.Origin()
	ref := st.Judge(a, place, workflow.Now(ctx))
	if ref.OK() || (ref.Code == approval.CodeNotPromptedHere && r.notifying > 0) {
		return nil // it may count: the handler judges it, with its proof and Rego
	}
	return refusalError(ref.Code, ref.Message+notRecorded)
}

// admitOperation is the validator's judgement of an operation (cancel,
// break-glass, amend, revoke, ...): op is what its handler does to the
// state, tried here on a copy.
//
//workflowcheck:ignore (validators are not replayed)
func admitOperation[M Provable[M]](ctx workflow.Context, r *approvalRun, m M, user string, admin bool,
	op func(*approval.State, approval.Actor) error) error {
	st := r.st
	if st.Rules == approval.RulesLegacy {
		return nil
	}
	if r.keptEither(user) {
		return nil // kept whatever its stamp: no need to check it here
	}
	proven, known := provenNow(ctx, r, m)
	if r.keeps(user, proven, known) {
		return nil
	}
	who := approval.Actor{User: user}
	if proven || !known {
		who.Proof, who.Admin = "admission", admin
	} else {
		who.ProofRefusal = approval.Refusal{Code: approval.CodeUnproven, Message: approval.RefusedUnproven}
	}
	c, err := st.Clone()
	if err != nil {
		return nil // the handler decides
	}
	if err := op(c, who); err != nil {
		var ref approval.Refusal
		if errors.As(err, &ref) {
			return refusalError(ref.Code, ref.Message+notRecorded)
		}
		return refusalError(approval.CodeOf(err), err.Error()+notRecorded)
	}
	return nil
}

// provenNow checks m's stamp as the handler will (key, then age), without
// recording anything. known is false when this worker holds no keys.
//
//workflowcheck:ignore (validators are not replayed)
func provenNow[M Provable[M]](ctx workflow.Context, r *approvalRun, m M) (proven, known bool) {
	if r.keys == nil {
		return false, false
	}
	stamp, ref := stampOf(m)
	if !ref.OK() {
		return false, true
	}
	_, ref = ProofOutcome(r.keys.Check(ProofSubject(r.st.ID, m), *stamp), workflow.Now(ctx))
	return ref.OK(), true
}

// keeps reports whether a refusal of user's message would be kept in full,
// so the message may as well be admitted. Without keys either person key
// may be the one.
func (r *approvalRun) keeps(user string, proven, known bool) bool {
	if !known {
		return r.st.KeepsRefusalOf(r.st.PersonKey(user, true)) || r.st.KeepsRefusalOf(r.st.PersonKey(user, false))
	}
	return r.st.KeepsRefusalOf(r.st.PersonKey(user, proven))
}

// keptEither reports whether a refusal of user's message would be kept
// whether or not its stamp is good: the common case, decided without an
// HMAC per update.
func (r *approvalRun) keptEither(user string) bool {
	return r.st.KeepsRefusalOf(r.st.PersonKey(user, true)) && r.st.KeepsRefusalOf(r.st.PersonKey(user, false))
}
