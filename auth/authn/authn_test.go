package authn

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"
	"github.com/stretchr/testify/require"

	"github.com/signoff/signoff/config"
	"github.com/signoff/signoff/config/identity"
	"github.com/signoff/signoff/internal/oidctest"
)

func directory(t *testing.T) *identity.Directory {
	t.Helper()
	d, err := identity.NewDirectory([]identity.User{
		{Name: "alice", Email: "alice@example.com", Token: "dev-alice"},
		{Name: "bob", Email: "bob@example.com"},
	})
	require.NoError(t, err)
	return d
}

func issuer(t *testing.T) *oidctest.Issuer {
	t.Helper()
	iss, err := oidctest.New()
	require.NoError(t, err)
	t.Cleanup(iss.Close)
	return iss
}

func yes() *bool { v := true; return &v }
func no() *bool  { v := false; return &v }

func TestStaticTokensWithoutAnIssuer(t *testing.T) {
	d := directory(t)
	a, err := New(context.Background(), config.OIDC{}, func() *identity.Directory { return d }, slog.Default())
	require.NoError(t, err)
	u, err := a.Authenticate(context.Background(), "dev-alice")
	require.NoError(t, err)
	require.Equal(t, "alice", u.Name)
	for _, tok := range []string{"", "dev-bob", "a.b.c"} {
		_, err := a.Authenticate(context.Background(), tok)
		require.ErrorIs(t, err, ErrUnknown, tok)
	}
}

func TestOIDCTokens(t *testing.T) {
	iss := issuer(t)
	d := directory(t)
	ctx := context.Background()
	a, err := New(ctx, config.OIDC{Issuer: iss.URL, Audience: "signoff", UserClaim: config.OIDCClaimEmail},
		func() *identity.Directory { return d }, slog.Default())
	require.NoError(t, err)

	good := oidctest.Claims{Audience: "signoff", Subject: "00u1", Email: "Bob@Example.com", EmailVerified: yes()}
	tok, err := iss.Token(good)
	require.NoError(t, err)
	u, err := a.Authenticate(ctx, tok)
	require.NoError(t, err)
	require.Equal(t, "bob", u.Name, "the verified email names a configured user")

	u, err = a.Authenticate(ctx, "dev-alice")
	require.NoError(t, err)
	require.Equal(t, "alice", u.Name, "static tokens still work next to OIDC")

	refused := map[string]func() (string, error){
		"another audience": func() (string, error) { c := good; c.Audience = "other-app"; return iss.Token(c) },
		"expired":          func() (string, error) { c := good; c.Expiry = time.Now().Add(-time.Minute); return iss.Token(c) },
		"another issuer":   func() (string, error) { c := good; c.Issuer = "https://evil.example.com"; return iss.Token(c) },
		"forged signature": func() (string, error) { return iss.ForeignToken(good) },
		"unverified email": func() (string, error) { c := good; c.EmailVerified = no(); return iss.Token(c) },
		"no email_verified claim": func() (string, error) {
			c := good
			c.EmailVerified = nil
			return iss.Token(c)
		},
		"unknown person": func() (string, error) { c := good; c.Email = "mallory@example.com"; return iss.Token(c) },
		// The classic downgrades: no signature at all, and a symmetric one
		// (HS256) keyed with something an attacker may know.
		"alg none": func() (string, error) { return unsignedToken(iss.URL, "none", "") },
		"alg HS256": func() (string, error) {
			return unsignedToken(iss.URL, "HS256", base64.RawURLEncoding.EncodeToString([]byte("not-a-real-mac-but-well-formed")))
		},
	}
	for name, mk := range refused {
		tok, err := mk()
		require.NoError(t, err, name)
		_, err = a.Authenticate(ctx, tok)
		require.True(t, errors.Is(err, ErrUnknown), "%s: %v", name, err)
	}
	_, err = a.Authenticate(ctx, tok+"x")
	require.ErrorIs(t, err, ErrUnknown, "a tampered token")
}

func TestOIDCSubjectClaim(t *testing.T) {
	iss := issuer(t)
	d := directory(t)
	ctx := context.Background()
	a, err := New(ctx, config.OIDC{Issuer: iss.URL, Audience: "signoff", UserClaim: config.OIDCClaimSubject},
		func() *identity.Directory { return d }, slog.Default())
	require.NoError(t, err)
	tok, err := iss.Token(oidctest.Claims{Audience: "signoff", Subject: "alice", Email: "bob@example.com", EmailVerified: yes()})
	require.NoError(t, err)
	u, err := a.Authenticate(ctx, tok)
	require.NoError(t, err)
	require.Equal(t, "alice", u.Name, "sub, not email, names the person")
}

func TestUnreachableIssuerFailsAtStart(t *testing.T) {
	iss := issuer(t)
	url := iss.URL
	iss.Close()
	_, err := New(context.Background(), config.OIDC{Issuer: url, Audience: "signoff", UserClaim: config.OIDCClaimEmail},
		func() *identity.Directory { return directory(t) }, slog.Default())
	require.ErrorContains(t, err, "oidc issuer")
}

// TestGroupsAreObservedWhenTheyChange: a verified token's groups claim is
// passed on for the person it names, once per change; a refused token's
// groups never are.
func TestGroupsAreObservedWhenTheyChange(t *testing.T) {
	iss := issuer(t)
	d := directory(t)
	ctx := context.Background()
	a, err := New(ctx, config.OIDC{Issuer: iss.URL, Audience: "signoff", UserClaim: config.OIDCClaimEmail, GroupsClaim: "groups"},
		func() *identity.Directory { return d }, slog.Default())
	require.NoError(t, err)
	var heard []string
	a.ObserveGroups(func(_ context.Context, user string, groups []string) error {
		heard = append(heard, user+":"+strings.Join(groups, ","))
		return nil
	})
	token := func(email string, groups ...string) string {
		tok, err := iss.Token(oidctest.Claims{Audience: "signoff", Email: email, EmailVerified: yes(), Groups: groups})
		require.NoError(t, err)
		return tok
	}
	for _, tok := range []string{token("bob@example.com", "prod", "db"), token("bob@example.com", "db", "prod"), token("bob@example.com", "db")} {
		_, err := a.Authenticate(ctx, tok)
		require.NoError(t, err)
	}
	_, err = a.Authenticate(ctx, token("mallory@example.com", "prod"))
	require.ErrorIs(t, err, ErrUnknown)
	require.Equal(t, []string{"bob:db,prod", "bob:db"}, heard)
}

// unsignedToken is a JWT for bob with header alg and the given signature
// part, as an attacker would write it by hand.
func unsignedToken(issuer, alg, sig string) (string, error) {
	h, err := json.Marshal(map[string]string{"alg": alg, "typ": "JWT", "kid": "test-key-1"})
	if err != nil {
		return "", err
	}
	p, err := json.Marshal(map[string]any{"iss": issuer, "aud": "signoff", "sub": "00u1", "email": "bob@example.com",
		"email_verified": true, "exp": time.Now().Add(time.Hour).Unix(), "iat": time.Now().Unix()})
	if err != nil {
		return "", err
	}
	enc := base64.RawURLEncoding.EncodeToString
	return enc(h) + "." + enc(p) + "." + sig, nil
}

// keyIssuer is an OIDC issuer on 127.0.0.1 whose JWKS can change (a key
// rotation), counting the JWKS requests it serves.
type keyIssuer struct {
	URL  string
	hits atomic.Int64 // GET /keys served

	mu   sync.Mutex
	keys map[string]*ecdsa.PrivateKey // published, by kid
}

func newKeyIssuer(t *testing.T, kids ...string) *keyIssuer {
	t.Helper()
	iss := &keyIssuer{keys: map[string]*ecdsa.PrivateKey{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]any{
			"issuer": iss.URL, "jwks_uri": iss.URL + "/keys",
			"authorization_endpoint": iss.URL + "/authorize", "token_endpoint": iss.URL + "/token",
			"id_token_signing_alg_values_supported": []string{"ES256"},
		})
	})
	mux.HandleFunc("GET /keys", func(w http.ResponseWriter, _ *http.Request) {
		iss.hits.Add(1)
		iss.mu.Lock()
		var set jose.JSONWebKeySet
		for kid, k := range iss.keys {
			set.Keys = append(set.Keys, jose.JSONWebKey{Key: &k.PublicKey, KeyID: kid, Algorithm: "ES256", Use: "sig"})
		}
		iss.mu.Unlock()
		_ = json.NewEncoder(w).Encode(set)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	iss.URL = srv.URL
	for _, kid := range kids {
		iss.publish(t, kid)
	}
	return iss
}

// publish adds a new key kid to the issuer's JWKS.
func (i *keyIssuer) publish(t *testing.T, kid string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	i.mu.Lock()
	i.keys[kid] = k
	i.mu.Unlock()
}

// token is a token for email signed by key under kid.
func (i *keyIssuer) token(t *testing.T, key *ecdsa.PrivateKey, kid, email string) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", kid))
	require.NoError(t, err)
	tok, err := josejwt.Signed(signer).Claims(josejwt.Claims{
		Issuer: i.URL, Subject: "00u1", Audience: josejwt.Audience{"signoff"},
		Expiry: josejwt.NewNumericDate(time.Now().Add(time.Hour)), IssuedAt: josejwt.NewNumericDate(time.Now()),
	}).Claims(map[string]any{"email": email, "email_verified": true}).Serialize()
	require.NoError(t, err)
	return tok
}

// signed is a token for email under the issuer's published key kid.
func (i *keyIssuer) signed(t *testing.T, kid, email string) string {
	t.Helper()
	i.mu.Lock()
	k := i.keys[kid]
	i.mu.Unlock()
	require.NotNil(t, k, kid)
	return i.token(t, k, kid, email)
}

// countingHandler counts the log records at or above Info.
type countingHandler struct{ info atomic.Int64 }

func (h *countingHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *countingHandler) Handle(_ context.Context, r slog.Record) error {
	if r.Level >= slog.LevelInfo {
		h.info.Add(1)
	}
	return nil
}
func (h *countingHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *countingHandler) WithGroup(string) slog.Handler      { return h }

// TestUnknownKeyIDsDoNotHammerTheIssuer: well-formed tokens naming key IDs
// the issuer never published are refused without a JWKS fetch each (one
// per interval at most), and without a log line at info each.
func TestUnknownKeyIDsDoNotHammerTheIssuer(t *testing.T) {
	iss := newKeyIssuer(t, "k1")
	d := directory(t)
	ctx := context.Background()
	logs := &countingHandler{}
	a, err := New(ctx, config.OIDC{Issuer: iss.URL, Audience: "signoff", UserClaim: config.OIDCClaimEmail},
		func() *identity.Directory { return d }, slog.New(logs))
	require.NoError(t, err)

	attacker, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	for range 100 {
		_, err := a.Authenticate(ctx, iss.token(t, attacker, rand.Text(), "bob@example.com"))
		require.ErrorIs(t, err, ErrUnknown)
	}
	require.LessOrEqual(t, iss.hits.Load(), int64(1), "JWKS fetches for 100 tokens with unknown key IDs")
	require.LessOrEqual(t, logs.info.Load(), int64(2), "log records at info or above for 100 refused tokens")

	// The issuer's own key still works, from the keys already fetched.
	u, err := a.Authenticate(ctx, iss.signed(t, "k1", "bob@example.com"))
	require.NoError(t, err)
	require.Equal(t, "bob", u.Name)
	require.LessOrEqual(t, iss.hits.Load(), int64(1))
}

// fakeClock is a clock tests move by hand.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// TestRotatedKeyAcceptedAfterInterval: a key the issuer starts signing
// with is fetched once the refetch interval since the last fetch has
// passed, while made-up key IDs, however many and however concurrent,
// fetch nothing more in between.
func TestRotatedKeyAcceptedAfterInterval(t *testing.T) {
	iss := newKeyIssuer(t, "k1")
	d := directory(t)
	ctx := context.Background()
	a, err := New(ctx, config.OIDC{Issuer: iss.URL, Audience: "signoff", UserClaim: config.OIDCClaimEmail},
		func() *identity.Directory { return d }, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	clock := &fakeClock{now: time.Date(2026, 5, 15, 9, 0, 0, 0, time.UTC)}
	a.keys.now = clock.Now
	attacker, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	flood := func() {
		var wg sync.WaitGroup
		for range 50 {
			tok := iss.token(t, attacker, rand.Text(), "bob@example.com")
			wg.Go(func() {
				if _, err := a.Authenticate(ctx, tok); !errors.Is(err, ErrUnknown) {
					t.Errorf("a token of an unknown key: %v", err)
				}
			})
		}
		wg.Wait()
	}
	accepted := func(kid string) bool {
		_, err := a.Authenticate(ctx, iss.signed(t, kid, "bob@example.com"))
		return err == nil
	}

	require.True(t, accepted("k1"))
	require.Equal(t, int64(1), iss.hits.Load(), "the first token fetches the keys")
	flood()
	require.Equal(t, int64(1), iss.hits.Load(), "unknown key IDs within the interval fetch nothing")

	// The issuer rotates: k2 is published and signs from now on.
	iss.publish(t, "k2")
	clock.Add(jwksRefetchInterval - time.Second)
	require.False(t, accepted("k2"), "within the interval the new key is not fetched yet")
	require.Equal(t, int64(1), iss.hits.Load())

	clock.Add(time.Second)
	require.True(t, accepted("k2"), "after the interval a new key ID fetches the keys again")
	require.Equal(t, int64(2), iss.hits.Load())
	require.True(t, accepted("k1"), "keys still published stay in use")
	flood()
	require.Equal(t, int64(2), iss.hits.Load(), "the fetch that found k2 starts another interval")

	clock.Add(jwksRefetchInterval)
	flood()
	require.Equal(t, int64(3), iss.hits.Load(), "a concurrent flood after the interval fetches once")
}

// TestUnreachableJWKSRetriedSoonWhileNoKeys: a JWKS that cannot be read
// before any key was fetched is tried again after jwksColdRetryInterval,
// not once per token.
func TestUnreachableJWKSRetriedSoonWhileNoKeys(t *testing.T) {
	iss := newKeyIssuer(t, "k1")
	d := directory(t)
	ctx := context.Background()
	a, err := New(ctx, config.OIDC{Issuer: iss.URL, Audience: "signoff", UserClaim: config.OIDCClaimEmail},
		func() *identity.Directory { return d }, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	clock := &fakeClock{now: time.Date(2026, 5, 15, 9, 0, 0, 0, time.UTC)}
	a.keys.now = clock.Now
	good := iss.signed(t, "k1", "bob@example.com")
	keysURL := a.keys.url
	a.keys.url = iss.URL + "/missing" // answers 404
	for range 10 {
		_, err := a.Authenticate(ctx, good)
		require.ErrorIs(t, err, ErrUnknown)
	}
	require.Equal(t, int64(0), iss.hits.Load())

	a.keys.url = keysURL
	clock.Add(jwksColdRetryInterval - time.Second)
	_, err = a.Authenticate(ctx, good)
	require.ErrorIs(t, err, ErrUnknown, "the failed fetch is not retried at once")
	clock.Add(time.Second)
	u, err := a.Authenticate(ctx, good)
	require.NoError(t, err)
	require.Equal(t, "bob", u.Name)
	require.Equal(t, int64(1), iss.hits.Load())
}
