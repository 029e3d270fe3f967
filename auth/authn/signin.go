package authn

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/signoff/signoff/config/identity"
)

// SignIn is the browser's sign-in with the identity provider: the
// authorization-code flow with PKCE (S256) and a nonce, so a code stolen
// from a redirect is useless without the verifier kept in the browser's
// sign-in cookie, and an ID token replayed from another sign-in fails.
type SignIn struct {
	auth     *Authenticator
	oauth    oauth2.Config
	verifier *oidc.IDTokenVerifier
	// Issuer is the provider's issuer URL, to name it on the sign-in page.
	Issuer string
}

// Attempt is what one sign-in keeps between leaving for the provider and
// coming back: kept by the browser in a signed cookie, never sent to the
// provider except as the state, the nonce and the verifier's hash.
type Attempt struct {
	State    string
	Nonce    string
	Verifier string
}

// NewAttempt returns fresh random values for one sign-in.
func NewAttempt() Attempt {
	return Attempt{State: oauth2.GenerateVerifier(), Nonce: oauth2.GenerateVerifier(), Verifier: oauth2.GenerateVerifier()}
}

// SignIn returns the browser flow for clientID (with clientSecret, empty
// for a public client) redirecting to redirectURL; nil without an OIDC
// issuer.
func (a *Authenticator) SignIn(clientID, clientSecret, redirectURL string) *SignIn {
	if a.provider == nil {
		return nil
	}
	return &SignIn{
		auth: a,
		oauth: oauth2.Config{
			ClientID: clientID, ClientSecret: clientSecret, RedirectURL: redirectURL,
			Endpoint: a.provider.Endpoint(), Scopes: a.scopes,
		},
		verifier: a.provider.Verifier(&oidc.Config{ClientID: clientID, SupportedSigningAlgs: signingAlgs}),
		Issuer:   a.issuer,
	}
}

// URL is where to send the browser for attempt at.
func (s *SignIn) URL(at Attempt) string {
	return s.oauth.AuthCodeURL(at.State, oauth2.S256ChallengeOption(at.Verifier), oidc.Nonce(at.Nonce))
}

// ErrSignIn is every failed sign-in; the reason is in its message, for
// the log, not for the browser.
var ErrSignIn = errors.New("sign-in failed")

// Finish completes attempt at from the provider's redirect (its query):
// the state must match, the code is exchanged with the verifier, and the
// ID token must be the provider's, for this client, fresh, carry the
// attempt's nonce and name a configured user.
func (s *SignIn) Finish(ctx context.Context, at Attempt, query url.Values) (*identity.User, error) {
	if e := query.Get("error"); e != "" {
		return nil, fmt.Errorf("%w: the provider answered %q: %s", ErrSignIn, e, query.Get("error_description"))
	}
	if at.State == "" || subtle.ConstantTimeCompare([]byte(query.Get("state")), []byte(at.State)) != 1 {
		return nil, fmt.Errorf("%w: state does not match this browser's sign-in", ErrSignIn)
	}
	code := query.Get("code")
	if code == "" {
		return nil, fmt.Errorf("%w: no code", ErrSignIn)
	}
	ctx = oidc.ClientContext(ctx, &http.Client{Timeout: 10 * time.Second})
	tok, err := s.oauth.Exchange(ctx, code, oauth2.VerifierOption(at.Verifier))
	if err != nil {
		return nil, fmt.Errorf("%w: exchange code: %w", ErrSignIn, err)
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return nil, fmt.Errorf("%w: the token response has no id_token", ErrSignIn)
	}
	idt, err := s.verifier.Verify(ctx, raw)
	if err != nil {
		return nil, fmt.Errorf("%w: id_token: %w", ErrSignIn, err)
	}
	if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(at.Nonce)) != 1 {
		return nil, fmt.Errorf("%w: id_token nonce does not match", ErrSignIn)
	}
	u, err := s.auth.person(s.auth.directory(), idt)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSignIn, err)
	}
	s.auth.observe(ctx, u.Name, idt)
	return u, nil
}
