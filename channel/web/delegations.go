package web

import (
	"errors"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/signoff/signoff/channel/ballot"
	"github.com/signoff/signoff/channel/wording"
	"github.com/signoff/signoff/intake"
	"github.com/signoff/signoff/people"
	"github.com/signoff/signoff/store/approvalstore"
	"github.com/signoff/signoff/store/peoplestore"
)

// delegationsData is the delegations page.
type delegationsData struct {
	PageTitle string
	Nav       *nav
	Rows      []delegationRow
	// People are who the viewer may delegate to.
	People  []string
	Admin   bool
	CSRF    string
	Attempt string
	Done    string
	Error   string
}

type delegationRow struct {
	ID, From, To, Start, End, State, Reason string
	StartISO, EndISO                        string
	CanRevoke                               bool
}

var delegationID = regexp.MustCompile(`^[a-z2-7]{26}$`)

// delegations lists the viewer's delegations (an admin's: everyone's) with
// a form to make one and buttons to end them.
func (h *Handler) delegations(w http.ResponseWriter, r *http.Request) {
	ss, u, ok := h.sessions.current(r)
	if !ok {
		http.Redirect(w, r, signinURL(r), http.StatusSeeOther)
		return
	}
	if h.people == nil {
		h.message(w, http.StatusNotFound, message{Heading: "Delegation is not available", Result: "unavailable",
			Message: "This gateway keeps no delegations.", Nav: h.nav(ss, u)})
		return
	}
	ctx, cancel := h.callContext(r.Context())
	defer cancel()
	st, err := h.people.State(ctx)
	if err != nil {
		h.logger.Warn("delegations page: read", "err", err)
		h.message(w, http.StatusServiceUnavailable, message{Heading: "Signoff is busy", Result: "unavailable",
			Message: "Delegations could not be read right now. Try again in a moment.", Nav: h.nav(ss, u)})
		return
	}
	now := h.now()
	d := &delegationsData{PageTitle: "Delegations", Nav: h.nav(ss, u), Admin: u.Admin, CSRF: h.sessions.csrf(ss),
		Attempt: randomString(), Done: map[string]string{"created": "Delegation saved.", "revoked": "Delegation ended."}[r.URL.Query().Get("done")]}
	list := st.Involving(u.Name)
	if u.Admin {
		list = st.Delegations
	}
	for _, dl := range list {
		row := delegationRow{ID: dl.ID, From: dl.From, To: dl.To, Reason: dl.Reason,
			Start: formatTime(dl.Start), End: formatTime(dl.End),
			StartISO: dl.Start.UTC().Format(time.RFC3339), EndISO: dl.End.UTC().Format(time.RFC3339)}
		switch {
		case !dl.RevokedAt.IsZero():
			row.State = "ended by " + dl.RevokedBy
		case !now.Before(dl.End):
			row.State = "over"
		case dl.Active(now):
			row.State = "in force"
		default:
			row.State = "ahead"
		}
		row.CanRevoke = dl.RevokedAt.IsZero() && now.Before(dl.End) && (dl.From == u.Name || u.Admin)
		d.Rows = append(d.Rows, row)
	}
	for _, p := range h.dir().Users() {
		if p.Name != u.Name {
			d.People = append(d.People, p.Name)
		}
	}
	h.render(w, http.StatusOK, "delegations", d)
}

// delegationForm checks a POST from the delegations page.
func (h *Handler) delegationForm(w http.ResponseWriter, r *http.Request) (session, bool) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBody)
	ss, u, ok := h.sessions.current(r)
	if !ok {
		http.Redirect(w, r, "/signin?next=/delegations", http.StatusSeeOther)
		return ss, false
	}
	if err := r.ParseForm(); err != nil || !h.sameOrigin(r) || !h.sessions.checkCSRF(ss, r.PostFormValue("csrf")) {
		h.message(w, http.StatusForbidden, message{Heading: "Please try again from Signoff's page", Result: "forbidden",
			Message: "This form could not be checked. Nothing was changed.", Nav: h.nav(ss, u), ViewURL: "/delegations"})
		return ss, false
	}
	if h.people == nil {
		http.NotFound(w, r)
		return ss, false
	}
	return ss, true
}

// createDelegation makes the viewer's delegation (an admin may name whose).
func (h *Handler) createDelegation(w http.ResponseWriter, r *http.Request) {
	ss, ok := h.delegationForm(w, r)
	if !ok {
		return
	}
	_, u, _ := h.sessions.current(r)
	now := h.now()
	fail := func(msg string) {
		h.message(w, http.StatusUnprocessableEntity, message{Heading: "The delegation was not saved", Result: "invalid",
			Reason: msg, Nav: h.nav(ss, u), ViewURL: "/delegations"})
	}
	end, err := people.ParseWhen(r.PostFormValue("until"), now, true)
	if err != nil {
		fail(err.Error())
		return
	}
	var start time.Time
	if v := strings.TrimSpace(r.PostFormValue("start")); v != "" {
		if start, err = people.ParseWhen(v, now, false); err != nil {
			fail(err.Error())
			return
		}
	}
	reason := strings.TrimSpace(r.PostFormValue("reason"))
	if err := ballot.CheckText("reason", reason, ballot.MaxComment); err != nil {
		fail(wording.Sentence(err.Error()))
		return
	}
	attempt := r.PostFormValue("attempt")
	if !attemptPattern.MatchString(attempt) {
		attempt = randomString()
	}
	ctx, cancel := h.callContext(r.Context())
	defer cancel()
	d, err := peoplestore.Create(ctx, h.people, h.dir(), peoplestore.Request{
		By: u, ID: intake.ApprovalID(u.Name, "delegation:"+attempt), From: r.PostFormValue("from"), To: r.PostFormValue("to"),
		Start: start, End: end, Reason: reason,
	}, now)
	switch {
	case errors.Is(err, people.ErrInvalid), errors.Is(err, peoplestore.ErrForbidden):
		fail(err.Error())
		return
	case err != nil:
		h.loadError(w, err)
		return
	}
	n, err := approvalstore.AnnounceDelegation(ctx, h.approvals, h.proofs, d, h.now())
	if err != nil {
		h.logger.Warn("delegation not announced to every pending approval", "id", d.ID, "error", err)
	}
	h.logger.Info("delegation created", "id", d.ID, "from", d.From, "to", d.To, "end", d.End, "by", u.Name, "via", "web",
		"pending_approvals_told", n)
	http.Redirect(w, r, "/delegations?done=created", http.StatusSeeOther)
}

// revokeDelegation ends one: its maker or an admin.
func (h *Handler) revokeDelegation(w http.ResponseWriter, r *http.Request) {
	ss, ok := h.delegationForm(w, r)
	if !ok {
		return
	}
	_, u, _ := h.sessions.current(r)
	id := r.PathValue("id")
	if !delegationID.MatchString(id) {
		http.NotFound(w, r)
		return
	}
	ctx, cancel := h.callContext(r.Context())
	defer cancel()
	d, err := h.people.Revoke(ctx, id, u.Name, u.Admin)
	switch {
	case errors.Is(err, people.ErrNotFound):
		http.NotFound(w, r)
		return
	case errors.Is(err, people.ErrNotYours):
		h.message(w, http.StatusForbidden, message{Heading: "Not yours to end", Result: "forbidden",
			Message: people.ErrNotYours.Error() + ".", Nav: h.nav(ss, u), ViewURL: "/delegations"})
		return
	case err != nil:
		h.loadError(w, err)
		return
	}
	h.logger.Info("delegation revoked", "id", d.ID, "by", u.Name, "via", "web")
	http.Redirect(w, r, "/delegations?done=revoked", http.StatusSeeOther)
}
