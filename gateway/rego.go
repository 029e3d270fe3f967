package gateway

import (
	"context"

	"go.temporal.io/api/workflowservice/v1"

	"github.com/signoff/signoff/approval"
	"github.com/signoff/signoff/identity"
	"github.com/signoff/signoff/policy/regopolicy"
	"github.com/signoff/signoff/workflows"
)

// checkRego evaluates the approval's Rego check, when its policy has one,
// and writes the verdict into the decision: a deny (or an evaluation error:
// deny by default) becomes a refusal the workflow records. It runs here, not
// in the workflow, because evaluation must not happen during replay.
func (s *Service) checkRego(ctx context.Context, id string, desc *workflowservice.DescribeWorkflowExecutionResponse,
	user *identity.User, slack *regopolicy.SlackUser, dr *workflows.DecisionRequest) error {
	var has bool
	if p := desc.GetWorkflowExecutionInfo().GetMemo().GetFields()[workflows.MemoRego]; p == nil || decodePayload(p, &has) != nil || !has {
		return nil
	}
	v, err := s.temporal.QueryWorkflow(ctx, workflows.ApprovalWorkflowID(id), "", workflows.QueryState)
	if err != nil {
		return s.temporalError(ctx, "query approval", err)
	}
	var st approval.State
	if err := v.Get(&st); err != nil {
		return s.temporalError(ctx, "decode approval", err)
	}
	verdict, err := RegoVerdict(ctx, &st, user, slack, *dr)
	if err != nil {
		s.logger.WarnContext(ctx, "rego evaluation failed: denying", "approval_id", id, "err", err)
		dr.Verdict = "rego: error: " + err.Error()
		dr.Refusal = approval.RefusedByPolicy + ": it could not be evaluated (deny by default)"
		return nil
	}
	dr.Verdict = verdict.String()
	if !verdict.Allow {
		dr.Refusal = approval.RefusedByPolicy
		if len(verdict.Reasons) > 0 {
			dr.Refusal += ": " + verdict.Reasons[0]
		}
	}
	return nil
}

// RegoVerdict builds the Rego input for one decision and evaluates the
// snapshot's module. Slack callbacks use it with the clicker's Slack facts.
func RegoVerdict(ctx context.Context, st *approval.State, user *identity.User, slack *regopolicy.SlackUser,
	dr workflows.DecisionRequest) (regopolicy.Verdict, error) {
	in := regopolicy.Input{
		Decider:  regopolicy.Decider{User: user.Name, Groups: user.Groups, Admin: user.Admin, Slack: slack},
		Decision: string(dr.Decision), Comment: dr.Comment, Values: dr.Values, Channel: dr.Channel,
		Request: st.Request,
		Approval: regopolicy.Approval{
			ID: st.ID, Requester: st.Requester, Environment: st.Request.Environment, Status: string(st.Status),
			Stage: st.CurrentStage().Name, Policy: st.Policy.Name,
		},
		Decisions: []regopolicy.Decision{},
	}
	for _, a := range st.Attempts {
		in.Decisions = append(in.Decisions, regopolicy.Decision{User: a.User, Decision: string(a.Decision), Accepted: a.Accepted && !a.Voided, Channel: a.Channel})
	}
	return regopolicy.Evaluate(ctx, st.Policy.Rego, in)
}
