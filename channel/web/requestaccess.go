package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/signoff/signoff/approval"
	"github.com/signoff/signoff/channel/wording"
	"github.com/signoff/signoff/config/identity"
	"github.com/signoff/signoff/policy"
	"github.com/signoff/signoff/policy/catalog"
)

// Refused is a form's request that was not made (a secret change, an
// access request): nothing is staged or started. Reason is meant for the
// person (for a secret change it names keys, never a value); Code is the
// HTTP status of the page that says so.
type Refused struct {
	Code   int
	Reason string
}

func (e *Refused) Error() string { return e.Reason }

// AccessRequest is "Request access" sent for one catalog item.
type AccessRequest struct {
	// Item is the catalog item's ID.
	Item     string
	Fields   map[string]string
	Duration time.Duration
	// StartAt is when the access should start; zero: at approval.
	StartAt       time.Time
	Justification string
}

// RequestAccessFunc starts, as user, the approval of a catalog item, once
// per requestID (the gateway's intake, as the API's). Its refusals are
// *Refused; any other error is an outage or a bug.
type RequestAccessFunc func(ctx context.Context, user *identity.User, requestID string, r AccessRequest) (*approval.State, error)

// maxGrantDuration bounds the form's duration before the policy does.
const maxGrantDuration = 90 * 24 * time.Hour

// accessData is the "Request access" page: the catalog, each item with
// its own form. A form sent back after a refusal keeps what was typed.
type accessData struct {
	PageTitle string
	Nav       *nav
	CSRF      string
	Attempt   string
	Items     []accessItem
	// Error says why a form came back, on the item it came from; Result
	// names it for tests and tools (invalid, refused, unavailable).
	Error, Result, ErrorItem string
}

type accessItem struct {
	N                    int
	ID, Title, Env       string
	Policy, Approvers    string
	MaxDuration          string
	RequireJustification bool
	Fields               []accessField
	Duration, Justify    string
	Start                string
}

type accessField struct {
	Param, Hint, Value string
}

// accessPage shows "Request access": what the signed-in person may ask
// for, from the catalog of the config in force.
func (h *Handler) accessPage(w http.ResponseWriter, r *http.Request) {
	ss, u, ok := h.sessions.current(r)
	if !ok {
		http.Redirect(w, r, signinURL(r), http.StatusSeeOther)
		return
	}
	h.renderAccess(w, http.StatusOK, ss, u, AccessRequest{}, randomString(), "", "")
}

func (h *Handler) renderAccess(w http.ResponseWriter, code int, ss session, u *identity.User, sent AccessRequest, attempt, formErr, result string) {
	d := &accessData{PageTitle: "Request access", Nav: h.nav(ss, u), CSRF: h.sessions.csrf(ss), Attempt: attempt,
		Error: formErr, Result: result, ErrorItem: sent.Item}
	var items []catalog.Item
	if h.catalog != nil {
		items = h.catalog(u)
	}
	for i, it := range items {
		ai := accessItem{N: i, ID: it.ID, Title: it.Title, Env: it.Environment, Policy: it.Policy.Policy.Name,
			Approvers: wording.StageApprovers(it.Stages()), MaxDuration: approval.ShortDuration(it.MaxDuration()),
			RequireJustification: it.Policy.Snapshot.RequireJustification, Duration: approval.ShortDuration(min(time.Hour, it.MaxDuration()))}
		if it.ID == sent.Item {
			ai.Justify = sent.Justification
			if sent.Duration > 0 {
				ai.Duration = approval.ShortDuration(sent.Duration)
			}
			if !sent.StartAt.IsZero() {
				ai.Start = sent.StartAt.UTC().Format(time.RFC3339)
			}
		}
		for _, f := range it.Ask {
			af := accessField{Param: f.Param, Hint: f.Hint}
			if it.ID == sent.Item {
				af.Value = sent.Fields[f.Param]
			}
			ai.Fields = append(ai.Fields, af)
		}
		d.Items = append(d.Items, ai)
	}
	if !slices.ContainsFunc(items, func(it catalog.Item) bool { return it.ID == sent.Item }) {
		// The item is gone (the config changed): the error goes on top.
		d.ErrorItem = ""
	}
	h.render(w, code, "access", d)
}

// webRequestAccess serves a catalog item's form: the approval starts
// through the same intake as the API's, and the requester lands on its
// page. The form's attempt makes a form sent twice request once.
func (h *Handler) webRequestAccess(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBody)
	ss, u, ok := h.sessions.current(r)
	if !ok {
		http.Redirect(w, r, "/signin?next=%2Faccess", http.StatusSeeOther)
		return
	}
	if err := r.ParseForm(); err != nil {
		h.message(w, http.StatusBadRequest, message{Heading: "The form could not be read", Result: "invalid",
			Message: "Nothing was requested.", Nav: h.nav(ss, u), ViewURL: "/access"})
		return
	}
	if !h.sameOrigin(r) || !h.sessions.checkCSRF(ss, r.PostFormValue("csrf")) {
		h.logger.Warn("web form refused: CSRF check failed", "form", "request access", "user", u.Name)
		h.message(w, http.StatusForbidden, message{Heading: "Please try again from Signoff's page", Result: "forbidden",
			Message: "This form could not be checked (it did not come from Signoff's page, or you signed in again since). Nothing was requested.",
			Nav:     h.nav(ss, u), ViewURL: "/access"})
		return
	}
	attempt := r.PostFormValue("attempt")
	if !attemptPattern.MatchString(attempt) {
		attempt = randomString()
	}
	req := AccessRequest{Item: r.PostFormValue("item"), Fields: map[string]string{},
		Justification: strings.TrimSpace(r.PostFormValue("justification"))}
	for k, v := range r.PostForm {
		if param, ok := strings.CutPrefix(k, "param."); ok && len(v) == 1 {
			req.Fields[param] = strings.TrimSpace(v[0])
		}
	}
	var d policy.Duration
	err := d.UnmarshalText([]byte(strings.TrimSpace(r.PostFormValue("duration"))))
	req.Duration = d.Std()
	start := strings.TrimSpace(r.PostFormValue("start"))
	var startErr error
	if start != "" {
		req.StartAt, startErr = approval.ParseStart(start, h.now())
	}
	switch {
	case h.requestAccess == nil:
		h.message(w, http.StatusNotFound, message{Heading: "Requesting access is not available here", Result: "unavailable",
			Message: "Nothing was requested. Use the API instead.", Nav: h.nav(ss, u), ViewURL: "/inbox"})
		return
	case err != nil || d <= 0 || d.Std() > maxGrantDuration:
		h.renderAccess(w, http.StatusUnprocessableEntity, ss, u, req, attempt, "Choose for how long (such as 30m, 2h or 1d).", "invalid")
		return
	case startErr != nil:
		h.renderAccess(w, http.StatusUnprocessableEntity, ss, u, req, attempt,
			"Give the start as a time (2026-12-12T09:00:00Z) or a delay (+2h), or leave it empty to start at approval.", "invalid")
		return
	case !utf8.ValidString(req.Justification) || utf8.RuneCountInString(req.Justification) > maxJustification:
		h.renderAccess(w, http.StatusUnprocessableEntity, ss, u, req, attempt,
			fmt.Sprintf("The justification must be valid text of at most %d characters.", maxJustification), "invalid")
		return
	}
	ctx, cancel := h.callContext(r.Context())
	defer cancel()
	st, err := h.requestAccess(ctx, u, "web:access:"+attempt, req)
	var refused *Refused
	switch {
	case errors.As(err, &refused):
		h.logger.Info("web access request refused", "user", u.Name, "item", req.Item, "reason", refused.Reason)
		result := "refused"
		switch refused.Code {
		case http.StatusServiceUnavailable:
			result = "unavailable"
		case http.StatusUnprocessableEntity:
			result = "invalid"
		}
		h.renderAccess(w, refused.Code, ss, u, req, attempt, refused.Reason, result)
		return
	case err != nil:
		h.logger.Error("web access request failed", "user", u.Name, "item", req.Item, "err", err)
		h.renderAccess(w, http.StatusInternalServerError, ss, u, req, attempt,
			"Something went wrong: nothing was requested. Send the form again, or try later.", "error")
		return
	}
	http.Redirect(w, r, "/approvals/"+st.ID+"?done=access_requested", http.StatusSeeOther)
}
