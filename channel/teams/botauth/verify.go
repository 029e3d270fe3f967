// Package botauth verifies the activities Microsoft Teams (the Bot
// Framework channel service) posts to the bot: each carries
// "Authorization: Bearer <JWT>", which it checks as the Bot Framework SDKs
// do for channel-to-bot calls. The token must be signed (RS256) by a key
// of the Bot Framework's published JWKS that is endorsed for the
// activity's channel, be issued by https://api.botframework.com for the
// bot's app ID, be within its lifetime, and name the activity's service
// URL.
//
//	v, err := botauth.New(botauth.Options{AppID: appID})
//	…
//	claims, err := v.Verify(ctx, r.Header.Get("Authorization"), a.ChannelID, a.ServiceURL)
//	if errors.Is(err, botauth.ErrUnauthorized) { // answer 401 }
package botauth

import (
	"context"
	"crypto/rsa"
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

	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"
)

const (
	// Issuer of tokens the Bot Framework channel service sends.
	Issuer = "https://api.botframework.com"
	// DefaultOpenIDMetadataURL is the Bot Framework's OpenID metadata.
	DefaultOpenIDMetadataURL = "https://login.botframework.com/v1/.well-known/openidconfiguration"
)

// Limits and intervals of verification and of the key cache.
const (
	// maxTokenBytes bounds the token parsed: Bot Framework tokens are
	// about 1 KiB.
	maxTokenBytes = 16 << 10
	// maxFetchBytes bounds the metadata and JWKS bodies read.
	maxFetchBytes = 1 << 20
	// minRSABits is the smallest RSA modulus a key may have.
	minRSABits = 2048
	// refreshInterval is how long fetched keys are used before being
	// fetched again.
	refreshInterval = 24 * time.Hour
	// retryInterval spaces fetches once keys are cached: an unknown kid
	// (maybe a rotation) or a failed refresh fetches at most this often,
	// so a flood of bad tokens cannot hammer the endpoints.
	retryInterval = 5 * time.Minute
	// coldRetryInterval spaces fetches while no key is cached yet: short,
	// since nothing can be verified meanwhile.
	coldRetryInterval = 10 * time.Second
	// fetchTimeout bounds one fetch (metadata and JWKS), whatever the
	// HTTP client's timeout.
	fetchTimeout = 10 * time.Second
)

// ErrUnauthorized is wrapped by every refusal of Verify, with a short
// reason (never the token).
var ErrUnauthorized = errors.New("unauthorized")

// Options configure a Verifier.
type Options struct {
	// AppID is the bot's Microsoft App ID: the audience tokens must have.
	AppID string
	// OpenIDMetadataURL is the Bot Framework's OpenID metadata, whose
	// jwks_uri lists the signing keys (default DefaultOpenIDMetadataURL).
	OpenIDMetadataURL string
	// HTTPClient fetches the metadata and keys (default: 10 s timeout).
	HTTPClient *http.Client
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Leeway is the clock skew allowed on exp and nbf (default 5 min, as
	// the SDKs).
	Leeway time.Duration
	// Logger receives key fetches (default slog.Default()); refusals are
	// the caller's to log.
	Logger *slog.Logger
}

// Claims are what a verified token says.
type Claims struct {
	// AppID is the appid (or azp) claim: the app the token was issued
	// to, when the token names one.
	AppID string
	// ServiceURL is the serviceurl claim, equal to the activity's.
	ServiceURL string
	// Expiry is the exp claim.
	Expiry time.Time
	// KeyID is the kid of the key that signed the token.
	KeyID string
}

// Verifier checks Bot Framework tokens. It is safe for concurrent use.
type Verifier struct {
	appID       string
	metadataURL *url.URL
	client      *http.Client
	now         func() time.Time
	leeway      time.Duration
	log         *slog.Logger

	// fetchMu makes fetches one at a time; mu guards the cache and is
	// never held across a network call, so verifications with a cached
	// key do not wait for a fetch.
	fetchMu sync.Mutex
	mu      sync.Mutex
	keys    map[string]signingKey // by kid; nil until a fetch succeeded
	fetched time.Time             // last successful fetch
	tried   time.Time             // last fetch attempt
}

// signingKey is one usable key of the JWKS.
type signingKey struct {
	pub          *rsa.PublicKey
	endorsements []string // channel IDs the key may sign for
}

// New returns a Verifier; it makes no network call (keys are fetched on
// the first Verify).
func New(o Options) (*Verifier, error) {
	if o.AppID == "" {
		return nil, errors.New("botauth: app ID is required")
	}
	if o.OpenIDMetadataURL == "" {
		o.OpenIDMetadataURL = DefaultOpenIDMetadataURL
	}
	u, err := absoluteHTTP(o.OpenIDMetadataURL)
	if err != nil {
		return nil, fmt.Errorf("botauth: OpenID metadata URL: %w", err)
	}
	v := &Verifier{
		appID: o.AppID, metadataURL: u, client: o.HTTPClient,
		now: o.Now, leeway: o.Leeway, log: o.Logger,
	}
	if v.client == nil {
		v.client = &http.Client{Timeout: 10 * time.Second}
	}
	if v.now == nil {
		v.now = time.Now
	}
	if v.leeway == 0 {
		v.leeway = 5 * time.Minute
	}
	if v.log == nil {
		v.log = slog.Default()
	}
	return v, nil
}

// tokenClaims are the claims Verify reads.
type tokenClaims struct {
	jwt.RegisteredClaims
	ServiceURL string `json:"serviceurl"`
	AppID      string `json:"appid"`
	AZP        string `json:"azp"`
}

// refusal is a reason to refuse a token; it wraps ErrUnauthorized.
type refusal struct{ reason string }

func (r *refusal) Error() string        { return ErrUnauthorized.Error() + ": " + r.reason }
func (r *refusal) Is(target error) bool { return target == ErrUnauthorized }

func refuse(format string, args ...any) error {
	return &refusal{reason: fmt.Sprintf(format, args...)}
}

// Verify checks authorization (the whole Authorization header value,
// "Bearer <jwt>") of an activity of channel channelID (e.g. "msteams")
// whose serviceUrl is serviceURL. Every refusal wraps ErrUnauthorized;
// other errors do not happen (a key fetch that fails is a refusal too).
func (v *Verifier) Verify(ctx context.Context, authorization, channelID, serviceURL string) (Claims, error) {
	scheme, raw, ok := strings.Cut(authorization, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return Claims{}, refuse("no bearer token")
	}
	raw = strings.TrimSpace(raw)
	switch {
	case raw == "" || strings.ContainsAny(raw, " \t"):
		return Claims{}, refuse("malformed bearer token")
	case len(raw) > maxTokenBytes:
		return Claims{}, refuse("token too large")
	case channelID == "":
		return Claims{}, refuse("activity has no channel ID")
	case serviceURL == "":
		return Claims{}, refuse("activity has no service URL")
	}

	var (
		kid    string
		keyed  bool // the key function ran: the algorithm was allowed
		claims tokenClaims
	)
	// The parser checks the algorithm, the signature and then exp and nbf
	// (when present); the other claims are checked below, each with its
	// reason.
	parser := jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodRS256.Alg()}),
		jwt.WithLeeway(v.leeway),
		jwt.WithTimeFunc(v.now),
	)
	// The key function runs only for RS256 tokens (WithValidMethods is
	// checked first).
	_, err := parser.ParseWithClaims(raw, &claims, func(t *jwt.Token) (any, error) {
		keyed = true
		kid, _ = t.Header["kid"].(string)
		if kid == "" {
			return nil, refuse("token has no key ID")
		}
		k, err := v.key(ctx, kid)
		if err != nil {
			return nil, err
		}
		if !slices.Contains(k.endorsements, channelID) {
			return nil, refuse("key %q is not endorsed for channel %q", short(kid), short(channelID))
		}
		return k.pub, nil
	})
	if err != nil {
		return Claims{}, classify(err, keyed)
	}
	if claims.ExpiresAt == nil {
		return Claims{}, refuse("token has no expiry")
	}
	if claims.Issuer != Issuer {
		return Claims{}, refuse("token is not from the Bot Framework (issuer)")
	}
	if len(claims.Audience) != 1 || claims.Audience[0] != v.appID {
		return Claims{}, refuse("token is not for this bot (audience)")
	}
	if claims.ServiceURL == "" {
		return Claims{}, refuse("token has no serviceurl claim")
	}
	if strings.TrimSuffix(claims.ServiceURL, "/") != strings.TrimSuffix(serviceURL, "/") {
		return Claims{}, refuse("token's serviceurl is not the activity's")
	}
	appID := claims.AppID
	if appID == "" {
		appID = claims.AZP
	}
	return Claims{AppID: appID, ServiceURL: claims.ServiceURL, Expiry: claims.ExpiresAt.Time, KeyID: kid}, nil
}

// classify turns a parse error into a refusal with a short reason (the
// library's messages are longer and vary between versions); keyed tells
// whether the key function ran.
func classify(err error, keyed bool) error {
	var r *refusal
	switch {
	case errors.As(err, &r):
		return r
	case errors.Is(err, jwt.ErrTokenMalformed):
		return refuse("malformed token")
	case errors.Is(err, jwt.ErrTokenUnverifiable) && !keyed,
		errors.Is(err, jwt.ErrTokenSignatureInvalid) && !keyed:
		// An unknown algorithm, or one other than RS256 (none, HS256…).
		return refuse("signing algorithm not allowed")
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return refuse("invalid signature")
	case errors.Is(err, jwt.ErrTokenExpired):
		return refuse("token expired")
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return refuse("token not valid yet")
	}
	return refuse("invalid token")
}

// key returns the signing key kid. Keys are fetched when none are cached,
// when they are older than refreshInterval, or when kid is unknown — each
// at most once per retryInterval (coldRetryInterval while none are
// cached).
func (v *Verifier) key(ctx context.Context, kid string) (signingKey, error) {
	k, ok, due := v.cached(kid)
	if ok {
		// A known key: one caller refreshes stale keys while the others
		// go on with the cached ones.
		if due && v.fetchMu.TryLock() {
			if _, _, due = v.cached(kid); due {
				v.refresh(ctx)
			}
			v.fetchMu.Unlock()
			k, ok, _ = v.cached(kid) // the refresh may have withdrawn it
		}
	} else {
		// An unknown key: wait for a fetch under way (it may bring the
		// key), or fetch if one is due.
		v.fetchMu.Lock()
		if _, _, due = v.cached(kid); due {
			v.refresh(ctx)
		}
		v.fetchMu.Unlock()
		k, ok, _ = v.cached(kid)
	}
	if ok {
		return k, nil
	}
	v.mu.Lock()
	have := v.keys != nil
	v.mu.Unlock()
	if !have {
		return signingKey{}, refuse("Bot Framework signing keys unavailable")
	}
	return signingKey{}, refuse("unknown signing key %q", short(kid))
}

// cached looks kid up and tells whether a fetch is due.
func (v *Verifier) cached(kid string) (k signingKey, ok, due bool) {
	now := v.now()
	v.mu.Lock()
	defer v.mu.Unlock()
	k, ok = v.keys[kid]
	since := now.Sub(v.tried)
	switch {
	case v.keys == nil:
		due = v.tried.IsZero() || since >= coldRetryInterval
	case !ok:
		due = since >= retryInterval
	default:
		due = now.Sub(v.fetched) >= refreshInterval && since >= retryInterval
	}
	return k, ok, due
}

// refresh fetches the keys; on failure the cached keys stay in use.
// Call with fetchMu held.
func (v *Verifier) refresh(ctx context.Context) {
	v.mu.Lock()
	v.tried = v.now()
	v.mu.Unlock()
	// One caller giving up must not spoil the fetch for those waiting
	// on it: the fetch gets its own deadline.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), fetchTimeout)
	defer cancel()
	keys, err := v.fetch(ctx)
	if err != nil {
		v.log.WarnContext(ctx, "teams: fetching Bot Framework signing keys failed; keeping cached keys", "error", err)
		return
	}
	v.mu.Lock()
	v.keys, v.fetched = keys, v.now()
	v.mu.Unlock()
	v.log.InfoContext(ctx, "teams: fetched Bot Framework signing keys", "keys", len(keys))
}

// fetch reads the OpenID metadata then its JWKS.
func (v *Verifier) fetch(ctx context.Context) (map[string]signingKey, error) {
	var meta struct {
		JWKSURI string `json:"jwks_uri"`
	}
	if err := v.getJSON(ctx, v.metadataURL.String(), &meta); err != nil {
		return nil, fmt.Errorf("OpenID metadata: %w", err)
	}
	jwksURL, err := absoluteHTTP(meta.JWKSURI)
	if err != nil {
		return nil, fmt.Errorf("OpenID metadata: jwks_uri: %w", err)
	}
	// Keys fetched over https must not come from a plain http jwks_uri.
	if v.metadataURL.Scheme == "https" && jwksURL.Scheme != "https" {
		return nil, fmt.Errorf("OpenID metadata: jwks_uri %q is not https", meta.JWKSURI)
	}
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := v.getJSON(ctx, jwksURL.String(), &set); err != nil {
		return nil, fmt.Errorf("JWKS: %w", err)
	}
	keys := map[string]signingKey{}
	for i, raw := range set.Keys {
		kid, k, err := parseKey(raw)
		if err != nil {
			v.log.DebugContext(ctx, "teams: skipping JWKS key", "index", i, "kid", kid, "reason", err)
			continue
		}
		if _, dup := keys[kid]; !dup {
			keys[kid] = k
		}
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("JWKS at %s has no usable RSA signing key", jwksURL.Redacted())
	}
	return keys, nil
}

// parseKey reads one JWKS key: go-jose parses the key itself, while kid
// and the Bot Framework's endorsements are read from the raw JSON.
func parseKey(raw json.RawMessage) (string, signingKey, error) {
	var ext struct {
		Kid          string   `json:"kid"`
		Endorsements []string `json:"endorsements"`
	}
	if err := json.Unmarshal(raw, &ext); err != nil {
		return "", signingKey{}, err
	}
	if ext.Kid == "" {
		return "", signingKey{}, errors.New("no kid")
	}
	var jwk jose.JSONWebKey
	if err := jwk.UnmarshalJSON(raw); err != nil {
		return ext.Kid, signingKey{}, err
	}
	pub, ok := jwk.Key.(*rsa.PublicKey)
	switch {
	case !ok:
		return ext.Kid, signingKey{}, fmt.Errorf("not an RSA public key (%T)", jwk.Key)
	case pub.N.BitLen() < minRSABits:
		return ext.Kid, signingKey{}, fmt.Errorf("RSA key of %d bits", pub.N.BitLen())
	case jwk.Use != "" && jwk.Use != "sig":
		return ext.Kid, signingKey{}, fmt.Errorf("key use %q", jwk.Use)
	case jwk.Algorithm != "" && jwk.Algorithm != jwt.SigningMethodRS256.Alg():
		return ext.Kid, signingKey{}, fmt.Errorf("key algorithm %q", jwk.Algorithm)
	}
	return ext.Kid, signingKey{pub: pub, endorsements: ext.Endorsements}, nil
}

func (v *Verifier) getJSON(ctx context.Context, u string, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := v.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: HTTP %d", req.URL.Redacted(), resp.StatusCode)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxFetchBytes+1))
	if err != nil {
		return fmt.Errorf("GET %s: %w", req.URL.Redacted(), err)
	}
	if len(b) > maxFetchBytes {
		return fmt.Errorf("GET %s: body over %d bytes", req.URL.Redacted(), maxFetchBytes)
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("GET %s: %w", req.URL.Redacted(), err)
	}
	return nil
}

// short bounds what of a caller's value a reason quotes.
func short(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

func absoluteHTTP(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, err
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%q is not an absolute http(s) URL", s)
	}
	return u, nil
}
