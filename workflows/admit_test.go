package workflows

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"time"

	"github.com/stretchr/testify/mock"

	"github.com/signoff/signoff/approval"
	"github.com/signoff/signoff/auth/proof"
)

// verifyCalls counts the stamps checked in a local activity.
func (s *ApprovalSuite) verifyCalls() *int {
	n := new(int)
	s.env.OnActivity(ActivityVerifyProof, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in ProofInput) (proof.Verdict, error) {
			*n++
			return testKeys.Check(in.Subject, in.Stamp), nil
		}).Maybe()
	return n
}

// TestDecisionsAreCheckedInWorkflowCode (Version4): the start is admitted
// in one local activity, and the decisions that follow are checked by
// their signatures in workflow code: no local activity, no marker, and
// the approval decides as before.
func (s *ApprovalSuite) TestDecisionsAreCheckedInWorkflowCode() {
	s.expectNotify()
	s.watchAction()
	calls := s.verifyCalls()
	s.signal(time.Minute, "bob", approval.DecisionApprove)
	s.env.ExecuteWorkflow(ApprovalWorkflow, startStamped(input(1)))

	st := s.result()
	s.Equal(approval.StatusApproved, st.Status)
	s.Equal([]string{"bob"}, st.ApprovedBy)
	s.Zero(*calls, "no stamp checked in a local activity")
	a, ok := st.Find("bob" + string(approval.DecisionApprove) + time.Minute.String())
	s.Require().True(ok)
	s.Contains(a.Proof, "gateway stamp (key dev")
}

// TestForgedSignatureCountsForNothing: a message whose MAC is the
// gateway's but whose signature is not (altered, or made with another
// key under the same key ID) is refused by the check in workflow code; it
// does not fall back to the MAC.
func (s *ApprovalSuite) TestForgedSignatureCountsForNothing() {
	s.expectNotify()
	s.watchAction()
	calls := s.verifyCalls()
	s.env.RegisterDelayedCallback(func() {
		altered := s.seal(DecisionRequest{AttemptID: "x1", User: "bob", Decision: approval.DecisionApprove, Channel: "api"}).(DecisionRequest)
		sig, _ := base64.RawURLEncoding.DecodeString(altered.Proof.Sig)
		sig[0] ^= 1
		altered.Proof.Sig = base64.RawURLEncoding.EncodeToString(sig)
		s.env.SignalWorkflow(SignalDecision, altered)

		other := s.seal(DecisionRequest{AttemptID: "x2", User: "bob", Decision: approval.DecisionApprove, Channel: "api"}).(DecisionRequest)
		_, mallory, _ := ed25519.GenerateKey(nil)
		other.Proof.Sig = base64.RawURLEncoding.EncodeToString(ed25519.Sign(mallory, ProofSubject("a1", other)))
		s.env.SignalWorkflow(SignalDecision, other)
	}, time.Minute)
	s.env.RegisterDelayedCallback(func() {
		st := s.current()
		s.Equal(approval.StatusPending, st.Status)
		for _, id := range []string{"x1", "x2"} {
			a, ok := st.Find(UnprovenAttemptPrefix + id)
			s.Require().True(ok, id)
			s.Equal(approval.CodeUnproven, a.RefusalCode, id)
			s.Contains(a.RefusalReason, proof.ErrBadSignature.Error(), id)
		}
	}, 2*time.Minute)
	s.signal(3*time.Minute, "bob", approval.DecisionApprove)
	s.env.ExecuteWorkflow(ApprovalWorkflow, startStamped(input(1)))

	st := s.result()
	s.Equal(approval.StatusApproved, st.Status, "the gateway's own decision still decides")
	s.Zero(*calls)
}

// TestKeyRotatedAfterTheStartIsCheckedByTheRing: a message signed with a
// key the run did not hold at its start (the ring rotated since) is
// checked in a local activity against the worker's ring, as before
// Version4.
func (s *ApprovalSuite) TestKeyRotatedAfterTheStartIsCheckedByTheRing() {
	s.expectNotify()
	s.watchAction()
	calls := s.verifyCalls()
	s.env.OnActivity(ActivityAdmit, mock.Anything, mock.Anything).Return(
		func(ctx context.Context, in AdmitInput) (Admission, error) {
			a, err := admitWith(nil)(ctx, in)
			a.PublicKeys = map[string][]byte{"older": a.PublicKeys["dev"]}
			return a, err
		})
	s.signal(time.Minute, "bob", approval.DecisionApprove)
	s.env.ExecuteWorkflow(ApprovalWorkflow, startStamped(input(1)))

	st := s.result()
	s.Equal(approval.StatusApproved, st.Status)
	s.Equal(1, *calls, "the decision was checked by the ring")
}

// TestNewerVersionWaitsForANewerWorker: an approval of a version this
// worker does not know fails its workflow task (retried until a newer
// worker takes it) and asks no one.
func (s *ApprovalSuite) TestNewerVersionWaitsForANewerWorker() {
	in := input(1)
	in.Version = VersionLatest + 1
	s.env.ExecuteWorkflow(ApprovalWorkflow, startStamped(in))
	s.Require().True(s.env.IsWorkflowCompleted())
	err := s.env.GetWorkflowError()
	s.Require().Error(err)
	s.Contains(err.Error(), "deploy the new worker")
	s.env.AssertActivityNotCalled(s.T(), ActivityNotify, mock.Anything, mock.Anything)
}

// TestStartCheckWaitsForVisibility: when Temporal's visibility does not
// answer the start's check in time (a loaded database, or someone flooding
// list requests), the approval waits and asks again; it is not refused,
// and once the check answers it goes on as any other.
func (s *ApprovalSuite) TestStartCheckWaitsForVisibility() {
	s.expectNotify()
	s.watchAction()
	failures := 0
	s.env.OnActivity(ActivityAdmit, mock.Anything, mock.Anything).Return(
		func(ctx context.Context, in AdmitInput) (Admission, error) {
			if failures < 4 {
				failures++
				return Admission{}, errors.New("list runs: context deadline exceeded")
			}
			return admitWith(nil)(ctx, in)
		})
	s.signal(time.Hour, "bob", approval.DecisionApprove)
	// The suite's clock must not be behind the wall clock here: the SDK's
	// test environment mixes them when it retries a local activity.
	now := time.Now().UTC().Truncate(time.Second)
	s.env.SetStartTime(now)
	in := input(1)
	in.CreatedAt = now
	s.env.ExecuteWorkflow(ApprovalWorkflow, Stamp(testKeys, in.ID, in, now))

	st := s.result()
	s.Equal(approval.StatusApproved, st.Status, st.CancelReason)
	s.Equal(4, failures)
}

// TestRemovedKeyStopsCountingWithinTheTTL: a run checks signatures with
// the keys it recorded for signatureKeysFor at most; after that a message
// goes to the worker's ring, so a key removed from the ring (a rotation
// after a leak) stops counting in running approvals too.
func (s *ApprovalSuite) TestRemovedKeyStopsCountingWithinTheTTL() {
	s.expectNotify()
	s.watchAction()
	calls := 0
	s.env.OnActivity(ActivityVerifyProof, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in ProofInput) (proof.Verdict, error) {
			calls++
			s.True(in.WantKeys, "a Version4 run asks for the keys")
			// The ring no longer holds the key the gateway signed with.
			return proof.Verdict{Error: proof.ErrUnknownKey.Error()}, nil
		})
	s.signal(time.Minute, "carol", approval.DecisionApprove)
	s.signal(signatureKeysFor+2*time.Minute, "bob", approval.DecisionApprove)
	s.env.RegisterDelayedCallback(func() {
		st := s.current()
		s.Equal(approval.StatusPending, st.Status)
		s.Equal([]string{"carol"}, st.ApprovedBy, "within the TTL the recorded key counts")
		s.Equal(1, calls, "after it, the ring is asked")
		s.env.CancelWorkflow()
	}, signatureKeysFor+3*time.Minute)
	s.env.ExecuteWorkflow(ApprovalWorkflow, startStamped(input(2)))
	s.Require().True(s.env.IsWorkflowCompleted())
}
