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

// grantInput asks for two hours of access.
func grantInput() Input {
	in := input(1)
	in.Request.Duration = 2 * time.Hour
	in.Request.Action = approval.Action{Type: "postgres_role", Params: map[string]string{"target": "orders", "role": "orders_read", "user": "alice"}}
	in.Policy.MaxDuration = 8 * time.Hour
	return in
}

// grantCalls records the action activity's phases and when they ran, and
// answers each with the next result of its phase's script (success when
// the script is exhausted).
type grantCalls struct {
	mu     sync.Mutex
	at     []string
	script map[string][]error
}

func (s *ApprovalSuite) mockGrant(script map[string][]error) *grantCalls {
	g := &grantCalls{script: script}
	s.env.OnActivity(ActivityRunAction, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in ActionInput) (approval.ActionResult, error) {
			g.mu.Lock()
			defer g.mu.Unlock()
			phase := in.Phase
			if phase == "" {
				phase = "grant"
			}
			g.at = append(g.at, phase+"@"+s.env.Now().Sub(t0).String())
			if errs := g.script[phase]; len(errs) > 0 {
				g.script[phase] = errs[1:]
				if errs[0] != nil {
					return approval.ActionResult{}, temporal.NewNonRetryableApplicationError(errs[0].Error(), "Failed", nil)
				}
			}
			return approval.ActionResult{Type: in.Approval.Request.Action.Type, Success: true, Output: phase + " verified"}, nil
		}).Maybe() // every test says which phases ran (g.at), none included
	return g
}

// TestGrantIsRevokedOnTime: approved an hour in, access is granted, and
// revoked two hours after the approval, not after the grant.
func (s *ApprovalSuite) TestGrantIsRevokedOnTime() {
	s.expectNotify()
	g := s.mockGrant(nil)
	s.signal(time.Hour, "bob", approval.DecisionApprove)
	s.env.RegisterDelayedCallback(func() {
		st := s.current()
		s.Equal(approval.StatusGranted, st.Status)
		s.Equal(t0.Add(3*time.Hour), st.Grant.RevokeAt)
	}, 2*time.Hour)
	s.env.ExecuteWorkflow(ApprovalWorkflow, startStamped(grantInput()))

	st := s.result()
	s.Equal(approval.StatusRevoked, st.Status)
	s.Equal([]string{"grant@1h0m0s", "revoke@3h0m0s"}, g.at)
	s.Equal(t0.Add(3*time.Hour), st.Grant.RevokedAt)
	s.Equal("revoke verified", st.Grant.RevokeOutput)
	s.True(st.Status.Granted())
}

// TestRevokeNow: the grantee asks for the revoke early and it happens at
// once; someone else's request is refused and recorded.
func (s *ApprovalSuite) TestRevokeNow() {
	s.expectNotify()
	g := s.mockGrant(nil)
	s.signal(time.Minute, "bob", approval.DecisionApprove)
	s.update(10*time.Minute, UpdateRevoke, RevokeRequest{User: "bob", Reason: "not his"}, func(err error) {
		s.Equal(ErrTypePermissionDenied, appErrType(err))
	})
	s.update(20*time.Minute, UpdateRevoke, RevokeRequest{User: "alice", Reason: "done early"}, func(err error) { s.NoError(err) })
	s.env.ExecuteWorkflow(ApprovalWorkflow, startStamped(grantInput()))

	st := s.result()
	s.Equal(approval.StatusRevoked, st.Status)
	s.Equal([]string{"grant@1m0s", "revoke@20m0s"}, g.at)
	s.Equal("alice", st.Grant.RevokeRequestedBy)
	kinds := map[approval.EventKind]string{}
	for _, e := range st.Events {
		kinds[e.Kind] = e.User
	}
	s.Equal("bob", kinds[approval.EventRevokeRefused])
	s.Equal("alice", kinds[approval.EventRevokeRequested])
}

// TestRevokeIsTriedUntilItHolds: a revoke that fails is recorded, told
// (security included) and tried again until it is verified.
func (s *ApprovalSuite) TestRevokeIsTriedUntilItHolds() {
	got := s.recordNotifications()
	fail := errors.New("database unreachable")
	g := s.mockGrant(map[string][]error{"revoke": {fail, fail}})
	s.signal(time.Minute, "bob", approval.DecisionApprove)
	in := grantInput()
	in.SecurityNotifiers = []string{"security"}
	s.env.ExecuteWorkflow(ApprovalWorkflow, startStamped(in))

	st := s.result()
	s.Equal(approval.StatusRevoked, st.Status)
	s.Equal(2, st.Grant.RevokeFailures)
	s.Equal([]string{"grant@1m0s", "revoke@2h1m0s", "revoke@2h2m0s", "revoke@2h4m0s"}, g.at)
	told := 0
	for _, n := range *got {
		if n.kind == NoticeRevokeFailed {
			told++
		}
	}
	s.Equal(2*2, told, "each failure told through the notifier and security")
}

// TestFailedGrantIsStillRevoked: a grant that failed may have half
// happened: the revoke runs anyway, and the approval stays Approved with
// its failed action.
func (s *ApprovalSuite) TestFailedGrantIsStillRevoked() {
	s.expectNotify()
	g := s.mockGrant(map[string][]error{"grant": {errors.New("role does not exist")}})
	s.signal(time.Minute, "bob", approval.DecisionApprove)
	s.env.ExecuteWorkflow(ApprovalWorkflow, startStamped(grantInput()))

	st := s.result()
	s.Equal(approval.StatusApproved, st.Status)
	s.False(st.ActionResult.Success)
	s.Equal([]string{"grant@1m0s", "revoke@1m0s"}, g.at)
	s.False(st.Grant.RevokedAt.IsZero())
}

// TestExtensionMovesTheRevoke: an approved extension moves the revoke
// time; the grantee is told once before the (new) end; an unstamped
// extension (sent straight to Temporal) and one that ends earlier are
// refused and recorded.
func (s *ApprovalSuite) TestExtensionMovesTheRevoke() {
	got := s.recordNotifications()
	g := s.mockGrant(nil)
	s.signal(time.Hour, "bob", approval.DecisionApprove) // revoke due at 3h
	s.env.RegisterDelayedCallback(func() {
		s.env.UpdateWorkflow(UpdateExtendGrant, "forged", &testsuite.TestUpdateCallback{
			OnReject:   func(err error) { s.Fail("rejected", err.Error()) },
			OnComplete: func(_ any, err error) { s.Equal(ErrTypePermissionDenied, appErrType(err)) },
		}, ExtendGrantRequest{Extension: "x", To: t0.Add(100 * time.Hour)})
	}, 90*time.Minute)
	s.update(2*time.Hour, UpdateExtendGrant, ExtendGrantRequest{Extension: "ext1", To: t0.Add(5 * time.Hour)}, func(err error) { s.NoError(err) })
	s.update(150*time.Minute, UpdateExtendGrant, ExtendGrantRequest{Extension: "ext2", To: t0.Add(4 * time.Hour)}, func(err error) {
		s.Equal(ErrTypeFailedPrecondition, appErrType(err), "ends earlier than the grant already does")
	})
	s.env.ExecuteWorkflow(ApprovalWorkflow, startStamped(grantInput()))

	st := s.result()
	s.Equal(approval.StatusRevoked, st.Status)
	s.Equal([]string{"grant@1h0m0s", "revoke@5h0m0s"}, g.at)
	s.Require().Len(st.Grant.Extensions, 1)
	s.Equal(approval.Extension{Approval: "ext1", From: t0.Add(3 * time.Hour), To: t0.Add(5 * time.Hour), At: t0.Add(2 * time.Hour)}, st.Grant.Extensions[0])
	var ending []time.Duration
	for _, n := range *got {
		if n.kind == NoticeGrantEnding {
			ending = append(ending, n.at)
		}
	}
	s.Equal([]time.Duration{5*time.Hour - 15*time.Minute}, ending, "told once, a quarter hour before the new end")
	var refused int
	for _, e := range st.Events {
		if e.Kind == approval.EventExtendRefused {
			refused++
		}
	}
	s.Equal(2, refused)
}

// TestExtensionAfterTheRevokeBeganIsRefused: access being revoked is not
// extended (the grantee asks for new access instead).
func (s *ApprovalSuite) TestExtensionAfterTheRevokeBeganIsRefused() {
	s.expectNotify()
	g := s.mockGrant(nil)
	s.signal(time.Minute, "bob", approval.DecisionApprove)
	s.update(10*time.Minute, UpdateRevoke, RevokeRequest{User: "alice"}, func(err error) { s.NoError(err) })
	s.update(10*time.Minute+time.Second, UpdateExtendGrant, ExtendGrantRequest{Extension: "ext1", To: t0.Add(9 * time.Hour)}, func(err error) {
		s.Equal(ErrTypeFailedPrecondition, appErrType(err))
	})
	s.env.ExecuteWorkflow(ApprovalWorkflow, startStamped(grantInput()))
	st := s.result()
	s.Equal([]string{"grant@1m0s", "revoke@10m0s"}, g.at)
	s.Empty(st.Grant.Extensions)
}

// TestFailingRevokeTakenOverByAnAdmin: a failing revoke marks the approval
// RevokeFailing and is retried until an admin takes it over; a non-admin
// cannot stop the retries.
func (s *ApprovalSuite) TestFailingRevokeTakenOverByAnAdmin() {
	s.expectNotify()
	fail := errors.New("database unreachable")
	g := s.mockGrant(map[string][]error{"revoke": {fail, fail, fail, fail, fail, fail}})
	failing := s.recordRevokeFailing()
	s.signal(time.Minute, "bob", approval.DecisionApprove) // revoke due at 2h1m
	s.update(2*time.Hour+2*time.Minute, UpdateAcknowledgeRevoke, AcknowledgeRevokeRequest{User: "alice", Reason: "I'll do it"}, func(err error) {
		s.Equal(ErrTypePermissionDenied, appErrType(err))
	})
	s.update(2*time.Hour+5*time.Minute, UpdateAcknowledgeRevoke, AcknowledgeRevokeRequest{User: "dana", Admin: true, Reason: "role dropped by hand, ticket OPS-7"}, func(err error) { s.NoError(err) })
	s.env.ExecuteWorkflow(ApprovalWorkflow, startStamped(grantInput()))

	st := s.result()
	s.Equal(approval.StatusRevoked, st.Status)
	s.Equal("dana", st.Grant.AcknowledgedBy)
	s.Contains(st.Grant.RevokeOutput, "not verified")
	s.Equal([]string{"grant@1m0s", "revoke@2h1m0s", "revoke@2h2m0s", "revoke@2h4m0s"}, g.at, "no try after the take-over")
	s.Equal([]bool{true, false}, *failing, "RevokeFailing set at the first failure, cleared at the end")
}

// recordRevokeFailing records the values the workflow gives the
// RevokeFailing search attribute, in order.
func (s *ApprovalSuite) recordRevokeFailing() *[]bool {
	var got []bool
	s.env.OnUpsertTypedSearchAttributes(mock.Anything).Run(func(args mock.Arguments) {
		if v, ok := args.Get(0).(temporal.SearchAttributes).GetBool(AttrRevokeFailing); ok {
			got = append(got, v)
		}
	}).Return(nil)
	return &got
}

// extensionInput asks to extend grant g1 by an hour.
func extensionInput() Input {
	in := grantInput()
	in.Request.Duration, in.Request.Extends = time.Hour, "g1"
	return in
}

// TestExtensionApprovedRunsTheExtendPhaseOnly: an approved extension
// moves the grant (PhaseExtend) and grants nothing of its own: no grant
// period, no revoke.
func (s *ApprovalSuite) TestExtensionApprovedRunsTheExtendPhaseOnly() {
	s.expectNotify()
	var phases []string
	s.env.OnActivity(ActivityRunAction, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in ActionInput) (approval.ActionResult, error) {
			phases = append(phases, in.Phase)
			return approval.ActionResult{Success: true, Output: "extended"}, nil
		})
	s.signal(time.Minute, "bob", approval.DecisionApprove)
	s.env.ExecuteWorkflow(ApprovalWorkflow, startStamped(extensionInput()))
	st := s.result()
	s.Equal(approval.StatusApproved, st.Status)
	s.Equal([]string{PhaseExtend}, phases)
	s.Nil(st.Grant)
}

// TestExtensionRejectedChangesNothing: a rejected extension runs nothing.
func (s *ApprovalSuite) TestExtensionRejectedChangesNothing() {
	s.expectNotify()
	s.signal(time.Minute, "bob", approval.DecisionReject)
	s.env.ExecuteWorkflow(ApprovalWorkflow, startStamped(extensionInput()))
	st := s.result()
	s.Equal(approval.StatusRejected, st.Status)
	s.Nil(st.ActionResult)
	s.Nil(st.Grant)
}
