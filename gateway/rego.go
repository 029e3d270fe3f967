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
	user *identity.User, dr *workflows.DecisionRequest) error {
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
	verdict, err := RegoVerdict(ctx, &st, user, *dr)
	if err != nil {
		s.logger.WarnContext(ctx, "rego evaluation failed: denying", "approval_id", id, "err", err)
	}
	dr.Verdict, dr.Refusal = workflows.RegoOutcome(verdict, err)
	return nil
}

// RegoVerdict evaluates the snapshot's module for a decision by user made
// through the API or email (Slack clicks are checked by the workflow).
func RegoVerdict(ctx context.Context, st *approval.State, user *identity.User, dr workflows.DecisionRequest) (regopolicy.Verdict, error) {
	d := regopolicy.Decider{User: user.Name, Groups: user.Groups, Admin: user.Admin}
	return regopolicy.Evaluate(ctx, st.Policy.Rego, workflows.RegoInput(st, d, dr))
}
