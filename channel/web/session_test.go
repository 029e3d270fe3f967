package web

import (
	"bytes"
	"context"
	"html"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/signoff/signoff/approval"
	"github.com/signoff/signoff/auth/authn"
	"github.com/signoff/signoff/auth/proof"
	"github.com/signoff/signoff/config/identity"
	"github.com/signoff/signoff/store/approvalstore"
	"github.com/signoff/signoff/store/peoplestore"
	"github.com/signoff/signoff/workflows"
)

// webFixture is a dev_only gateway's pages over approvalstore.Memory, which
// judges decisions with the workflow's rules: alice requested approval
// approvalID, bob and carol approve it (two needed), walt has no part in
// it, dana is an admin.
type webFixture struct {
	t     *testing.T
	mux   *http.ServeMux
	mem   *approvalstore.Memory
	dir   *identity.Directory
	clock time.Time
	h     *Handler
	// people holds delegations.
	people *peoplestore.Memory
}

func webSetup(t *testing.T, dev bool, soft bool) *webFixture {
	t.Helper()
	return webSetupVersion(t, dev, soft, 0)
}

// webSetupVersion is webSetup with the approval started at version
// (workflows.Input.Version): since Version2 it keeps who is awaited.
func webSetupVersion(t *testing.T, dev bool, soft bool, version int) *webFixture {
	t.Helper()
	dir, err := identity.NewDirectory([]identity.User{
		{Name: "alice", Email: "alice@example.com"},
		{Name: "bob", Email: "bob@example.com"},
		{Name: "carol", Email: "carol@example.com"},
		{Name: "walt", Email: "walt@example.com"},
		{Name: "dana", Email: "dana@example.com", Admin: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	f := &webFixture{t: t, dir: dir, clock: now}
	clock := func() time.Time { return f.clock }
	f.people = &peoplestore.Memory{Now: clock}
	proofs := proof.Generate()
	f.mem = approvalstore.NewMemory(proofs, clock)
	pol := approval.Policy{Name: "production", Approvers: []string{"bob", "carol"}, RequiredApprovals: 2, Deadline: time.Hour}
	if soft {
		pol.Enforcement = approval.EnforcementSoft
	}
	err = f.mem.Start(context.Background(), workflows.Input{
		ID: approvalID, Requester: "alice", CreatedAt: now.Add(-time.Minute), Rules: approval.RulesDelegation,
		Request: approval.Request{Title: "Deploy api", Environment: "production", Action: approval.Action{Type: "noop"}},
		Policy:  pol, Version: version,
	})
	if err != nil {
		t.Fatal(err)
	}
	directory := func() *identity.Directory { return f.dir }
	sessions, err := NewSessions(SessionOptions{Key: bytes.Repeat([]byte{7}, 32), TTL: time.Hour, Secure: true,
		Directory: directory, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	f.h, err = New(Options{
		Directory: directory, Authn: authn.Static(directory, slog.Default()), Approvals: f.mem, Proofs: proofs,
		PublicURL: "https://signoff.example.com", Now: clock, Sessions: sessions, DevSignIn: dev, People: f.people,
	})
	if err != nil {
		t.Fatal(err)
	}
	f.mux = http.NewServeMux()
	f.h.Mount(f.mux)
	return f
}

// browser keeps cookies between requests, as a browser does.
type browser struct {
	f       *webFixture
	cookies map[string]*http.Cookie
}

func (f *webFixture) browser() *browser { return &browser{f: f, cookies: map[string]*http.Cookie{}} }

func (b *browser) do(method, target string, form url.Values) *httptest.ResponseRecorder {
	var req *http.Request
	if form != nil {
		req = httptest.NewRequest(method, target, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", "https://signoff.example.com")
	} else {
		req = httptest.NewRequest(method, target, nil)
	}
	for _, c := range b.cookies {
		req.AddCookie(c)
	}
	rec := httptest.NewRecorder()
	b.f.mux.ServeHTTP(rec, req)
	for _, c := range rec.Result().Cookies() {
		if c.MaxAge < 0 {
			delete(b.cookies, c.Name)
		} else {
			b.cookies[c.Name] = c
		}
	}
	return rec
}

// hidden is the value of the first hidden input named name on a page.
func hidden(page, name string) string {
	m := regexp.MustCompile(`name="` + name + `" value="([^"]*)"`).FindStringSubmatch(page)
	if m == nil {
		return ""
	}
	return html.UnescapeString(m[1])
}

// signIn signs b in as user through the dev sign-in page.
func (b *browser) signIn(user string) {
	b.f.t.Helper()
	page := b.do(http.MethodGet, "/signin?next=/inbox", nil)
	if page.Code != http.StatusOK {
		b.f.t.Fatalf("sign-in page: %d\n%s", page.Code, page.Body)
	}
	rec := b.do(http.MethodPost, "/signin/dev", url.Values{"user": {user}, "csrf": {hidden(page.Body.String(), "csrf")}})
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/inbox" || b.cookies[webCookie] == nil {
		b.f.t.Fatalf("dev sign-in as %s: %d %s\n%s", user, rec.Code, rec.Header().Get("Location"), rec.Body)
	}
}

func (f *webFixture) state() *approval.State {
	f.t.Helper()
	st, err := f.mem.Get(context.Background(), approvalID)
	if err != nil {
		f.t.Fatal(err)
	}
	return st
}

// TestDevSignIn: a dev_only gateway lists its people and signs in the one
// chosen, with a form token; the cookie is HttpOnly, Secure and Lax.
// Without dev_only there is no such form, and with no identity provider
// either the page says sign-in is not set up.
func TestDevSignIn(t *testing.T) {
	f := webSetup(t, true, false)
	b := f.browser()
	if rec := b.do(http.MethodGet, "/inbox", nil); rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/signin?next=%2Finbox" {
		t.Fatalf("inbox signed out: %d %q", rec.Code, rec.Header().Get("Location"))
	}
	page := b.do(http.MethodGet, "/signin", nil).Body.String()
	for _, name := range []string{"alice", "bob", "carol", "walt", "dana"} {
		if !strings.Contains(page, `id="dev-`+name+`"`) {
			t.Errorf("sign-in page does not list %s", name)
		}
	}
	if !strings.Contains(page, "dev only") {
		t.Error("the dev sign-in is not marked dev only")
	}
	// No form token, a token from another sign-in page, another origin:
	// refused, and nobody is signed in.
	other := f.browser()
	otherPage := other.do(http.MethodGet, "/signin", nil).Body.String()
	for name, form := range map[string]url.Values{
		"no token":          {"user": {"bob"}},
		"other page's form": {"user": {"bob"}, "csrf": {hidden(otherPage, "csrf")}},
	} {
		if rec := b.do(http.MethodPost, "/signin/dev", form); rec.Code != http.StatusForbidden || b.cookies[webCookie] != nil {
			t.Errorf("%s: %d, session %v", name, rec.Code, b.cookies[webCookie])
		}
	}
	b.signIn("bob")
	ck := b.cookies[webCookie]
	if !ck.HttpOnly || !ck.Secure || ck.SameSite != http.SameSiteLaxMode || ck.Path != "/" {
		t.Errorf("session cookie %+v", ck)
	}
	inbox := b.do(http.MethodGet, "/inbox", nil)
	if inbox.Code != http.StatusOK || !strings.Contains(inbox.Body.String(), `id="signed-in-as">bob<`) {
		t.Fatalf("inbox as bob: %d\n%s", inbox.Code, inbox.Body)
	}

	prod := webSetup(t, false, false)
	pb := prod.browser()
	if rec := pb.do(http.MethodGet, "/signin", nil); rec.Code != http.StatusServiceUnavailable || strings.Contains(rec.Body.String(), "dev-bob") {
		t.Fatalf("sign-in page without dev_only or OIDC: %d\n%s", rec.Code, rec.Body)
	}
	if rec := pb.do(http.MethodPost, "/signin/dev", url.Values{"user": {"bob"}}); rec.Code != http.StatusNotFound || pb.cookies[webCookie] != nil {
		t.Fatalf("dev sign-in without dev_only: %d", rec.Code)
	}
}

// TestSessionsEnd: a session stops working when it expires, when its
// person leaves the config, and when they sign out (a copy of the cookie
// too); a tampered cookie never worked.
func TestSessionsEnd(t *testing.T) {
	f := webSetup(t, true, false)
	signedIn := func(b *browser) bool { return b.do(http.MethodGet, "/inbox", nil).Code == http.StatusOK }

	b := f.browser()
	b.signIn("bob")
	tampered := *b.cookies[webCookie]
	body, mac, _ := strings.Cut(tampered.Value, ".")
	tampered.Value = body[:len(body)-2] + "xx." + mac
	forged := f.browser()
	forged.cookies[webCookie] = &tampered
	if signedIn(forged) {
		t.Error("a tampered session cookie works")
	}

	f.clock = now.Add(time.Hour + time.Second)
	if signedIn(b) {
		t.Error("a session works after its TTL")
	}
	f.clock = now

	b = f.browser()
	b.signIn("walt")
	var err error
	f.dir, err = identity.NewDirectory([]identity.User{{Name: "bob"}})
	if err != nil {
		t.Fatal(err)
	}
	if signedIn(b) {
		t.Error("walt is still signed in after leaving the config")
	}

	b = f.browser()
	b.signIn("bob")
	copied := *b.cookies[webCookie]
	page := b.do(http.MethodGet, "/inbox", nil).Body.String()
	if rec := b.do(http.MethodPost, "/signout", url.Values{}); rec.Code != http.StatusForbidden || !signedIn(b) {
		t.Fatalf("sign-out without the form token: %d", rec.Code)
	}
	if rec := b.do(http.MethodPost, "/signout", url.Values{"csrf": {hidden(page, "csrf")}}); rec.Code != http.StatusOK || resultOf(rec) != "signed_out" {
		t.Fatalf("sign-out: %d %q", rec.Code, resultOf(rec))
	}
	if signedIn(b) {
		t.Error("signed in after signing out")
	}
	thief := f.browser()
	thief.cookies[webCookie] = &copied
	if signedIn(thief) {
		t.Error("a copy of a signed-out session still works")
	}
}

// TestLocalPath: after sign-in the browser only goes to a page of this site.
func TestLocalPath(t *testing.T) {
	for in, want := range map[string]string{
		"/approvals/x": "/approvals/x", "": "/inbox", "//evil.example.com/": "/inbox", "https://evil.example.com": "/inbox",
		"/\\evil.example.com": "/inbox", "inbox": "/inbox", "/a\r\nSet-Cookie: x": "/inbox",
	} {
		if got := localPath(in); got != want {
			t.Errorf("localPath(%q) = %q, want %q", in, got, want)
		}
	}
}
