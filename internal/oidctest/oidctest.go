// Package oidctest is an OpenID Connect issuer on 127.0.0.1 for tests: a
// discovery document and a JWKS served over HTTP, and tokens signed with
// its key (or, to test refusals, with another one).
package oidctest

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// Issuer serves discovery and keys; URL is its issuer identifier.
type Issuer struct {
	URL    string
	server *httptest.Server
	key    *rsa.PrivateKey
	keyID  string
}

// New starts an issuer; Close stops it.
func New() (*Issuer, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	i := &Issuer{key: key, keyID: "test-key-1"}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, map[string]any{
			"issuer": i.URL, "jwks_uri": i.URL + "/keys",
			"authorization_endpoint": i.URL + "/authorize", "token_endpoint": i.URL + "/token",
			"id_token_signing_alg_values_supported": []string{"RS256"},
		})
	})
	mux.HandleFunc("GET /keys", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: i.keyID, Algorithm: "RS256", Use: "sig"}}})
	})
	i.server = httptest.NewServer(mux)
	i.URL = i.server.URL
	return i, nil
}

// Close stops the server.
func (i *Issuer) Close() { i.server.Close() }

// Claims of a token; zero fields are left out.
type Claims struct {
	Issuer            string
	Audience          string
	Subject           string
	Email             string
	EmailVerified     *bool
	PreferredUsername string
	Groups            []string
	Expiry            time.Time
}

// Token signs c with the issuer's key; Issuer and Expiry default to this
// issuer and an hour from now.
func (i *Issuer) Token(c Claims) (string, error) { return i.sign(i.key, i.keyID, c) }

// ForeignToken signs c with a key the issuer never published, under the
// issuer's key ID: a forgery.
func (i *Issuer) ForeignToken(c Claims) (string, error) {
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return "", err
	}
	return i.sign(other, i.keyID, c)
}

func (i *Issuer) sign(key *rsa.PrivateKey, kid string, c Claims) (string, error) {
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: key},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", kid))
	if err != nil {
		return "", err
	}
	if c.Issuer == "" {
		c.Issuer = i.URL
	}
	if c.Expiry.IsZero() {
		c.Expiry = time.Now().Add(time.Hour)
	}
	std := jwt.Claims{Issuer: c.Issuer, Subject: c.Subject, Audience: jwt.Audience{c.Audience},
		Expiry: jwt.NewNumericDate(c.Expiry), IssuedAt: jwt.NewNumericDate(time.Now().Add(-time.Minute))}
	extra := map[string]any{}
	if c.Email != "" {
		extra["email"] = c.Email
	}
	if c.EmailVerified != nil {
		extra["email_verified"] = *c.EmailVerified
	}
	if c.PreferredUsername != "" {
		extra["preferred_username"] = c.PreferredUsername
	}
	if c.Groups != nil {
		extra["groups"] = c.Groups
	}
	return jwt.Signed(signer).Claims(std).Claims(extra).Serialize()
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}
