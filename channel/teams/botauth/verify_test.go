package botauth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"
)

const (
	testAppID      = "6f3c9d1e-0000-4000-8000-00000000b07a"
	testServiceURL = "https://smba.trafficmanager.net/amer/"
)

// Keys are slow to generate: once for all tests.
var (
	keysOnce                          sync.Once
	keyTeams, keyRotated, keyWebchat  *rsa.PrivateKey
	keyForeign, keySmall, keyUnlisted *rsa.PrivateKey
)

func testKeys(t *testing.T) {
	t.Helper()
	keysOnce.Do(func() {
		gen := func(bits int) *rsa.PrivateKey {
			k, err := rsa.GenerateKey(rand.Reader, bits)
			if err != nil {
				panic(err)
			}
			return k
		}
		keyTeams, keyRotated, keyWebchat = gen(2048), gen(2048), gen(2048)
		keyForeign, keyUnlisted, keySmall = gen(2048), gen(2048), gen(1024)
	})
}

// clock is a fake clock tests move by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// listedKey is a JWKS entry.
type listedKey struct {
	kid          string
	pub          any
	endorsements []string // nil: no endorsements member
}

// botFramework serves OpenID metadata and a JWKS on 127.0.0.1, counting
// requests.
type botFramework struct {
	srv *httptest.Server

	mu        sync.Mutex
	keys      []listedKey
	down      bool
	metaCalls int
	jwksCalls int
}

func newBotFramework(t *testing.T, keys ...listedKey) *botFramework {
	t.Helper()
	b := &botFramework{keys: keys}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/.well-known/openidconfiguration", func(w http.ResponseWriter, _ *http.Request) {
		b.mu.Lock()
		b.metaCalls++
		down := b.down
		b.mu.Unlock()
		if down {
			http.Error(w, "unavailable", http.StatusServiceUnavailable)
			return
		}
		writeJSON(t, w, map[string]any{
			"issuer": Issuer, "authorization_endpoint": "https://invalid.botframework.com",
			"jwks_uri":                              b.srv.URL + "/v1/keys",
			"id_token_signing_alg_values_supported": []string{"RS256"},
		})
	})
	mux.HandleFunc("GET /v1/keys", func(w http.ResponseWriter, _ *http.Request) {
		b.mu.Lock()
		b.jwksCalls++
		keys, down := append([]listedKey(nil), b.keys...), b.down
		b.mu.Unlock()
		if down {
			http.Error(w, "unavailable", http.StatusServiceUnavailable)
			return
		}
		var set struct {
			Keys []map[string]any `json:"keys"`
		}
		for _, k := range keys {
			raw, err := (&jose.JSONWebKey{Key: k.pub, KeyID: k.kid, Use: "sig"}).MarshalJSON()
			if err != nil {
				t.Error(err)
				return
			}
			var m map[string]any
			if err := json.Unmarshal(raw, &m); err != nil {
				t.Error(err)
				return
			}
			if k.endorsements != nil {
				m["endorsements"] = k.endorsements
			}
			set.Keys = append(set.Keys, m)
		}
		writeJSON(t, w, set)
	})
	b.srv = httptest.NewServer(mux)
	t.Cleanup(b.srv.Close)
	return b
}

func writeJSON(t *testing.T, w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	if err := json.NewEncoder(w).Encode(v); err != nil {
		t.Error(err)
	}
}

func (b *botFramework) metadataURL() string { return b.srv.URL + "/v1/.well-known/openidconfiguration" }

func (b *botFramework) set(f func(b *botFramework)) {
	b.mu.Lock()
	defer b.mu.Unlock()
	f(b)
}

// calls returns the metadata and JWKS request counts.
func (b *botFramework) calls() (meta, jwks int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.metaCalls, b.jwksCalls
}

// standardKeys is the JWKS most tests serve.
func standardKeys() []listedKey {
	return []listedKey{
		{kid: "teams", pub: &keyTeams.PublicKey, endorsements: []string{"msteams", "skype"}},
		{kid: "webchat", pub: &keyWebchat.PublicKey, endorsements: []string{"webchat"}},
		{kid: "bare", pub: &keyWebchat.PublicKey},
		{kid: "small", pub: &keySmall.PublicKey, endorsements: []string{"msteams"}},
	}
}

// claimsAt are the claims the channel service sends, at now.
func claimsAt(now time.Time) jwt.MapClaims {
	return jwt.MapClaims{
		"iss": Issuer, "aud": testAppID, "serviceurl": testServiceURL,
		"nbf": now.Add(-5 * time.Minute).Unix(), "exp": now.Add(time.Hour).Unix(), "iat": now.Unix(),
		"appid": "d6d49420-f39b-4df7-a1dc-d59a935871db",
	}
}

func sign(t *testing.T, method jwt.SigningMethod, key any, kid string, c jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, c)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func newVerifier(t *testing.T, b *botFramework, clk *clock) *Verifier {
	t.Helper()
	v, err := New(Options{AppID: testAppID, OpenIDMetadataURL: b.metadataURL(), Now: clk.Now, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

var quiet = slog.New(slog.DiscardHandler)

func start() *clock { return &clock{t: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)} }

func TestVerifyValid(t *testing.T) {
	testKeys(t)
	clk := start()
	b := newBotFramework(t, standardKeys()...)
	v := newVerifier(t, b, clk)
	tok := sign(t, jwt.SigningMethodRS256, keyTeams, "teams", claimsAt(clk.Now()))

	got, err := v.Verify(context.Background(), "Bearer "+tok, "msteams", testServiceURL)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	want := Claims{
		AppID: "d6d49420-f39b-4df7-a1dc-d59a935871db", ServiceURL: testServiceURL,
		Expiry: clk.Now().Add(time.Hour), KeyID: "teams",
	}
	if !got.Expiry.Equal(want.Expiry) || got.AppID != want.AppID || got.ServiceURL != want.ServiceURL || got.KeyID != want.KeyID {
		t.Errorf("claims = %+v, want %+v", got, want)
	}
}

func TestVerify(t *testing.T) {
	testKeys(t)
	clk := start()
	now := clk.Now()
	b := newBotFramework(t, standardKeys()...)

	rs256 := func(key *rsa.PrivateKey, kid string, edit func(jwt.MapClaims)) string {
		c := claimsAt(now)
		if edit != nil {
			edit(c)
		}
		return sign(t, jwt.SigningMethodRS256, key, kid, c)
	}
	valid := rs256(keyTeams, "teams", nil)

	pubDER, err := x509.MarshalPKIXPublicKey(&keyTeams.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(valid, ".")
	forged := rs256(keyTeams, "teams", func(c jwt.MapClaims) { c["aud"] = "someone-else" })
	tampered := parts[0] + "." + strings.Split(forged, ".")[1] + "." + parts[2]

	tests := []struct {
		name        string
		auth        string
		channel     string
		serviceURL  string
		wantErr     string // "" for success
		wantService string
	}{
		{name: "valid", auth: "Bearer " + valid},
		{name: "scheme case-insensitive", auth: "bearer " + valid},
		{name: "service URL without trailing slash", auth: "Bearer " + valid, serviceURL: strings.TrimSuffix(testServiceURL, "/")},
		{name: "claim without trailing slash", serviceURL: testServiceURL,
			auth: "Bearer " + rs256(keyTeams, "teams", func(c jwt.MapClaims) { c["serviceurl"] = strings.TrimSuffix(testServiceURL, "/") })},
		{name: "expired within leeway",
			auth: "Bearer " + rs256(keyTeams, "teams", func(c jwt.MapClaims) { c["exp"] = now.Add(-4 * time.Minute).Unix() })},
		{name: "nbf within leeway",
			auth: "Bearer " + rs256(keyTeams, "teams", func(c jwt.MapClaims) { c["nbf"] = now.Add(4 * time.Minute).Unix() })},
		{name: "key endorsed for the activity's channel", channel: "webchat",
			auth: "Bearer " + rs256(keyWebchat, "webchat", nil)},

		{name: "no header", auth: "", wantErr: "no bearer token"},
		{name: "basic", auth: "Basic dXNlcjpwYXNz", wantErr: "no bearer token"},
		{name: "bare token", auth: valid, wantErr: "no bearer token"},
		{name: "empty token", auth: "Bearer ", wantErr: "malformed bearer token"},
		{name: "garbage", auth: "Bearer not.a.jwt", wantErr: "malformed token"},
		{name: "too large", wantErr: "token too large",
			auth: "Bearer " + rs256(keyTeams, "teams", func(c jwt.MapClaims) { c["pad"] = strings.Repeat("x", 17<<10) })},
		{name: "alg none", wantErr: "signing algorithm not allowed",
			auth: "Bearer " + sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, "teams", claimsAt(now))},
		{name: "HS256 with the public key", wantErr: "signing algorithm not allowed",
			auth: "Bearer " + sign(t, jwt.SigningMethodHS256, pubPEM, "teams", claimsAt(now))},
		{name: "HS256 with the public key DER", wantErr: "signing algorithm not allowed",
			auth: "Bearer " + sign(t, jwt.SigningMethodHS256, pubDER, "teams", claimsAt(now))},
		{name: "ES256", wantErr: "signing algorithm not allowed",
			auth: "Bearer " + sign(t, jwt.SigningMethodES256, ecKey, "teams", claimsAt(now))},
		{name: "RS512", wantErr: "signing algorithm not allowed",
			auth: "Bearer " + sign(t, jwt.SigningMethodRS512, keyTeams, "teams", claimsAt(now))},
		{name: "PS256", wantErr: "signing algorithm not allowed",
			auth: "Bearer " + sign(t, jwt.SigningMethodPS256, keyTeams, "teams", claimsAt(now))},
		{name: "no kid", wantErr: "no key ID", auth: "Bearer " + rs256(keyTeams, "", nil)},
		{name: "unknown kid", wantErr: "unknown signing key", auth: "Bearer " + rs256(keyUnlisted, "unlisted", nil)},
		{name: "RSA key under 2048 bits", wantErr: "unknown signing key", auth: "Bearer " + rs256(keySmall, "small", nil)},
		{name: "key not endorsed for msteams", wantErr: "not endorsed", auth: "Bearer " + rs256(keyWebchat, "webchat", nil)},
		{name: "key without endorsements", wantErr: "not endorsed", auth: "Bearer " + rs256(keyWebchat, "bare", nil)},
		{name: "no channel", channel: "-", wantErr: "no channel ID", auth: "Bearer " + valid},
		{name: "signed by a foreign key", wantErr: "invalid signature", auth: "Bearer " + rs256(keyForeign, "teams", nil)},
		{name: "tampered claims", wantErr: "invalid signature", auth: "Bearer " + tampered},
		{name: "wrong issuer", wantErr: "issuer",
			auth: "Bearer " + rs256(keyTeams, "teams", func(c jwt.MapClaims) { c["iss"] = "https://sts.windows.net/tenant/" })},
		{name: "issuer with trailing slash", wantErr: "issuer",
			auth: "Bearer " + rs256(keyTeams, "teams", func(c jwt.MapClaims) { c["iss"] = Issuer + "/" })},
		{name: "no issuer", wantErr: "issuer",
			auth: "Bearer " + rs256(keyTeams, "teams", func(c jwt.MapClaims) { delete(c, "iss") })},
		{name: "wrong audience", wantErr: "audience",
			auth: "Bearer " + rs256(keyTeams, "teams", func(c jwt.MapClaims) { c["aud"] = "another-bot" })},
		{name: "extra audience", wantErr: "audience",
			auth: "Bearer " + rs256(keyTeams, "teams", func(c jwt.MapClaims) { c["aud"] = []string{testAppID, "another-bot"} })},
		{name: "no audience", wantErr: "audience",
			auth: "Bearer " + rs256(keyTeams, "teams", func(c jwt.MapClaims) { delete(c, "aud") })},
		{name: "no exp", wantErr: "no expiry",
			auth: "Bearer " + rs256(keyTeams, "teams", func(c jwt.MapClaims) { delete(c, "exp") })},
		{name: "expired", wantErr: "expired",
			auth: "Bearer " + rs256(keyTeams, "teams", func(c jwt.MapClaims) { c["exp"] = now.Add(-6 * time.Minute).Unix() })},
		{name: "not valid yet", wantErr: "not valid yet",
			auth: "Bearer " + rs256(keyTeams, "teams", func(c jwt.MapClaims) { c["nbf"] = now.Add(6 * time.Minute).Unix() })},
		{name: "no serviceurl", wantErr: "no serviceurl",
			auth: "Bearer " + rs256(keyTeams, "teams", func(c jwt.MapClaims) { delete(c, "serviceurl") })},
		{name: "serviceurl of another region", wantErr: "serviceurl",
			auth: "Bearer " + rs256(keyTeams, "teams", func(c jwt.MapClaims) { c["serviceurl"] = "https://smba.trafficmanager.net/emea/" })},
		{name: "serviceurl differs in case", wantErr: "serviceurl",
			auth: "Bearer " + rs256(keyTeams, "teams", func(c jwt.MapClaims) { c["serviceurl"] = strings.ToUpper(testServiceURL) })},
		{name: "activity without service URL", serviceURL: "-", wantErr: "no service URL", auth: "Bearer " + valid},
	}
	v := newVerifier(t, b, clk)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			channel, serviceURL := "msteams", testServiceURL
			if tt.channel == "-" {
				channel = ""
			} else if tt.channel != "" {
				channel = tt.channel
			}
			if tt.serviceURL == "-" {
				serviceURL = ""
			} else if tt.serviceURL != "" {
				serviceURL = tt.serviceURL
			}
			_, err := v.Verify(context.Background(), tt.auth, channel, serviceURL)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrUnauthorized) {
				t.Fatalf("Verify = %v, want ErrUnauthorized", err)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Verify = %q, want reason %q", err, tt.wantErr)
			}
			if _, tok, _ := strings.Cut(tt.auth, " "); len(tok) > 8 && strings.Contains(err.Error(), tok) {
				t.Errorf("the refusal quotes the token: %q", err)
			}
		})
	}
	// One verifier, many unknown kids: the keys were fetched once.
	if meta, jwks := b.calls(); meta != 1 || jwks != 1 {
		t.Errorf("fetches = %d metadata, %d JWKS; want 1, 1", meta, jwks)
	}
}

func TestUnknownKidRefetchesAtMostEveryFiveMinutes(t *testing.T) {
	testKeys(t)
	clk := start()
	b := newBotFramework(t, standardKeys()...)
	v := newVerifier(t, b, clk)
	ctx := context.Background()
	verify := func(key *rsa.PrivateKey, kid string) error {
		_, err := v.Verify(ctx, "Bearer "+sign(t, jwt.SigningMethodRS256, key, kid, claimsAt(clk.Now())), "msteams", testServiceURL)
		return err
	}
	wantCalls := func(n int) {
		t.Helper()
		if meta, jwks := b.calls(); meta != n || jwks != n {
			t.Fatalf("fetches = %d metadata, %d JWKS; want %d each", meta, jwks, n)
		}
	}

	if err := verify(keyTeams, "teams"); err != nil {
		t.Fatal(err)
	}
	wantCalls(1)

	// Microsoft publishes a new key; a token signed with it comes in.
	b.set(func(b *botFramework) {
		b.keys = append(b.keys, listedKey{kid: "rotated", pub: &keyRotated.PublicKey, endorsements: []string{"msteams"}})
	})
	if err := verify(keyRotated, "rotated"); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("a key unknown a moment after the last fetch: %v, want refused without a fetch", err)
	}
	wantCalls(1)
	clk.Advance(5 * time.Minute)
	if err := verify(keyRotated, "rotated"); err != nil {
		t.Fatalf("rotated key after refetch: %v", err)
	}
	wantCalls(2)

	// A second unknown kid within 5 minutes does not fetch again.
	clk.Advance(time.Minute)
	for range 20 {
		if err := verify(keyUnlisted, "unlisted"); err == nil || !strings.Contains(err.Error(), "unknown signing key") {
			t.Fatalf("unlisted key: %v", err)
		}
	}
	wantCalls(2)
	// Known keys still verify without a fetch.
	if err := verify(keyTeams, "teams"); err != nil {
		t.Fatal(err)
	}
	wantCalls(2)

	clk.Advance(4 * time.Minute)
	if err := verify(keyUnlisted, "unlisted"); !errors.Is(err, ErrUnauthorized) {
		t.Fatal(err)
	}
	wantCalls(3)
}

func TestRefreshDaily(t *testing.T) {
	testKeys(t)
	clk := start()
	b := newBotFramework(t, standardKeys()...)
	v := newVerifier(t, b, clk)
	ctx := context.Background()
	verify := func() error {
		_, err := v.Verify(ctx, "Bearer "+sign(t, jwt.SigningMethodRS256, keyTeams, "teams", claimsAt(clk.Now())), "msteams", testServiceURL)
		return err
	}
	if err := verify(); err != nil {
		t.Fatal(err)
	}
	clk.Advance(23 * time.Hour)
	if err := verify(); err != nil {
		t.Fatal(err)
	}
	if meta, _ := b.calls(); meta != 1 {
		t.Fatalf("metadata fetched %d times within a day, want 1", meta)
	}

	// The endpoint is down when the keys are due: the cached ones are
	// used, and the failed refresh is not retried on every request.
	b.set(func(b *botFramework) { b.down = true })
	clk.Advance(2 * time.Hour)
	for range 3 {
		if err := verify(); err != nil {
			t.Fatalf("with the metadata down and keys cached: %v", err)
		}
	}
	if meta, jwks := b.calls(); meta != 2 || jwks != 1 {
		t.Fatalf("fetches = %d metadata, %d JWKS; want 2, 1", meta, jwks)
	}

	// Back up, without the key: the next refresh drops it.
	b.set(func(b *botFramework) {
		b.down = false
		b.keys = b.keys[1:]
	})
	clk.Advance(5 * time.Minute)
	if err := verify(); err == nil || !strings.Contains(err.Error(), "unknown signing key") {
		t.Fatalf("a key withdrawn from the JWKS: %v", err)
	}
	if meta, jwks := b.calls(); meta != 3 || jwks != 2 {
		t.Fatalf("fetches = %d metadata, %d JWKS; want 3, 2", meta, jwks)
	}
}

func TestColdStartFailure(t *testing.T) {
	testKeys(t)
	clk := start()
	b := newBotFramework(t, standardKeys()...)
	b.set(func(b *botFramework) { b.down = true })
	v := newVerifier(t, b, clk)
	verify := func() error {
		_, err := v.Verify(context.Background(), "Bearer "+sign(t, jwt.SigningMethodRS256, keyTeams, "teams", claimsAt(clk.Now())), "msteams", testServiceURL)
		return err
	}
	for range 3 {
		if err := verify(); !errors.Is(err, ErrUnauthorized) || !strings.Contains(err.Error(), "unavailable") {
			t.Fatalf("keys unavailable: %v", err)
		}
	}
	if meta, _ := b.calls(); meta != 1 {
		t.Fatalf("metadata fetched %d times, want 1", meta)
	}
	b.set(func(b *botFramework) { b.down = false })
	clk.Advance(10 * time.Second)
	if err := verify(); err != nil {
		t.Fatal(err)
	}
}

func TestConcurrentFirstVerifyFetchesOnce(t *testing.T) {
	testKeys(t)
	clk := start()
	b := newBotFramework(t, standardKeys()...)
	v := newVerifier(t, b, clk)
	tok := "Bearer " + sign(t, jwt.SigningMethodRS256, keyTeams, "teams", claimsAt(clk.Now()))
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			if _, err := v.Verify(context.Background(), tok, "msteams", testServiceURL); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if meta, jwks := b.calls(); meta != 1 || jwks != 1 {
		t.Errorf("fetches = %d metadata, %d JWKS; want 1, 1", meta, jwks)
	}
}

func TestJWKSOverHTTPFromHTTPSMetadataRefused(t *testing.T) {
	testKeys(t)
	b := newBotFramework(t, standardKeys()...)
	// An https metadata server pointing at the plain-http JWKS.
	meta := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(t, w, map[string]any{"issuer": Issuer, "jwks_uri": b.srv.URL + "/v1/keys"})
	}))
	defer meta.Close()
	clk := start()
	v, err := New(Options{AppID: testAppID, OpenIDMetadataURL: meta.URL, HTTPClient: meta.Client(), Now: clk.Now, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	_, err = v.Verify(context.Background(), "Bearer "+sign(t, jwt.SigningMethodRS256, keyTeams, "teams", claimsAt(clk.Now())), "msteams", testServiceURL)
	if !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("Verify = %v, want refused", err)
	}
	if _, jwks := b.calls(); jwks != 0 {
		t.Errorf("the http JWKS was fetched %d times", jwks)
	}
}

func TestNew(t *testing.T) {
	for _, tt := range []struct {
		name string
		o    Options
		ok   bool
	}{
		{"defaults", Options{AppID: "x"}, true},
		{"http metadata", Options{AppID: "x", OpenIDMetadataURL: "http://127.0.0.1:1/meta"}, true},
		{"no app ID", Options{}, false},
		{"relative URL", Options{AppID: "x", OpenIDMetadataURL: "/v1/.well-known/openidconfiguration"}, false},
		{"other scheme", Options{AppID: "x", OpenIDMetadataURL: "ftp://login.botframework.com/meta"}, false},
		{"no host", Options{AppID: "x", OpenIDMetadataURL: "https:///meta"}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.o)
			if (err == nil) != tt.ok {
				t.Errorf("New(%+v) error = %v, want ok=%v", tt.o, err, tt.ok)
			}
		})
	}
}
