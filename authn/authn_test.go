package authn

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/signoff/signoff/config"
	"github.com/signoff/signoff/identity"
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
