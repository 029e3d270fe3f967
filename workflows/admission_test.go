package workflows

import (
	"fmt"
	"strings"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/signoff/signoff/approval"
)

// TestFloodIsTurnedAwayBeforeHistory: a colleague who is not an approver,
// an admin who is not one either, and a forger with Temporal access each
// send hundreds of maximal attempts and operations. Each person's first
// MaxRefusedPerPerson refusals are kept; every later one is turned away by
// the validator (so it adds nothing to history and does not count toward
// Temporal's 2,000 updates), with the refusal the sender would have had.
// The approvers' decisions are never turned away: the approval completes
// and its action runs once.
func (s *ApprovalSuite) TestFloodIsTurnedAwayBeforeHistory() {
	s.expectNotify()
	s.env.OnActivity(ActivityRunAction, mock.Anything, mock.Anything).Return(approval.ActionResult{Success: true}, nil).Once()
	s.env.RegisterWorkflowWithOptions(Approval(testKeys), workflow.RegisterOptions{Name: WorkflowName})
	comment := strings.Repeat("c", approval.MaxCommentRunes)
	const each = 150
	admitted, turnedAway := map[string]int{}, map[string]int{}
	send := func(at time.Duration, who, name, id string, arg func() any) {
		s.env.RegisterDelayedCallback(func() {
			s.env.UpdateWorkflow(name, id, &testsuite.TestUpdateCallback{
				OnReject: func(err error) {
					turnedAway[who]++
					s.Contains(err.Error(), "not recorded", who)
				},
				OnAccept: func() { admitted[who]++ },
				OnComplete: func(_ any, err error) {
					s.Error(err, "%s's attempt %s counted", who, id)
				},
			}, arg())
		}, at)
	}
	for i := range each {
		at := time.Duration(i+1) * time.Second
		send(at, "dana", UpdateDecide, fmt.Sprintf("dana-%d", i), func() any {
			return s.seal(DecisionRequest{AttemptID: fmt.Sprintf("dana-%d", i), User: "dana", Decision: approval.DecisionApprove, Channel: "api", Comment: comment})
		})
		send(at, "root", UpdateDecide, fmt.Sprintf("root-%d", i), func() any {
			// An admin, but not an approver of this request.
			return s.seal(DecisionRequest{AttemptID: fmt.Sprintf("root-%d", i), User: "root", Decision: approval.DecisionReject, Channel: "web", Comment: comment})
		})
		send(at, "erin", UpdateCancel, fmt.Sprintf("erin-%d", i), func() any {
			// An approver, but neither the requester nor an admin: she may not cancel.
			return s.seal(CancelRequest{AttemptID: fmt.Sprintf("erin-%d", i), User: "erin", Reason: comment})
		})
		send(at, "forger", UpdateDecide, fmt.Sprintf("forged-%d", i), func() any {
			return DecisionRequest{AttemptID: fmt.Sprintf("forged-%d", i), User: "bob", Decision: approval.DecisionApprove, Channel: "api", Comment: comment}
		})
	}
	s.signal(time.Hour, "bob", approval.DecisionApprove)
	s.signal(time.Hour+time.Minute, "carol", approval.DecisionApprove)
	s.env.ExecuteWorkflow(WorkflowName, startStamped(input(2)))

	st := s.result()
	s.Equal(approval.StatusApproved, st.Status)
	s.Equal([]string{"bob", "carol"}, st.ApprovedBy)
	for _, who := range []string{"dana", "root", "erin", "forger"} {
		s.Equal(approval.MaxRefusedPerPerson, admitted[who], "%s: admitted", who)
		s.Equal(each-approval.MaxRefusedPerPerson, turnedAway[who], "%s: turned away", who)
	}
	s.Equal(4*approval.MaxRefusedPerPerson, st.RefusalsKept())
	s.Zero(st.DroppedTotal(), "nothing past a cap reached the workflow")
}

// TestApproversAreAdmittedPastEveryCap: once everyone together has filled
// MaxRefusalsKept, a refusal is no longer kept from anyone, yet an
// approver's decision that counts is still admitted and counts, and so is
// the requester's amendment.
func (s *ApprovalSuite) TestApproversAreAdmittedPastEveryCap() {
	s.expectNotify()
	s.env.OnActivity(ActivityRunAction, mock.Anything, mock.Anything).Return(approval.ActionResult{Success: true}, nil).Once()
	s.env.RegisterWorkflowWithOptions(Approval(testKeys), workflow.RegisterOptions{Name: WorkflowName})
	people := approval.MaxRefusalsKept/approval.MaxRefusedPerPerson + 1
	var turnedAway int
	for p := range people {
		for i := range approval.MaxRefusedPerPerson {
			id := fmt.Sprintf("p%d-%d", p, i)
			at := time.Duration(p*approval.MaxRefusedPerPerson+i+1) * time.Second
			s.env.RegisterDelayedCallback(func() {
				s.env.UpdateWorkflow(UpdateDecide, id, &testsuite.TestUpdateCallback{
					OnReject: func(error) { turnedAway++ }, OnAccept: func() {}, OnComplete: func(any, error) {},
				}, s.seal(DecisionRequest{AttemptID: id, User: fmt.Sprintf("stranger%d", p), Decision: approval.DecisionApprove, Channel: "api"}))
			}, at)
		}
	}
	var stale error
	s.env.RegisterDelayedCallback(func() {
		// bob decides on content he did not see: refused, and not kept.
		s.env.UpdateWorkflow(UpdateDecide, "bob-stale", &testsuite.TestUpdateCallback{
			OnReject: func(err error) { stale = err }, OnAccept: func() {}, OnComplete: func(any, error) {},
		}, s.seal(DecisionRequest{AttemptID: "bob-stale", User: "bob", Decision: approval.DecisionApprove, Channel: "api", SeenHash: strings.Repeat("0", 64)}))
	}, 50*time.Minute)
	s.update(55*time.Minute, UpdateAmend, AmendRequest{User: "alice", Request: approval.Request{Title: "Deploy api v3", Environment: "production", Action: approval.Action{Type: "noop"}}},
		func(err error) { s.NoError(err, "the requester's amendment") })
	s.signal(time.Hour, "bob", approval.DecisionApprove)
	s.signal(time.Hour+time.Minute, "carol", approval.DecisionApprove)
	s.env.ExecuteWorkflow(WorkflowName, startStamped(input(2)))

	st := s.result()
	s.Equal(approval.StatusApproved, st.Status)
	s.Equal(1, st.Revision)
	s.Equal(approval.MaxRefusalsKept, st.RefusalsKept())
	s.Equal(approval.MaxRefusedPerPerson, turnedAway, "the last stranger's attempts")
	s.Require().Error(stale)
	s.Contains(stale.Error(), "not recorded")
}
