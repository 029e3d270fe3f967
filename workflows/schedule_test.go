package workflows

import (
	"time"

	"github.com/signoff/signoff/approval"
)

// scheduledInput asks for two hours of access starting start after t0.
func scheduledInput(start time.Duration) Input {
	in := grantInput()
	in.Request.StartAt = t0.Add(start)
	return in
}

func (s *ApprovalSuite) eventKinds(st *approval.State) map[approval.EventKind]string {
	kinds := map[approval.EventKind]string{}
	for _, e := range st.Events {
		kinds[e.Kind] = e.User + ": " + e.Detail
	}
	return kinds
}

// TestScheduledGrantStartsLater: approved an hour in for access from the
// fifth hour, the grant waits and runs at five hours; it is revoked two
// hours after the start, not after the approval. While it waits, the
// approval says when it starts and no access is granted.
func (s *ApprovalSuite) TestScheduledGrantStartsLater() {
	s.expectNotify()
	g := s.mockGrant(nil)
	s.signal(time.Hour, "bob", approval.DecisionApprove)
	s.env.RegisterDelayedCallback(func() {
		st := s.current()
		s.Equal(approval.StatusApproved, st.Status)
		s.Equal(t0.Add(5*time.Hour), st.Grant.StartAt)
		s.Equal(t0.Add(7*time.Hour), st.Grant.RevokeAt)
		s.True(st.Grant.GrantedAt.IsZero())
		s.True(st.Scheduled(t0.Add(3 * time.Hour)))
	}, 3*time.Hour)
	s.env.ExecuteWorkflow(ApprovalWorkflow, startStamped(scheduledInput(5*time.Hour)))

	st := s.result()
	s.Equal(approval.StatusRevoked, st.Status)
	s.Equal([]string{"grant@5h0m0s", "revoke@7h0m0s"}, g.at)
	s.Equal(t0.Add(5*time.Hour), st.Grant.GrantedAt)
	s.Contains(s.eventKinds(st)[approval.EventGrantScheduled], "granted at "+stamp(t0.Add(5*time.Hour)))
}

// TestScheduledGrantCancelledBeforeStart: approved, then cancelled by the
// requester before the start: nothing is granted or revoked, and the
// approval ends cancelled. Someone else's cancel is refused and recorded.
func (s *ApprovalSuite) TestScheduledGrantCancelledBeforeStart() {
	s.expectNotify()
	g := s.mockGrant(nil)
	s.signal(time.Hour, "bob", approval.DecisionApprove)
	s.update(90*time.Minute, UpdateCancel, CancelRequest{User: "bob", Reason: "not his"}, func(err error) {
		s.Equal(ErrTypePermissionDenied, appErrType(err))
	})
	s.update(2*time.Hour, UpdateCancel, CancelRequest{User: "alice", Reason: "window moved"}, func(err error) { s.NoError(err) })
	s.env.ExecuteWorkflow(ApprovalWorkflow, startStamped(scheduledInput(5*time.Hour)))

	st := s.result()
	s.Equal(approval.StatusCancelled, st.Status)
	s.Empty(g.at, "nothing granted, nothing to revoke")
	s.Equal("alice", st.CancelledBy)
	s.Equal(t0.Add(time.Hour), st.ClosedAt, "closed when it was approved")
	kinds := s.eventKinds(st)
	s.Contains(kinds[approval.EventCancelled], "before the grant's start, nothing granted")
	s.Contains(kinds[approval.EventCancelRefused], "bob")
}

// TestScheduledGrantCancelledInTemporal: a cancellation from Temporal
// while the grant waits grants nothing either.
func (s *ApprovalSuite) TestScheduledGrantCancelledInTemporal() {
	s.expectNotify()
	g := s.mockGrant(nil)
	s.signal(time.Hour, "bob", approval.DecisionApprove)
	s.env.RegisterDelayedCallback(s.env.CancelWorkflow, 2*time.Hour)
	s.env.ExecuteWorkflow(ApprovalWorkflow, startStamped(scheduledInput(5*time.Hour)))

	s.Require().True(s.env.IsWorkflowCompleted())
	st := s.current()
	s.Equal(approval.StatusCancelled, st.Status)
	s.Equal("temporal", st.CancelledBy)
	s.Empty(g.at, "nothing granted, nothing to revoke")
}

// TestScheduledGrantApprovedInsideItsWindow: approved after the start it
// asked for, access is granted at once and ends with the window asked
// for; approved after the window, nothing is granted.
func (s *ApprovalSuite) TestScheduledGrantApprovedInsideItsWindow() {
	s.expectNotify()
	g := s.mockGrant(nil)
	s.signal(time.Hour, "bob", approval.DecisionApprove)
	s.env.ExecuteWorkflow(ApprovalWorkflow, startStamped(scheduledInput(30*time.Minute)))

	st := s.result()
	s.Equal([]string{"grant@1h0m0s", "revoke@2h30m0s"}, g.at)
	s.True(st.Grant.StartAt.IsZero(), "not waiting: granted at approval")
}

func (s *ApprovalSuite) TestScheduledGrantApprovedAfterItsWindow() {
	s.expectNotify()
	g := s.mockGrant(nil)
	s.signal(3*time.Hour, "bob", approval.DecisionApprove)
	s.env.ExecuteWorkflow(ApprovalWorkflow, startStamped(scheduledInput(10*time.Minute)))

	st := s.result()
	s.Empty(g.at, "the window ended before the approval")
	s.Equal(approval.StatusApproved, st.Status)
	s.Contains(s.eventKinds(st)[approval.EventGrantWindowPassed], "nothing granted")
}

// TestApproverGrantsLessTime: bob approves the two-hour request for thirty
// minutes: the grant is revoked thirty minutes after the approval, and the
// attempt says what he approved. Approving more than was asked is refused.
func (s *ApprovalSuite) TestApproverGrantsLessTime() {
	s.expectNotify()
	g := s.mockGrant(nil)
	in := grantInput()
	in.Policy.Approvers, in.Policy.RequiredApprovals = []string{"bob", "carol"}, 1
	s.update(30*time.Minute, UpdateDecide, DecisionRequest{AttemptID: "carol-long", User: "carol", Decision: approval.DecisionApprove,
		Channel: "api", Duration: 3 * time.Hour}, func(err error) {
		s.Equal(ErrTypeInvalidArgument, appErrType(err))
	})
	s.env.RegisterDelayedCallback(func() {
		s.env.SignalWorkflow(SignalDecision, s.seal(DecisionRequest{AttemptID: "bob-short", User: "bob", Decision: approval.DecisionApprove,
			Channel: "api", Duration: 30 * time.Minute}))
	}, time.Hour)
	s.env.ExecuteWorkflow(ApprovalWorkflow, startStamped(in))

	st := s.result()
	s.Equal([]string{"grant@1h0m0s", "revoke@1h30m0s"}, g.at)
	s.Equal(30*time.Minute, st.GrantDuration())
	var refused int
	for _, a := range st.Attempts {
		if a.User == "carol" && a.RefusalCode == approval.CodeInvalidDuration {
			refused++
		}
	}
	s.Equal(1, refused, "carol's longer approval is refused and recorded")
}
