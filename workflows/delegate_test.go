package workflows

import (
	"context"
	"sync"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/testsuite"

	"github.com/signoff/signoff/approval"
)

// A delegation made while the approval waits reaches it: under the
// gateway's stamp only, once, never for the requester; the delegate is
// asked at once (one delegated notice naming them) and decides for the
// approver who delegated.
func (s *ApprovalSuite) TestLateDelegateIsAskedAndDecides() {
	var mu sync.Mutex
	var delegated []string
	s.env.OnActivity(ActivityNotify, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in NotifyInput) (approval.Delivery, error) {
			if in.Kind == NoticeDelegated {
				mu.Lock()
				delegated = append(delegated, in.Delegate)
				mu.Unlock()
			}
			return approval.Delivery{}, nil
		})
	s.env.OnActivity(ActivityRunAction, mock.Anything, mock.Anything).Return(approval.ActionResult{Success: true}, nil).Once()
	in := input(1)
	in.Rules = approval.RulesDelegation
	in.Notifiers = []string{"slack"}

	addDelegate := func(after time.Duration, id string, req AddDelegateRequest, check func(added bool, err error)) {
		s.env.RegisterDelayedCallback(func() {
			s.env.UpdateWorkflow(UpdateAddDelegate, id, &testsuite.TestUpdateCallback{
				OnReject: func(err error) { s.Fail("rejected", err.Error()) },
				OnComplete: func(res any, err error) {
					added, _ := res.(bool)
					check(added, err)
				},
			}, req)
		}, after)
	}
	stamped := func(req AddDelegateRequest) AddDelegateRequest { return Stamp(testKeys, "a1", req, s.env.Now()) }
	addDelegate(time.Minute, "forged", AddDelegateRequest{AttemptID: "forged", From: "bob", To: "mallory"}, func(added bool, err error) {
		s.False(added)
		s.Equal(ErrTypePermissionDenied, appErrType(err), "an unstamped delegation is refused")
	})
	s.env.RegisterDelayedCallback(func() {
		addDelegate(0, "d1", stamped(AddDelegateRequest{AttemptID: "d1", From: "bob", To: "frank"}), func(added bool, err error) {
			s.NoError(err)
			s.True(added)
		})
	}, 2*time.Minute)
	s.env.RegisterDelayedCallback(func() {
		addDelegate(0, "d2", stamped(AddDelegateRequest{AttemptID: "d2", From: "bob", To: "grace"}), func(added bool, err error) {
			s.NoError(err)
			s.False(added, "bob has a delegate here already")
		})
		addDelegate(0, "d3", stamped(AddDelegateRequest{AttemptID: "d3", From: "erin", To: "alice"}), func(added bool, err error) {
			s.NoError(err)
			s.False(added, "alice asked for it: she is nobody's delegate here")
		})
	}, 3*time.Minute)
	s.env.RegisterDelayedCallback(func() {
		st := s.current()
		s.Equal("frank", st.Policy.Delegates["bob"])
		s.Contains(st.Prompted(), "frank")
		s.NotContains(st.Prompted(), "mallory")
		s.env.SignalWorkflow(SignalDecision, s.seal(DecisionRequest{
			AttemptID: "frank", User: "frank", Decision: approval.DecisionApprove, Channel: "api", StandsInFor: []string{"bob"},
		}))
	}, 4*time.Minute)
	s.env.ExecuteWorkflow(ApprovalWorkflow, startStamped(in))

	st := s.result()
	s.Equal(approval.StatusApproved, st.Status)
	s.Equal([]string{"frank for bob"}, st.ApprovedBy)
	mu.Lock()
	s.Equal([]string{"frank"}, delegated, "the delegate is asked once")
	mu.Unlock()
	var kinds []approval.EventKind
	for _, e := range st.Events {
		if e.Kind == approval.EventDelegated || e.Kind == approval.EventDelegateRefused {
			kinds = append(kinds, e.Kind)
		}
	}
	s.Equal([]approval.EventKind{approval.EventDelegateRefused, approval.EventDelegated}, kinds)
}
