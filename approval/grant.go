package approval

import (
	"errors"
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
}

// Errors of revoke-now requests; each is recorded.
var (
	ErrNotGranted         = errors.New("no access is granted by this approval now")
	ErrNotAllowedToRevoke = errors.New("only the grantee (the requester) or an admin may revoke early")
)

// Refusal codes of revoke-now requests.
const (
	CodeNotGranted         Code = "not_granted"
	CodeNotAllowedToRevoke Code = "not_allowed_to_revoke"
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
