package gateway

import (
	"bytes"
	"encoding/base64"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/signoff/signoff/auth/authn"
	"github.com/signoff/signoff/auth/proof"
	"github.com/signoff/signoff/config"
	"github.com/signoff/signoff/config/identity"
	"github.com/signoff/signoff/store/approvalstore"
	"github.com/signoff/signoff/temporal/codec"
)

// bob takes part in approvals; cody holds the codec role; dana is admin.
const codecTestConfig = `dev_only: true
users:
  - {name: bob, token: dev-bob}
  - {name: cody, token: dev-cody, roles: [codec]}
  - {name: audrey, token: dev-audrey, roles: [auditor]}
  - {name: dana, token: dev-dana, admin: true}
codec: {ui_origin: "http://127.0.0.1:8233"}
`

// testKeys is a key spec as SIGNOFF_CODEC_KEYS holds it.
var testKeys = "k1:" + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{1}, 32))

// testCodec builds the codec of a key spec; nil for an empty one.
func testCodec(t *testing.T, keys string) *codec.Codec {
	t.Helper()
	c, err := codec.Parse(keys)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func codecTestServer(t *testing.T, keys string) *httptest.Server {
	t.Helper()
	cfg, err := config.Parse([]byte(codecTestConfig))
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	live := config.NewLive(cfg, nil)
	d := Deps{Config: cfg, Live: live, Codec: testCodec(t, keys), Logger: slog.New(slog.DiscardHandler), Authn: staticAuthn(live)}
	if err := codecRoutes(mux, d); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func codecCall(t *testing.T, srv *httptest.Server, method, path, token, origin string, body []byte) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, srv.URL+path, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

func TestCodecServerRoundTripForTheWebUI(t *testing.T) {
	srv := codecTestServer(t, testKeys)
	plain, _ := converter.GetDefaultDataConverter().ToPayload("Rotate the prod database password")
	body, _ := protojson.Marshal(&commonpb.Payloads{Payloads: []*commonpb.Payload{plain}})

	resp, enc := codecCall(t, srv, "POST", "/codec/encode", "dev-cody", "http://127.0.0.1:8233", body)
	if resp.StatusCode != 200 || bytes.Contains(enc, []byte(base64.StdEncoding.EncodeToString(plain.Data))) {
		t.Fatalf("encode: %d %s", resp.StatusCode, enc)
	}
	if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "http://127.0.0.1:8233" {
		t.Fatalf("CORS origin %q", got)
	}
	var sealed commonpb.Payloads
	if err := protojson.Unmarshal(enc, &sealed); err != nil || string(sealed.Payloads[0].Metadata[codec.MetadataKeyID]) != "k1" {
		t.Fatalf("encoded: %v %s", err, enc)
	}

	resp, dec := codecCall(t, srv, "POST", "/codec/decode", "dev-cody", "", enc)
	var opened commonpb.Payloads
	if resp.StatusCode != 200 || protojson.Unmarshal(dec, &opened) != nil {
		t.Fatalf("decode: %d %s", resp.StatusCode, dec)
	}
	var title string
	if err := converter.GetDefaultDataConverter().FromPayload(opened.Payloads[0], &title); err != nil || title != "Rotate the prod database password" {
		t.Fatalf("decoded %q, %v", title, err)
	}

	for _, token := range []string{"", "nope"} {
		resp, b := codecCall(t, srv, "POST", "/codec/decode", token, "http://127.0.0.1:8233", enc)
		if resp.StatusCode != 401 || strings.Contains(string(b), "Rotate") {
			t.Errorf("token %q: %d %s", token, resp.StatusCode, b)
		}
		// The UI can read the refusal (CORS headers on errors too).
		if resp.Header.Get("Access-Control-Allow-Origin") == "" {
			t.Error("no CORS headers on 401")
		}
	}
	resp, _ = codecCall(t, srv, "GET", "/codec/decode", "dev-cody", "", nil)
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET: %d", resp.StatusCode)
	}
	resp, _ = codecCall(t, srv, "POST", "/codec/decode", "dev-cody", "", []byte(`{"payloads": "nope"}`))
	if resp.StatusCode != 400 {
		t.Errorf("malformed body: %d", resp.StatusCode)
	}
}

// Decoding opens every approval's payloads, so it takes the codec role or
// admin: a user who merely takes part in approvals, or an auditor, gets
// 403 (with CORS headers, so the UI can show why) and nothing decoded.
func TestCodecServerNeedsTheCodecRole(t *testing.T) {
	srv := codecTestServer(t, testKeys)
	plain, _ := converter.GetDefaultDataConverter().ToPayload("Rotate the prod database password")
	body, _ := protojson.Marshal(&commonpb.Payloads{Payloads: []*commonpb.Payload{plain}})
	resp, enc := codecCall(t, srv, "POST", "/codec/encode", "dev-dana", "", body)
	if resp.StatusCode != 200 {
		t.Fatalf("encode as admin: %d %s", resp.StatusCode, enc)
	}
	for token, want := range map[string]int{"dev-bob": 403, "dev-audrey": 403, "dev-cody": 200, "dev-dana": 200} {
		for _, op := range []string{"/codec/decode", "/codec/encode"} {
			in := enc
			if op == "/codec/encode" {
				in = body
			}
			resp, b := codecCall(t, srv, "POST", op, token, "http://127.0.0.1:8233", in)
			if resp.StatusCode != want {
				t.Errorf("%s %s: %d %s, want %d", token, op, resp.StatusCode, b, want)
			}
			if want == 403 {
				if strings.Contains(string(b), "Rotate") || strings.Contains(string(b), "payloads") {
					t.Errorf("%s %s: refusal carries payloads: %s", token, op, b)
				}
				if !strings.Contains(string(b), "codec role") {
					t.Errorf("%s %s: refusal does not say why: %s", token, op, b)
				}
				if resp.Header.Get("Access-Control-Allow-Origin") != "http://127.0.0.1:8233" {
					t.Errorf("%s %s: no CORS headers on 403", token, op)
				}
			}
		}
	}
}

func TestCodecServerCORSPreflight(t *testing.T) {
	srv := codecTestServer(t, testKeys)
	resp, _ := codecCall(t, srv, "OPTIONS", "/codec/decode", "", "http://127.0.0.1:8233", nil)
	if resp.StatusCode != 204 || resp.Header.Get("Access-Control-Allow-Origin") != "http://127.0.0.1:8233" ||
		!strings.Contains(resp.Header.Get("Access-Control-Allow-Headers"), "Authorization") ||
		!strings.Contains(resp.Header.Get("Access-Control-Allow-Headers"), "X-Namespace") ||
		resp.Header.Get("Access-Control-Allow-Credentials") != "true" {
		t.Fatalf("preflight from the UI: %d %v", resp.StatusCode, resp.Header)
	}
	resp, _ = codecCall(t, srv, "OPTIONS", "/codec/decode", "", "https://evil.example", nil)
	if resp.StatusCode != 403 || resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("preflight from elsewhere: %d %v", resp.StatusCode, resp.Header)
	}
}

func TestCodecServerOnlyWithKeys(t *testing.T) {
	srv := codecTestServer(t, "")
	resp, _ := codecCall(t, srv, "POST", "/codec/decode", "dev-bob", "", []byte(`{"payloads":[]}`))
	if resp.StatusCode != 404 {
		t.Fatalf("without keys: %d", resp.StatusCode)
	}
}

func TestCodecServerRefusesBadSettings(t *testing.T) {
	c := testCodec(t, testKeys)
	for _, origin := range []string{"127.0.0.1:8233", "http://127.0.0.1:8233/ui", "ftp://x", "http://user@127.0.0.1:8233", "http://127.0.0.1:8233?x=1"} {
		cfg, err := config.Parse([]byte("codec: {ui_origin: \"" + origin + "\"}\n"))
		if err != nil {
			t.Fatal(err)
		}
		mux := http.NewServeMux()
		if err := codecRoutes(mux, Deps{Config: cfg, Codec: c, Logger: slog.New(slog.DiscardHandler)}); err == nil || !strings.Contains(err.Error(), "codec.ui_origin") {
			t.Errorf("ui_origin %q: %v", origin, err)
		}
	}
	// Without a codec nothing is mounted, so its settings are not read.
	cfg, err := config.Parse([]byte("codec: {ui_origin: \"ftp://x\"}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if err := codecRoutes(http.NewServeMux(), Deps{Config: cfg, Logger: slog.New(slog.DiscardHandler)}); err != nil {
		t.Errorf("no codec: %v", err)
	}
}

// TestCodecServerUsesTheLiveDirectory: a token added by a config reload
// is honoured without a restart.
func TestCodecServerUsesTheLiveDirectory(t *testing.T) {
	cfg, err := config.Parse([]byte(codecTestConfig))
	if err != nil {
		t.Fatal(err)
	}
	reloaded, err := config.Parse([]byte(strings.Replace(codecTestConfig, "dev-cody", "dev-cody-2", 1)))
	if err != nil {
		t.Fatal(err)
	}
	live := config.NewLive(cfg, func() (*config.Loaded, error) { return reloaded, nil })
	mux := http.NewServeMux()
	if err := codecRoutes(mux, Deps{Config: cfg, Live: live, Codec: testCodec(t, testKeys), Logger: slog.New(slog.DiscardHandler), Authn: staticAuthn(live)}); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	body := []byte(`{"payloads":[]}`)
	if resp, b := codecCall(t, srv, "POST", "/codec/encode", "dev-cody", "", body); resp.StatusCode != 200 {
		t.Fatalf("before reload: %d %s", resp.StatusCode, b)
	}
	if _, err := live.Reload(); err != nil {
		t.Fatal(err)
	}
	for token, want := range map[string]int{"dev-cody": 401, "dev-cody-2": 200} {
		if resp, b := codecCall(t, srv, "POST", "/codec/encode", token, "", body); resp.StatusCode != want {
			t.Errorf("after reload, %s: %d %s, want %d", token, resp.StatusCode, b, want)
		}
	}
}

// staticAuthn accepts the static tokens of the config in force.
func staticAuthn(live *config.Live) *authn.Authenticator {
	return authn.Static(func() *identity.Directory { return live.Get().Directory }, slog.New(slog.DiscardHandler))
}

// TestCodecServerForSignedInBrowsers: the Temporal UI calls /codec with the
// browser's cookies (includeCredentials). A person signed in to Signoff
// with the codec role decodes; one without gets 403; the same cookies sent
// from any origin but the UI's get 401; and a signed-out browser 401.
func TestCodecServerForSignedInBrowsers(t *testing.T) {
	cfg, err := config.Parse([]byte(codecTestConfig))
	if err != nil {
		t.Fatal(err)
	}
	live := config.NewLive(cfg, nil)
	logger := slog.New(slog.DiscardHandler)
	sessions, err := newSessions(cfg, live, nil, logger) // dev_only: a key for the process
	if err != nil || sessions == nil {
		t.Fatalf("sessions: %v", err)
	}
	mux := http.NewServeMux()
	d := Deps{Config: cfg, Live: live, Codec: testCodec(t, testKeys), Logger: logger, Authn: staticAuthn(live),
		Approvals: approvalstore.NewMemory(proof.Generate(), time.Now), Proofs: proof.Generate(), Sessions: sessions}
	for _, mount := range []routeBuilder{mountWeb, codecRoutes} {
		if err := mount(mux, d); err != nil {
			t.Fatal(err)
		}
	}
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	plain, _ := converter.GetDefaultDataConverter().ToPayload("Rotate the prod database password")
	body, _ := protojson.Marshal(&commonpb.Payloads{Payloads: []*commonpb.Payload{plain}})
	_, enc := codecCall(t, srv, "POST", "/codec/encode", "dev-cody", "", body)

	signedIn := func(user string) *http.Client {
		jar, _ := cookiejar.New(nil)
		c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		if user == "" {
			return c
		}
		resp, err := c.Get(srv.URL + "/signin")
		if err != nil {
			t.Fatal(err)
		}
		page, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		m := regexp.MustCompile(`name="csrf" value="([^"]*)"`).FindSubmatch(page)
		if m == nil {
			t.Fatalf("no dev sign-in form:\n%s", page)
		}
		resp, err = c.PostForm(srv.URL+"/signin/dev", url.Values{"user": {user}, "csrf": {html.UnescapeString(string(m[1]))}})
		if err != nil || resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("sign in as %s: %v %v", user, err, resp)
		}
		resp.Body.Close()
		return c
	}
	decode := func(c *http.Client, origin string) int {
		req, _ := http.NewRequest("POST", srv.URL+"/codec/decode", bytes.NewReader(enc))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Origin", origin)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == 200 && !bytes.Contains(b, []byte(base64.StdEncoding.EncodeToString(plain.Data))) {
			t.Fatalf("decoded without the plain payload: %s", b)
		}
		return resp.StatusCode
	}
	const ui = "http://127.0.0.1:8233"
	for _, tc := range []struct {
		user, origin string
		want         int
	}{
		{"cody", ui, 200}, {"dana", ui, 200}, {"bob", ui, 403},
		{"cody", "https://evil.example", 401}, {"cody", "", 401}, {"", ui, 401},
	} {
		if got := decode(signedIn(tc.user), tc.origin); got != tc.want {
			t.Errorf("%q from %q: %d, want %d", tc.user, tc.origin, got, tc.want)
		}
	}
}
