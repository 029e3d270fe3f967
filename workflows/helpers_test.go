package workflows

import (
	"encoding/json"

	"github.com/signoff/signoff/approval"
	"github.com/signoff/signoff/policy/regopolicy"
	"github.com/signoff/signoff/proof"
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

func deciderOf(user string) *regopolicy.Decider {
	return &regopolicy.Decider{User: user, Groups: []string{}}
}

func jsonSize(v any) (int, error) {
	b, err := json.Marshal(v)
	return len(b), err
}
