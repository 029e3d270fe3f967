package gateway

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/signoff/signoff/approval"
	"github.com/signoff/signoff/approval/access"
	"github.com/signoff/signoff/config/identity"
	"github.com/signoff/signoff/intake"
	"github.com/signoff/signoff/store/approvalstore"
)

// maxExtension bounds an extension's duration before any policy is read,
// as the API's durations are (the policy's max_duration binds after).
const maxExtension = 90 * 24 * time.Hour

// extensionRefused is intake.Extension's refusal: the caller is not the
// grantee (intake.ErrDenied), or the grant cannot be extended now
// (intake.ErrInvalid). Its message is intake's.
type extensionRefused struct{ err error }

func (e *extensionRefused) Error() string { return e.err.Error() }
func (e *extensionRefused) Unwrap() error { return e.err }

// Extend asks, as user, for d more of the access approval grantID granted:
// it starts the extension's own approval (intake.Extension: the grant's
// action and policy, so the same approvers decide what stays granted) and
// returns it. A requestID makes it idempotent per user, as a create's
// request_id does; empty starts a new one every time. Once approved, the
// worker moves the grant's revoke time.
//
// Errors: approvalstore.ErrNotFound for a grant the user may not read (as for
// an unknown one); intake.ErrDenied when they are not the grantee, or no
// policy allows it; intake.ErrInvalid for input out of bounds, a grant not
// granted now, or a duration over the policy's max_duration;
// intake.ErrConflict and intake.ErrUnavailable as for a create; the
// approvals port's errors otherwise. Every channel (API, Slack, web) maps
// them to its own words.
func (s *Service) Extend(ctx context.Context, user *identity.User, grantID string, d time.Duration, justification, requestID string) (*approval.State, error) {
	justification = strings.TrimSpace(justification)
	switch {
	case user == nil:
		return nil, fmt.Errorf("%w: no user", intake.ErrDenied)
	case !idPattern.MatchString(grantID):
		return nil, fmt.Errorf("read approval %q: %w", truncate(grantID, 40), approvalstore.ErrNotFound)
	case d <= 0 || d > maxExtension:
		return nil, fmt.Errorf("%w: duration %s: want a positive duration up to 90d (2h, 90m, 1d)", intake.ErrInvalid, d)
	case !utf8.ValidString(justification) || utf8.RuneCountInString(justification) > maxDescription:
		return nil, fmt.Errorf("%w: justification must be valid text of at most %d characters", intake.ErrInvalid, maxDescription)
	case len(requestID) > maxRequestID:
		return nil, fmt.Errorf("%w: request_id is longer than %d", intake.ErrInvalid, maxRequestID)
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	grant, err := s.approvals.Get(ctx, grantID)
	if err != nil {
		return nil, fmt.Errorf("read approval %s: %w", grantID, err)
	}
	if !access.CanRead(grant, user) {
		// Told exactly what an unknown approval's reader is told.
		return nil, fmt.Errorf("read approval %s: %w", grantID, approvalstore.ErrNotFound)
	}
	r, err := intake.Extension(grant, user.Name, d)
	if err != nil {
		return nil, &extensionRefused{err: err}
	}
	res, err := s.starter.Start(ctx, intake.Request{Requester: user, RequestID: requestID, Request: r, Justification: justification})
	switch {
	case err != nil:
		return nil, err
	case res.Existing:
		st, err := s.approvals.Get(ctx, res.ID)
		if err != nil {
			return nil, fmt.Errorf("read approval %s: %w", res.ID, err)
		}
		return st, nil
	}
	s.logger.InfoContext(ctx, "extension requested", "approval_id", res.ID, "extends", grantID, "requester", user.Name,
		"duration", d.String(), "policy", res.State.Policy.Name)
	return res.State, nil
}
