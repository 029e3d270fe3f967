package approval

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Rules versions: which rules an approval is judged by. Approvals whose
// history began before decisions had to be proven replay with RulesLegacy.
const (
	RulesLegacy = 0
	// RulesProven: every decision and operation must carry the gateway's
	// proof, be bound to the content the person saw, arrive before the
	// deadline, and pass the policy's Rego check whatever the channel.
	RulesProven = 1
	// RulesDelegation: RulesProven, and a delegate may decide for an
	// approver who delegated to them (see ForWhom).
	RulesDelegation = 2
)

// Bounds on what one attempt or person can add to an approval's state, so
// no caller can push it toward Temporal's payload limits.
const (
	MaxCommentRunes = 2000
	MaxValues       = 25
	MaxValueBytes   = 2000
	// MaxOptionValueBytes bounds each value when several are chosen: they
	// are option values, and options' values are short.
	MaxOptionValueBytes = 150
	// MaxRefusedPerPerson refused attempts (decisions, cancels,
	// break-glass, amendments) are kept in full per person; later ones
	// are counted in Dropped.
	MaxRefusedPerPerson = 10
	// MaxRefusalsKept bounds the refused attempts and operations kept in
	// full from everyone together: past it, refusals are counted (or, for
	// updates, turned away before history), however many people send them.
	MaxRefusalsKept = 200
	// MaxAmendments per approval: past that, ask anew.
	MaxAmendments = 25
	// ProofMaxAge bounds how late a proven message may be judged, so a
	// stamp read from history cannot be replayed much later.
	ProofMaxAge = 24 * time.Hour
	// proofMaxSkew tolerates clocks between gateway and worker.
	proofMaxSkew = 5 * time.Minute
)

// UnprovenKey is the person key of unproven attempts: the name they claim
// is not believed, so they share one bucket.
const UnprovenKey = "(unproven)"

// Dropped counts a person's refused attempts beyond MaxRefusedPerPerson.
type Dropped struct {
	User  string `json:"user"`
	Count int    `json:"count"`
}

// Judge says whether attempt a may count now. It applies every rule, for
// every channel, in one place: proof of origin, the approval's status and
// deadline, the decision and its values, self-approval, approver and
// stage, decided before, comments, the content the person saw, and for
// a prompt's place (Slack: revision, 2FA and channel; every notifier: the
// conversation it was posted in). The policy's Rego check is not here: it is
// an outside evaluation the workflow obtains once the judge allows the rest.
// A refusal already on the attempt (the gateway's, covered by its proof)
// stands.
func (s *State) Judge(a Attempt, place *Place, now time.Time) Refusal {
	proven := s.Rules >= RulesProven
	switch {
	case proven && a.Proof == "":
		return refuse(CodeUnproven, orDefault(a.RefusalReason, RefusedUnproven))
	case a.RefusalCode != "" || a.RefusalReason != "":
		return Refusal{Code: orDefault(a.RefusalCode, CodeOfMessage(a.RefusalReason)), Message: a.RefusalReason}
	case s.Status.Final():
		return refuse(CodeNotPending, RefusedNotPending)
	case proven && !now.Before(s.Deadline):
		return refuse(CodeDeadlinePassed, RefusedDeadlinePassed)
	case a.Decision != DecisionApprove && a.Decision != DecisionReject:
		return refuse(CodeUnknownDecision, RefusedUnknownDecision)
	case !s.validChoice(a):
		return refuse(CodeInvalidChoice, RefusedInvalidChoice)
	case a.Duration != 0 && (a.Decision != DecisionApprove || s.Request.Duration <= 0 || a.Duration < 0 || a.Duration > s.Request.Duration):
		return refuse(CodeInvalidDuration, RefusedInvalidDuration)
	case a.OnBehalfOf != "" && (s.Rules < RulesDelegation || a.User == a.OnBehalfOf):
		return refuse(CodeNotDelegate, RefusedNotDelegate)
	case a.OnBehalfOf != "" && s.RequestedBy(a.User):
		// Whatever the policy says about self-approval.
		return refuse(CodeSelfApproval, RefusedDelegateOwn)
	case s.RequestedBy(a.For()) && !(s.Policy.SelfApproval && a.Decision == DecisionApprove && a.OnBehalfOf == ""):
		return refuse(CodeSelfApproval, RefusedSelfApproval)
	}
	who := a.For()
	stage := s.CurrentStage()
	if !slices.Contains(stage.Approvers, who) && !slices.Contains(s.ExtraApprovers, who) {
		if s.Policy.IsApprover(who) {
			return refuse(CodeNotThisStage, RefusedNotThisStage)
		}
		return refuse(CodeNotApprover, RefusedNotApprover)
	}
	if s.Policy.RecheckGroups && !slices.Contains(s.Policy.Direct, who) && !s.stillIn(who, a.Memberships[who]) {
		return refuse(CodeLeftGroup, RefusedLeftGroup)
	}
	// One say per person per stage: the approver's, by them or their
	// delegate, and the delegate's own, used by deciding for anyone.
	for prev := range s.counting() {
		if prev.For() != who && prev.User != a.User && prev.For() != a.User && prev.User != who {
			continue
		}
		if prev.Stage == s.Stage {
			return refuse(CodeAlreadyDecided, RefusedAlreadyDecided)
		}
		if prev.Decision == DecisionApprove && !s.Policy.SameApproverAcrossStages {
			return refuse(CodeEarlierStage, RefusedEarlierStage)
		}
	}
	switch {
	case a.Decision == DecisionApprove && s.Policy.RequireComment.Approve && a.Comment == "":
		return refuse(CodeCommentRequired, RefusedCommentToApprove)
	case a.Decision == DecisionReject && s.Policy.RequireComment.Reject && a.Comment == "":
		return refuse(CodeCommentRequired, RefusedCommentToReject)
	}
	if place != nil && place.BindsRevision() {
		if proven && place.Revision != s.Revision {
			// A prompt that does not say what it showed is outdated too.
			return refuse(CodeContentChanged, RefusedOutdated)
		}
		if msg := s.PlaceRefusal(*place, a.User); msg != "" {
			return Refusal{Code: CodeOfMessage(msg), Message: msg}
		}
		return Refusal{}
	}
	if proven && a.SeenHash != s.RequestHash {
		if a.SeenHash == "" {
			return refuse(CodeContentChanged, RefusedContentUnbound)
		}
		return refuse(CodeContentChanged, RefusedContentChanged)
	}
	if place != nil {
		if msg := s.PlaceRefusal(*place, a.User); msg != "" {
			return Refusal{Code: CodeOfMessage(msg), Message: msg}
		}
	}
	return Refusal{}
}

// stillIn reports whether who is still in one of the outside groups that
// made them an approver, current being the groups the gateway found them
// in at the decision.
func (s *State) stillIn(who string, current []string) bool {
	for _, g := range current {
		if slices.Contains(s.Policy.OutsideGroups[g], who) {
			return true
		}
	}
	return false
}

// CheckProofAge refuses a stamp issued too long before now (or from the
// future beyond clock skew).
func CheckProofAge(issued, now time.Time) Refusal {
	if now.Sub(issued) > ProofMaxAge || issued.Sub(now) > proofMaxSkew {
		return refuse(CodeStaleProof, RefusedStaleProof)
	}
	return Refusal{}
}

// Apply records attempt a as judged (accepted when ref is OK) and moves the
// stage or status when a quorum or a rejection quorum is reached. An attempt
// whose ID is already recorded is returned as it was, so redelivered
// signals and retried updates count once. Refused attempts beyond the
// person's cap are counted, not kept; comments and values are bounded.
func (s *State) Apply(a Attempt, ref Refusal, now time.Time) Attempt {
	if prev, ok := s.Find(a.ID); ok {
		return prev
	}
	a.Time = now
	a.Stage = s.Stage
	a.RequestHash = s.RequestHash
	a.Accepted = ref.OK()
	a.RefusalCode, a.RefusalReason = ref.Code, ref.Message
	a.Comment, a.Values = boundText(a.Comment, MaxCommentRunes), boundValues(a.Values)
	if !a.Accepted {
		if !s.keepRefusal(s.personKey(a.User, a.Proof)) {
			return a
		}
		s.Attempts = append(s.Attempts, a)
		return a
	}
	s.Attempts = append(s.Attempts, a)
	switch a.Decision {
	case DecisionApprove:
		s.ApprovedBy = append(s.ApprovedBy, a.Who())
		stage := s.CurrentStage()
		if s.stageApprovals(s.Stage) >= stage.RequiredApprovals {
			s.Record(now, EventStageApproved, "", stage.Name)
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

// ForWhom settles whose say attempt a is, from what the gateway verified
// at the decision: standsIn are the people with a delegation to a.User in
// force then, explicit the one the person chose (empty: none). An explicit
// choice must be among standsIn. Without one, a person awaited in their own
// right decides as themselves; otherwise for the first (by name) of those
// they stand in for who is still awaited. Before RulesDelegation nobody
// decides for anyone.
func (s *State) ForWhom(a Attempt, standsIn []string, explicit string) Attempt {
	if s.Rules < RulesDelegation || a.RefusalReason != "" {
		return a
	}
	if explicit != "" {
		if !slices.Contains(standsIn, explicit) {
			a.RefusalCode, a.RefusalReason = CodeNotDelegate, RefusedNotDelegate
			return a
		}
		a.OnBehalfOf = explicit
		return a
	}
	if s.Awaits(a.User) {
		return a
	}
	for _, p := range slices.Sorted(slices.Values(standsIn)) {
		if p != a.User && s.Awaits(p) {
			a.OnBehalfOf = p
			return a
		}
	}
	return a
}

// Decide judges and records an attempt made without a Slack place.
func (s *State) Decide(a Attempt, now time.Time) Attempt {
	return s.Apply(a, s.Judge(a, nil, now), now)
}

// personKey is whose cap a refusal counts against: unproven attempts
// cannot be tied to anyone.
func (s *State) personKey(user, proof string) string {
	if s.Rules >= RulesProven && proof == "" {
		return UnprovenKey
	}
	return user
}

// keepRefusal reports whether one more refusal by key is kept in full,
// counting it in Dropped when not.
func (s *State) keepRefusal(key string) bool {
	if s.KeepsRefusalOf(key) {
		return true
	}
	for i := range s.Dropped {
		if s.Dropped[i].User == key {
			s.Dropped[i].Count++
			return false
		}
	}
	s.Dropped = append(s.Dropped, Dropped{User: key, Count: 1})
	return false
}

// KeepsRefusalOf reports, without changing anything, whether one more
// refusal counted against key would be kept in full: the person is under
// MaxRefusedPerPerson and the approval under MaxRefusalsKept. The
// workflow's update validators use it to turn away, before they reach
// history, attempts whose refusal would only be counted.
func (s *State) KeepsRefusalOf(key string) bool {
	if s.RefusalsKept() >= MaxRefusalsKept {
		return false
	}
	n := 0
	for _, a := range s.Attempts {
		if !a.Accepted && s.personKey(a.User, a.Proof) == key {
			n++
		}
	}
	for _, e := range s.Events {
		if refusedEventKinds[e.Kind] && e.User == key {
			n++
		}
	}
	return n < MaxRefusedPerPerson
}

// RefusalsKept is how many refused attempts and operations are kept in
// full, from everyone.
func (s *State) RefusalsKept() int {
	n := 0
	for _, a := range s.Attempts {
		if !a.Accepted {
			n++
		}
	}
	for _, e := range s.Events {
		if refusedEventKinds[e.Kind] {
			n++
		}
	}
	return n
}

// PersonKey is whose cap a refusal counts against: the user when the
// message was proven, UnprovenKey otherwise.
func (s *State) PersonKey(user string, proven bool) string {
	if proven {
		return s.personKey(user, "proven")
	}
	return s.personKey(user, "")
}

// Clone is a deep copy of the state, made through its JSON form (the form
// Temporal keeps it in), for judging what an operation would do without
// doing it.
func (s *State) Clone() (*State, error) {
	b, err := json.Marshal(s)
	if err != nil {
		return nil, fmt.Errorf("clone approval %s: %w", s.ID, err)
	}
	var c State
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("clone approval %s: %w", s.ID, err)
	}
	return &c, nil
}

// refusedEventKinds are every kind refuseOperation records: each counts
// toward its person's cap. A kind left out would be kept without bound.
var refusedEventKinds = map[EventKind]bool{EventCancelRefused: true, EventBreakGlassRefused: true, EventAmendRefused: true,
	EventRevokeRefused: true, EventExtendRefused: true, EventRevokeAckRefused: true, EventDelegateRefused: true}

// DroppedTotal is how many refused attempts were counted but not kept.
func (s *State) DroppedTotal() int {
	n := 0
	for _, d := range s.Dropped {
		n += d.Count
	}
	return n
}

func boundText(v string, runes int) string {
	if utf8.RuneCountInString(v) <= runes {
		return v
	}
	r := []rune(v)
	return string(r[:runes]) + "…"
}

func boundValues(vs []string) []string {
	if len(vs) > MaxValues {
		vs = vs[:MaxValues]
	}
	limit := MaxValueBytes
	if len(vs) > 1 {
		limit = MaxOptionValueBytes
	}
	var out []string
	for _, v := range vs {
		if len(v) > limit {
			cut := limit
			for cut > 0 && !utf8.RuneStart(v[cut]) {
				cut--
			}
			v = v[:cut] + "…"
		}
		out = append(out, v)
	}
	return out
}

func orDefault[T ~string](v, def T) T {
	if v == "" {
		return def
	}
	return v
}

// CodeOfMessage classifies a refusal message that carries no code: one
// recorded before codes existed, or one of the Slack gateway's identity
// refusals (person_refused).
func CodeOfMessage(msg string) Code {
	if c, ok := codeOfMessage[msg]; ok {
		return c
	}
	if strings.HasPrefix(msg, RefusedByPolicy) {
		return CodePolicyDenied
	}
	return CodePersonRefused
}

var codeOfMessage = map[string]Code{
	RefusedNotPending:       CodeNotPending,
	RefusedNotApprover:      CodeNotApprover,
	RefusedNotThisStage:     CodeNotThisStage,
	RefusedSelfApproval:     CodeSelfApproval,
	RefusedAlreadyDecided:   CodeAlreadyDecided,
	RefusedEarlierStage:     CodeEarlierStage,
	RefusedUnknownDecision:  CodeUnknownDecision,
	RefusedInvalidChoice:    CodeInvalidChoice,
	RefusedCommentToApprove: CodeCommentRequired,
	RefusedCommentToReject:  CodeCommentRequired,
	RefusedNo2FA:            CodeNo2FA,
	RefusedChannel:          CodeChannel,
	RefusedNotPromptedHere:  CodeNotPromptedHere,
	RefusedOutdated:         CodeContentChanged,
	RefusedUnproven:         CodeUnproven,
}

// ForActivity is the state as activities need it: refused attempts, the
// audit events and replaced requests stay in the workflow, so an activity's
// input does not grow with every refused attempt or notification.
func (s *State) ForActivity() State {
	c := *s
	c.Attempts = nil
	for _, a := range s.Attempts {
		if a.Accepted {
			c.Attempts = append(c.Attempts, a)
		}
	}
	c.Events = nil
	for _, e := range s.Events {
		if e.Kind == EventReminded { // the email notifier numbers its reminders
			c.Events = append(c.Events, e)
		}
	}
	c.PreviousRequests, c.PreviousHashes, c.Dropped = nil, nil, nil
	return c
}
