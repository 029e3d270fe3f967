package authn

import (
	"context"

	"github.com/signoff/signoff/config/identity"
)

// Caller is who makes a call, as the gateway established it, and how.
type Caller struct {
	User *identity.User
	// Channel is where a decision made by this call comes from: "api"
	// for bearer credentials, "web" for a browser session.
	Channel string
	// IdentifiedBy says how the gateway knows the person, for the audit
	// trail ("bearer token", "web session (OIDC)").
	IdentifiedBy string
}

type callerKey struct{}

// WithCaller returns ctx carrying c. Only the gateway's own
// authentication sets it, from a credential: never from a request's body.
func WithCaller(ctx context.Context, c Caller) context.Context {
	return context.WithValue(ctx, callerKey{}, c)
}

// CallerFrom returns the caller ctx carries.
func CallerFrom(ctx context.Context) (Caller, bool) {
	c, ok := ctx.Value(callerKey{}).(Caller)
	return c, ok && c.User != nil
}
