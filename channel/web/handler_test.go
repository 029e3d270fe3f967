package web

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/signoff/signoff/approval"
	"github.com/signoff/signoff/auth/authn"
	"github.com/signoff/signoff/channel/email/linktoken"
	"github.com/signoff/signoff/config/identity"
	"github.com/signoff/signoff/store/approvalstore"
)

// noApprovals fails the test on any call (its methods are nil): the
// requests below must be answered without reaching the workflow at all.
type noApprovals struct{ approvalstore.Approvals }

const approvalID = "abcdefghijklmnopqrstuvwxyz"

var now = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

type fixture struct {
	mux  *http.ServeMux
	keys *linktoken.Keys
}

func setup(t *testing.T, withKeys bool) *fixture {
	t.Helper()
	dir, err := identity.NewDirectory([]identity.User{{Name: "bob", Email: "bob@example.com", Token: "t-bob"}})
	if err != nil {
		t.Fatal(err)
	}
	keys, err := linktoken.New(bytes.Repeat([]byte{3}, 32))
	if err != nil {
		t.Fatal(err)
	}
	o := Options{
		Directory: func() *identity.Directory { return dir }, Approvals: noApprovals{},
		Authn:     authn.Static(func() *identity.Directory { return dir }, slog.Default()),
		PublicURL: "https://signoff.example.com", Now: func() time.Time { return now },
	}
	if withKeys {
		o.Keys = keys
	}
	h, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	h.Mount(mux)
	return &fixture{mux: mux, keys: keys}
}

func (f *fixture) sign(t *testing.T, c linktoken.Claims) string {
	t.Helper()
	tok, err := f.keys.Sign(c)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func decideClaims() linktoken.Claims {
	return linktoken.Claims{Purpose: linktoken.PurposeDecide, Approval: approvalID, User: "bob",
		Decision: approval.DecisionApprove, Expires: now.Add(time.Hour).Unix(), ID: "link1"}
}

func (f *fixture) do(t *testing.T, method, target string, form url.Values, mod func(*http.Request)) *httptest.ResponseRecorder {
	t.Helper()
	var body *strings.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	} else {
		body = strings.NewReader("")
	}
	req := httptest.NewRequest(method, target, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if mod != nil {
		mod(req)
	}
	rec := httptest.NewRecorder()
	defer func() {
		if p := recover(); p != nil {
			t.Fatalf("%s %s reached the approvals: %v", method, target, p)
		}
	}()
	f.mux.ServeHTTP(rec, req)
	return rec
}

func resultOf(rec *httptest.ResponseRecorder) string {
	b := rec.Body.String()
	i := strings.Index(b, `data-result="`)
	if i < 0 {
		return ""
	}
	b = b[i+len(`data-result="`):]
	return b[:strings.Index(b, `"`)]
}

// Links that cannot decide are answered without a word to the workflow,
// on pages with strict security headers.
func TestBadLinksNeverReachTheWorkflow(t *testing.T) {
	f := setup(t, true)
	good := f.sign(t, decideClaims())
	swap := "x"
	if good[20] == 'x' {
		swap = "y"
	}
	expired := decideClaims()
	expired.Expires = now.Unix()
	view := decideClaims()
	view.Purpose = linktoken.PurposeView
	cases := []struct {
		name, method, token string
		code                int
		result              string
	}{
		{"tampered", http.MethodGet, good[:20] + swap + good[21:], http.StatusBadRequest, "invalid"},
		{"garbage", http.MethodGet, "hello", http.StatusBadRequest, "invalid"},
		{"expired", http.MethodGet, f.sign(t, expired), http.StatusGone, "expired"},
		{"expired POST", http.MethodPost, f.sign(t, expired), http.StatusGone, "expired"},
		{"view token", http.MethodGet, f.sign(t, view), http.StatusBadRequest, "invalid"},
		{"no CSRF cookie", http.MethodPost, good, http.StatusForbidden, "forbidden"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rec := f.do(t, c.method, "/d/"+c.token, url.Values{"csrf": {"x"}}, nil)
			if rec.Code != c.code || resultOf(rec) != c.result {
				t.Fatalf("got %d %q, want %d %q\n%s", rec.Code, resultOf(rec), c.code, c.result, rec.Body)
			}
			h := rec.Header()
			if !strings.Contains(h.Get("Content-Security-Policy"), "default-src 'none'") ||
				!strings.Contains(h.Get("Content-Security-Policy"), "frame-ancestors 'none'") ||
				h.Get("Referrer-Policy") != "no-referrer" || h.Get("X-Frame-Options") != "DENY" ||
				h.Get("Strict-Transport-Security") == "" || h.Get("Cache-Control") != "no-store" {
				t.Fatalf("security headers: %v", h)
			}
			if strings.Contains(rec.Body.String(), "<script") {
				t.Fatal("pages run no script")
			}
		})
	}
	t.Run("CSRF of another link, or from another site", func(t *testing.T) {
		cookie := &http.Cookie{Name: csrfCookie, Value: strings.Repeat("c", 43)}
		other := f.keys.CSRF("link2", cookie.Value)
		rec := f.do(t, http.MethodPost, "/d/"+good, url.Values{"csrf": {other}}, func(r *http.Request) { r.AddCookie(cookie) })
		if rec.Code != http.StatusForbidden {
			t.Fatalf("another link's CSRF: %d", rec.Code)
		}
		mine := f.keys.CSRF("link1", cookie.Value)
		rec = f.do(t, http.MethodPost, "/d/"+good, url.Values{"csrf": {mine}}, func(r *http.Request) {
			r.AddCookie(cookie)
			r.Header.Set("Origin", "https://evil.example")
		})
		if rec.Code != http.StatusForbidden {
			t.Fatalf("cross-origin POST: %d", rec.Code)
		}
	})
}

func TestAuditPageAccess(t *testing.T) {
	f := setup(t, true)
	other := decideClaims()
	other.Approval = "zyxwvutsrqponmlkjihgfedcba"
	view := decideClaims()
	view.Purpose, view.Expires = linktoken.PurposeView, now.Add(30*24*time.Hour).Unix()

	rec := f.do(t, http.MethodGet, "/approvals/"+approvalID, nil, nil)
	if rec.Code != http.StatusUnauthorized {
		t.Fatalf("no credentials: %d", rec.Code)
	}
	rec = f.do(t, http.MethodGet, "/approvals/"+approvalID, nil, func(r *http.Request) { r.Header.Set("Authorization", "Bearer wrong") })
	if rec.Code != http.StatusUnauthorized {
		t.Fatalf("unknown bearer: %d", rec.Code)
	}
	rec = f.do(t, http.MethodGet, "/approvals/"+approvalID+"?t="+f.sign(t, other), nil, nil)
	if rec.Code != http.StatusForbidden {
		t.Fatalf("another approval's link: %d", rec.Code)
	}
	rec = f.do(t, http.MethodGet, "/approvals/"+approvalID+"?t="+f.sign(t, view), nil, nil)
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/approvals/"+approvalID {
		t.Fatalf("view link: %d %v", rec.Code, rec.Header())
	}
	var session *http.Cookie
	for _, c := range rec.Result().Cookies() {
		if c.Name == sessionCookie {
			session = c
		}
	}
	if session == nil || !session.HttpOnly || !session.Secure || session.Path != "/approvals/"+approvalID || session.SameSite != http.SameSiteLaxMode {
		t.Fatalf("session cookie %+v", session)
	}
	// A session of one approval does not open another.
	rec = f.do(t, http.MethodGet, "/approvals/"+other.Approval, nil, func(r *http.Request) { r.AddCookie(session) })
	if rec.Code != http.StatusForbidden {
		t.Fatalf("session of another approval: %d", rec.Code)
	}
	// A session cookie is not a link.
	rec = f.do(t, http.MethodGet, "/approvals/"+approvalID+"?t="+session.Value, nil, nil)
	if rec.Code != http.StatusForbidden {
		t.Fatalf("session token as link: %d", rec.Code)
	}
}

func TestEvidenceRouteChecksFirst(t *testing.T) {
	f := setup(t, false)
	for _, c := range []struct {
		auth, id string
		code     int
	}{
		{"", approvalID, http.StatusUnauthorized},
		{"Bearer nope", approvalID, http.StatusUnauthorized},
		{"Bearer t-bob", "NOT-AN-ID", http.StatusBadRequest},
		{"Bearer t-bob", approvalID, http.StatusServiceUnavailable}, // no signing key
	} {
		rec := f.do(t, http.MethodGet, "/v1/approvals/"+c.id+"/evidence", nil, func(r *http.Request) {
			if c.auth != "" {
				r.Header.Set("Authorization", c.auth)
			}
		})
		if rec.Code != c.code || rec.Header().Get("Content-Type") != "application/json" {
			t.Fatalf("%q %s: %d %s", c.auth, c.id, rec.Code, rec.Body)
		}
	}
	// Without a link key the pages are not served.
	if rec := f.do(t, http.MethodGet, "/d/x", nil, nil); rec.Code != http.StatusNotFound {
		t.Fatalf("/d/ without a key: %d", rec.Code)
	}
}

func TestStylesheet(t *testing.T) {
	f := setup(t, true)
	rec := f.do(t, http.MethodGet, "/email-assets/style.css", nil, nil)
	if rec.Code != http.StatusOK || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/css") || !strings.Contains(rec.Body.String(), ".button") {
		t.Fatalf("stylesheet: %d %v", rec.Code, rec.Header())
	}
}
