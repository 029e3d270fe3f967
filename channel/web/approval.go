package web

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"

	"github.com/signoff/signoff/approval"
	"github.com/signoff/signoff/approval/access"
	"github.com/signoff/signoff/approval/evidence"
	"github.com/signoff/signoff/channel/email/linktoken"
	"github.com/signoff/signoff/config/identity"
	"github.com/signoff/signoff/store/approvalstore"
	"github.com/signoff/signoff/workflows"
)

// approvalPageData is the audit trail page.
type approvalPageData struct {
	PageTitle string
	ID        string
	Viewer    string
	Summary   *summary
	Action    *approval.ActionResult
	Entries   []entryView
	Nav       *nav
	// Acts is what the signed-in viewer may do now; nil for others.
	Acts *acts
	// Done says what the viewer just did (after a form's redirect).
	Done string
}

// approvalPage shows an approval's request, status and timeline to an API
// user (bearer token), a browser with a session from a valid link, or the
// holder of a link token for this approval (?t=), who gets a session and
// is sent on without the token in the address.
func (h *Handler) approvalPage(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !idPattern.MatchString(id) {
		h.message(w, http.StatusNotFound, message{Heading: "Approval not found", Result: "not_found",
			Message: "This is not an approval's address."})
		return
	}
	if t := r.URL.Query().Get("t"); t != "" && h.keys != nil {
		c, err := h.keys.Verify(t, h.now())
		switch {
		case err != nil:
			h.tokenError(w, err)
		case c.Approval != id || c.Purpose == linktoken.PurposeSession:
			h.forbidden(w)
		default:
			h.setSession(w, c)
			http.Redirect(w, r, "/approvals/"+id, http.StatusSeeOther)
		}
		return
	}
	viewer, apiUser, ss, ok := h.viewer(r, id)
	if !ok && h.sessions != nil && bearer(r) == "" {
		http.Redirect(w, r, "/signin?next="+url.QueryEscape("/approvals/"+id), http.StatusSeeOther)
		return
	}
	if !ok {
		h.message(w, http.StatusUnauthorized, message{Heading: "Sign-in needed", Result: "unauthorized",
			Message: "Open this page from a link in a Signoff email about this approval, or call it with an API token " +
				"(Authorization: Bearer)."})
		return
	}
	if viewer == "" {
		h.forbidden(w)
		return
	}
	ctx, cancel := h.callContext(r.Context())
	defer cancel()
	st, err := h.load(ctx, id)
	var standsIn []string
	if err == nil && apiUser != nil {
		standsIn = h.standsIn(ctx, apiUser.Name)
		if !access.CanReadFor(st, apiUser, standsIn) {
			// Told exactly what an unknown approval's reader is told.
			err = approvalstore.ErrNotFound
		}
	}
	if err != nil {
		h.loadError(w, err)
		return
	}
	rec, err := h.approvals.Record(ctx, id)
	if err != nil {
		// The state alone is still the audit trail; timers add detail.
		h.logger.Warn("audit page without timers", "approval_id", id, "err", err)
	}
	entries := evidence.Timeline(evidence.Input{State: st, WorkflowID: workflows.ApprovalWorkflowID(id), RunID: rec.RunID, Timers: rec.Timers})
	data := &approvalPageData{
		PageTitle: "Audit trail: " + st.Request.Title, ID: id, Viewer: viewer,
		Summary: summarize(st), Action: st.ActionResult, Entries: timelineView(entries),
	}
	if ss != nil {
		data.PageTitle = st.Request.Title
		data.Nav = h.nav(*ss, apiUser)
		data.Acts = h.actsFor(st, apiUser, *ss, standsIn)
		data.Done = doneMessages[r.URL.Query().Get("done")]
	}
	h.render(w, http.StatusOK, "approval", data)
}

// viewer is who asks to read approval id: ok false without credentials;
// viewer empty with credentials for another approval. apiUser is the
// owner of a bearer token, who reads only what access.CanRead allows; it
// is nil for a session opened from an email link, which Signoff signed for
// this approval and the person it mailed about it (approvers, the
// requester, and whoever the policy says to notify: escalation and
// break-glass recipients, who need not be approvers or even users).
//
// A person signed in on the web reads as an API user does; ss is their
// session, nil otherwise.
func (h *Handler) viewer(r *http.Request, id string) (viewer string, apiUser *identity.User, ss *session, ok bool) {
	if tok := bearer(r); tok != "" {
		if u, err := h.authn.Authenticate(r.Context(), tok); err == nil {
			return u.Name, u, nil, true
		}
		return "", nil, nil, false
	}
	if h.sessions != nil {
		if s, u, ok := h.sessions.current(r); ok {
			return u.Name, u, &s, true
		}
	}
	if h.keys == nil {
		return "", nil, nil, false
	}
	ck, err := r.Cookie(sessionCookie)
	if err != nil {
		return "", nil, nil, false
	}
	c, err := h.keys.Verify(ck.Value, h.now())
	if err != nil || c.Purpose != linktoken.PurposeSession {
		return "", nil, nil, false
	}
	if c.Approval != id {
		return "", nil, nil, true
	}
	return c.User, nil, nil, true
}

func (h *Handler) forbidden(w http.ResponseWriter) {
	h.message(w, http.StatusForbidden, message{Heading: "Not your link", Result: "forbidden",
		Message: "This link is for another approval."})
}

// jsonError answers the evidence route like the REST API does.
func jsonError(w http.ResponseWriter, code, grpcCode int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]any{"code": grpcCode, "message": msg})
}

// exportEvidence returns the signed evidence document of one approval to
// an API user who may read it (access.CanRead: its requester, approvers,
// admins and auditors); anyone else gets the 404 of an unknown approval.
func (h *Handler) exportEvidence(w http.ResponseWriter, r *http.Request) {
	tok := bearer(r)
	if tok == "" {
		jsonError(w, http.StatusUnauthorized, 16, "missing bearer token (Authorization: Bearer <token>)")
		return
	}
	u, err := h.authn.Authenticate(r.Context(), tok)
	if err != nil {
		jsonError(w, http.StatusUnauthorized, 16, "unknown token")
		return
	}
	id := r.PathValue("id")
	if !idPattern.MatchString(id) {
		jsonError(w, http.StatusBadRequest, 3, "malformed approval id")
		return
	}
	if h.evidence == nil {
		jsonError(w, http.StatusServiceUnavailable, 14, "evidence signing is not configured (SIGNOFF_EVIDENCE_KEY)")
		return
	}
	ctx, cancel := h.callContext(r.Context())
	defer cancel()
	st, err := h.load(ctx, id)
	if err == nil && !access.CanRead(st, u) {
		err = approvalstore.ErrNotFound // the same answer as an unknown approval
	}
	switch {
	case errors.Is(err, approvalstore.ErrNotFound):
		jsonError(w, http.StatusNotFound, 5, "approval not found")
		return
	case errors.Is(err, approvalstore.ErrUnavailable):
		jsonError(w, http.StatusServiceUnavailable, 14, "no worker answered in time; retry later")
		return
	case err != nil:
		h.logger.Error("evidence: read approval", "approval_id", id, "err", err)
		jsonError(w, http.StatusInternalServerError, 13, "read approval failed")
		return
	}
	rec, err := h.approvals.Record(ctx, id)
	if err != nil {
		// Evidence must be complete: no export without the history.
		h.logger.Error("evidence: read history", "approval_id", id, "err", err)
		jsonError(w, http.StatusServiceUnavailable, 14, "workflow history unavailable; retry later")
		return
	}
	_, b, err := evidence.Build(evidence.Input{State: st, WorkflowID: workflows.ApprovalWorkflowID(id), RunID: rec.RunID, Timers: rec.Timers,
		ExportedBy: u.Name}, h.evidence, h.now())
	if err != nil {
		h.logger.Error("evidence: build", "approval_id", id, "err", err)
		jsonError(w, http.StatusInternalServerError, 13, "build evidence failed")
		return
	}
	h.logger.Info("evidence exported", "approval_id", id, "user", u.Name, "entries_bytes", len(b))
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Disposition", `attachment; filename="signoff-evidence-`+id+`.json"`)
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(b)
}
