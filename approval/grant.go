package approval

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Grant is what an access grant did and will do.
type Grant struct {
	// RevokeAt is approval time + Request.Duration (StartAt + Duration for
	// a scheduled grant): a grant that happened late (a worker was down)
	// ends when it would have anyway.
	RevokeAt time.Time `json:"revoke_at"`
	// StartAt is when a scheduled grant starts (Request.StartAt, when the
	// approval came before it); zero: at approval.
	StartAt   time.Time `json:"start_at,omitzero"`
	GrantedAt time.Time `json:"granted_at,omitzero"`
	// RevokeRequestedBy/At: someone asked for the revoke before RevokeAt.
	RevokeRequestedBy string    `json:"revoke_requested_by,omitempty"`
	RevokeRequestedAt time.Time `json:"revoke_requested_at,omitzero"`
	RevokeReason      string    `json:"revoke_reason,omitempty"`
	RevokedAt         time.Time `json:"revoked_at,omitzero"`
	// RevokeOutput is the revoke's report (verified how); RevokeFailures
	// counts failed attempts before it.
	RevokeOutput   string `json:"revoke_output,omitempty"`
	RevokeFailures int    `json:"revoke_failures,omitempty"`
	// Extensions moved RevokeAt later, each by an approval of its own.
	Extensions []Extension `json:"extensions,omitempty"`
	// EndingNoticeFor is the RevokeAt the grantee was last told about
	// ("ends in ..."): one notice per end.
	EndingNoticeFor time.Time `json:"ending_notice_for,omitzero"`
	// Acknowledged*: a failing revoke stopped being retried because an
	// admin took it over (the access is removed by hand, outside Signoff).
	AcknowledgedBy     string    `json:"acknowledged_by,omitempty"`
	AcknowledgedAt     time.Time `json:"acknowledged_at,omitzero"`
	AcknowledgedReason string    `json:"acknowledged_reason,omitempty"`
}

// Extension is an approved extension of a grant.
type Extension struct {
	// Approval is the extension's own approval, which approved it.
	Approval string    `json:"approval"`
	From     time.Time `json:"from"`
	To       time.Time `json:"to"`
	At       time.Time `json:"at"`
}

// Errors of revoke-now requests; each is recorded.
var (
	ErrNotGranted         = errors.New("no access is granted by this approval now")
	ErrNotAllowedToRevoke = errors.New("only the grantee (the requester) or an admin may revoke early")
	ErrNotExtendable      = errors.New("the grant has ended or is being revoked: ask for new access instead")
	ErrNoRevokeFailing    = errors.New("no revoke of this grant is failing")
	ErrNotAllowedToAck    = errors.New("only an admin may take over a failing revoke")
)

// Refusal codes of revoke-now requests.
const (
	CodeNotGranted         Code = "not_granted"
	CodeNotAllowedToRevoke Code = "not_allowed_to_revoke"
	CodeNotExtendable      Code = "not_extendable"
	CodeNoRevokeFailing    Code = "no_revoke_failing"
	CodeNotAllowedToAck    Code = "not_allowed_to_acknowledge"
)

// GrantDuration is how long the approval grants access: what was asked,
// or less when an approver approved for less (the narrowest approved
// terms; approving more than was asked is refused by the judge).
func (s *State) GrantDuration() time.Duration {
	d := s.Request.Duration
	for a := range s.counting() {
		if a.Decision == DecisionApprove && a.Duration > 0 && a.Duration < d {
			d = a.Duration
		}
	}
	return d
}

// MaxStartAhead bounds how far ahead a grant may be scheduled.
const MaxStartAhead = 7 * 24 * time.Hour

// StartGrant records the revoke time, once the approval is granted. A
// scheduled grant keeps the window asked for, [StartAt, StartAt +
// Duration]: approved before it, it waits for StartAt; approved inside
// it, it starts now and ends with the window; approved after it, there is
// nothing left to grant (WindowPassed).
func (s *State) StartGrant(approvedAt time.Time) {
	start, d := s.Request.StartAt, s.GrantDuration()
	if start.IsZero() {
		s.Grant = &Grant{RevokeAt: approvedAt.Add(d)}
		return
	}
	s.Grant = &Grant{RevokeAt: start.Add(d)}
	if start.After(approvedAt) {
		s.Grant.StartAt = start
	}
}

// ParseStart reads a grant's start as people write it: an RFC 3339 time
// (2026-12-12T09:00:00Z), or "+" and a delay from now (+2h, +90m).
func ParseStart(v string, now time.Time) (time.Time, error) {
	if d, ok := strings.CutPrefix(v, "+"); ok {
		delay, err := time.ParseDuration(d)
		if err != nil || delay <= 0 {
			return time.Time{}, fmt.Errorf("%q: want a positive delay such as +2h or +90m", v)
		}
		return now.Add(delay).UTC().Truncate(time.Second), nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q: want an RFC 3339 time (2026-12-12T09:00:00Z) or a delay (+2h)", v)
	}
	return t.UTC(), nil
}

// Scheduled reports whether the grant waits for its start at now: it is
// scheduled, approved (or bypassed), not granted yet, and not cancelled.
func (s *State) Scheduled(now time.Time) bool {
	g := s.Grant
	return g != nil && !g.StartAt.IsZero() && g.GrantedAt.IsZero() && now.Before(g.StartAt) &&
		(s.Status == StatusApproved || s.Status == StatusBypassed)
}

// WindowPassed reports that a scheduled grant's window ended by now:
// nothing is granted.
func (s *State) WindowPassed(now time.Time) bool {
	return s.Grant != nil && !s.Request.StartAt.IsZero() && !now.Before(s.Grant.RevokeAt)
}

// MarkGranted records that access was granted at now.
func (s *State) MarkGranted(now time.Time, output string) {
	s.Grant.GrantedAt = now
	s.Status = StatusGranted
	s.Record(now, EventGranted, "", output)
}

// RequestRevoke asks for the revoke now: by the requester (the grantee) or
// an admin, while access is granted. Refusals are recorded.
func (s *State) RequestRevoke(who Actor, reason string, now time.Time) error {
	var ref Refusal
	switch {
	case who.Proof == "":
		ref = s.proofRefusal(who)
	case s.Grant == nil || s.Status != StatusGranted || !s.Grant.RevokeRequestedAt.IsZero():
		ref = refuse(CodeNotGranted, ErrNotGranted.Error())
	case who.User != s.Requester && !who.Admin:
		ref = refuse(CodeNotAllowedToRevoke, ErrNotAllowedToRevoke.Error())
	}
	if !ref.OK() {
		return s.refuseOperation(EventRevokeRefused, who, ref, now)
	}
	s.Grant.RevokeRequestedBy, s.Grant.RevokeRequestedAt, s.Grant.RevokeReason = who.User, now, boundText(reason, MaxCommentRunes)
	s.Record(now, EventRevokeRequested, who.User, reason)
	return nil
}

// RevokeFailed records a failed revoke attempt.
func (s *State) RevokeFailed(now time.Time, reason string) {
	s.Grant.RevokeFailures++
	s.Record(now, EventRevokeFailed, "", reason)
}

// MarkRevoked records the revoke, verified as output says.
func (s *State) MarkRevoked(now time.Time, output string) {
	s.Grant.RevokedAt, s.Grant.RevokeOutput = now, output
	if s.Status == StatusGranted {
		s.Status = StatusRevoked
	}
	s.Record(now, EventRevoked, "", output)
}

// Extend moves the revoke time to to, as approved by the extension
// approval ext (its approval time plus its duration). An extension that
// comes after the revoke began, or ends no later, changes nothing and is
// recorded as refused. who is the worker's stamped message.
func (s *State) Extend(who Actor, ext string, to time.Time, now time.Time) error {
	var ref Refusal
	switch {
	case who.Proof == "":
		ref = s.proofRefusal(who)
	case s.Grant == nil || s.Status != StatusGranted || !s.Grant.RevokeRequestedAt.IsZero() || !now.Before(s.Grant.RevokeAt):
		ref = refuse(CodeNotExtendable, ErrNotExtendable.Error())
	case !to.After(s.Grant.RevokeAt):
		ref = refuse(CodeNotExtendable, "the extension ends no later than the grant already does")
	}
	if !ref.OK() {
		return s.refuseOperation(EventExtendRefused, who, ref, now)
	}
	s.Grant.Extensions = append(s.Grant.Extensions, Extension{Approval: ext, From: s.Grant.RevokeAt, To: to, At: now})
	s.Record(now, EventExtended, who.User, "until "+to.UTC().Format(time.RFC3339)+" by approval "+ext)
	s.Grant.RevokeAt = to
	return nil
}

// NoticeEnding records that the grantee is told the grant ends soon.
func (s *State) NoticeEnding(now time.Time) {
	s.Grant.EndingNoticeFor = s.Grant.RevokeAt
	s.Record(now, EventGrantEnding, "", "ends at "+s.Grant.RevokeAt.UTC().Format(time.RFC3339))
}

// AcknowledgeRevokeFailure stops the retries of a failing revoke: an admin
// says the access is being removed by hand. Recorded, and told to the
// security notifiers with the rest.
func (s *State) AcknowledgeRevokeFailure(who Actor, reason string, now time.Time) error {
	var ref Refusal
	switch {
	case who.Proof == "":
		ref = s.proofRefusal(who)
	case !who.Admin:
		ref = refuse(CodeNotAllowedToAck, ErrNotAllowedToAck.Error())
	case s.Grant == nil || s.Grant.RevokeFailures == 0 || !s.Grant.RevokedAt.IsZero() || s.Grant.AcknowledgedBy != "":
		ref = refuse(CodeNoRevokeFailing, ErrNoRevokeFailing.Error())
	case reason == "":
		ref = refuse(CodeReasonRequired, "say what is done about the access instead (reason)")
	}
	if !ref.OK() {
		return s.refuseOperation(EventRevokeAckRefused, who, ref, now)
	}
	s.Grant.AcknowledgedBy, s.Grant.AcknowledgedAt, s.Grant.AcknowledgedReason = who.User, now, boundText(reason, MaxCommentRunes)
	s.Record(now, EventRevokeAcknowledged, who.User, reason)
	return nil
}

// MarkRevokeTakenOver ends the grant whose failing revoke an admin took
// over: revoked as far as Signoff is concerned, not verified.
func (s *State) MarkRevokeTakenOver(now time.Time) {
	s.Grant.RevokedAt = now
	s.Grant.RevokeOutput = "not verified: revoke taken over by " + s.Grant.AcknowledgedBy + " (" + s.Grant.AcknowledgedReason + ")"
	if s.Status == StatusGranted {
		s.Status = StatusRevoked
	}
}

// SuggestedExtension is what a grant-ending notice suggests asking for: an
// hour, or the policy's max_duration when it allows less, written as
// people type it.
func (s *State) SuggestedExtension() string {
	d := time.Hour
	if m := s.Policy.MaxDuration; m > 0 && m < d {
		d = m
	}
	return ShortDuration(d)
}

// ShortDuration writes d as people type it: "1h", "1h30m", "45m", "90s".
func ShortDuration(d time.Duration) string {
	out := d.String()
	if strings.HasSuffix(out, "m0s") {
		out = strings.TrimSuffix(out, "0s")
	}
	if strings.HasSuffix(out, "h0m") {
		out = strings.TrimSuffix(out, "0m")
	}
	return out
}
