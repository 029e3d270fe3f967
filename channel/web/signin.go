package web

import (
	"net/http"
	"net/url"
	"slices"

	"github.com/signoff/signoff/auth/authn"
	"github.com/signoff/signoff/config/identity"
)

// nav is the signed-in header: who, and the sign-out form.
type nav struct {
	User  string
	CSRF  string
	Admin bool
}

func (h *Handler) nav(ss session, u *identity.User) *nav {
	return &nav{User: u.Name, CSRF: h.sessions.csrf(ss), Admin: u.Admin}
}

// signinData is the sign-in page.
type signinData struct {
	PageTitle string
	Next      string
	Issuer    string
	OIDC      bool
	// Dev lists the people of a dev_only config, with the form token.
	Dev     []devPerson
	DevCSRF string
	Nav     *nav
	Error   string
}

type devPerson struct{ Name, Email, Roles string }

// signinPage offers the ways to sign in this gateway has.
func (h *Handler) signinPage(w http.ResponseWriter, r *http.Request) {
	next := localPath(r.URL.Query().Get("next"))
	if ss, u, ok := h.sessions.current(r); ok {
		if r.URL.Query().Get("next") != "" {
			http.Redirect(w, r, next, http.StatusSeeOther)
			return
		}
		h.render(w, http.StatusOK, "signin", &signinData{PageTitle: "Signed in", Next: next, Nav: h.nav(ss, u)})
		return
	}
	d := &signinData{PageTitle: "Sign in", Next: next, OIDC: h.signin != nil}
	if h.signin != nil {
		d.Issuer = h.signin.Issuer
	}
	if h.devSignIn {
		// The form's token is bound to a fresh pending sign-in, so a
		// page from another site cannot sign the browser in as someone.
		p := pending{State: randomString(), Next: next}
		if err := h.sessions.setPending(w, p); err != nil {
			h.logger.Error("dev sign-in: set cookie", "err", err)
		}
		d.DevCSRF = h.sessions.csrf(session{ID: "dev-signin:" + p.State})
		for _, u := range h.dir().Users() {
			roles := slices.Clone(u.Roles)
			if u.Admin {
				roles = append(roles, "admin")
			}
			d.Dev = append(d.Dev, devPerson{Name: u.Name, Email: u.Email, Roles: joinRoles(roles, u.Groups)})
		}
	}
	if !d.OIDC && len(d.Dev) == 0 {
		h.message(w, http.StatusServiceUnavailable, message{Heading: "Sign-in is not set up", Result: "unavailable",
			Message: "This Signoff has no identity provider configured (oidc in the config). Use an API token, or the links in Signoff's emails."})
		return
	}
	h.render(w, http.StatusOK, "signin", d)
}

func joinRoles(roles, groups []string) string {
	out := ""
	for _, r := range roles {
		out += r + " "
	}
	for _, g := range groups {
		out += "group:" + g + " "
	}
	if out == "" {
		return "requester"
	}
	return out[:len(out)-1]
}

// authStart leaves for the identity provider with a fresh state, nonce
// and PKCE verifier, kept in the browser's sign-in cookie.
func (h *Handler) authStart(w http.ResponseWriter, r *http.Request) {
	if h.signin == nil {
		http.NotFound(w, r)
		return
	}
	at := authn.NewAttempt()
	if err := h.sessions.setPending(w, pending{State: at.State, Nonce: at.Nonce, Verifier: at.Verifier,
		Next: localPath(r.URL.Query().Get("next"))}); err != nil {
		h.logger.Error("sign-in: set cookie", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	http.Redirect(w, r, h.signin.URL(at), http.StatusSeeOther)
}

// authCallback is where the provider sends the browser back.
func (h *Handler) authCallback(w http.ResponseWriter, r *http.Request) {
	if h.signin == nil {
		http.NotFound(w, r)
		return
	}
	p, ok := h.sessions.pending(r)
	h.sessions.clearPending(w)
	if !ok || p.Verifier == "" {
		h.message(w, http.StatusBadRequest, message{Heading: "Sign-in expired", Result: "invalid",
			Message: "This sign-in was not started in this browser, or took more than ten minutes. Start again.",
			ViewURL: "/signin"})
		return
	}
	ctx, cancel := h.callContext(r.Context())
	defer cancel()
	u, err := h.signin.Finish(ctx, authn.Attempt{State: p.State, Nonce: p.Nonce, Verifier: p.Verifier}, r.URL.Query())
	if err != nil {
		// The reason is for operators; the browser hears one answer.
		h.logger.Warn("sign-in refused", "reason", err.Error())
		h.message(w, http.StatusUnauthorized, message{Heading: "Sign-in failed", Result: "refused",
			Message: "The identity provider's answer could not be accepted, or it names someone who is not a Signoff user. " +
				"Ask an administrator to add you (users[] in the config) if you should have access.",
			ViewURL: "/signin"})
		return
	}
	if err := h.sessions.start(w, u.Name, viaOIDC); err != nil {
		h.logger.Error("sign-in: set session", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h.logger.Info("signed in", "user", u.Name, "via", viaOIDC)
	http.Redirect(w, r, localPath(p.Next), http.StatusSeeOther)
}

// devSignInPost signs in as a configured person without a password: a
// dev_only config's convenience, never mounted otherwise.
func (h *Handler) devSignInPost(w http.ResponseWriter, r *http.Request) {
	if !h.devSignIn {
		http.NotFound(w, r)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBody)
	p, ok := h.sessions.pending(r)
	if err := r.ParseForm(); err != nil || !ok || !h.sameOrigin(r) ||
		!h.sessions.checkCSRF(session{ID: "dev-signin:" + p.State}, r.PostFormValue("csrf")) {
		h.message(w, http.StatusForbidden, message{Heading: "Please sign in again", Result: "forbidden",
			Message: "This sign-in form expired or did not come from Signoff's page.", ViewURL: "/signin"})
		return
	}
	u, ok := h.dir().Lookup(r.PostFormValue("user"))
	if !ok {
		h.message(w, http.StatusBadRequest, message{Heading: "No such person", Result: "invalid",
			Message: "Choose one of the configured people.", ViewURL: "/signin"})
		return
	}
	h.sessions.clearPending(w)
	if err := h.sessions.start(w, u.Name, viaDev); err != nil {
		h.logger.Error("dev sign-in: set session", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h.logger.Warn("dev sign-in (dev_only config)", "user", u.Name)
	http.Redirect(w, r, localPath(p.Next), http.StatusSeeOther)
}

// signOut ends the session.
func (h *Handler) signOut(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBody)
	ss, u, ok := h.sessions.current(r)
	if !ok {
		http.Redirect(w, r, "/signin", http.StatusSeeOther)
		return
	}
	if err := r.ParseForm(); err != nil || !h.sameOrigin(r) || !h.sessions.checkCSRF(ss, r.PostFormValue("csrf")) {
		h.message(w, http.StatusForbidden, message{Heading: "Sign-out not confirmed", Result: "forbidden",
			Message: "This form did not come from Signoff's page. Use the Sign out button.", Nav: h.nav(ss, u)})
		return
	}
	h.sessions.end(w, ss)
	h.logger.Info("signed out", "user", u.Name)
	h.message(w, http.StatusOK, message{Heading: "Signed out", Result: "signed_out", Tone: "ok",
		Message: "You are signed out of Signoff in this browser.", ViewURL: "/signin"})
}

// signinURL is the sign-in page that comes back to r's page.
func signinURL(r *http.Request) string {
	return "/signin?next=" + url.QueryEscape(r.URL.RequestURI())
}
