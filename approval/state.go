package approval

import (
	"errors"
	"fmt"
	"time"
)

// Refusal reasons, stable strings kept in the audit trail and shown to the
// person whose attempt was refused.
const (
	RefusedNotPending      = "approval is no longer pending"
	RefusedNotApprover     = "not an approver for this request"
	RefusedSelfApproval    = "the requester may not decide their own request"
	RefusedAlreadyDecided  = "already decided on this request"
	RefusedUnknownDecision = "unknown decision"
	RefusedInvalidChoice   = "not one of the offered options"
)

// ErrNotPending is returned by Cancel on a finished approval.
var ErrNotPending = errors.New(RefusedNotPending)

// ErrNotAllowedToCancel is returned by Cancel for anyone but the requester
// or an admin.
var ErrNotAllowedToCancel = errors.New("only the requester or an admin may cancel")

// State is an approval's whole state: what the workflow holds, what the
// query returns and what the workflow's result is.
type State struct {
	ID           string        `json:"id"`
	Requester    string        `json:"requester"`
	Request      Request       `json:"request"`
	RequestHash  string        `json:"request_hash"`
	Policy       Policy        `json:"policy"`
	Status       Status        `json:"status"`
	CreatedAt    time.Time     `json:"created_at"`
	Deadline     time.Time     `json:"deadline"`
	ClosedAt     time.Time     `json:"closed_at,omitzero"`
	Attempts     []Attempt     `json:"attempts"`
	ApprovedBy   []string      `json:"approved_by"`
	CancelledBy  string        `json:"cancelled_by,omitempty"`
	CancelReason string        `json:"cancel_reason,omitempty"`
	ActionResult *ActionResult `json:"action_result,omitempty"`
	Events       []Event       `json:"events"`
	// Messages are the prompts posted so far, for updates at the end.
	Messages []MessageRef `json:"messages,omitempty"`
}

// New starts the state of a pending approval.
func New(id, requester string, req Request, policy Policy, createdAt time.Time) *State {
	return &State{
		ID:          id,
		Requester:   requester,
		Request:     req,
		RequestHash: req.Hash(),
		Policy:      policy,
		Status:      StatusPending,
		CreatedAt:   createdAt,
		Deadline:    createdAt.Add(policy.Deadline),
		Attempts:    []Attempt{},
		ApprovedBy:  []string{},
		Events:      []Event{},
	}
}

// Find returns the attempt recorded under id, if any.
func (s *State) Find(id string) (Attempt, bool) {
	if id == "" {
		return Attempt{}, false
	}
	for _, a := range s.Attempts {
		if a.ID == id {
			return a, true
		}
	}
	return Attempt{}, false
}

// Decide checks one attempt against the policy snapshot, records it
// (accepted or refused) and moves the status when a quorum or a rejection is
// reached. An attempt whose ID is already recorded is returned as it was,
// unchanged, so redelivered signals and retried updates count once.
func (s *State) Decide(a Attempt, now time.Time) Attempt {
	if prev, ok := s.Find(a.ID); ok {
		return prev
	}
	a.Time = now
	a.Accepted = false
	if a.RefusalReason == "" {
		// A reason set by the caller (the gateway refusing an unknown
		// Slack user, say) is kept: the attempt is recorded, never counted.
		a.RefusalReason = s.refusal(a)
	}
	if a.RefusalReason == "" {
		a.Accepted = true
		switch a.Decision {
		case DecisionApprove:
			s.ApprovedBy = append(s.ApprovedBy, a.User)
			if len(s.ApprovedBy) >= s.Policy.RequiredApprovals {
				s.close(StatusApproved, now)
			}
		case DecisionReject:
			s.close(StatusRejected, now)
		}
	}
	s.Attempts = append(s.Attempts, a)
	return a
}

func (s *State) refusal(a Attempt) string {
	switch {
	case s.Status.Final():
		return RefusedNotPending
	case a.Decision != DecisionApprove && a.Decision != DecisionReject:
		return RefusedUnknownDecision
	case !s.validChoice(a):
		return RefusedInvalidChoice
	case a.User == s.Requester:
		return RefusedSelfApproval
	case !s.Policy.IsApprover(a.User):
		return RefusedNotApprover
	}
	for _, prev := range s.Attempts {
		if prev.Accepted && prev.User == a.User {
			return RefusedAlreadyDecided
		}
	}
	return ""
}

// validChoice checks chosen values against the input's options: each must
// be offered and, for a choice, agree with the decision it stands for.
func (s *State) validChoice(a Attempt) bool {
	in := s.Request.Input
	switch in.Type {
	case "", InputText:
		return len(a.Values) <= 1
	case InputButton, InputSelect:
		if len(a.Values) != 1 {
			return false
		}
	case InputMultiselect:
		if len(a.Values) == 0 && a.Decision == DecisionApprove {
			return false
		}
	default:
		return false
	}
	for _, v := range a.Values {
		o, ok := in.Option(v)
		if !ok || (in.Type != InputMultiselect && o.Decision != a.Decision) {
			return false
		}
	}
	return true
}

// Cancel ends a pending approval when asked by the requester or an admin.
// Every attempt, allowed or not, lands in Events.
func (s *State) Cancel(user string, admin bool, reason string, now time.Time) error {
	var err error
	switch {
	case s.Status.Final():
		err = ErrNotPending
	case user != s.Requester && !admin:
		err = ErrNotAllowedToCancel
	}
	if err != nil {
		s.Record(now, "cancel_refused", user, err.Error())
		return err
	}
	s.CancelledBy = user
	s.CancelReason = reason
	s.close(StatusCancelled, now)
	s.Record(now, "cancelled", user, reason)
	return nil
}

// Expire closes a pending approval at its deadline.
func (s *State) Expire(now time.Time) {
	if s.Status.Final() {
		return
	}
	s.close(StatusExpired, now)
	s.Record(now, "expired", "", fmt.Sprintf("deadline %s passed", s.Deadline.UTC().Format(time.RFC3339)))
}

// Record appends an audit event.
func (s *State) Record(now time.Time, kind, user, detail string) {
	s.Events = append(s.Events, Event{Time: now, Kind: kind, User: user, Detail: detail})
}

// Pending returns the approvers who may still decide.
func (s *State) Pending() []string {
	decided := map[string]bool{}
	for _, a := range s.Attempts {
		if a.Accepted {
			decided[a.User] = true
		}
	}
	var out []string
	for _, u := range s.Policy.Approvers {
		if !decided[u] && u != s.Requester {
			out = append(out, u)
		}
	}
	return out
}

func (s *State) close(st Status, now time.Time) {
	s.Status = st
	s.ClosedAt = now
}
