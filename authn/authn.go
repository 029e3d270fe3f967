// Package authn tells who presents a bearer credential on the API: a
// configured person's static token, or a token from the configured OpenID
// Connect issuer naming a configured person. Identity comes from the
// credential alone, never from a request body.
package authn

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/signoff/signoff/config"
	"github.com/signoff/signoff/identity"
)

// ErrUnknown is every refused credential: callers answer it the same way
// (401), whatever the reason, which is logged instead.
var ErrUnknown = errors.New("unknown token")

// signingAlgs are the asymmetric algorithms accepted on OIDC tokens: a
// symmetric one (HS256) would mean Signoff holds the key that signs them.
var signingAlgs = []string{
	oidc.RS256, oidc.RS384, oidc.RS512, oidc.PS256, oidc.PS384, oidc.PS512,
	oidc.ES256, oidc.ES384, oidc.ES512, oidc.EdDSA,
}

// Authenticator maps bearer credentials to configured users.
type Authenticator struct {
	directory func() *identity.Directory
	verifier  *oidc.IDTokenVerifier // nil without an issuer
	provider  *oidc.Provider
	issuer    string
	claim     string
	audience  string
	groups    string // the groups claim
	scopes    []string
	logger    *slog.Logger

	// observer hears the groups of each verified token whose groups
	// changed since this process last heard them.
	observer GroupsObserver
	mu       sync.Mutex
	heard    map[string][]string
}

// observeTimeout bounds recording a person's changed groups.
const observeTimeout = 5 * time.Second

// GroupsObserver records a person's groups at the identity provider.
type GroupsObserver func(ctx context.Context, user string, groups []string) error

// ObserveGroups makes a tell o the groups each verified token or sign-in
// carries (the configured groups claim), when they differ from what this
// process last told it for that person. o is called before the request
// goes on, so an approval created right after a sign-in sees its groups.
func (a *Authenticator) ObserveGroups(o GroupsObserver) { a.observer = o }

// Static accepts the users' static tokens only.
func Static(directory func() *identity.Directory, logger *slog.Logger) *Authenticator {
	return &Authenticator{directory: directory, logger: logger}
}

// New builds an authenticator over the directory in force. With an OIDC
// issuer configured it reads the issuer's discovery document now (an
// unreachable or misconfigured issuer is an error at start, not a 401 for
// everyone later); signing keys are fetched when a token names one not yet
// seen, so the provider's key rotation needs no restart.
func New(ctx context.Context, cfg config.OIDC, directory func() *identity.Directory, logger *slog.Logger) (*Authenticator, error) {
	a := Static(directory, logger)
	if !cfg.Enabled() {
		return a, nil
	}
	a.claim, a.audience, a.issuer, a.groups, a.scopes = cfg.UserClaim, cfg.Audience, cfg.Issuer, cfg.GroupsClaim, cfg.Scopes
	ctx = oidc.ClientContext(ctx, &http.Client{Timeout: 10 * time.Second})
	provider, err := oidc.NewProvider(ctx, cfg.Issuer)
	if err != nil {
		return nil, fmt.Errorf("oidc issuer %s: %w", cfg.Issuer, err)
	}
	a.provider = provider
	a.verifier = provider.Verifier(&oidc.Config{ClientID: cfg.Audience, SupportedSigningAlgs: signingAlgs})
	return a, nil
}

// Authenticate returns the configured user a bearer credential belongs to,
// or ErrUnknown.
func (a *Authenticator) Authenticate(ctx context.Context, token string) (*identity.User, error) {
	if token == "" {
		return nil, ErrUnknown
	}
	dir := a.directory()
	if u, ok := dir.Authenticate(token); ok {
		return u, nil
	}
	// A JWT has three dot-separated parts; static tokens are opaque.
	if a.verifier == nil || strings.Count(token, ".") != 2 {
		return nil, ErrUnknown
	}
	t, err := a.verifier.Verify(ctx, token)
	if err != nil {
		a.logger.InfoContext(ctx, "oidc token refused", "reason", err.Error())
		return nil, ErrUnknown
	}
	u, err := a.person(dir, t)
	if err != nil {
		a.logger.InfoContext(ctx, "oidc token refused", "reason", err.Error())
		return nil, ErrUnknown
	}
	a.observe(ctx, u.Name, t)
	return u, nil
}

// observe passes the token's groups on when they changed. A failure is
// logged: the person is still who the token says, and the groups are
// sent again with their next token.
func (a *Authenticator) observe(ctx context.Context, user string, t *oidc.IDToken) {
	if a.observer == nil || a.groups == "" {
		return
	}
	var all map[string]any
	if err := t.Claims(&all); err != nil {
		return
	}
	var groups []string
	switch v := all[a.groups].(type) {
	case []any:
		for _, g := range v {
			if s, ok := g.(string); ok && s != "" {
				groups = append(groups, s)
			}
		}
	case string: // some providers send one group as a string
		groups = []string{v}
	}
	slices.Sort(groups)
	groups = slices.Compact(groups)
	a.mu.Lock()
	prev, known := a.heard[user]
	a.mu.Unlock()
	if known && slices.Equal(prev, groups) {
		return
	}
	// Bounded: a worker that does not answer must not hold the request.
	octx, cancel := context.WithTimeout(ctx, observeTimeout)
	defer cancel()
	if err := a.observer(octx, user, groups); err != nil {
		a.logger.WarnContext(ctx, "record identity-provider groups", "user", user, "err", err)
		return
	}
	a.mu.Lock()
	if a.heard == nil {
		a.heard = map[string][]string{}
	}
	a.heard[user] = groups
	a.mu.Unlock()
}

// claims are what an OIDC token may name a person by.
type claims struct {
	Subject           string `json:"sub"`
	Email             string `json:"email"`
	EmailVerified     *bool  `json:"email_verified"`
	PreferredUsername string `json:"preferred_username"`
}

// person finds the configured user a verified token's claim names.
func (a *Authenticator) person(dir *identity.Directory, t *oidc.IDToken) (*identity.User, error) {
	var c claims
	if err := t.Claims(&c); err != nil {
		return nil, fmt.Errorf("claims: %w", err)
	}
	switch a.claim {
	case config.OIDCClaimEmail:
		// An unverified address could be anyone's: the provider must vouch.
		if c.Email == "" || c.EmailVerified == nil || !*c.EmailVerified {
			return nil, fmt.Errorf("subject %q: no verified email", c.Subject)
		}
		if u, ok := dir.ByEmail(c.Email); ok {
			return u, nil
		}
		return nil, fmt.Errorf("email %q is not a configured user", c.Email)
	case config.OIDCClaimPreferredUsername:
		if u, ok := dir.Lookup(c.PreferredUsername); ok && c.PreferredUsername != "" {
			return u, nil
		}
		return nil, fmt.Errorf("preferred_username %q is not a configured user", c.PreferredUsername)
	default:
		if u, ok := dir.Lookup(c.Subject); ok && c.Subject != "" {
			return u, nil
		}
		return nil, fmt.Errorf("sub %q is not a configured user", c.Subject)
	}
}
