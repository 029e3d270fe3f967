package intake

import (
	"context"
	"fmt"
	"maps"
	"time"

	"github.com/signoff/signoff/approval"
	"github.com/signoff/signoff/config/identity"
)

// Extension fields shown to approvers next to the grant's own.
const (
	FieldExtends     = "extends approval"
	FieldCurrentEnd  = "access ends now at"
	maxExtendedTitle = 200
)

// Extension is the request that asks to extend grant by d: the grant's
// request (the same action, environment and policy, so the same approvers
// see exactly what stays granted) marked Extends. Only the grantee asks,
// while the access is granted and no revoke was asked for.
func Extension(grant *approval.State, requester string, d time.Duration) (approval.Request, error) {
	switch {
	case grant.Requester != requester:
		return approval.Request{}, fmt.Errorf("%w: only the grantee (%s) may ask to extend this grant", ErrDenied, grant.Requester)
	case grant.Grant == nil || grant.Status != approval.StatusGranted || !grant.Grant.RevokeRequestedAt.IsZero():
		return approval.Request{}, fmt.Errorf("%w: approval %s grants no access now (status %s): ask for new access instead", ErrInvalid, grant.ID, grant.Status)
	case grant.Request.Extends != "":
		return approval.Request{}, fmt.Errorf("%w: extend the grant itself (%s)", ErrInvalid, grant.Request.Extends)
	case d <= 0:
		return approval.Request{}, fmt.Errorf("%w: give a duration (2h, 90m): counted from the extension's approval", ErrInvalid)
	}
	r := grant.Request
	r.Title = truncate("Extend: "+r.Title, maxExtendedTitle)
	r.Duration, r.Extends = d, grant.ID
	r.Fields = maps.Clone(r.Fields)
	if r.Fields == nil {
		r.Fields = map[string]string{}
	}
	r.Fields[FieldExtends] = grant.ID
	r.Fields[FieldCurrentEnd] = grant.Grant.RevokeAt.UTC().Format(time.RFC3339)
	return r, nil
}

func truncate(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n])
	}
	return s
}

// ExtendFunc starts, as user, the approval of d more of the access the
// approval grantID granted, and returns it (the gateway's Service.Extend,
// lent to the channels that offer extensions). requestID makes it
// idempotent per user. Its errors are approvalstore.ErrNotFound for a
// grant the user may not read, ErrDenied, ErrInvalid, ErrConflict and
// ErrUnavailable (their messages are meant for the user), and the
// approvals port's.
type ExtendFunc func(ctx context.Context, user *identity.User, grantID string, d time.Duration, justification, requestID string) (*approval.State, error)
