package approval

import (
	"errors"
	"fmt"
	"iter"
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
	RefusedInvalidDuration  = "a shorter duration is for approving access grants only, and must be positive and no longer than asked"
	RefusedCommentToApprove = "a comment is required to approve"
	RefusedCommentToReject  = "a comment is required to reject"
	// RefusedByPolicy prefixes refusals by the policy's Rego check.
	RefusedByPolicy       = "denied by the approval policy"
	RefusedUnproven       = "not sent through the Signoff gateway: no proof of origin"
	RefusedStaleProof     = "the gateway's proof is too old or from the future"
	RefusedDeadlinePassed = "the approval's deadline has passed"
	RefusedContentUnbound = "the decision does not name the content it was made on: read the approval and send its request_hash"
	RefusedContentChanged = "the request changed since you read it: read it again and decide on what it asks now"
	RefusedNotDelegate    = "no delegation from that person to you is in force"
	RefusedDelegateOwn    = "a delegate may not decide on their own request"
	RefusedLeftGroup      = "no longer in the group that made them an approver"
)

// Errors of the requester's and admins' operations; each is also recorded.
var (
	ErrNotPending         = errors.New(RefusedNotPending)
	ErrNotAllowedToCancel = errors.New("only the requester or an admin may cancel")
	ErrNotRequester       = errors.New("only the requester may do this")
	ErrHardEnforcement    = errors.New("this policy is hard-enforced: break-glass is not allowed")
	ErrReasonRequired     = errors.New("a reason is required")
	ErrTooManyAmendments  = fmt.Errorf("amended %d times already: create a new request", MaxAmendments)
)

// State is an approval's whole state: what the workflow holds, what the
// query returns and what the workflow's result is.
type State struct {
	ID            string  `json:"id"`
	Requester     string  `json:"requester"`
	Request       Request `json:"request"`
	RequestHash   string  `json:"request_hash"`
	Justification string  `json:"justification,omitempty"`
	// Initiator is the configured person an app asked on behalf of (the
	// GitHub user whose deployment waits): they count as a requester, so
	// they do not decide what they set off.
	Initiator    string        `json:"initiator,omitempty"`
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
	// Stage is the index of the stage being decided.
	Stage int `json:"stage,omitempty"`
	// ExtraApprovers were added by escalation; they may decide any stage.
	ExtraApprovers  []string `json:"extra_approvers,omitempty"`
	EscalationLevel int      `json:"escalation_level,omitempty"`
	// Revision counts amendments. PreviousRequests is what approvals
	// judged by RulesLegacy kept of earlier requests; see PreviousHashes.
	Revision         int       `json:"revision,omitempty"`
	PreviousRequests []Request `json:"previous_requests,omitempty"`
	BypassedBy       string    `json:"bypassed_by,omitempty"`
	BypassReason     string    `json:"bypass_reason,omitempty"`
	// PreviousHashes are the hashes of the requests replaced by
	// amendments (their content is in history, as each amendment's input).
	PreviousHashes []string `json:"previous_hashes,omitempty"`
	// Rules is the version of the rules this approval is judged by.
	Rules int `json:"rules,omitempty"`
	// Dropped counts refused attempts kept only as a number.
	Dropped []Dropped `json:"dropped,omitempty"`
	// Grant is set for access grants (Request.Duration), once approved.
	Grant *Grant `json:"grant,omitempty"`
}

// Actor is who asks for an operation (cancel, break-glass, amend), as the
// workflow established it.
type Actor struct {
	User  string
	Admin bool
	// Proof says how the request's origin was proven; "" when it was not,
	// and then ProofRefusal may say why.
	Proof        string
	ProofRefusal Refusal
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
	for i := range s.Attempts {
		if s.Attempts[i].ID == id {
			return s.Attempts[i], true
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
	return s.stageApprovals(s.Stage), s.CurrentStage().RequiredApprovals
}

// counting yields the accepted attempts that still count, in order,
// without copying them: the judge scans them several times per decision.
func (s *State) counting() iter.Seq[*Attempt] {
	return func(yield func(*Attempt) bool) {
		for i := range s.Attempts {
			if a := &s.Attempts[i]; a.Accepted && !a.Voided {
				if !yield(a) {
					return
				}
			}
		}
	}
}

// Counting are the accepted attempts with decision d that still count,
// for renderings of who decided.
func (s *State) Counting(d Decision) []Attempt {
	var out []Attempt
	for a := range s.counting() {
		if a.Decision == d {
			out = append(out, *a)
		}
	}
	return out
}

// stageApprovals counts the approvals that still count in stage.
func (s *State) stageApprovals(stage int) int {
	n := 0
	for a := range s.counting() {
		if a.Stage == stage && a.Decision == DecisionApprove {
			n++
		}
	}
	return n
}

func (s *State) countRejections() int {
	n := 0
	for a := range s.counting() {
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

// Cancel ends a pending approval, or an approved grant that has not started
// yet (nothing is granted), when asked by the requester or an admin. Every
// attempt, allowed or not, lands in Events.
func (s *State) Cancel(who Actor, reason string, now time.Time) error {
	ref := s.proofRefusal(who)
	scheduled := s.Scheduled(now)
	switch {
	case !ref.OK():
	case s.Status.Final() && !scheduled:
		ref = refuse(CodeNotPending, RefusedNotPending)
	case who.User != s.Requester && !who.Admin:
		ref = refuse(CodeNotAllowedToCancel, ErrNotAllowedToCancel.Error())
	}
	if !ref.OK() {
		return s.refuseOperation(EventCancelRefused, who, ref, now)
	}
	s.CancelledBy = who.User
	s.CancelReason = boundText(reason, MaxCommentRunes)
	if scheduled {
		// Approved, not started: nothing is granted. ClosedAt stays the
		// approval's time.
		s.Status = StatusCancelled
		s.Record(now, EventCancelled, who.User, "before the grant's start, nothing granted: "+s.CancelReason)
		return nil
	}
	s.close(StatusCancelled, now)
	s.Record(now, EventCancelled, who.User, s.CancelReason)
	return nil
}

// Bypass is break-glass: on a soft policy the requester may proceed without
// approval, with a reason. The attempt is recorded either way.
func (s *State) Bypass(who Actor, reason string, now time.Time) error {
	ref := s.proofRefusal(who)
	switch {
	case !ref.OK():
	case s.Status.Final():
		ref = refuse(CodeNotPending, RefusedNotPending)
	case who.User != s.Requester:
		ref = refuse(CodeNotRequester, ErrNotRequester.Error())
	case !s.Policy.Soft():
		ref = refuse(CodeHardEnforcement, ErrHardEnforcement.Error())
	case reason == "":
		ref = refuse(CodeReasonRequired, ErrReasonRequired.Error())
	}
	if !ref.OK() {
		return s.refuseOperation(EventBreakGlassRefused, who, ref, now)
	}
	s.BypassedBy = who.User
	s.BypassReason = boundText(reason, MaxCommentRunes)
	s.close(StatusBypassed, now)
	s.Record(now, EventBreakGlass, who.User, s.BypassReason)
	return nil
}

// Amend replaces the request while pending. Every decision so far is void:
// approvers are asked again about the new content, which is what the action
// will run with.
func (s *State) Amend(who Actor, req Request, now time.Time) error {
	ref := s.proofRefusal(who)
	switch {
	case !ref.OK():
	case s.Status.Final():
		ref = refuse(CodeNotPending, RefusedNotPending)
	case who.User != s.Requester:
		ref = refuse(CodeNotRequester, ErrNotRequester.Error())
	case s.Revision >= MaxAmendments:
		ref = refuse(CodeTooManyAmendments, ErrTooManyAmendments.Error())
	}
	if !ref.OK() {
		return s.refuseOperation(EventAmendRefused, who, ref, now)
	}
	oldHash := s.RequestHash
	s.PreviousHashes = append(s.PreviousHashes, oldHash)
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
	s.Record(now, EventAmended, who.User, fmt.Sprintf("request %s replaced by %s; earlier decisions are void", short(oldHash), short(s.RequestHash)))
	return nil
}

// proofRefusal refuses an operation whose origin was not proven, under
// the proven rules.
func (s *State) proofRefusal(who Actor) Refusal {
	switch {
	case s.Rules < RulesProven || who.Proof != "":
		return Refusal{}
	case !who.ProofRefusal.OK():
		return who.ProofRefusal
	}
	return refuse(CodeUnproven, RefusedUnproven)
}

// refuseOperation records a refused operation within the person's cap and
// returns the refusal as the caller's error.
func (s *State) refuseOperation(kind EventKind, who Actor, ref Refusal, now time.Time) error {
	key := s.personKey(who.User, who.Proof)
	if s.keepRefusal(key) {
		detail := ref.Message
		if key != who.User {
			detail = fmt.Sprintf("%s (claimed user %q)", ref.Message, boundText(who.User, 64))
		}
		s.Record(now, kind, key, detail)
	}
	return ref
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
	s.Record(now, EventEscalated, "", fmt.Sprintf("level %d after %s", i+1, esc.After))
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
		s.Record(now, EventDeadlineRejected, "", detail)
		return
	}
	s.close(StatusExpired, now)
	s.Record(now, EventExpired, "", detail)
}

// RefuseStart ends an approval that was not started through Signoff: it
// is cancelled at once, nobody is asked and nothing runs.
func (s *State) RefuseStart(reason string, now time.Time) {
	s.Record(now, EventStartRefused, UnprovenKey, reason)
	s.CancelledBy, s.CancelReason = UnprovenKey, reason
	s.close(StatusCancelled, now)
}

// Expire closes a pending approval as expired.
//
// Deprecated: use DeadlinePassed, which honours the policy's outcome.
func (s *State) Expire(now time.Time) { s.DeadlinePassed(now) }

// Record appends an audit event.
func (s *State) Record(now time.Time, kind EventKind, user, detail string) {
	s.Events = append(s.Events, Event{Time: now, Kind: kind, User: user, Detail: detail})
}

// RequestedBy reports whether u asked for the approval: its requester, or
// the person an app asked on behalf of (Initiator).
func (s *State) RequestedBy(u string) bool {
	return u == s.Requester || (s.Initiator != "" && u == s.Initiator)
}

// Prompted are who is asked to decide now: Pending, and the delegates the
// pending approvers had when the approval was created (Policy.Delegates).
func (s *State) Prompted() []string {
	out := s.Pending()
	for _, p := range slices.Clone(out) {
		if d := s.Policy.Delegates[p]; d != "" && !s.RequestedBy(d) && !slices.Contains(out, d) {
			out = append(out, d)
		}
	}
	return out
}

// Pending returns who may still decide the current stage.
func (s *State) Pending() []string {
	if s.Status.Final() {
		return nil
	}
	decided := s.decided()
	stage := s.CurrentStage().Approvers
	out := make([]string, 0, len(stage)+len(s.ExtraApprovers))
	listed := make(map[string]bool, cap(out))
	for _, list := range [][]string{stage, s.ExtraApprovers} {
		for _, u := range list {
			if !decided[u] && !listed[u] && (!s.RequestedBy(u) || s.Policy.SelfApproval) {
				out = append(out, u)
				listed[u] = true
			}
		}
	}
	return out
}

// decided are the people who have had their say in the current stage: an
// approver by them or their delegate, and a delegate who decided for
// anyone.
func (s *State) decided() map[string]bool {
	decided := map[string]bool{}
	for a := range s.counting() {
		if s.usedSay(a) {
			decided[a.User], decided[a.For()] = true, true
		}
	}
	return decided
}

func (s *State) usedSay(a *Attempt) bool {
	return a.Stage == s.Stage || (a.Decision == DecisionApprove && !s.Policy.SameApproverAcrossStages)
}

// Awaits reports whether u is in Pending, without building it: the judge
// asks it for every decision.
func (s *State) Awaits(u string) bool {
	if s.Status.Final() || (s.RequestedBy(u) && !s.Policy.SelfApproval) {
		return false
	}
	if !slices.Contains(s.CurrentStage().Approvers, u) && !slices.Contains(s.ExtraApprovers, u) {
		return false
	}
	for a := range s.counting() {
		if s.usedSay(a) && (a.User == u || a.For() == u) {
			return false
		}
	}
	return true
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
