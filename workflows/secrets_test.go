package workflows

import (
	"context"
	"errors"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/temporal"

	"time"

	"github.com/signoff/signoff/approval"
	"github.com/signoff/signoff/secretchange"
)

// secretInput asks to rotate a key of production/api.
func secretInput() Input {
	in := input(1)
	in.Request.Action = approval.Action{Type: "secret_change", Params: map[string]string{"target": "prod", "secret": "production/api"}}
	in.Request.Secret = &secretchange.Change{Target: "prod", Secret: "production/api", KeyID: "k1",
		Keys: []secretchange.KeyChange{{Key: "DB_PASSWORD", Op: secretchange.OpRotate, Kind: secretchange.KindChanged}}}
	return in
}

// mockPhases answers the action activity per phase (an error for the
// phases in fail) and records the phases run.
func (s *ApprovalSuite) mockPhases(fail map[string]bool) *[]string {
	var phases []string
	s.env.OnActivity(ActivityRunAction, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in ActionInput) (approval.ActionResult, error) {
			phase := in.Phase
			if phase == "" {
				phase = "apply"
			}
			phases = append(phases, phase)
			if fail[phase] {
				return approval.ActionResult{}, temporal.NewNonRetryableApplicationError("the secret changed since the change was proposed", "ActionFailed", errors.New("x"))
			}
			return approval.ActionResult{Type: in.Approval.Request.Action.Type, Success: true, Output: phase + " done"}, nil
		})
	return &phases
}

// TestSecretChangeApprovedIsAppliedAndKeepsNothing: applied once; the
// staged values went with the apply, nothing is discarded after.
func (s *ApprovalSuite) TestSecretChangeApprovedIsAppliedAndKeepsNothing() {
	s.expectNotify()
	phases := s.mockPhases(nil)
	s.signal(time.Minute, "bob", approval.DecisionApprove)
	s.env.ExecuteWorkflow(ApprovalWorkflow, startStamped(secretInput()))
	st := s.result()
	s.Equal(approval.StatusApproved, st.Status)
	s.Equal([]string{"apply"}, *phases)
}

// TestSecretChangeRejectedDiscardsTheStagedValues: rejected, the staged
// values are destroyed and nothing is applied; a failed apply discards
// them too.
func (s *ApprovalSuite) TestSecretChangeRejectedDiscardsTheStagedValues() {
	s.expectNotify()
	phases := s.mockPhases(nil)
	s.signal(time.Minute, "bob", approval.DecisionReject)
	s.env.ExecuteWorkflow(ApprovalWorkflow, startStamped(secretInput()))
	st := s.result()
	s.Equal(approval.StatusRejected, st.Status)
	s.Equal([]string{PhaseDiscard}, *phases)
	var discarded bool
	for _, e := range st.Events {
		discarded = discarded || e.Kind == approval.EventDiscarded
	}
	s.True(discarded, "the discard is in the audit trail")
}

func (s *ApprovalSuite) TestSecretChangeFailedApplyDiscards() {
	s.expectNotify()
	phases := s.mockPhases(map[string]bool{"apply": true})
	s.signal(time.Minute, "bob", approval.DecisionApprove)
	s.env.ExecuteWorkflow(ApprovalWorkflow, startStamped(secretInput()))
	st := s.result()
	s.False(st.ActionResult.Success)
	s.Equal([]string{"apply", PhaseDiscard}, *phases)
}
