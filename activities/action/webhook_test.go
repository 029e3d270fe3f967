package action

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/signoff/signoff/approval"
)

func hookState(url string) *approval.State {
	return &approval.State{ID: "01JTESTAPPROVAL0000000000", Status: approval.StatusApproved,
		Request: approval.Request{Title: "Deploy", Environment: "staging", Action: approval.Action{Type: "webhook", URL: url}}}
}

func TestWebhookAllowList(t *testing.T) {
	w := &Webhook{AllowedPrefixes: []string{
		"https://hooks.example/hooks/",
		"https://deploy.example:8443/api",
		"http://127.0.0.1:", // any port, any path (the dev configs)
		"http://plain.example",
	}}
	good := []string{
		"https://hooks.example/hooks/deploy",
		"https://hooks.example/hooks/a/b/c?x=1&next=%2Fadmin", // encodings in the query are the receiver's business
		"https://hooks.example/hooks",
		"https://HOOKS.example/hooks/x",
		"https://hooks.example:443/hooks/x",
		"HTTPS://hooks.example/hooks/x",
		"https://deploy.example:8443/api",
		"https://deploy.example:8443/api/v1/run",
		"http://127.0.0.1:8080/anything",
		"http://127.0.0.1/",
		"http://plain.example/",
		"http://plain.example:80/x",
		"https://hooks.example/hooks/%41", // other escapes are fine
	}
	for _, u := range good {
		if err := w.Validate(approval.Action{URL: u}); err != nil {
			t.Errorf("%s refused: %v", u, err)
		}
	}
	bad := map[string]string{
		// The traversal the string prefix let through.
		"https://hooks.example/hooks/../admin":         `".." segments`,
		"https://hooks.example/hooks/./x":              `".." segments`,
		"https://hooks.example/hooks/x/..":             `".." segments`,
		"https://hooks.example/hooks/%2e%2e/admin":     "encoded dots",
		"https://hooks.example/hooks/%2E%2E/admin":     "encoded dots",
		"https://hooks.example/hooks/.%2e/admin":       "encoded dots",
		"https://hooks.example/hooks/%252e%252e/admin": "encoded dots",
		"https://hooks.example/hooks%2f..%2fadmin":     "encoded dots",
		"https://hooks.example/hooks/x%2F..%2Fadmin":   "encoded dots",
		"https://hooks.example/hooks/..%5cadmin":       "encoded dots",
		"https://hooks.example/hooks/..%5Cadmin":       "encoded dots",
		`https://hooks.example/hooks/..\admin`:         "backslash",
		`https://hooks.example\@evil.example/hooks/`:   "backslash",
		"https://user:pw@hooks.example/hooks/x":        "credentials",
		"https://hooks.example@evil.example/hooks/x":   "credentials",
		"https://hooks.example/hooks/x#frag":           "fragment",
		"https://hooks.example/hooks/x#":               "fragment",
		"https://hooks.example/hooksx":                 "not allowed",
		"https://hooks.example/hook":                   "not allowed",
		"https://hooks.example/admin":                  "not allowed",
		"https://hooks.example.evil.example/hooks/x":   "not allowed",
		"https://evil.example/hooks/x":                 "not allowed",
		"https://hooks.example:8443/hooks/x":           "not allowed",
		"http://hooks.example/hooks/x":                 "not allowed",
		"https://deploy.example/api/x":                 "not allowed", // port 443, not 8443
		"https://deploy.example:443/api/x":             "not allowed",
		"https://deploy.example:8444/api/x":            "not allowed",
		"https://127.0.0.1:8080/x":                     "not allowed", // scheme
		"http://127.0.0.2:8080/x":                      "not allowed",
		"http://localhost:8080/x":                      "not allowed",
		"http://plain.example:8080/x":                  "not allowed",
		"ftp://hooks.example/hooks/x":                  "absolute http(s)",
		"/hooks/x":                                     "absolute http(s)",
		"https:hooks.example/hooks/x":                  "absolute http(s)",
		"":                                             "empty",
	}
	for u, want := range bad {
		err := w.Validate(approval.Action{URL: u})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: want an error containing %q, got %v", u, want, err)
		}
		if err != nil && strings.Contains(err.Error(), "pw@") {
			t.Errorf("%q: the error repeats the credentials: %v", u, err)
		}
	}
}

func TestWebhookRefusedAtCreateThroughRegistry(t *testing.T) {
	reg := NewRegistry(nil)
	reg.Register("webhook", &Webhook{AllowedPrefixes: []string{"https://hooks.example/hooks/"}})
	err := reg.Validate(approval.Action{Type: "webhook", URL: "https://hooks.example/hooks/../admin"})
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), `".." segments`) {
		t.Fatalf("want ErrInvalid naming the dot segments, got %v", err)
	}
	if err := reg.Validate(approval.Action{Type: "webhook", URL: "https://hooks.example/hooks/deploy"}); err != nil {
		t.Fatal(err)
	}
}

func TestWebhookBadAllowListRefusesAll(t *testing.T) {
	for _, entry := range []string{"hooks.example/hooks/", "https://hooks.example/a/../b", "https://hooks.example/?q=1", "https://u:p@hooks.example/"} {
		w := &Webhook{AllowedPrefixes: []string{"https://ok.example/", entry}}
		err := w.Validate(approval.Action{URL: "https://ok.example/x"})
		if err == nil || !strings.Contains(err.Error(), "allowed_url_prefixes[1]") {
			t.Errorf("entry %q: want a misconfiguration error, got %v", entry, err)
		}
	}
	if err := (&Webhook{}).Validate(approval.Action{URL: "https://ok.example/x"}); err == nil {
		t.Error("no allowed entries must refuse every webhook")
	}
}

// A redirect is not followed, wherever it points: the second server is
// never reached and the action fails, naming the status but not where it
// pointed.
func TestWebhookDoesNotFollowRedirects(t *testing.T) {
	var reached atomic.Int32
	second := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached.Add(1)
	}))
	defer second.Close()
	first := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, second.URL+"/stolen", http.StatusTemporaryRedirect)
	}))
	defer first.Close()
	// Even a client configured to follow redirects does not.
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return nil }}
	for _, wh := range []*Webhook{
		{AllowedPrefixes: []string{first.URL, second.URL}},
		{AllowedPrefixes: []string{first.URL, second.URL}, Client: client},
	} {
		out, err := wh.Run(context.Background(), hookState(first.URL+"/deploy"))
		if err == nil || !IsPermanent(err) {
			t.Fatalf("want a permanent failure, got %q %v", out, err)
		}
		if !strings.Contains(err.Error(), "307") || strings.Contains(err.Error(), second.URL) || strings.Contains(err.Error(), "stolen") {
			t.Fatalf("error must name the status and not the location: %v", err)
		}
	}
	if n := reached.Load(); n != 0 {
		t.Fatalf("the redirect target was reached %d times", n)
	}
	if client.CheckRedirect == nil {
		t.Fatal("the caller's client was changed")
	}
}

// The output, shown to every reader of the approval, is the status line;
// the body goes to the operator's debug log, redacted.
func TestWebhookOutputIsStatusOnly(t *testing.T) {
	const secret = "whsec-unit-test-0123456789"
	var gotSig, gotKey string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotSig, gotKey = r.Header.Get(SignatureHeader), r.Header.Get("Idempotency-Key")
		w.Write([]byte("deployed; internal token " + secret + " and " + strings.Repeat("x", 5000)))
	}))
	defer srv.Close()
	var logs bytes.Buffer
	wh := &Webhook{AllowedPrefixes: []string{srv.URL + "/hooks"}, Secret: []byte(secret),
		Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	out, err := wh.Run(context.Background(), hookState(srv.URL+"/hooks/deploy"))
	if err != nil {
		t.Fatal(err)
	}
	if out != "HTTP 200 OK" {
		t.Fatalf("output %q, want the status line only", out)
	}
	if !strings.HasPrefix(gotSig, "sha256=") || gotKey != "01JTESTAPPROVAL0000000000" {
		t.Fatalf("signature %q, idempotency key %q", gotSig, gotKey)
	}
	l := logs.String()
	if !strings.Contains(l, "deployed; internal token [redacted]") || strings.Contains(l, secret) {
		t.Fatalf("the body must be logged redacted:\n%s", l)
	}
	if !strings.Contains(l, "[truncated]") || strings.Count(l, "x") > MaxLoggedBody {
		t.Fatalf("the logged body must be truncated to %d bytes:\n%.300s…", MaxLoggedBody, l)
	}
}

func TestWebhookStatusHandling(t *testing.T) {
	cases := []struct {
		code      int
		ok        bool
		permanent bool
	}{
		{200, true, false}, {204, true, false}, {301, false, true}, {302, false, true}, {308, false, true},
		{400, false, true}, {404, false, true}, {500, false, false}, {503, false, false},
	}
	for _, c := range cases {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if c.code >= 300 && c.code < 400 {
				w.Header().Set("Location", "http://elsewhere.example/")
			}
			w.WriteHeader(c.code)
			w.Write([]byte("body with detail"))
		}))
		wh := &Webhook{AllowedPrefixes: []string{srv.URL}, Logger: slog.New(slog.DiscardHandler)}
		out, err := wh.Run(context.Background(), hookState(srv.URL+"/x"))
		srv.Close()
		if c.ok != (err == nil) || (err != nil && IsPermanent(err) != c.permanent) {
			t.Errorf("%d: got %q %v", c.code, out, err)
			continue
		}
		msg := out
		if err != nil {
			msg = err.Error()
		}
		if !strings.Contains(msg, http.StatusText(c.code)) || strings.Contains(msg, "body with detail") || strings.Contains(msg, "elsewhere") {
			t.Errorf("%d: %q must name the status only", c.code, msg)
		}
	}
}

// Run checks the URL again: an approval created under an older, looser
// allow-list does not reach a host the current one refuses.
func TestWebhookRunChecksAgain(t *testing.T) {
	var reached atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { reached.Add(1) }))
	defer srv.Close()
	for _, u := range []string{srv.URL + "/hooks/../admin", srv.URL + "/admin", srv.URL + "/hooks/%2e%2e/admin"} {
		wh := &Webhook{AllowedPrefixes: []string{srv.URL + "/hooks/"}}
		if _, err := wh.Run(context.Background(), hookState(u)); err == nil || !IsPermanent(err) {
			t.Errorf("%s: want a permanent refusal, got %v", u, err)
		}
	}
	if reached.Load() != 0 {
		t.Fatal("a refused URL was called")
	}
}
