package workflows

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/signoff/signoff/approval"
)

// notifications records every notify activity: kind and when.
type notification struct {
	kind  NoticeKind
	at    time.Duration
	level int
	stage int
}

func (s *ApprovalSuite) recordNotifications() *[]notification {
	var got []notification
	var mu sync.Mutex // parallel notify activities run on their own goroutines
	s.env.OnActivity(ActivityNotify, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in NotifyInput) (approval.Delivery, error) {
			n := notification{kind: in.Kind, at: s.env.Now().Sub(t0), stage: in.Approval.Stage}
			if in.Escalation != nil {
				n.level = in.Approval.EscalationLevel
			}
			mu.Lock()
			got = append(got, n)
			mu.Unlock()
			return approval.Delivery{}, nil
		})
	return &got
}

func staged() Input {
	in := input(1)
	in.Policy = approval.Policy{
		Name: "two-stage", Deadline: 48 * time.Hour,
		Stages: []approval.Stage{
			{Name: "team lead", Approvers: []string{"bob", "carol"}, RequiredApprovals: 1},
			{Name: "security", Approvers: []string{"carol", "dana", "erin"}, RequiredApprovals: 2},
		},
	}
	return in
}

func (s *ApprovalSuite) TestStagesInOrderWithDistinctPeople() {
	got := s.recordNotifications()
	s.env.OnActivity(ActivityRunAction, mock.Anything, mock.Anything).Return(approval.ActionResult{Success: true}, nil).Once()
	s.signal(time.Hour, "dana", approval.DecisionApprove)    // security, too early
	s.signal(2*time.Hour, "carol", approval.DecisionApprove) // team lead stage done
	s.signal(3*time.Hour, "carol", approval.DecisionApprove) // carol again, in security
	s.signal(4*time.Hour, "dana", approval.DecisionApprove)  // 1 of 2
	s.signal(5*time.Hour, "erin", approval.DecisionApprove)  // 2 of 2
	s.env.ExecuteWorkflow(ApprovalWorkflow, startStamped(staged()))

	st := s.result()
	s.Equal(approval.StatusApproved, st.Status)
	s.Equal([]string{"carol", "dana", "erin"}, st.ApprovedBy)
	reasons := []string{}
	for _, a := range st.Attempts {
		reasons = append(reasons, a.RefusalReason)
	}
	s.Equal([]string{approval.RefusedNotThisStage, "", approval.RefusedEarlierStage, "", ""}, reasons)
	// Prompted at creation and again when the security stage opened.
	var prompts []notification
	for _, n := range *got {
		if n.kind == NoticePrompt {
			prompts = append(prompts, n)
		}
	}
	s.Equal([]notification{{kind: "prompt", at: 0, stage: 0}, {kind: "prompt", at: 2 * time.Hour, stage: 1}}, prompts)
}

func (s *ApprovalSuite) TestRejectionQuorum() {
	s.expectNotify()
	in := input(2)
	in.Policy.RejectionsRequired = 2
	s.signal(time.Minute, "bob", approval.DecisionReject)
	s.env.RegisterDelayedCallback(func() {
		v, err := s.env.QueryWorkflow(QueryState)
		s.Require().NoError(err)
		var st approval.State
		s.Require().NoError(v.Get(&st))
		s.Equal(approval.StatusPending, st.Status, "one rejection of two is not enough")
	}, 2*time.Minute)
	s.signal(3*time.Minute, "carol", approval.DecisionReject)
	s.env.ExecuteWorkflow(ApprovalWorkflow, startStamped(in))
	s.Equal(approval.StatusRejected, s.result().Status)
}

func (s *ApprovalSuite) TestRemindersAndEscalationAtTheRightTimes() {
	got := s.recordNotifications()
	s.env.OnActivity(ActivityRunAction, mock.Anything, mock.Anything).Return(approval.ActionResult{Success: true}, nil)
	in := input(1)
	in.Policy.Approvers = []string{"bob"}
	in.Policy.Reminder = 4 * time.Hour
	in.Policy.Escalations = []approval.Escalation{
		{After: 6 * time.Hour, Notify: approval.Targets{Channels: []string{"#oncall"}}},
		{After: 10 * time.Hour, Notify: approval.Targets{Users: []string{"dana"}}, AddApprovers: []string{"dana"}},
	}
	s.signal(9*time.Hour, "dana", approval.DecisionApprove)  // not yet an approver
	s.signal(11*time.Hour, "dana", approval.DecisionApprove) // added at level 2
	s.env.ExecuteWorkflow(ApprovalWorkflow, startStamped(in))

	st := s.result()
	s.Equal(approval.StatusApproved, st.Status)
	s.Equal(approval.RefusedNotApprover, st.Attempts[0].RefusalReason)
	s.True(st.Attempts[1].Accepted)
	s.Equal([]notification{
		{kind: "prompt", at: 0},
		{kind: "reminder", at: 4 * time.Hour},
		{kind: "escalation", at: 6 * time.Hour, level: 1},
		{kind: "reminder", at: 8 * time.Hour},
		{kind: "escalation", at: 10 * time.Hour, level: 2},
		{kind: "outcome", at: 11 * time.Hour},
	}, *got)
}

func (s *ApprovalSuite) TestDeadlineOutcomeReject() {
	s.expectNotify()
	in := input(1)
	in.Policy.OnDeadline = approval.OnDeadlineReject
	s.env.ExecuteWorkflow(ApprovalWorkflow, startStamped(in))
	st := s.result()
	s.Equal(approval.StatusRejected, st.Status)
	s.Equal(t0.Add(24*time.Hour), st.ClosedAt)
}

func (s *ApprovalSuite) update(after time.Duration, name string, arg any, check func(error)) {
	s.env.RegisterDelayedCallback(func() {
		s.env.UpdateWorkflow(name, name+after.String(), &testsuite.TestUpdateCallback{
			OnReject:   func(err error) { s.Fail("update rejected", err.Error()) },
			OnComplete: func(_ any, err error) { check(err) },
		}, s.seal(arg))
	}, after)
}

func appErrType(err error) string {
	var app *temporal.ApplicationError
	if errors.As(err, &app) {
		return app.Type()
	}
	return ""
}

func (s *ApprovalSuite) TestBreakGlassOnSoftPolicy() {
	got := s.recordNotifications()
	s.env.OnActivity(ActivityRunAction, mock.Anything, mock.Anything).Return(approval.ActionResult{Success: true}, nil).Once()
	in := input(2)
	in.Policy.Enforcement = approval.EnforcementSoft
	in.SecurityNotifiers = []string{"security"}
	s.update(time.Minute, UpdateBypass, BypassRequest{User: "bob", Reason: "x"}, func(err error) {
		s.Equal(ErrTypePermissionDenied, appErrType(err), "only the requester breaks glass")
	})
	s.update(2*time.Minute, UpdateBypass, BypassRequest{User: "alice"}, func(err error) {
		s.Equal(ErrTypeInvalidArgument, appErrType(err), "a reason is required")
	})
	s.update(3*time.Minute, UpdateBypass, BypassRequest{User: "alice", Reason: "prod is down"}, func(err error) { s.NoError(err) })
	s.env.ExecuteWorkflow(ApprovalWorkflow, startStamped(in))

	st := s.result()
	s.Equal(approval.StatusBypassed, st.Status)
	s.Equal("prod is down", st.BypassReason)
	s.Require().NotNil(st.ActionResult, "the action runs after break-glass")
	kinds := map[NoticeKind]int{}
	for _, n := range *got {
		kinds[n.kind]++
	}
	// Both notifiers (approvers' and security) hear about it at once.
	s.Equal(2, kinds[NoticeBreakGlass])
	var refused []string
	for _, e := range st.Events {
		if e.Kind == "break_glass_refused" {
			refused = append(refused, e.User)
		}
	}
	s.Equal([]string{"bob", "alice"}, refused)
}

func (s *ApprovalSuite) TestBreakGlassRefusedOnHardPolicy() {
	s.expectNotify()
	s.update(time.Minute, UpdateBypass, BypassRequest{User: "alice", Reason: "prod is down"}, func(err error) {
		s.Equal(ErrTypePermissionDenied, appErrType(err))
	})
	s.env.ExecuteWorkflow(ApprovalWorkflow, startStamped(input(1)))
	st := s.result()
	s.Equal(approval.StatusExpired, st.Status, "hard enforcement: nothing but approval lets it through")
	s.Nil(st.ActionResult)
}

func (s *ApprovalSuite) TestAmendVoidsApprovalsAndPromptsAgain() {
	got := s.recordNotifications()
	var ran approval.Request
	s.env.OnActivity(ActivityRunAction, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in ActionInput) (approval.ActionResult, error) {
			ran = in.Approval.Request
			return approval.ActionResult{Success: true}, nil
		}).Once()
	amended := input(2).Request
	amended.Title = "Deploy api v3"
	s.signal(time.Minute, "bob", approval.DecisionApprove)
	s.update(2*time.Minute, UpdateAmend, AmendRequest{User: "bob", Request: amended}, func(err error) {
		s.Equal(ErrTypePermissionDenied, appErrType(err))
	})
	s.update(3*time.Minute, UpdateAmend, AmendRequest{User: "alice", Request: amended}, func(err error) { s.NoError(err) })
	s.signal(4*time.Minute, "carol", approval.DecisionApprove)
	s.signal(5*time.Minute, "bob", approval.DecisionApprove) // again, on the new content
	s.env.ExecuteWorkflow(ApprovalWorkflow, startStamped(input(2)))

	st := s.result()
	s.Equal(approval.StatusApproved, st.Status)
	s.Equal([]string{"carol", "bob"}, st.ApprovedBy)
	s.Equal("Deploy api v3", ran.Title, "the action runs with the approved content")
	s.True(st.Attempts[0].Voided)
	s.Equal(1, st.Revision)
	s.Len(st.PreviousHashes, 1)
	s.Equal(st.RequestHash, st.Attempts[2].RequestHash)
	prompts := 0
	for _, n := range *got {
		if n.kind == NoticePrompt {
			prompts++
		}
	}
	s.Equal(2, prompts, "approvers are asked again after the amendment")
}

func (s *ApprovalSuite) TestCommentRequiredAndSelfApprovalAllowed() {
	s.expectNotify()
	s.env.OnActivity(ActivityRunAction, mock.Anything, mock.Anything).Return(approval.ActionResult{Success: true}, nil)
	in := input(2)
	in.Policy.RequireComment = approval.CommentRule{Reject: true}
	in.Policy.SelfApproval = true
	s.signal(time.Minute, "bob", approval.DecisionReject) // no comment
	s.signal(2*time.Minute, "alice", approval.DecisionApprove)
	s.signal(3*time.Minute, "carol", approval.DecisionApprove)
	s.env.ExecuteWorkflow(ApprovalWorkflow, startStamped(in))
	st := s.result()
	s.Equal(approval.RefusedCommentToReject, st.Attempts[0].RefusalReason)
	s.Equal(approval.StatusApproved, st.Status)
	s.Equal([]string{"alice", "carol"}, st.ApprovedBy)
}
