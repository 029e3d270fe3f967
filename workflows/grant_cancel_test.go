package workflows

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/stretchr/testify/mock"

	"github.com/signoff/signoff/approval"
)

// TestCancelInTemporalRevokesTheGrant: an operator cancels the workflow of
// a granted approval in the Temporal UI an hour into a two-hour grant. The
// access is revoked at once (not at its end, and not never), the revoke is
// retried through a failure despite the cancellation, the timeline says
// Temporal asked for it, and the outcome also goes to security.
func (s *ApprovalSuite) TestCancelInTemporalRevokesTheGrant() {
	in := grantInput()
	in.SecurityNotifiers = []string{"security-log"}
	in = startStamped(in)
	var mu sync.Mutex // notify activities run concurrently
	var told []string
	s.env.OnActivity(ActivityNotify, mock.Anything, mock.Anything).Return(
		func(_ context.Context, n NotifyInput) (approval.Delivery, error) {
			mu.Lock()
			defer mu.Unlock()
			told = append(told, string(n.Kind)+"→"+n.Notifier)
			return approval.Delivery{Targets: []string{n.Notifier}}, nil
		})
	g := s.mockGrant(map[string][]error{"revoke": {errors.New("connection refused")}})
	s.signal(time.Hour, "bob", approval.DecisionApprove)
	s.env.RegisterDelayedCallback(func() { s.env.CancelWorkflow() }, 2*time.Hour)
	s.env.ExecuteWorkflow(ApprovalWorkflow, in)

	st := s.result()
	s.Equal(approval.StatusRevoked, st.Status)
	s.Require().Len(g.at, 3)
	s.Equal("grant@1h0m0s", g.at[0])
	s.Equal("revoke@2h0m0s", g.at[1], "revoked when cancelled, not at the grant's end (3h)")
	s.Equal("revoke verified", st.Grant.RevokeOutput)
	s.Equal("temporal", st.Grant.RevokeRequestedBy)
	s.Contains(st.Grant.RevokeReason, "cancelled in Temporal")
	mu.Lock()
	defer mu.Unlock()
	s.Contains(told, string(NoticeOutcome)+"→security-log", "security hears of it")
}

// TestCancelInTemporalWhileTheGrantRunsStillRevokes: the cancellation
// lands while the grant itself is running; whatever it did is revoked at
// once, not at the grant's end.
func (s *ApprovalSuite) TestCancelInTemporalWhileTheGrantRunsStillRevokes() {
	s.expectNotify()
	var mu sync.Mutex // the action's phases may run on other goroutines
	var phases []string
	// The environment is this test's: a cancelled activity may outlive the
	// test (the test environment does not wait for it), and must not read
	// the next test's.
	env := s.env
	s.env.OnActivity(ActivityRunAction, mock.Anything, mock.Anything).Return(
		func(_ context.Context, a ActionInput) (approval.ActionResult, error) {
			phase := a.Phase
			if phase == "" {
				phase = "grant"
			}
			// Recorded before the cancellation, which may end the run
			// before this activity returns.
			mu.Lock()
			phases = append(phases, phase+"@"+env.Now().Sub(t0).String())
			mu.Unlock()
			if a.Phase == "" {
				env.CancelWorkflow()
			}
			return approval.ActionResult{Type: a.Approval.Request.Action.Type, Success: true, Output: phase + " verified"}, nil
		})
	s.signal(time.Hour, "bob", approval.DecisionApprove)
	s.env.ExecuteWorkflow(ApprovalWorkflow, startStamped(grantInput()))

	st := s.result()
	mu.Lock()
	defer mu.Unlock()
	// The test environment does not wait for a cancelled activity as a
	// server does (WaitForCancellation), so only what ran is checked here.
	s.ElementsMatch([]string{"grant@1h0m0s", "revoke@1h0m0s"}, phases, "revoked at once")
	s.Require().NotNil(st.Grant)
	s.False(st.Grant.RevokedAt.IsZero(), "revoked")
	asked := false
	for _, e := range st.Events {
		asked = asked || (e.Kind == approval.EventRevokeRequested && e.User == "temporal")
	}
	s.True(asked, "the timeline says Temporal asked for the revoke")
}
