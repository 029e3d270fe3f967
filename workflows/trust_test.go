package workflows

import (
	"errors"
	"strings"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/signoff/signoff/approval"
	"github.com/signoff/signoff/auth/proof"
)

// TestForgedMessagesCountForNothing: what anyone with Temporal access can
// send (signals and updates naming any user, an admin flag, a stamp made with
// another key) is recorded as refused and changes nothing; the gateway's
// stamped decisions still decide.
func (s *ApprovalSuite) TestForgedMessagesCountForNothing() {
	s.expectNotify()
	s.env.OnActivity(ActivityRunAction, mock.Anything, mock.Anything).Return(approval.ActionResult{Success: true}, nil).Once()
	forged := func(after time.Duration, name string, arg any) {
		s.env.RegisterDelayedCallback(func() {
			if name == SignalDecision || name == SignalCancel {
				s.env.SignalWorkflow(name, arg)
				return
			}
			s.env.UpdateWorkflow(name, "forged"+after.String(), &testsuite.TestUpdateCallback{
				OnReject: func(err error) { s.Fail("rejected", err.Error()) },
				OnComplete: func(_ any, err error) {
					var app *temporal.ApplicationError
					s.Require().True(errors.As(err, &app), "forged %s: want a refusal, got %v", name, err)
					s.Equal(ErrTypePermissionDenied, app.Type())
				},
			}, arg)
		}, after)
	}
	other := proof.Generate()
	forged(time.Minute, SignalDecision, DecisionRequest{AttemptID: "x1", User: "bob", Decision: approval.DecisionApprove, Channel: "api"})
	forged(2*time.Minute, UpdateDecide, DecisionRequest{AttemptID: "x2", User: "carol", Decision: approval.DecisionApprove, Channel: "api"})
	forged(3*time.Minute, SignalCancel, CancelRequest{User: "mallory", Admin: true, Reason: "gone"})
	forged(4*time.Minute, UpdateCancel, CancelRequest{User: "dana", Admin: true, Reason: "gone"})
	forged(5*time.Minute, UpdateBypass, BypassRequest{User: "alice", Reason: "urgent"})
	forged(6*time.Minute, UpdateAmend, AmendRequest{User: "alice", Request: approval.Request{Title: "evil", Environment: "production"}})
	s.env.RegisterDelayedCallback(func() {
		// A stamp by a key the worker does not hold.
		s.env.SignalWorkflow(SignalDecision, Stamp(other, "a1", DecisionRequest{
			AttemptID: "x3", User: "bob", Decision: approval.DecisionApprove, Channel: "api", SeenHash: s.current().RequestHash,
		}, s.env.Now()))
		// A real stamp, replayed for another user: the stamp covers the user.
		real := s.seal(DecisionRequest{AttemptID: "x4", User: "erin", Decision: approval.DecisionApprove, Channel: "api"}).(DecisionRequest)
		real.User = "carol"
		s.env.SignalWorkflow(SignalDecision, real)
	}, 7*time.Minute)
	s.env.RegisterDelayedCallback(func() {
		st := s.current()
		s.Equal(approval.StatusPending, st.Status, "nothing forged counted")
		s.Empty(st.ApprovedBy)
		s.Equal(0, st.Revision, "the forged amendment changed nothing")
	}, 8*time.Minute)
	s.signal(9*time.Minute, "bob", approval.DecisionApprove)
	s.signal(10*time.Minute, "carol", approval.DecisionApprove)
	s.env.ExecuteWorkflow(ApprovalWorkflow, startStamped(input(2)))

	st := s.result()
	s.Equal(approval.StatusApproved, st.Status)
	s.Equal([]string{"bob", "carol"}, st.ApprovedBy)
	var refused []approval.Code
	for _, a := range st.Attempts {
		if !a.Accepted {
			refused = append(refused, a.RefusalCode)
			s.Empty(a.Proof)
		} else {
			s.Contains(a.Proof, "gateway stamp")
		}
	}
	s.Equal([]approval.Code{approval.CodeUnproven, approval.CodeUnproven, approval.CodeUnproven, approval.CodeUnproven}, refused)
	for _, a := range st.Attempts {
		if !a.Accepted {
			s.True(strings.HasPrefix(a.ID, UnprovenAttemptPrefix), "unproven attempt %q under an ID of its own", a.ID)
		}
	}
	ops := map[approval.EventKind]int{}
	for _, e := range st.Events {
		if strings.HasSuffix(string(e.Kind), "_refused") {
			s.Equal(approval.UnprovenKey, e.User)
			ops[e.Kind]++
		}
	}
	s.Equal(map[approval.EventKind]int{"cancel_refused": 2, "break_glass_refused": 1, "amend_refused": 1}, ops)
}

// TestForgedAttemptCannotTakeAnotherAttemptsID: a forger who sends an
// unproven decision under the ID bob's idempotent request will use does not
// turn bob's decision into a "redelivery" of the refused one.
func (s *ApprovalSuite) TestForgedAttemptCannotTakeAnotherAttemptsID() {
	s.expectNotify()
	s.env.OnActivity(ActivityRunAction, mock.Anything, mock.Anything).Return(approval.ActionResult{Success: true}, nil).Once()
	s.env.RegisterDelayedCallback(func() {
		s.env.SignalWorkflow(SignalDecision, DecisionRequest{AttemptID: "api:bob-1", User: "bob", Decision: approval.DecisionReject, Channel: "api"})
	}, time.Minute)
	s.env.RegisterDelayedCallback(func() {
		s.env.SignalWorkflow(SignalDecision, s.seal(DecisionRequest{AttemptID: "api:bob-1", User: "bob", Decision: approval.DecisionApprove, Channel: "api"}))
	}, 2*time.Minute)
	s.env.ExecuteWorkflow(ApprovalWorkflow, startStamped(input(1)))
	st := s.result()
	s.Equal(approval.StatusApproved, st.Status)
	s.Equal([]string{"bob"}, st.ApprovedBy)
}

// TestDecisionIsBoundToTheContentSeen: bob read the request, alice amended
// it, bob's decision on what he read is refused; on the new content it
// counts.
func (s *ApprovalSuite) TestDecisionIsBoundToTheContentSeen() {
	s.expectNotify()
	s.env.OnActivity(ActivityRunAction, mock.Anything, mock.Anything).Return(approval.ActionResult{Success: true}, nil).Once()
	var seen string
	s.env.RegisterDelayedCallback(func() { seen = s.current().RequestHash }, time.Minute)
	amended := input(1).Request
	amended.Action = approval.Action{Type: "webhook", URL: "http://127.0.0.1:1/evil"}
	s.update(2*time.Minute, UpdateAmend, AmendRequest{User: "alice", Request: amended}, func(err error) { s.NoError(err) })
	s.env.RegisterDelayedCallback(func() {
		s.env.UpdateWorkflow(UpdateDecide, "bob-old", &testsuite.TestUpdateCallback{
			OnReject: func(err error) { s.Fail("rejected", err.Error()) },
			OnComplete: func(_ any, err error) {
				var app *temporal.ApplicationError
				s.Require().True(errors.As(err, &app), "%v", err)
				s.Equal(ErrTypeFailedPrecondition, app.Type())
				s.Equal(approval.RefusedContentChanged, app.Message())
			},
		}, s.seal(DecisionRequest{AttemptID: "bob-old", User: "bob", Decision: approval.DecisionApprove, Channel: "api", SeenHash: seen}))
	}, 3*time.Minute)
	s.signal(4*time.Minute, "bob", approval.DecisionApprove) // reads the new content first
	s.env.ExecuteWorkflow(ApprovalWorkflow, startStamped(input(1)))

	st := s.result()
	s.Equal(approval.StatusApproved, st.Status)
	s.Equal(amended.Hash(), st.RequestHash)
	s.Equal(approval.CodeContentChanged, st.Attempts[0].RefusalCode)
	s.True(st.Attempts[1].Accepted)
}

// TestDecisionAfterTheDeadlineIsRefused: a stamped decision judged at the
// deadline does not count, whichever the workflow sees first.
func (s *ApprovalSuite) TestDecisionAfterTheDeadlineIsRefused() {
	s.expectNotify()
	s.watchAction()
	s.signal(24*time.Hour, "bob", approval.DecisionApprove)
	s.env.ExecuteWorkflow(ApprovalWorkflow, startStamped(input(1)))
	st := s.result()
	s.Equal(approval.StatusExpired, st.Status)
	s.Require().Len(st.Attempts, 1)
	s.False(st.Attempts[0].Accepted)
	s.Contains([]approval.Code{approval.CodeDeadlinePassed, approval.CodeNotPending}, st.Attempts[0].RefusalCode)
	s.Nil(st.ActionResult)
	s.assertNoAction()
}

// TestFloodOfRefusalsAndAmendmentsStillCompletes: 100 maximal refused
// attempts and 20 maximal amendments leave the state bounded; the approval
// completes and its action runs once.
func (s *ApprovalSuite) TestFloodOfRefusalsAndAmendmentsStillCompletes() {
	s.expectNotify()
	s.env.OnActivity(ActivityRunAction, mock.Anything, mock.Anything).Return(approval.ActionResult{Success: true}, nil).Once()
	comment := strings.Repeat("c", approval.MaxCommentRunes)
	values := make([]string, approval.MaxValues)
	for i := range values {
		values[i] = strings.Repeat("v", 150)
	}
	fields := map[string]string{}
	for i := range 50 {
		fields[strings.Repeat("k", 10)+string(rune('a'+i%26))+string(rune('a'+i/26))] = strings.Repeat("f", 2000)
	}
	for i := range 100 {
		i := i
		s.env.RegisterDelayedCallback(func() {
			s.env.SignalWorkflow(SignalDecision, s.seal(DecisionRequest{
				AttemptID: "m" + strings.Repeat("x", i+1), User: "mallory", Decision: approval.DecisionApprove,
				Channel: "api", Comment: comment, Values: values,
			}))
		}, time.Duration(i+1)*time.Second)
	}
	for i := range 20 {
		req := input(1).Request
		req.Fields = fields
		req.Description = strings.Repeat("d", 4000-i)
		s.update(time.Duration(200+i)*time.Second, UpdateAmend, AmendRequest{User: "alice", Request: req}, func(err error) { s.NoError(err) })
	}
	s.signal(time.Hour, "bob", approval.DecisionApprove)
	s.env.ExecuteWorkflow(ApprovalWorkflow, startStamped(input(1)))

	st := s.result()
	s.Equal(approval.StatusApproved, st.Status)
	s.Equal(20, st.Revision)
	s.Equal(100-approval.MaxRefusedPerPerson, st.DroppedTotal())
	s.Len(st.Attempts, approval.MaxRefusedPerPerson+1)
	b, err := jsonSize(st)
	s.Require().NoError(err)
	s.Less(b, 512<<10, "state stays well under Temporal's payload limits")
}

// TestRegoRunsInTheWorkflowForEveryChannel: an API decision is checked by
// the policy's module in the workflow, and a module that cannot be
// evaluated denies.
func (s *ApprovalSuite) TestRegoRunsInTheWorkflowForEveryChannel() {
	s.expectNotify()
	in := input(1)
	in.Policy.Rego = `package signoff
import rego.v1
default allow := false
allow if input.decider.user == "carol"
deny contains "only carol may decide" if input.decider.user != "carol"
`
	s.env.OnActivity(ActivityRunAction, mock.Anything, mock.Anything).Return(approval.ActionResult{Success: true}, nil).Once()
	s.env.RegisterDelayedCallback(func() {
		s.env.SignalWorkflow(SignalDecision, s.seal(DecisionRequest{AttemptID: "b", User: "bob", Decision: approval.DecisionApprove,
			Channel: "api", Person: deciderOf("bob")}))
		s.env.SignalWorkflow(SignalDecision, s.seal(DecisionRequest{AttemptID: "e", User: "erin", Decision: approval.DecisionApprove,
			Channel: "email", Person: deciderOf("erin")}))
	}, time.Minute)
	s.env.RegisterDelayedCallback(func() {
		s.env.SignalWorkflow(SignalDecision, s.seal(DecisionRequest{AttemptID: "c", User: "carol", Decision: approval.DecisionApprove,
			Channel: "api", Person: deciderOf("carol")}))
	}, 2*time.Minute)
	s.env.ExecuteWorkflow(ApprovalWorkflow, startStamped(in))
	st := s.result()
	s.Equal(approval.StatusApproved, st.Status)
	s.Equal([]string{"carol"}, st.ApprovedBy)
	s.Equal(approval.CodePolicyDenied, st.Attempts[0].RefusalCode)
	s.Contains(st.Attempts[0].RefusalReason, "only carol may decide")
	s.Equal(approval.CodePolicyDenied, st.Attempts[1].RefusalCode)
	s.NotEmpty(st.Attempts[2].Verdict)
}

// TestForgedStartAsksNoOne: an approval started straight in Temporal (no
// stamp, another key's stamp, or a real stamp over other content: here the
// approvers and the action were changed after stamping) ends at once as
// cancelled, asks no one and runs nothing; the audit trail says why.
func (s *ApprovalSuite) TestForgedStartAsksNoOne() {
	in := input(1)
	real := startStamped(in)
	real.Policy.Approvers = []string{"mallory"}
	real.Request.Action = approval.Action{Type: "webhook", URL: "https://evil.example.com/"}
	for name, forged := range map[string]Input{
		"unstamped":         in,
		"another key":       Stamp(proof.Generate(), in.ID, in, t0),
		"changed after all": real,
	} {
		s.Run(name, func() {
			s.SetupTest()
			// No notifier or action is mocked: calling either fails the test.
			s.env.ExecuteWorkflow(ApprovalWorkflow, forged)
			st := s.result()
			s.Equal(approval.StatusCancelled, st.Status)
			s.Equal(approval.UnprovenKey, st.CancelledBy)
			s.Contains(st.CancelReason, "not started through Signoff")
			s.Nil(st.ActionResult)
			s.Require().Len(st.Events, 1)
			s.Equal(approval.EventStartRefused, st.Events[0].Kind)
		})
	}
}
