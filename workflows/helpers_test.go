package workflows

import (
	"context"
	"encoding/json"
	"time"

	"github.com/signoff/signoff/approval"
	"github.com/signoff/signoff/auth/proof"
	"github.com/signoff/signoff/policy"
	"github.com/signoff/signoff/policy/regopolicy"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
)

// testKeys play the gateway's and the worker's key ring.
var testKeys = proof.Generate()

// seal stamps a message as the gateway would, now. A decision that names no
// content is bound to the request as it stands (the decider read it first).
func (s *ApprovalSuite) seal(m any) any {
	now := s.env.Now()
	id := "a1"
	switch r := m.(type) {
	case DecisionRequest:
		if r.Slack == nil && r.SeenHash == "" {
			r.SeenHash = s.current().RequestHash
		}
		return Stamp(testKeys, id, r, now)
	case CancelRequest:
		return Stamp(testKeys, id, r, now)
	case BypassRequest:
		return Stamp(testKeys, id, r, now)
	case AmendRequest:
		return Stamp(testKeys, id, r, now)
	case RevokeRequest:
		return Stamp(testKeys, id, r, now)
	case ExtendGrantRequest:
		return Stamp(testKeys, id, r, now)
	case AcknowledgeRevokeRequest:
		return Stamp(testKeys, id, r, now)
	}
	return m
}

// current reads the approval through the state query.
func (s *ApprovalSuite) current() *approval.State {
	v, err := s.env.QueryWorkflow(QueryState)
	s.Require().NoError(err)
	var st approval.State
	s.Require().NoError(v.Get(&st))
	return &st
}

func deciderOf(user string) *policy.Decider {
	return &policy.Decider{User: user, Groups: []string{}}
}

func jsonSize(v any) (int, error) {
	b, err := json.Marshal(v)
	return len(b), err
}

// registerActivities stands in for the worker's activities, under the names
// the workflow calls: proofs are checked with testKeys and Rego is really
// evaluated; a notification or an action a test does not mock fails, as it
// would on a worker with none configured.
func registerActivities(env *testsuite.TestWorkflowEnvironment) {
	env.RegisterActivityWithOptions(func(context.Context, NotifyInput) (approval.Delivery, error) {
		return approval.Delivery{}, temporal.NewNonRetryableApplicationError("no notifier in this test", "UnknownNotifier", nil)
	}, activity.RegisterOptions{Name: ActivityNotify})
	env.RegisterActivityWithOptions(func(context.Context, ActionInput) (approval.ActionResult, error) {
		return approval.ActionResult{}, temporal.NewNonRetryableApplicationError("no action in this test", "UnknownAction", nil)
	}, activity.RegisterOptions{Name: ActivityRunAction})
	env.RegisterActivityWithOptions(func(_ context.Context, in ProofInput) (proof.Verdict, error) {
		return testKeys.Check(in.Subject, in.Stamp), nil
	}, activity.RegisterOptions{Name: ActivityVerifyProof})
	env.RegisterActivityWithOptions(func(_ context.Context, in LeaseStart) (LeaseStart, error) {
		return Stamp(testKeys, LeaseSubject(in.State.Resource), in, time.Now()), nil
	}, activity.RegisterOptions{Name: ActivityStampLease})
	env.RegisterActivityWithOptions(func(context.Context, RunsInput) ([]string, error) {
		return nil, nil // the approval's only run, unless a test mocks it
	}, activity.RegisterOptions{Name: ActivityEarlierRuns})
	env.RegisterActivityWithOptions(admitWith(nil), activity.RegisterOptions{Name: ActivityAdmit})
	env.RegisterActivityWithOptions(func(_ context.Context, in PeopleStart) (PeopleStart, error) {
		return Stamp(testKeys, PeopleSubject, in, env.Now()), nil
	}, activity.RegisterOptions{Name: ActivityStampPeople})
	env.RegisterActivityWithOptions(func(ctx context.Context, in RegoCheck) (policy.RegoVerdict, error) {
		return regopolicy.Evaluate(ctx, in.Module, in.Input)
	}, activity.RegisterOptions{Name: ActivityCheckRego})
}

// admitWith stands in for the worker's Admit: the stamp checked with
// testKeys, others as the other runs under the approval's ID.
func admitWith(others []string) func(context.Context, AdmitInput) (Admission, error) {
	return func(_ context.Context, in AdmitInput) (Admission, error) {
		a := Admission{Verdict: testKeys.Check(in.Proof.Subject, in.Proof.Stamp)}
		if a.Verdict.OK {
			a.OtherRuns, a.PublicKeys = others, testKeys.PublicKeys()
		}
		return a, nil
	}
}

// startStamped is in as intake starts it: stamped with testKeys when the
// suite's clock starts (t0).
func startStamped(in Input) Input { return Stamp(testKeys, in.ID, in, t0) }
