// Package intake turns a request into a running approval: it validates the
// action, resolves the policy (deny by default) and starts ApprovalWorkflow
// idempotently. The gateway and scheduled triggers both start approvals
// through it, so the rules are the same whoever asks.
package intake

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/signoff/signoff/approval"
	"github.com/signoff/signoff/auth/proof"
	"github.com/signoff/signoff/config"
	"github.com/signoff/signoff/config/identity"
	"github.com/signoff/signoff/policy"
	"github.com/signoff/signoff/store/approvalstore"
	"github.com/signoff/signoff/store/peoplestore"
	"github.com/signoff/signoff/workflows"
)

// Errors the caller maps to its own vocabulary (gRPC codes, run reports).
var (
	// ErrInvalid wraps a request that is malformed (a bad action, a missing
	// justification).
	ErrInvalid = errors.New("invalid request")
	// ErrDenied wraps a request no policy allows, or one nobody could
	// ever approve.
	ErrDenied = errors.New("request refused")
	// ErrConflict is a request_id reused for different content.
	ErrConflict = errors.New("request_id was already used for a different request")
	// ErrUnavailable wraps what could not be read to create the approval
	// (a Slack user group): nothing was created; retry later.
	ErrUnavailable = errors.New("cannot create the approval now")
)

// ActionValidator checks an action's type and parameters before anyone is
// asked (the worker's action registry is one); it has no side effects.
type ActionValidator interface {
	Validate(a approval.Action) error
}

// Granting tells which action types grant access for a while (they need a
// duration); a validator without it grants nothing.
type Granting interface {
	Grants(typ string) bool
}

// Starter starts approvals.
type Starter struct {
	Live      *config.Live
	Approvals approvalstore.Approvals
	Actions   ActionValidator
	Now       func() time.Time
	// Outside reads approver groups kept outside the config (Slack user
	// groups); nil counts no one in them.
	Outside policy.Outside
	// People has the delegations in force: the approvers' delegates are
	// prompted with them. Nil: none.
	People peoplestore.Store
	// Proofs stamps the approval's input: the workflow refuses to start
	// without a valid stamp.
	Proofs *proof.Keyring
}

// Request is one would-be approval.
type Request struct {
	Requester *identity.User
	// RequestID makes the start idempotent per requester; empty means a
	// fresh approval every time.
	RequestID     string
	Request       approval.Request
	Justification string
	// Initiator is the configured person an app (the GitHub App) asks on
	// behalf of: they count as a requester (approval.State.Initiator).
	Initiator string
}

// Result is what Start did.
type Result struct {
	ID string
	// State is the new approval; nil when Existing.
	State *approval.State
	// Existing: an approval with this requester and request_id and the same
	// content was already started; nothing new was started.
	Existing bool
}

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// NewID is a random approval ID: 26 lowercase base32 characters.
func NewID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return strings.ToLower(b32.EncodeToString(b[:]))
}

// ApprovalID derives the approval ID from the requester and their
// request_id, so a repeated start finds the same workflow.
func ApprovalID(requester, requestID string) string {
	sum := sha256.Sum256([]byte(requester + "\x00" + requestID))
	return strings.ToLower(b32.EncodeToString(sum[:16]))
}

// CheckResource refuses (ErrInvalid) a request whose resource is not
// canonical (approval.CheckName): policies match match.resource against
// it as written, so "apps/../prod-db" would be governed by "apps/*/*"
// while naming prod-db. No resource is fine.
func CheckResource(r approval.Request) error {
	if r.Resource == "" {
		return nil
	}
	if err := approval.CheckName(r.Resource); err != nil {
		return fmt.Errorf("%w: resource: %w", ErrInvalid, err)
	}
	return nil
}

// Start validates r and starts its workflow, once.
func (s *Starter) Start(ctx context.Context, r Request) (Result, error) {
	if err := CheckResource(r.Request); err != nil {
		return Result{}, err
	}
	if err := s.Actions.Validate(r.Request.Action); err != nil {
		return Result{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	cfg := s.Live.Get()
	pol, err := cfg.Policies.ResolveWith(ctx, r.Request, r.Requester.Name, s.Outside)
	switch {
	case errors.Is(err, policy.ErrGroupsUnavailable):
		return Result{}, fmt.Errorf("%w: %w", ErrUnavailable, err)
	case errors.Is(err, policy.ErrNoPolicy):
		return Result{}, fmt.Errorf("%w: %w: refused (deny by default)", ErrDenied, err)
	case err != nil:
		return Result{}, fmt.Errorf("%w: %w", ErrDenied, err)
	}
	if err := CheckDuration(s.Actions, r.Request, pol); err != nil {
		return Result{}, err
	}
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	if err := CheckStart(r.Request, pol, now()); err != nil {
		return Result{}, err
	}
	if pol.RequireJustification && strings.TrimSpace(r.Justification) == "" {
		return Result{}, fmt.Errorf("%w: policy %q requires a justification", ErrInvalid, pol.Name)
	}
	pol.Delegates = s.delegates(ctx, pol, r.Requester.Name)
	id := NewID()
	if r.RequestID != "" {
		id = ApprovalID(r.Requester.Name, r.RequestID)
	}
	in := workflows.Input{
		ID: id, Requester: r.Requester.Name, Request: r.Request, Policy: pol,
		CreatedAt: now().UTC().Truncate(time.Millisecond), Notifiers: cfg.Notifiers,
		Justification: r.Justification, Initiator: r.Initiator, SecurityNotifiers: cfg.SecurityNotifiers, Rules: approval.RulesDelegation,
		Version: workflows.VersionLatest,
	}
	st := approval.New(in.ID, in.Requester, in.Request, in.Policy, in.CreatedAt)
	st.Justification, st.Initiator, st.Rules = r.Justification, r.Initiator, in.Rules
	err = s.Approvals.Start(ctx, workflows.Stamp(s.Proofs, in.ID, in, now()))
	var exists *approvalstore.Exists
	switch {
	case errors.As(err, &exists) && r.RequestID != "":
		// The same content under the same request_id is the approval it
		// started; different content is a conflict.
		if exists.RequestHash != st.RequestHash {
			return Result{}, ErrConflict
		}
		return Result{ID: id, Existing: true}, nil
	case err != nil:
		return Result{}, fmt.Errorf("start approval workflow: %w", err)
	}
	return Result{ID: id, State: st}, nil
}

// delegates are the delegations in force now from pol's approvers (not to
// the requester, who may not decide their own request); unreadable
// delegations leave delegates unprompted, not the request refused.
func (s *Starter) delegates(ctx context.Context, pol approval.Policy, requester string) map[string]string {
	if s.People == nil {
		return nil
	}
	st, err := s.People.State(ctx)
	if err != nil {
		return nil
	}
	now := time.Now()
	if s.Now != nil {
		now = s.Now()
	}
	var out map[string]string
	for _, a := range pol.AllApprovers() {
		if d, ok := st.DelegateOf(a, now); ok && d.To != requester {
			if out == nil {
				out = map[string]string{}
			}
			out[a] = d.To
		}
	}
	return out
}

// CheckStart: a start time is for a grant (a request with a duration, not
// an extension), after now and at most the policy's max_start_ahead (7 days
// without one) ahead.
func CheckStart(req approval.Request, pol approval.Policy, now time.Time) error {
	if req.StartAt.IsZero() {
		return nil
	}
	limit := approval.MaxStartAhead
	if pol.MaxStartAhead > 0 {
		limit = min(limit, pol.MaxStartAhead)
	}
	switch {
	case req.Duration <= 0 || req.Extends != "":
		return fmt.Errorf("%w: start_time is only for access grants (with a duration)", ErrInvalid)
	case !req.StartAt.After(now):
		return fmt.Errorf("%w: start_time %s is not in the future: leave it out to start at approval", ErrInvalid,
			req.StartAt.UTC().Format(time.RFC3339))
	case req.StartAt.Sub(now) > limit:
		return fmt.Errorf("%w: start_time is more than %s ahead (policy %q allows at most that)", ErrInvalid,
			approval.ShortDuration(limit), pol.Name)
	}
	return nil
}

// CheckDuration: a grant action needs a duration within the policy's
// max_duration (a policy without one allows no grants); other actions take
// none.
func CheckDuration(actions ActionValidator, req approval.Request, pol approval.Policy) error {
	grants := false
	if g, ok := actions.(Granting); ok {
		grants = g.Grants(req.Action.Type)
	}
	switch {
	case !grants && req.Duration != 0:
		return fmt.Errorf("%w: duration is only for actions that grant access for a while (postgres_role)", ErrInvalid)
	case !grants:
		return nil
	case req.Duration <= 0:
		return fmt.Errorf("%w: action %s grants access for a while: give a duration (2h, 90m)", ErrInvalid, req.Action.Type)
	case pol.MaxDuration <= 0:
		return fmt.Errorf("%w: policy %q allows no access grants (it sets no max_duration)", ErrDenied, pol.Name)
	case req.Duration > pol.MaxDuration:
		return fmt.Errorf("%w: duration %s is longer than policy %q allows (%s)", ErrInvalid, req.Duration, pol.Name, pol.MaxDuration)
	}
	return nil
}
