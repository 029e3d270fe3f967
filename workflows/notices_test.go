package workflows

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/stretchr/testify/mock"

	"github.com/signoff/signoff/approval"
)

// outage makes Notify fail until end (Slack down), then deliver; it counts
// the rounds delivered per kind and when each went out.
func (s *ApprovalSuite) outage(end time.Time) func() map[NoticeKind][]time.Duration {
	var mu sync.Mutex
	delivered := map[NoticeKind][]time.Duration{}
	s.env.OnActivity(ActivityNotify, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in NotifyInput) (approval.Delivery, error) {
			now := s.env.Now()
			if now.Before(end) {
				return approval.Delivery{}, errors.New("slack: service_unavailable")
			}
			mu.Lock()
			defer mu.Unlock()
			delivered[in.Kind] = append(delivered[in.Kind], now.Sub(t0))
			return approval.Delivery{Targets: []string{"slack:#approvals"}}, nil
		})
	return func() map[NoticeKind][]time.Duration {
		mu.Lock()
		defer mu.Unlock()
		return delivered
	}
}

// A notifier that is down for 30 minutes delays no decision: the quorum
// reached through the API at 5 minutes approves and runs the action then;
// the prompt and the outcome go out once each when the notifier is back,
// the prompt first.
func (s *ApprovalSuite) TestNotifierOutageDelaysNoQuorum() {
	end := t0.Add(30 * time.Minute)
	delivered := s.outage(end)
	s.env.OnActivity(ActivityRunAction, mock.Anything, mock.Anything).Return(approval.ActionResult{Success: true}, nil).Once()
	s.signal(5*time.Minute, "bob", approval.DecisionApprove)
	s.signal(5*time.Minute, "carol", approval.DecisionApprove)
	in := input(2)
	in.Notifiers = []string{"slack"}
	s.env.ExecuteWorkflow(ApprovalWorkflow, startStamped(in))

	st := s.result()
	s.Equal(approval.StatusApproved, st.Status)
	s.Require().NotNil(st.ActionResult)
	s.Equal(t0.Add(5*time.Minute), st.ActionResult.FinishTime, "the action runs when the quorum is reached, not when Slack is back")
	got := delivered()
	s.Len(got[NoticePrompt], 1, "the prompt is posted once")
	s.Len(got[NoticeOutcome], 1, "the outcome is posted once")
	s.True(got[NoticePrompt][0] >= 30*time.Minute && got[NoticePrompt][0] <= got[NoticeOutcome][0],
		"the prompt catches up after the outage, before the outcome: %v", got)
}

// The deadline lands on time during an outage; the prompts catch up.
func (s *ApprovalSuite) TestNotifierOutageDelaysNoDeadline() {
	end := t0.Add(30 * time.Minute)
	delivered := s.outage(end)
	in := input(2)
	in.Notifiers = []string{"slack"}
	in.Policy.Deadline = 10 * time.Minute
	s.env.ExecuteWorkflow(ApprovalWorkflow, startStamped(in))

	st := s.result()
	s.Equal(approval.StatusExpired, st.Status)
	var expiredAt time.Time
	for _, e := range st.Events {
		if e.Kind == approval.EventExpired {
			expiredAt = e.Time
		}
	}
	s.Equal(t0.Add(10*time.Minute), expiredAt, "expired at its deadline, not when Slack came back")
	got := delivered()
	s.Len(got[NoticePrompt], 1)
	s.Len(got[NoticeOutcome], 1)
}
