package workflows

import (
	"context"
	"time"

	"github.com/stretchr/testify/mock"

	"github.com/signoff/signoff/approval"
)

// TestCopiedRunAsksNoOneAndRunsNothing: a run started under an approval's
// ID from its first run's input, copied byte for byte, while Temporal
// still knows the first run, and then sent the first run's accepted
// decisions again: it is refused at start, asks no one, and its action
// never runs.
func (s *ApprovalSuite) TestCopiedRunAsksNoOneAndRunsNothing() {
	s.watchAction()
	s.env.OnActivity(ActivityAdmit, mock.Anything, mock.Anything).Return(
		func(ctx context.Context, in AdmitInput) (Admission, error) {
			s.NotEmpty(in.Runs.WorkflowID)
			s.NotEmpty(in.Runs.RunID, "its own run is left out by ID")
			return admitWith([]string{"the-first-run"})(ctx, in)
		})
	s.signal(time.Minute, "bob", approval.DecisionApprove)
	s.env.ExecuteWorkflow(ApprovalWorkflow, startStamped(input(1)))

	st := s.result()
	s.Equal(approval.StatusCancelled, st.Status)
	s.Equal(approval.UnprovenKey, st.CancelledBy)
	s.Contains(st.CancelReason, "another run of this approval exists")
	s.Empty(st.ApprovedBy)
	s.assertNoAction()
}

// TestStartCopiedLaterIsRefused: a start whose stamp is older than
// startMaxDelay when Temporal starts the run (a copy made after the first
// run's history was deleted, so no other run is listed) is refused too.
func (s *ApprovalSuite) TestStartCopiedLaterIsRefused() {
	s.watchAction()
	s.env.SetStartTime(t0.Add(3 * time.Hour))
	s.signal(time.Minute, "bob", approval.DecisionApprove)
	s.env.ExecuteWorkflow(ApprovalWorkflow, startStamped(input(1)))

	st := s.result()
	s.Equal(approval.StatusCancelled, st.Status)
	s.Contains(st.CancelReason, "after it was stamped")
	s.Empty(st.ApprovedBy)
	s.assertNoAction()
}
