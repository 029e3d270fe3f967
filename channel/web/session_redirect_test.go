package web

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/signoff/signoff/auth/authn"
	"github.com/signoff/signoff/config"
	"github.com/signoff/signoff/config/identity"
)

// site is where the test gateway is served; a Location must stay on it.
const site = "https://signoff.example.com"

// onSite says why a Location would take a browser off site, or nil. It
// reads loc as browsers do ('\' as '/', tabs and newlines dropped) and as
// a later step that decodes it once more would.
func onSite(loc string) error {
	if loc == "" || loc[0] != '/' {
		return fmt.Errorf("%q is not a path", loc)
	}
	for i := 0; i < len(loc); i++ {
		if c := loc[i]; c <= ' ' || c >= 0x7f || c == '\\' {
			return fmt.Errorf("%q holds %q", loc, c)
		}
	}
	base, err := url.Parse(site + "/auth/callback")
	if err != nil {
		return err
	}
	dec, err := url.PathUnescape(loc)
	if err != nil {
		return fmt.Errorf("%q: %w", loc, err)
	}
	browser := strings.NewReplacer(`\`, "/", "\t", "", "\n", "", "\r", "").Replace
	for _, form := range []string{loc, browser(loc), browser(dec)} {
		u, err := url.Parse(form)
		if err != nil {
			continue // not a URL at all: a browser goes nowhere with it
		}
		if got := base.ResolveReference(u); got.Scheme != base.Scheme || got.Host != base.Host || got.User != nil {
			return fmt.Errorf("%q leads to %s", loc, got)
		}
		if strings.HasPrefix(form, "//") {
			return fmt.Errorf("%q reads as %q, another host", loc, form)
		}
	}
	return nil
}

// attacks are next values (as decoded from the query) that must not lead
// off site; localPath answers each with the inbox.
var attacks = []string{
	// Backslashes: browsers read them as slashes.
	`/./\evil.example/x`, `/\evil.example`, `\\evil.example`, `/\/evil.example`, `/../\evil.example`,
	`/.\evil.example`, `/a/..\..\evil.example`, `/inbox\`, `/inbox?x=\`,
	// Protocol-relative, also behind dot segments.
	"//evil.example", "///evil.example", "////evil.example/x", "//evil.example/%2F..",
	// Encoded slashes and backslashes, in any case, once or twice.
	"/%2F/evil.example", "/%2f%2fevil.example", "%2F%2Fevil.example", "/%5Cevil.example", "/%5cevil.example",
	"/.%2F%5Cevil.example", "/..%2F..%2Fevil.example", "/%252F%252Fevil.example", "/%255Cevil.example",
	"/%25255Cevil.example", "/%2525%2F",
	// Control characters, raw or encoded, anywhere.
	"/\t/evil.example", "/\n/evil.example", "/\r/evil.example", "/a\r\nSet-Cookie: x", "/\x00/evil.example",
	"/\x7f/evil.example", "/inbox\t", "/inbox?x=\n", "/%09/evil.example", "/%0d%0aSet-Cookie:x", "/%00",
	"\t//evil.example", "/\u0085/evil.example", "/\u2028evil.example",
	// Absolute URLs, schemes, hosts, user info.
	"https://evil.example", "HTTPS://evil.example/", "http:evil.example", "http:/evil.example", "javascript:alert(1)",
	"JaVaScRiPt:alert(1)", "data:text/html,x", "//user@evil.example", "/\\user@evil.example", "https:\\\\evil.example",
	// Not a path: relative, leading spaces, nothing.
	"", "evil.example", "inbox", "./inbox", " /inbox", " //evil.example", "\u00a0//evil.example", "?next=//evil.example",
	"#//evil.example", "/?%", "/inbox?x=%zz",
	// Non-ASCII that some parser might fold into a separator.
	"/\uff0f/evil.example", "/\u2215evil.example",
}

// TestLocalPathStaysOnSite: every attack form goes to the inbox; legitimate
// paths keep their query, in canonical form.
func TestLocalPathStaysOnSite(t *testing.T) {
	for _, in := range attacks {
		got := localPath(in)
		if got != "/inbox" {
			t.Errorf("localPath(%q) = %q, want /inbox", in, got)
		}
		if err := onSite(got); err != nil {
			t.Errorf("localPath(%q): %v", in, err)
		}
	}
	for in, want := range map[string]string{
		"/inbox":                    "/inbox",
		"/":                         "/",
		"/approvals/abc?x=1":        "/approvals/abc?x=1",
		"/approvals/abc?x=1&y=2":    "/approvals/abc?x=1&y=2",
		"/approvals/abc/":           "/approvals/abc/",
		"/delegations?done=created": "/delegations?done=created",
		// An encoded slash in the query is a value, not a path.
		"/secret-changes/new?target=prod&secret=production%2Fapi": "/secret-changes/new?target=prod&secret=production%2Fapi",
		// Canonical: dot segments and doubled slashes inside are cleaned,
		// the fragment is dropped, an empty query too.
		"/a/./b/../c":        "/a/c",
		"/approvals//abc":    "/approvals/abc",
		"/../inbox":          "/inbox",
		"/approvals/abc#top": "/approvals/abc",
		"/inbox?":            "/inbox",
		"/%61pprovals/abc":   "/approvals/abc",
	} {
		got := localPath(in)
		if got != want {
			t.Errorf("localPath(%q) = %q, want %q", in, got, want)
		}
		if err := onSite(got); err != nil {
			t.Errorf("localPath(%q): %v", in, err)
		}
	}
}

// FuzzLocalPath: whatever next says, the browser stays on the site.
func FuzzLocalPath(f *testing.F) {
	for _, a := range attacks {
		f.Add(a)
	}
	f.Add("/approvals/abc?x=1")
	f.Fuzz(func(t *testing.T, next string) {
		if err := onSite(localPath(next)); err != nil {
			t.Fatalf("localPath(%q): %v", next, err)
		}
	})
}

// queryAttacks are next parameters as an attacker writes them in a link.
var queryAttacks = []string{
	"/./%5Cevil.example/x", "%2F%2Fevil.example", "/%2F%2Fevil.example", "/%5C%5Cevil.example", "/.%2F%5Cevil.example",
	"/%255Cevil.example", "/%09/evil.example", "%09//evil.example", "/%0D%0A/evil.example", "https://evil.example",
	"%2F.%2F%5Cevil.example", "/%2e/%5cevil.example", "%20//evil.example", "javascript:alert(1)",
}

// TestDevSignInStaysOnSite: the dev sign-in, and the sign-in page of a
// browser already signed in, never send it off site whatever next says.
func TestDevSignInStaysOnSite(t *testing.T) {
	f := webSetup(t, true, false)
	for _, next := range queryAttacks {
		b := f.browser()
		page := b.do(http.MethodGet, "/signin?next="+next, nil)
		if page.Code != http.StatusOK {
			t.Fatalf("sign-in page, next=%s: %d", next, page.Code)
		}
		rec := b.do(http.MethodPost, "/signin/dev", url.Values{"user": {"bob"}, "csrf": {hidden(page.Body.String(), "csrf")}})
		if rec.Code != http.StatusSeeOther || b.cookies[webCookie] == nil {
			t.Fatalf("dev sign-in, next=%s: %d", next, rec.Code)
		}
		if err := onSite(rec.Header().Get("Location")); err != nil {
			t.Errorf("dev sign-in, next=%s: %v", next, err)
		}
		// Signed in now: the sign-in page sends the browser to next.
		rec = b.do(http.MethodGet, "/signin?next="+next, nil)
		if rec.Code != http.StatusSeeOther {
			t.Fatalf("sign-in page signed in, next=%s: %d", next, rec.Code)
		}
		if err := onSite(rec.Header().Get("Location")); err != nil {
			t.Errorf("sign-in page signed in, next=%s: %v", next, err)
		}
	}
}

// TestOIDCSignInStaysOnSite: /auth/start keeps only a same-site next, and
// the callback checks the pending sign-in's next again before it follows
// it (a cookie set before this check existed).
func TestOIDCSignInStaysOnSite(t *testing.T) {
	f := webSetup(t, false, false)
	idp := newFakeIdP(t)
	a, err := authn.New(context.Background(), config.OIDC{Issuer: idp.URL, Audience: "signoff", UserClaim: config.OIDCClaimSubject},
		func() *identity.Directory { return f.dir }, slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	f.h.signin = a.SignIn("signoff", "", site+"/auth/callback")

	signIn := func(b *browser, start string) *httptest.ResponseRecorder {
		t.Helper()
		rec := b.do(http.MethodGet, start, nil)
		if rec.Code != http.StatusSeeOther {
			t.Fatalf("%s: %d\n%s", start, rec.Code, rec.Body)
		}
		at, err := url.Parse(rec.Header().Get("Location"))
		if err != nil || !strings.HasPrefix(at.String(), idp.URL+"/authorize") {
			t.Fatalf("%s: to %q", start, rec.Header().Get("Location"))
		}
		idp.setNonce(at.Query().Get("nonce"))
		cb := b.do(http.MethodGet, "/auth/callback?code=c1&state="+url.QueryEscape(at.Query().Get("state")), nil)
		if cb.Code != http.StatusSeeOther || b.cookies[webCookie] == nil {
			t.Fatalf("%s: callback %d\n%s", start, cb.Code, cb.Body)
		}
		return cb
	}

	// The flow works, and keeps a legitimate next.
	if loc := signIn(f.browser(), "/auth/start?next=%2Fapprovals%2Fabc%3Fx%3D1").Header().Get("Location"); loc != "/approvals/abc?x=1" {
		t.Fatalf("legitimate next: to %q", loc)
	}
	for _, next := range queryAttacks {
		b := f.browser()
		if err := onSite(signIn(b, "/auth/start?next="+next).Header().Get("Location")); err != nil {
			t.Errorf("OIDC sign-in, next=%s: %v", next, err)
		}
	}

	// A pending sign-in whose next was never checked (signed with the
	// key, as one set by an older gateway would be).
	for _, next := range attacks {
		b := f.browser()
		rec := b.do(http.MethodGet, "/auth/start", nil)
		at, err := url.Parse(rec.Header().Get("Location"))
		if err != nil {
			t.Fatal(err)
		}
		p := pending{State: at.Query().Get("state"), Nonce: at.Query().Get("nonce"), Next: next}
		p.Verifier = b.verifier(t, f)
		w := httptest.NewRecorder()
		if err := f.h.sessions.setPending(w, p); err != nil {
			t.Fatal(err)
		}
		b.cookies[signinCookie] = w.Result().Cookies()[0]
		idp.setNonce(p.Nonce)
		cb := b.do(http.MethodGet, "/auth/callback?code=c1&state="+url.QueryEscape(p.State), nil)
		if cb.Code != http.StatusSeeOther {
			t.Fatalf("callback, pending next %q: %d\n%s", next, cb.Code, cb.Body)
		}
		if err := onSite(cb.Header().Get("Location")); err != nil {
			t.Errorf("callback, pending next %q: %v", next, err)
		}
	}
}

// verifier is the PKCE verifier of b's pending sign-in.
func (b *browser) verifier(t *testing.T, f *webFixture) string {
	t.Helper()
	var p pending
	ck := b.cookies[signinCookie]
	if ck == nil || !open(f.h.sessions.key, ck.Value, &p) {
		t.Fatal("no pending sign-in")
	}
	return p.Verifier
}

// fakeIdP is an OpenID provider that signs in "bob" for any code, with the
// nonce the test read from the authorization redirect.
type fakeIdP struct {
	URL string
	key *rsa.PrivateKey

	mu    sync.Mutex
	nonce string
}

func newFakeIdP(t *testing.T) *fakeIdP {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	p := &fakeIdP{key: key}
	mux := http.NewServeMux()
	writeJSON := func(w http.ResponseWriter, v any) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(v)
	}
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, map[string]any{
			"issuer": p.URL, "jwks_uri": p.URL + "/keys", "authorization_endpoint": p.URL + "/authorize",
			"token_endpoint": p.URL + "/token", "id_token_signing_alg_values_supported": []string{"RS256"},
		})
	})
	mux.HandleFunc("GET /keys", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "k1", Algorithm: "RS256", Use: "sig"}}})
	})
	mux.HandleFunc("POST /token", func(w http.ResponseWriter, _ *http.Request) {
		signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: key},
			(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", "k1"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		p.mu.Lock()
		nonce := p.nonce
		p.mu.Unlock()
		n := time.Now()
		tok, err := jwt.Signed(signer).Claims(jwt.Claims{Issuer: p.URL, Subject: "bob", Audience: jwt.Audience{"signoff"},
			Expiry: jwt.NewNumericDate(n.Add(time.Hour)), IssuedAt: jwt.NewNumericDate(n.Add(-time.Minute))}).
			Claims(map[string]any{"nonce": nonce}).Serialize()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		writeJSON(w, map[string]any{"access_token": "at", "token_type": "Bearer", "expires_in": 3600, "id_token": tok})
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	p.URL = srv.URL
	return p
}

func (p *fakeIdP) setNonce(n string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.nonce = n
}
