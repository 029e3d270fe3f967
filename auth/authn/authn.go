// Package authn tells who presents a bearer credential on the API: a
// configured person's static token, or a token from the configured OpenID
// Connect issuer naming a configured person. Identity comes from the
// credential alone, never from a request body.
package authn

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-jose/go-jose/v4"

	"github.com/signoff/signoff/config"
	"github.com/signoff/signoff/config/identity"
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
	keys      *jwks // the issuer's signing keys, behind verifier
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
// seen (at most once per jwksRefetchInterval), so the provider's key
// rotation needs no restart.
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
	var meta struct {
		JWKSURI string `json:"jwks_uri"`
	}
	if err := provider.Claims(&meta); err != nil {
		return nil, fmt.Errorf("oidc issuer %s: discovery document: %w", cfg.Issuer, err)
	}
	keys, err := newJWKS(cfg.Issuer, meta.JWKSURI, logger)
	if err != nil {
		return nil, fmt.Errorf("oidc issuer %s: %w", cfg.Issuer, err)
	}
	a.provider, a.keys = provider, keys
	// Not provider.Verifier: its key set fetches the JWKS again for every
	// token naming an unknown kid, which anyone can send.
	a.verifier = oidc.NewVerifier(cfg.Issuer, keys, &oidc.Config{ClientID: cfg.Audience, SupportedSigningAlgs: signingAlgs})
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
		// Debug: anyone can send bad tokens, as many as they like.
		a.logger.DebugContext(ctx, "oidc token refused", "reason", err.Error())
		return nil, ErrUnknown
	}
	u, err := a.person(dir, t)
	if err != nil {
		// A token the issuer signed: only its people can send these.
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

// Fetching the issuer's signing keys (its JWKS).
const (
	// jwksRefetchInterval spaces the fetches for tokens naming a key ID
	// not among the keys fetched: a rotation is picked up within it, and
	// a flood of tokens with made-up key IDs costs the issuer one request
	// per interval, not one each.
	jwksRefetchInterval = time.Minute
	// jwksColdRetryInterval spaces the fetches while none succeeded yet:
	// short, since no token can be verified meanwhile.
	jwksColdRetryInterval = 10 * time.Second
	// jwksFetchTimeout bounds one fetch.
	jwksFetchTimeout = 10 * time.Second
	// maxJWKSBytes bounds the JWKS body read.
	maxJWKSBytes = 1 << 20
)

// jwks is the issuer's signing keys: an oidc.KeySet like go-oidc's
// RemoteKeySet, which fetches the JWKS again for every token whose kid it
// does not know; this one does so at most once per interval, and refuses
// the others without a network call. It is safe for concurrent use.
type jwks struct {
	url      string
	client   *http.Client
	now      func() time.Time
	interval time.Duration
	logger   *slog.Logger

	// fetchMu makes fetches one at a time; mu guards keys and tried and
	// is never held across a fetch, so tokens of known keys never wait.
	fetchMu sync.Mutex
	mu      sync.Mutex
	keys    []jose.JSONWebKey // nil until a fetch succeeded
	tried   time.Time         // last fetch attempt
}

// newJWKS is the key set at jwksURI, the issuer's discovery document's
// jwks_uri. Nothing is fetched before the first token.
func newJWKS(issuer, jwksURI string, logger *slog.Logger) (*jwks, error) {
	u, err := url.Parse(jwksURI)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("jwks_uri %q is not an absolute http(s) URL", jwksURI)
	}
	// Keys vouching for an https issuer must not come over plain http.
	if strings.HasPrefix(issuer, "https:") && u.Scheme != "https" {
		return nil, fmt.Errorf("jwks_uri %q is not https", jwksURI)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &jwks{
		url: u.String(), client: &http.Client{Timeout: jwksFetchTimeout},
		now: time.Now, interval: jwksRefetchInterval, logger: logger,
	}, nil
}

// joseAlgs are signingAlgs for go-jose.
var joseAlgs = func() []jose.SignatureAlgorithm {
	out := make([]jose.SignatureAlgorithm, len(signingAlgs))
	for i, a := range signingAlgs {
		out[i] = jose.SignatureAlgorithm(a)
	}
	return out
}()

// VerifySignature implements oidc.KeySet: the IDTokenVerifier calls it
// once the token's claims and algorithm passed.
func (s *jwks) VerifySignature(ctx context.Context, raw string) ([]byte, error) {
	jws, err := jose.ParseSignedCompact(raw, joseAlgs)
	if err != nil {
		return nil, fmt.Errorf("malformed jwt: %w", err)
	}
	if len(jws.Signatures) != 1 {
		return nil, errors.New("want exactly one signature")
	}
	kid := jws.Signatures[0].Header.KeyID
	keys := s.candidates(kid)
	if len(keys) == 0 {
		keys = s.refetch(ctx, kid)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("unknown signing key %q (the issuer's keys are fetched again at most every %s)", clipKID(kid), s.interval)
	}
	for i := range keys {
		if payload, err := jws.Verify(&keys[i]); err == nil {
			return payload, nil
		}
	}
	return nil, fmt.Errorf("invalid signature (key %q)", clipKID(kid))
}

// candidates are the fetched keys a token with kid may be signed with:
// the one with that kid, or all of them for a token naming none.
func (s *jwks) candidates(kid string) []jose.JSONWebKey {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []jose.JSONWebKey
	for _, k := range s.keys {
		if kid == "" || k.KeyID == kid {
			out = append(out, k)
		}
	}
	return out
}

// refetch fetches the keys for a kid not among them, if a fetch is due,
// and returns its candidates.
func (s *jwks) refetch(ctx context.Context, kid string) []jose.JSONWebKey {
	s.fetchMu.Lock()
	defer s.fetchMu.Unlock()
	// A fetch that ran while this caller waited may have brought the key.
	if keys := s.candidates(kid); len(keys) > 0 {
		return keys
	}
	now := s.now()
	s.mu.Lock()
	wait := s.interval
	if s.keys == nil {
		wait = jwksColdRetryInterval
	}
	due := s.tried.IsZero() || now.Sub(s.tried) >= wait
	if due {
		s.tried = now
	}
	s.mu.Unlock()
	if !due {
		return nil
	}
	// One caller giving up must not spoil the fetch for those waiting on
	// it: the fetch gets its own deadline.
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), jwksFetchTimeout)
	defer cancel()
	keys, err := s.fetch(fctx)
	if err != nil {
		s.logger.WarnContext(ctx, "oidc: fetching the issuer's signing keys failed; keeping those fetched before", "jwks_uri", s.url, "err", err)
		return nil
	}
	s.mu.Lock()
	before := kids(s.keys)
	s.keys = keys
	s.mu.Unlock()
	// A flood of unknown kids refetches once per interval: say so only
	// when the keys changed.
	level := slog.LevelDebug
	if after := kids(keys); !slices.Equal(before, after) {
		level = slog.LevelInfo
	}
	s.logger.Log(ctx, level, "oidc: fetched the issuer's signing keys", "kids", kids(keys))
	return s.candidates(kid)
}

// fetch reads the JWKS; keys it cannot use (unknown types, encryption
// keys, secrets) are skipped, and a set without one usable key is an error.
func (s *jwks) fetch(ctx context.Context) ([]jose.JSONWebKey, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url, nil)
	if err != nil {
		return nil, fmt.Errorf("jwks request: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", req.URL.Redacted(), err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: HTTP %d", req.URL.Redacted(), resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSBytes+1))
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", req.URL.Redacted(), err)
	}
	if len(body) > maxJWKSBytes {
		return nil, fmt.Errorf("GET %s: body over %d bytes", req.URL.Redacted(), maxJWKSBytes)
	}
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &set); err != nil {
		return nil, fmt.Errorf("GET %s: %w", req.URL.Redacted(), err)
	}
	// One key of a type go-jose does not know must not cost the others.
	var keys []jose.JSONWebKey
	for i, raw := range set.Keys {
		var k jose.JSONWebKey
		if err := k.UnmarshalJSON(raw); err != nil {
			s.logger.DebugContext(ctx, "oidc: skipping a JWKS key", "index", i, "reason", err)
			continue
		}
		pub := k.Public()
		if !pub.Valid() || (k.Use != "" && k.Use != "sig") {
			s.logger.DebugContext(ctx, "oidc: skipping a JWKS key", "index", i, "kid", k.KeyID, "reason", "not a public signing key")
			continue
		}
		keys = append(keys, pub)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("JWKS at %s has no usable signing key", req.URL.Redacted())
	}
	return keys, nil
}

// kids are the key IDs of keys, sorted.
func kids(keys []jose.JSONWebKey) []string {
	out := make([]string, 0, len(keys))
	for _, k := range keys {
		out = append(out, k.KeyID)
	}
	slices.Sort(out)
	return out
}

// clipKID bounds what of a token's kid an error quotes.
func clipKID(kid string) string {
	if len(kid) > 64 {
		return kid[:64] + "…"
	}
	return kid
}
