package workflows

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/suite"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/signoff/signoff/approval"
)

type ApprovalSuite struct {
	suite.Suite
	testsuite.WorkflowTestSuite
	env *testsuite.TestWorkflowEnvironment
}

func TestApprovalWorkflow(t *testing.T) { suite.Run(t, new(ApprovalSuite)) }

func (s *ApprovalSuite) SetupTest() {
	s.env = s.NewTestWorkflowEnvironment()
	registerActivities(s.env)
	s.env.SetStartTime(t0)
}

func (s *ApprovalSuite) AfterTest(_, _ string) { s.env.AssertExpectations(s.T()) }

var t0 = time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)

func input(required int) Input {
	return Input{
		ID:        "a1",
		Requester: "alice",
		Request:   approval.Request{Title: "Deploy api v2", Environment: "production", Action: approval.Action{Type: "noop"}},
		Policy: approval.Policy{
			Name: "production", Version: "v1", Approvers: []string{"alice", "bob", "carol", "erin"},
			RequiredApprovals: required, Deadline: 24 * time.Hour,
		},
		CreatedAt: t0,
		Notifiers: []string{"log"},
		Rules:     approval.RulesProven,
		Version:   VersionLatest,
	}
}

func (s *ApprovalSuite) expectNotify() {
	s.env.OnActivity(ActivityNotify, mock.Anything, mock.Anything).Return(approval.Delivery{Targets: []string{"log:bob"}}, nil)
}

// watchAction mocks the action so that a run of it is recorded: without a
// mock, AssertNotCalled finds no call whatever ran (registerActivities'
// stand-in is not a mock). The run would succeed, so nothing else gives
// it away.
func (s *ApprovalSuite) watchAction() {
	s.env.OnActivity(ActivityRunAction, mock.Anything, mock.Anything).
		Return(approval.ActionResult{Type: "noop", Success: true, Output: "ran"}, nil).Maybe()
}

// assertNoAction: the action watched by watchAction never ran.
func (s *ApprovalSuite) assertNoAction() {
	s.env.AssertActivityNotCalled(s.T(), ActivityRunAction, mock.Anything, mock.Anything)
}

func (s *ApprovalSuite) signal(after time.Duration, user string, d approval.Decision) {
	s.env.RegisterDelayedCallback(func() {
		s.env.SignalWorkflow(SignalDecision, s.seal(DecisionRequest{AttemptID: user + string(d) + after.String(), User: user, Decision: d, Channel: "api"}))
	}, after)
}

func (s *ApprovalSuite) result() *approval.State {
	s.Require().True(s.env.IsWorkflowCompleted())
	s.Require().NoError(s.env.GetWorkflowError())
	var st approval.State
	s.Require().NoError(s.env.GetWorkflowResult(&st))
	return &st
}

func (s *ApprovalSuite) TestQuorumApprovesAndRunsActionOnce() {
	s.expectNotify()
	s.env.OnActivity(ActivityRunAction, mock.Anything, mock.Anything).
		Return(approval.ActionResult{Type: "noop", Success: true, Output: "done"}, nil).Once()
	var statuses []string
	var awaited [][]string
	s.env.OnUpsertTypedSearchAttributes(mock.Anything).Run(func(args mock.Arguments) {
		sa := args.Get(0).(temporal.SearchAttributes)
		if v, ok := sa.GetKeyword(AttrStatus); ok {
			statuses = append(statuses, v)
		}
		for k, v := range sa.GetUntypedValues() {
			if k.GetName() == AttrAwaitedBy.GetName() {
				list, _ := v.([]string)
				awaited = append(awaited, list)
			}
		}
	}).Return(nil)
	s.signal(time.Hour, "bob", approval.DecisionApprove)
	s.env.RegisterDelayedCallback(func() {
		// Halfway: one approval counted, still pending.
		v, err := s.env.QueryWorkflow(QueryState)
		s.Require().NoError(err)
		var st approval.State
		s.Require().NoError(v.Get(&st))
		s.Equal(approval.StatusPending, st.Status)
		s.Equal([]string{"bob"}, st.ApprovedBy)
		s.Equal([]string{"carol", "erin"}, st.Pending())
	}, 90*time.Minute)
	s.signal(2*time.Hour, "carol", approval.DecisionApprove)
	s.env.ExecuteWorkflow(ApprovalWorkflow, startStamped(input(2)))

	st := s.result()
	s.Equal(approval.StatusApproved, st.Status)
	s.Equal([]string{"bob", "carol"}, st.ApprovedBy)
	s.Equal(t0.Add(2*time.Hour), st.ClosedAt)
	s.Require().NotNil(st.ActionResult)
	s.True(st.ActionResult.Success)
	// Pending was set at start (by intake): only the change is upserted.
	s.Equal([]string{"Approved"}, statuses)
	// Who is awaited follows the decisions (set at start by intake): bob
	// leaves it when he approves; the close clears it in the status's own
	// upsert (an unset, which the test environment does not show: the
	// end-to-end inbox test does).
	s.Equal([][]string{{"carol", "erin"}}, awaited)
}

func (s *ApprovalSuite) TestEveryRefusalIsRecordedAndChangesNothing() {
	s.expectNotify()
	s.env.OnActivity(ActivityRunAction, mock.Anything, mock.Anything).Return(approval.ActionResult{Success: true}, nil).Once()
	s.signal(time.Minute, "alice", approval.DecisionApprove)     // requester
	s.signal(2*time.Minute, "mallory", approval.DecisionApprove) // not an approver
	s.signal(3*time.Minute, "bob", approval.DecisionApprove)
	s.signal(4*time.Minute, "bob", approval.DecisionApprove) // second time
	s.signal(5*time.Minute, "bob", "maybe")                  // unknown
	s.env.RegisterDelayedCallback(func() {
		// Redelivery of bob's first attempt: same ID, counted once.
		s.env.SignalWorkflow(SignalDecision, s.seal(DecisionRequest{AttemptID: "bobapprove3m0s", User: "bob", Decision: approval.DecisionApprove, Channel: "api"}))
	}, 6*time.Minute)
	s.signal(7*time.Minute, "carol", approval.DecisionApprove)
	s.signal(8*time.Minute, "erin", approval.DecisionReject) // after the end
	s.env.ExecuteWorkflow(ApprovalWorkflow, startStamped(input(2)))

	st := s.result()
	s.Equal(approval.StatusApproved, st.Status)
	var got [][2]string
	for _, a := range st.Attempts {
		got = append(got, [2]string{a.User, a.RefusalReason})
	}
	s.Equal([][2]string{
		{"alice", approval.RefusedSelfApproval},
		{"mallory", approval.RefusedNotApprover},
		{"bob", ""},
		{"bob", approval.RefusedAlreadyDecided},
		{"bob", approval.RefusedUnknownDecision},
		{"carol", ""},
	}, got, "the redelivered attempt is not recorded twice; erin's came after the workflow ended")
	s.Equal([]string{"bob", "carol"}, st.ApprovedBy)
}

func (s *ApprovalSuite) TestOneRejectionRejectsAndNoActionRuns() {
	s.expectNotify()
	s.watchAction()
	s.signal(time.Minute, "bob", approval.DecisionApprove)
	s.signal(2*time.Minute, "carol", approval.DecisionReject)
	s.env.ExecuteWorkflow(ApprovalWorkflow, startStamped(input(2)))

	st := s.result()
	s.Equal(approval.StatusRejected, st.Status)
	s.Nil(st.ActionResult)
	s.assertNoAction()
}

func (s *ApprovalSuite) TestDeadlineExpires() {
	s.expectNotify()
	s.signal(23*time.Hour, "bob", approval.DecisionApprove)
	s.env.ExecuteWorkflow(ApprovalWorkflow, startStamped(input(2)))

	st := s.result()
	s.Equal(approval.StatusExpired, st.Status)
	s.Equal(t0.Add(24*time.Hour), st.ClosedAt)
	s.Nil(st.ActionResult)
}

func (s *ApprovalSuite) TestDeadlineAlreadyPassedExpiresAtOnce() {
	s.expectNotify()
	in := input(1)
	in.CreatedAt = t0.Add(-48 * time.Hour)
	s.env.ExecuteWorkflow(ApprovalWorkflow, startStamped(in))
	s.Equal(approval.StatusExpired, s.result().Status)
}

func (s *ApprovalSuite) TestCancelByRequesterAndRefusalForOthers() {
	s.expectNotify()
	s.env.RegisterDelayedCallback(func() {
		s.env.SignalWorkflow(SignalCancel, s.seal(CancelRequest{User: "bob", Reason: "not mine"}))
	}, time.Minute)
	s.env.RegisterDelayedCallback(func() {
		s.env.SignalWorkflow(SignalCancel, s.seal(CancelRequest{User: "alice", Reason: "changed my mind"}))
	}, 2*time.Minute)
	s.env.ExecuteWorkflow(ApprovalWorkflow, startStamped(input(1)))

	st := s.result()
	s.Equal(approval.StatusCancelled, st.Status)
	s.Equal("alice", st.CancelledBy)
	s.Equal("changed my mind", st.CancelReason)
	kinds := map[approval.EventKind]string{}
	for _, e := range st.Events {
		kinds[e.Kind] = e.User
	}
	s.Equal("bob", kinds["cancel_refused"])
	s.Equal("alice", kinds["cancelled"])
}

func (s *ApprovalSuite) TestUpdatesAnswerWithRefusalsAndAdminCancel() {
	s.expectNotify()
	s.env.RegisterDelayedCallback(func() {
		s.env.UpdateWorkflow(UpdateDecide, "u1", &testsuite.TestUpdateCallback{
			OnReject: func(err error) { s.Fail("rejected", err.Error()) },
			OnComplete: func(_ any, err error) {
				var app *temporal.ApplicationError
				s.Require().True(errors.As(err, &app), "want application error, got %v", err)
				s.Equal(ErrTypePermissionDenied, app.Type())
				s.Equal(approval.RefusedSelfApproval, app.Message())
			},
		}, s.seal(DecisionRequest{AttemptID: "u1", User: "alice", Decision: approval.DecisionApprove, Channel: "api"}))
	}, time.Minute)
	s.env.RegisterDelayedCallback(func() {
		s.env.UpdateWorkflow(UpdateCancel, "u2", &testsuite.TestUpdateCallback{
			OnReject:   func(err error) { s.Fail("rejected", err.Error()) },
			OnComplete: func(_ any, err error) { s.NoError(err) },
		}, s.seal(CancelRequest{User: "dana", Admin: true, Reason: "freeze"}))
	}, 2*time.Minute)
	s.env.ExecuteWorkflow(ApprovalWorkflow, startStamped(input(1)))

	st := s.result()
	s.Equal(approval.StatusCancelled, st.Status)
	s.Equal("dana", st.CancelledBy)
	s.Len(st.Attempts, 1)
	s.False(st.Attempts[0].Accepted)
}

func (s *ApprovalSuite) TestFailedActionIsReportedNotFatal() {
	s.expectNotify()
	s.env.OnActivity(ActivityRunAction, mock.Anything, mock.Anything).
		Return(approval.ActionResult{}, temporal.NewNonRetryableApplicationError("HTTP 404: no such hook", "ActionFailed", nil))
	s.signal(time.Minute, "bob", approval.DecisionApprove)
	s.env.ExecuteWorkflow(ApprovalWorkflow, startStamped(input(1)))

	st := s.result()
	s.Equal(approval.StatusApproved, st.Status)
	s.Require().NotNil(st.ActionResult)
	s.False(st.ActionResult.Success)
	s.Equal("HTTP 404: no such hook", st.ActionResult.Error)
}

func (s *ApprovalSuite) TestFailingNotifierDoesNotBlockDecisions() {
	s.env.OnActivity(ActivityNotify, mock.Anything, mock.Anything).
		Return(approval.Delivery{}, temporal.NewNonRetryableApplicationError("channel_not_found", "SlackError", nil))
	s.env.OnActivity(ActivityRunAction, mock.Anything, mock.Anything).Return(approval.ActionResult{Success: true}, nil)
	s.signal(time.Minute, "bob", approval.DecisionApprove)
	s.env.ExecuteWorkflow(ApprovalWorkflow, startStamped(input(1)))

	st := s.result()
	s.Equal(approval.StatusApproved, st.Status)
	s.Equal(approval.EventNotifyFailed, st.Events[0].Kind)
	s.Contains(st.Events[0].Detail, "channel_not_found")
}
