package approval

import (
	"errors"
	"fmt"
	"slices"
	"time"
)

// Refusal reasons, stable strings kept in the audit trail and shown to the
// person whose attempt was refused.
const (
	RefusedNotPending       = "approval is no longer pending"
	RefusedNotApprover      = "not an approver for this request"
	RefusedNotThisStage     = "not an approver for the current stage"
	RefusedSelfApproval     = "the requester may not decide their own request"
	RefusedAlreadyDecided   = "already decided on this request"
	RefusedEarlierStage     = "already approved an earlier stage: each stage needs other people"
	RefusedUnknownDecision  = "unknown decision"
	RefusedInvalidChoice    = "not one of the offered options"
	RefusedCommentToApprove = "a comment is required to approve"
	RefusedCommentToReject  = "a comment is required to reject"
	// RefusedByPolicy prefixes refusals by the policy's Rego check.
	RefusedByPolicy = "denied by the approval policy"
)

// Errors of the requester's and admins' operations; each is also recorded.
var (
	ErrNotPending         = errors.New(RefusedNotPending)
	ErrNotAllowedToCancel = errors.New("only the requester or an admin may cancel")
	ErrNotRequester       = errors.New("only the requester may do this")
	ErrHardEnforcement    = errors.New("this policy is hard-enforced: break-glass is not allowed")
	ErrReasonRequired     = errors.New("a reason is required")
)

// State is an approval's whole state: what the workflow holds, what the
// query returns and what the workflow's result is.
type State struct {
	ID            string        `json:"id"`
	Requester     string        `json:"requester"`
	Request       Request       `json:"request"`
	RequestHash   string        `json:"request_hash"`
	Justification string        `json:"justification,omitempty"`
	Policy        Policy        `json:"policy"`
	Status        Status        `json:"status"`
	CreatedAt     time.Time     `json:"created_at"`
	Deadline      time.Time     `json:"deadline"`
	ClosedAt      time.Time     `json:"closed_at,omitzero"`
	Attempts      []Attempt     `json:"attempts"`
	ApprovedBy    []string      `json:"approved_by"`
	CancelledBy   string        `json:"cancelled_by,omitempty"`
	CancelReason  string        `json:"cancel_reason,omitempty"`
	ActionResult  *ActionResult `json:"action_result,omitempty"`
	Events        []Event       `json:"events"`
	// Messages are the prompts posted so far, for updates at the end.
	Messages []MessageRef `json:"messages,omitempty"`
	// Stage is the index of the stage being decided.
	Stage int `json:"stage,omitempty"`
	// ExtraApprovers were added by escalation; they may decide any stage.
	ExtraApprovers  []string `json:"extra_approvers,omitempty"`
	EscalationLevel int      `json:"escalation_level,omitempty"`
	// Revision counts amendments; PreviousRequests keeps what was asked
	// before each one.
	Revision         int       `json:"revision,omitempty"`
	PreviousRequests []Request `json:"previous_requests,omitempty"`
	BypassedBy       string    `json:"bypassed_by,omitempty"`
	BypassReason     string    `json:"bypass_reason,omitempty"`
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

// CurrentStage is the stage being decided (the last one once finished).
func (s *State) CurrentStage() Stage {
	stages := s.Policy.StageList()
	return stages[min(s.Stage, len(stages)-1)]
}

// Progress is the current stage's count of approvals against its quorum.
func (s *State) Progress() (approved, required int) {
	return len(s.stageApprovers(s.Stage)), s.CurrentStage().RequiredApprovals
}

// Decide checks one attempt against the policy snapshot, records it
// (accepted or refused) and moves the stage or status when a quorum or a
// rejection quorum is reached. An attempt whose ID is already recorded is
// returned as it was, so redelivered signals and retried updates count once.
func (s *State) Decide(a Attempt, now time.Time) Attempt {
	if prev, ok := s.Find(a.ID); ok {
		return prev
	}
	a.Time = now
	a.Accepted = false
	a.Stage = s.Stage
	a.RequestHash = s.RequestHash
	if a.RefusalReason == "" {
		// A reason set by the caller (the gateway refusing an unknown
		// Slack user, say) is kept: the attempt is recorded, never counted.
		a.RefusalReason = s.refusal(a)
	}
	s.Attempts = append(s.Attempts, a)
	if a.RefusalReason != "" {
		return a
	}
	a.Accepted = true
	s.Attempts[len(s.Attempts)-1] = a
	switch a.Decision {
	case DecisionApprove:
		s.ApprovedBy = append(s.ApprovedBy, a.User)
		stage := s.CurrentStage()
		if len(s.stageApprovers(s.Stage)) >= stage.RequiredApprovals {
			s.Record(now, "stage_approved", "", stage.Name)
			if s.Stage+1 < len(s.Policy.StageList()) {
				s.Stage++
			} else {
				s.close(StatusApproved, now)
			}
		}
	case DecisionReject:
		if s.countRejections() >= s.Policy.rejectionsRequired() {
			s.close(StatusRejected, now)
		}
	}
	return a
}

func (s *State) refusal(a Attempt) string {
	stage := s.CurrentStage()
	switch {
	case s.Status.Final():
		return RefusedNotPending
	case a.Decision != DecisionApprove && a.Decision != DecisionReject:
		return RefusedUnknownDecision
	case !s.validChoice(a):
		return RefusedInvalidChoice
	case a.User == s.Requester && !(s.Policy.SelfApproval && a.Decision == DecisionApprove):
		return RefusedSelfApproval
	case !slices.Contains(stage.Approvers, a.User) && !slices.Contains(s.ExtraApprovers, a.User):
		if s.Policy.IsApprover(a.User) {
			return RefusedNotThisStage
		}
		return RefusedNotApprover
	}
	for _, prev := range s.counting() {
		if prev.User != a.User {
			continue
		}
		if prev.Stage == s.Stage {
			return RefusedAlreadyDecided
		}
		if prev.Decision == DecisionApprove && !s.Policy.SameApproverAcrossStages {
			return RefusedEarlierStage
		}
	}
	switch {
	case a.Decision == DecisionApprove && s.Policy.RequireComment.Approve && a.Comment == "":
		return RefusedCommentToApprove
	case a.Decision == DecisionReject && s.Policy.RequireComment.Reject && a.Comment == "":
		return RefusedCommentToReject
	}
	return ""
}

// counting returns the accepted attempts that still count.
func (s *State) counting() []Attempt {
	var out []Attempt
	for _, a := range s.Attempts {
		if a.Accepted && !a.Voided {
			out = append(out, a)
		}
	}
	return out
}

func (s *State) stageApprovers(stage int) []string {
	var out []string
	for _, a := range s.counting() {
		if a.Stage == stage && a.Decision == DecisionApprove {
			out = append(out, a.User)
		}
	}
	return out
}

func (s *State) countRejections() int {
	n := 0
	for _, a := range s.counting() {
		if a.Decision == DecisionReject {
			n++
		}
	}
	return n
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

// Bypass is break-glass: on a soft policy the requester may proceed without
// approval, with a reason. The attempt is recorded either way.
func (s *State) Bypass(user, reason string, now time.Time) error {
	var err error
	switch {
	case s.Status.Final():
		err = ErrNotPending
	case user != s.Requester:
		err = ErrNotRequester
	case !s.Policy.Soft():
		err = ErrHardEnforcement
	case reason == "":
		err = ErrReasonRequired
	}
	if err != nil {
		s.Record(now, "break_glass_refused", user, err.Error())
		return err
	}
	s.BypassedBy = user
	s.BypassReason = reason
	s.close(StatusBypassed, now)
	s.Record(now, "break_glass", user, reason)
	return nil
}

// Amend replaces the request while pending. Every decision so far is void:
// approvers are asked again about the new content, which is what the action
// will run with.
func (s *State) Amend(user string, req Request, now time.Time) error {
	var err error
	switch {
	case s.Status.Final():
		err = ErrNotPending
	case user != s.Requester:
		err = ErrNotRequester
	}
	if err != nil {
		s.Record(now, "amend_refused", user, err.Error())
		return err
	}
	oldHash := s.RequestHash
	s.PreviousRequests = append(s.PreviousRequests, s.Request)
	s.Request = req
	s.RequestHash = req.Hash()
	s.Revision++
	s.Stage = 0
	for i := range s.Attempts {
		if s.Attempts[i].Accepted {
			s.Attempts[i].Voided = true
		}
	}
	s.ApprovedBy = []string{}
	s.Record(now, "amended", user, fmt.Sprintf("request %s replaced by %s; earlier decisions are void", short(oldHash), short(s.RequestHash)))
	return nil
}

// Escalate applies escalation level i: more people may decide.
func (s *State) Escalate(i int, now time.Time) Escalation {
	esc := s.Policy.Escalations[i]
	for _, u := range esc.AddApprovers {
		if !slices.Contains(s.ExtraApprovers, u) {
			s.ExtraApprovers = append(s.ExtraApprovers, u)
		}
	}
	s.EscalationLevel = i + 1
	s.Record(now, "escalated", "", fmt.Sprintf("level %d after %s", i+1, esc.After))
	return esc
}

// DeadlinePassed closes a pending approval at its deadline, as the policy
// says: expired (default) or rejected.
func (s *State) DeadlinePassed(now time.Time) {
	if s.Status.Final() {
		return
	}
	detail := fmt.Sprintf("deadline %s passed", s.Deadline.UTC().Format(time.RFC3339))
	if s.Policy.OnDeadline == OnDeadlineReject {
		s.close(StatusRejected, now)
		s.Record(now, "deadline_rejected", "", detail)
		return
	}
	s.close(StatusExpired, now)
	s.Record(now, "expired", "", detail)
}

// Expire closes a pending approval as expired.
//
// Deprecated: use DeadlinePassed, which honours the policy's outcome.
func (s *State) Expire(now time.Time) { s.DeadlinePassed(now) }

// Record appends an audit event.
func (s *State) Record(now time.Time, kind, user, detail string) {
	s.Events = append(s.Events, Event{Time: now, Kind: kind, User: user, Detail: detail})
}

// Pending returns who may still decide the current stage.
func (s *State) Pending() []string {
	if s.Status.Final() {
		return nil
	}
	decided := map[string]bool{}
	for _, a := range s.counting() {
		if a.Stage == s.Stage || (a.Decision == DecisionApprove && !s.Policy.SameApproverAcrossStages) {
			decided[a.User] = true
		}
	}
	var out []string
	for _, u := range append(slices.Clone(s.CurrentStage().Approvers), s.ExtraApprovers...) {
		if !decided[u] && (u != s.Requester || s.Policy.SelfApproval) && !slices.Contains(out, u) {
			out = append(out, u)
		}
	}
	return out
}

func (s *State) close(st Status, now time.Time) {
	s.Status = st
	s.ClosedAt = now
}

func short(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}
