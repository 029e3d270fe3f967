package approval

import (
	"errors"
	"strings"
	"time"
)

// Grant is what an access grant did and will do.
type Grant struct {
	// RevokeAt is approval time + Request.Duration: a grant that happened
	// late (a worker was down) ends when it would have anyway.
	RevokeAt  time.Time `json:"revoke_at"`
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

// StartGrant records the revoke time, once the approval is granted.
func (s *State) StartGrant(approvedAt time.Time) {
	s.Grant = &Grant{RevokeAt: approvedAt.Add(s.Request.Duration)}
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
