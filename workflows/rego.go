package workflows

// Rego: the policy's Rego check of a decision, in a local activity whose
// verdict history keeps (and the old rules' check of a Slack click).

import (
	"errors"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/signoff/signoff/approval"
	"github.com/signoff/signoff/policy"
)

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
	_, decider := req.Origin()
	return r.evalRego(ctx, decider, req)
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

// RegoInput is what a policy's Rego module sees for one decision.
func RegoInput(st *approval.State, d policy.Decider, req DecisionRequest) policy.RegoInput {
	in := policy.RegoInput{
		Decider:  d,
		Decision: string(req.Decision), Comment: req.Comment, Values: req.Values, Channel: req.Channel,
		OnBehalfOf: req.OnBehalfOf, Request: st.Request,
		Approval: policy.RegoApproval{
			ID: st.ID, Requester: st.Requester, Environment: st.Request.Environment, Status: string(st.Status),
			Stage: st.CurrentStage().Name, Policy: st.Policy.Name,
		},
		Decisions: []policy.RegoDecision{},
	}
	for _, a := range st.Attempts {
		in.Decisions = append(in.Decisions, policy.RegoDecision{User: a.User, Decision: string(a.Decision), Accepted: a.Accepted && !a.Voided, Channel: a.Channel})
	}
	return in
}

// RegoOutcome turns an evaluation into what the attempt records: the
// verdict, and a refusal unless the module allowed it. An evaluation error
// denies (deny by default).
func RegoOutcome(v policy.RegoVerdict, err error) (verdict, refusal string) {
	if err != nil {
		return "rego: error: " + err.Error(), approval.RefusedByPolicy + ": it could not be evaluated (deny by default)"
	}
	if v.Allow {
		return v.String(), ""
	}
	refusal = approval.RefusedByPolicy
	if len(v.Reasons) > 0 {
		refusal += ": " + v.Reasons[0]
	}
	return v.String(), refusal
}
