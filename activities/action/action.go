// Package action runs what an approval unlocks. Each action type validates
// its parameters when the approval is created, so a bad action is refused
// before anyone is asked, and runs only from the workflow once granted.
package action

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/signoff/signoff/approval"
)

// Runner is one action type.
type Runner interface {
	// Validate checks parameters without side effects.
	Validate(a approval.Action) error
	// Run performs the action. It must be idempotent per approval ID:
	// activities are retried.
	Run(ctx context.Context, st *approval.State) (output string, err error)
}

// ErrInvalid wraps every validation failure; it is approval's, so the edges
// recognise it without importing the actions.
var ErrInvalid = approval.ErrInvalidAction

// Registry maps action types to runners.
type Registry struct {
	runners map[string]Runner
	redact  func(string) string
}

// NewRegistry returns a registry; redact scrubs secrets from outputs and
// errors before they leave the activity.
func NewRegistry(redact func(string) string) *Registry {
	if redact == nil {
		redact = func(s string) string { return s }
	}
	return &Registry{runners: map[string]Runner{}, redact: redact}
}

// Register adds a runner.
func (r *Registry) Register(typ string, run Runner) { r.runners[typ] = run }

// Lookup returns the runner of typ.
func (r *Registry) Lookup(typ string) (Runner, bool) {
	run, ok := r.runners[typ]
	return run, ok
}

// Types lists the registered types, sorted.
func (r *Registry) Types() []string {
	out := make([]string, 0, len(r.runners))
	for t := range r.runners {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}

// Validate checks an action before an approval is created.
func (r *Registry) Validate(a approval.Action) error {
	run, ok := r.runners[a.Type]
	if !ok {
		return fmt.Errorf("%w: unknown type %q (have %v)", ErrInvalid, a.Type, r.Types())
	}
	if err := run.Validate(a); err != nil {
		return fmt.Errorf("%w: %s: %w", ErrInvalid, a.Type, err)
	}
	return nil
}

// Run runs the approval's action and redacts its output and error.
func (r *Registry) Run(ctx context.Context, st *approval.State) (string, error) {
	a := st.Request.Action
	run, ok := r.runners[a.Type]
	if !ok {
		return "", Permanent(fmt.Errorf("unknown action type %q", a.Type))
	}
	out, err := run.Run(ctx, st)
	if err != nil {
		return "", redactErr(err, r.redact)
	}
	return r.redact(out), nil
}

// Granter is an action that grants access for a while: Run grants, Revoke
// takes it back. Both look before they act, act once and read back after,
// so a retry never acts twice and success means verified.
//
// Several approvals may grant the same access (the same role to the same
// person) at once; the worker keeps a lease per Resource, so only the last
// grant to end revokes, and access found in place before any Signoff grant
// is never revoked. Run and Revoke themselves just make the access present
// or absent.
type Granter interface {
	Runner
	Revoke(ctx context.Context, st *approval.State) (output string, err error)
	// Resource names the access the action grants ("postgres_role:prod:
	// readonly:alice"): grants with the same resource overlap. It is
	// called on validated actions only.
	Resource(a approval.Action) string
	// Holds looks (no change) whether the access is in place now.
	Holds(ctx context.Context, st *approval.State) (bool, error)
}

// Grants reports whether typ grants access for a while (a request with it
// needs a duration).
func (r *Registry) Grants(typ string) bool {
	_, ok := r.runners[typ].(Granter)
	return ok
}

// Revoke revokes what the approval's grant action granted, redacted as Run.
func (r *Registry) Revoke(ctx context.Context, st *approval.State) (string, error) {
	a := st.Request.Action
	g, ok := r.runners[a.Type].(Granter)
	if !ok {
		return "", Permanent(fmt.Errorf("action type %q grants nothing to revoke", a.Type))
	}
	out, err := g.Revoke(ctx, st)
	if err != nil {
		return "", redactErr(err, r.redact)
	}
	return r.redact(out), nil
}

// Discarder is an action that keeps something until it runs (a secret
// change's staged values): Discard drops it when the approval ends without
// running it, or the run failed for good.
type Discarder interface {
	Runner
	Discard(ctx context.Context, st *approval.State) (output string, err error)
}

// Discard drops what the approval's action kept, redacted as Run.
func (r *Registry) Discard(ctx context.Context, st *approval.State) (string, error) {
	d, ok := r.runners[st.Request.Action.Type].(Discarder)
	if !ok {
		return "nothing to discard", nil
	}
	out, err := d.Discard(ctx, st)
	if err != nil {
		return "", redactErr(err, r.redact)
	}
	return r.redact(out), nil
}

// Resource names the access a grant action grants ("" for other types).
func (r *Registry) Resource(a approval.Action) string {
	if g, ok := r.runners[a.Type].(Granter); ok {
		return g.Resource(a)
	}
	return ""
}

// Holds looks whether the grant action's access is in place now.
func (r *Registry) Holds(ctx context.Context, st *approval.State) (bool, error) {
	g, ok := r.runners[st.Request.Action.Type].(Granter)
	if !ok {
		return false, Permanent(fmt.Errorf("action type %q grants nothing", st.Request.Action.Type))
	}
	held, err := g.Holds(ctx, st)
	if err != nil {
		return false, redactErr(err, r.redact)
	}
	return held, nil
}

// Noop does nothing; it makes an approval a pure record.
type Noop struct{}

// Validate accepts only an empty noop.
func (Noop) Validate(a approval.Action) error {
	if a.URL != "" {
		return errors.New("noop takes no url")
	}
	return nil
}

// Run does nothing.
func (Noop) Run(context.Context, *approval.State) (string, error) { return "nothing to do", nil }
