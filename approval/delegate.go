package approval

import (
	"slices"
	"time"
)

// AddDelegate lets a delegation made after the approval was created reach
// it: to now stands in for from here as a delegate snapshotted at creation
// does (prompted, may read). Who may decide for whom is still judged at
// each decision from the delegations in force then.
//
// Only the gateway's stamp makes the claim, and it changes nothing when
// it would not help: the approval is closed or began under rules without
// delegation, from is no approver or has decided, from already has a
// delegate here, or to asked for it (a delegate never decides their own
// request). It reports whether to was added.
func (s *State) AddDelegate(who Actor, from, to string, now time.Time) (bool, error) {
	if s.Rules < RulesDelegation {
		return false, nil
	}
	if who.Proof == "" {
		return false, s.refuseOperation(EventDelegateRefused, who, s.proofRefusal(who), now)
	}
	switch {
	case s.Status.Final(), from == "" || to == "" || from == to,
		s.RequestedBy(to), s.Policy.Delegates[from] != "":
		return false, nil
	case !s.Policy.IsApprover(from) && !slices.Contains(s.ExtraApprovers, from):
		return false, nil
	}
	for a := range s.counting() {
		if a.User == from || a.For() == from || a.User == to {
			return false, nil // from has had their say, or to has had theirs
		}
	}
	if s.Policy.Delegates == nil {
		s.Policy.Delegates = map[string]string{}
	}
	s.Policy.Delegates[from] = to
	s.Record(now, EventDelegated, to, "for "+from)
	return true, nil
}
