// Package web serves Signoff to people in a browser: signing in (with the
// company's identity provider, or the dev sign-in of a dev_only config),
// the approvals inbox, an approval's page where its approvers decide, the
// pages email links open, and the signed evidence export for auditors.
// Pages are rendered on the server, run no script and work with the
// keyboard alone; every form carries a CSRF token bound to the session or
// link it came from.
//
// Routes:
//
//	GET  /signin, /auth/start, /auth/callback   sign-in (OIDC code flow with PKCE)
//	POST /signin/dev                   dev sign-in (dev_only configs only)
//	POST /signout                      sign out
//	GET  /inbox                        waiting for me, my requests, all I may read
//	GET  /approvals/{id}               an approval: signed-in person, bearer token, email session or ?t=<link token>
//	POST /approvals/{id}/decide        approve or reject, as the signed-in person, channel "web"
//	POST /approvals/{id}/cancel        cancel (requester, admin)
//	POST /approvals/{id}/bypass        break-glass (requester, soft policies)
//	POST /approvals/{id}/revoke        end granted access now (grantee, admin)
//	POST /approvals/{id}/extend        ask for more time on granted access (grantee): a new approval
//	GET  /secret-changes/new           the form to propose a secret change
//	POST /secret-changes               propose it: values sealed and staged, an approval of the diff
//	GET  /access                       request access: the catalog of what the signed-in person may ask for
//	POST /access                       request one catalog item: an approval, as the API's
//	GET  /delegations                  delegations by and to the signed-in person
//	POST /delegations, /delegations/{id}/revoke   make one, end one
//	GET  /d/{token}                    email link: confirmation page (sets a CSRF cookie)
//	POST /d/{token}                    decide, as the token's approver, channel "email"
//	GET  /v1/approvals/{id}/evidence   signed evidence JSON (bearer token)
//	GET  /email-assets/style.css       the pages' only asset
package web

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"embed"
	"encoding/base64"
	"errors"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/signoff/signoff/auth/authn"
	"github.com/signoff/signoff/auth/proof"
	"github.com/signoff/signoff/channel/ballot"
	"github.com/signoff/signoff/channel/email/linktoken"
	"github.com/signoff/signoff/config/identity"
	"github.com/signoff/signoff/intake"
	"github.com/signoff/signoff/policy/catalog"
	"github.com/signoff/signoff/store/approvalstore"
	"github.com/signoff/signoff/store/peoplestore"
)

// ChannelEmail is the decision channel of email links.
const ChannelEmail = "email"

// Options build a Handler.
type Options struct {
	// Keys verify links; nil serves only the evidence export.
	Keys *linktoken.Keys
	// Evidence signs exports; nil makes the export answer 503.
	Evidence ed25519.PrivateKey
	// Directory is the user directory in force (reloadable).
	Directory func() *identity.Directory
	// Authn tells who a bearer token belongs to (API callers of the
	// approval page and the evidence export).
	Authn *authn.Authenticator
	// Approvals reads and decides the approvals.
	Approvals approvalstore.Approvals
	Logger    *slog.Logger
	// PublicURL is how people reach the gateway: cookies are Secure when it
	// is https, and POSTs from another origin are refused.
	PublicURL string
	// Timeout bounds each page's calls to approvals (default 10s).
	Timeout time.Duration
	// Proofs stamps decisions, so the workflow counts them.
	Proofs *proof.Keyring
	Now    func() time.Time
	// Sessions signs people in; nil leaves sign-in, the inbox and the
	// web decisions off.
	Sessions *Sessions
	// SignIn is the identity provider's browser flow; nil without one.
	SignIn *authn.SignIn
	// DevSignIn lists the configured people to sign in as, with no
	// password: only for a dev_only config.
	DevSignIn bool
	// People has the delegations in force; nil: nobody decides for anyone.
	People peoplestore.Store
	// Memberships are the outside groups people are in now, for policies
	// that recheck them; nil: none.
	Memberships func(ctx context.Context, users ...string) map[string][]string
	// Extend starts the extension of a grant, for "Ask for more time"
	// (the gateway's Service.Extend); nil leaves the form off.
	Extend intake.ExtendFunc
	// ProposeSecret proposes a secret change, for "Propose a secret
	// change" (the gateway's Service.ProposeSecret); nil leaves the form
	// off.
	ProposeSecret ProposeSecretFunc
	// SecretTargets are the stores of the config in force that the form
	// offers.
	SecretTargets func() []SecretTarget
	// Catalog is what a person may request under the config in force, for
	// "Request access"; RequestAccess starts one (the gateway's intake).
	// Nil leaves the page off.
	Catalog       func(u *identity.User) []catalog.Item
	RequestAccess RequestAccessFunc
}

// Handler serves the pages.
type Handler struct {
	keys      *linktoken.Keys
	evidence  ed25519.PrivateKey
	dir       func() *identity.Directory
	authn     *authn.Authenticator
	approvals approvalstore.Approvals
	logger    *slog.Logger
	origin    string
	secure    bool
	timeout   time.Duration
	proofs    *proof.Keyring
	now       func() time.Time
	sessions  *Sessions
	signin    *authn.SignIn
	devSignIn bool
	people    peoplestore.Store
	members   func(ctx context.Context, users ...string) map[string][]string
	extend    intake.ExtendFunc
	// propose and secretTargets serve the secret change form.
	propose       ProposeSecretFunc
	secretTargets func() []SecretTarget
	// catalog and requestAccess serve "Request access".
	catalog       func(u *identity.User) []catalog.Item
	requestAccess RequestAccessFunc
}

// New checks the options.
func New(o Options) (*Handler, error) {
	if o.Approvals == nil || o.Directory == nil || o.Authn == nil {
		return nil, errors.New("email pages: approvals, directory and authenticator are required")
	}
	u, err := url.Parse(o.PublicURL)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, errors.New("email pages: gateway.public_url must be an absolute http(s) URL")
	}
	h := &Handler{
		keys: o.Keys, evidence: o.Evidence, dir: o.Directory, authn: o.Authn, approvals: o.Approvals, logger: o.Logger,
		origin: u.Scheme + "://" + u.Host, secure: u.Scheme == "https", timeout: o.Timeout, proofs: o.Proofs, now: o.Now,
		sessions: o.Sessions, signin: o.SignIn, devSignIn: o.DevSignIn && o.Sessions != nil, people: o.People,
		members: o.Memberships, extend: o.Extend, propose: o.ProposeSecret, secretTargets: o.SecretTargets,
		catalog: o.Catalog, requestAccess: o.RequestAccess,
	}
	if h.logger == nil {
		h.logger = slog.Default()
	}
	if h.timeout <= 0 {
		h.timeout = 10 * time.Second
	}
	if h.now == nil {
		h.now = time.Now
	}
	return h, nil
}

// Mount registers the routes. The evidence route is more specific than the
// REST mux's "/v1/", so it wins.
func (h *Handler) Mount(mux *http.ServeMux) {
	mux.HandleFunc("GET /v1/approvals/{id}/evidence", h.exportEvidence)
	if h.keys == nil && h.sessions == nil {
		return
	}
	mux.HandleFunc("GET /approvals/{id}", h.page(h.approvalPage))
	mux.HandleFunc("GET /email-assets/style.css", h.stylesheet)
	if h.keys != nil {
		mux.HandleFunc("GET /d/{token}", h.page(h.confirm))
		mux.HandleFunc("POST /d/{token}", h.page(h.decide))
	}
	if h.sessions != nil {
		mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "/inbox", http.StatusSeeOther)
		})
		mux.HandleFunc("GET /signin", h.page(h.signinPage))
		mux.HandleFunc("GET /auth/start", h.page(h.authStart))
		mux.HandleFunc("GET /auth/callback", h.page(h.authCallback))
		mux.HandleFunc("POST /signin/dev", h.page(h.devSignInPost))
		mux.HandleFunc("POST /signout", h.page(h.signOut))
		mux.HandleFunc("GET /inbox", h.page(h.inbox))
		mux.HandleFunc("POST /approvals/{id}/decide", h.page(h.webDecide))
		mux.HandleFunc("POST /approvals/{id}/cancel", h.page(h.operate(cancelOp)))
		mux.HandleFunc("POST /approvals/{id}/bypass", h.page(h.operate(bypassOp)))
		mux.HandleFunc("POST /approvals/{id}/revoke", h.page(h.operate(revokeOp)))
		mux.HandleFunc("POST /approvals/{id}/extend", h.page(h.webExtend))
		mux.HandleFunc("GET /secret-changes/new", h.page(h.secretForm))
		mux.HandleFunc("POST /secret-changes", h.page(h.webProposeSecret))
		mux.HandleFunc("GET /access", h.page(h.accessPage))
		mux.HandleFunc("POST /access", h.page(h.webRequestAccess))
		mux.HandleFunc("GET /delegations", h.page(h.delegations))
		mux.HandleFunc("POST /delegations", h.page(h.createDelegation))
		mux.HandleFunc("POST /delegations/{id}/revoke", h.page(h.revokeDelegation))
	}
}

//go:embed templates/*.html assets/style.css
var files embed.FS

// pages are the parsed page templates by name; a broken template panics
// at start.
var pages = parsePages()

// parsePages parses every page with the layout.
func parsePages() map[string]*template.Template {
	out := map[string]*template.Template{}
	for _, name := range []string{"confirm", "message", "approval", "signin", "inbox", "delegations", "secretchange", "access"} {
		out[name] = template.Must(template.ParseFS(files, "templates/layout.html", "templates/"+name+".html"))
	}
	return out
}

// csp allows nothing but our stylesheet and forms posting to us; no
// script runs on these pages.
const csp = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; " +
	"frame-ancestors 'none'; base-uri 'none'"

// page adds the pages' security headers.
func (h *Handler) page(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", csp)
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("Cache-Control", "no-store")
		hd.Set("Cross-Origin-Opener-Policy", "same-origin")
		hd.Set("Cross-Origin-Resource-Policy", "same-origin")
		hd.Set("X-Robots-Tag", "noindex, nofollow")
		if h.secure {
			hd.Set("Strict-Transport-Security", "max-age=31536000")
		}
		next(w, r)
	}
}

func (h *Handler) stylesheet(w http.ResponseWriter, _ *http.Request) {
	b, err := files.ReadFile("assets/style.css")
	if err != nil {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "text/css; charset=utf-8")
	w.Header().Set("Cache-Control", "public, max-age=3600")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	_, _ = w.Write(b)
}

// render writes a page; a template error is a bug, logged and answered 500.
func (h *Handler) render(w http.ResponseWriter, code int, name string, data any) {
	var buf bytes.Buffer
	if err := pages[name].ExecuteTemplate(&buf, "layout", data); err != nil {
		h.logger.Error("render email page", "page", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	_, _ = w.Write(buf.Bytes())
}

// message is the data of the message page.
type message struct {
	PageTitle string
	Heading   string
	Message   string
	Reason    string
	// Result names the outcome for tests and tools: accepted, refused,
	// used, expired, invalid, closed, changed, unavailable, forbidden.
	Result  string
	Tone    string // ok, bad, info
	Summary *summary
	ViewURL string
	Nav     *nav
}

func (h *Handler) message(w http.ResponseWriter, code int, m message) {
	if m.PageTitle == "" {
		m.PageTitle = m.Heading
	}
	if m.Tone == "" {
		m.Tone = "bad"
	}
	h.render(w, code, "message", m)
}

// tokenError explains a link that cannot be used. None of these reach the
// workflow.
func (h *Handler) tokenError(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, linktoken.ErrExpired):
		h.message(w, http.StatusGone, message{Heading: "This link has expired", Result: "expired",
			Message: "The approval's deadline has passed, so this link no longer works. Nothing was decided."})
	default:
		h.message(w, http.StatusBadRequest, message{Heading: "This link is not valid", Result: "invalid",
			Message: "The link is incomplete, was altered, or was not issued by this Signoff. Nothing was decided. " +
				"Open the link from the email again, or decide through another channel."})
	}
}

const (
	csrfCookie    = "signoff_csrf"
	sessionCookie = "signoff_session"
	// sessionTTL is how long a link-opened session may read the audit
	// trail.
	sessionTTL = 12 * time.Hour
)

func randomString() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b)
}

// setSession lets the holder of a valid link read that approval's audit
// trail for a while. Lax, so the link from the email (a cross-site
// navigation) carries it.
func (h *Handler) setSession(w http.ResponseWriter, c linktoken.Claims) {
	exp := h.now().Add(sessionTTL)
	tok, err := h.keys.Sign(linktoken.Claims{
		Purpose: linktoken.PurposeSession, Approval: c.Approval, User: c.User,
		Expires: exp.Unix(), ID: c.ID,
	})
	if err != nil {
		h.logger.Error("sign session", "err", err)
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name: sessionCookie, Value: tok, Path: "/approvals/" + c.Approval, MaxAge: int(sessionTTL.Seconds()),
		HttpOnly: true, Secure: h.secure, SameSite: http.SameSiteLaxMode,
	})
}

// sameOrigin refuses a POST that a browser says came from elsewhere.
// Browsers send "Origin: null" under our no-referrer policy, so a missing or
// null origin is left to the CSRF check.
func (h *Handler) sameOrigin(r *http.Request) bool {
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" && site != "none" {
		return false
	}
	o := r.Header.Get("Origin")
	return o == "" || o == "null" || o == h.origin
}

var idPattern = regexp.MustCompile(`^[a-z2-7]{26}$`)

func bearer(r *http.Request) string {
	scheme, tok, ok := strings.Cut(strings.TrimSpace(r.Header.Get("Authorization")), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(tok)
}

// ballots is the one inbound path of decisions, over this handler's port,
// keys and people.
func (h *Handler) ballots() *ballot.Box {
	return &ballot.Box{Approvals: h.approvals, Proofs: h.proofs, People: h.people, Memberships: h.members, Now: h.now, Logger: h.logger}
}

// standsIn are the people with a delegation to user in force now (see
// ballot.Box.StandsIn).
func (h *Handler) standsIn(ctx context.Context, user string) []string {
	return h.ballots().StandsIn(ctx, user)
}
