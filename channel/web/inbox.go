package web

import (
	"encoding/base64"
	"net/http"
	"slices"
	"time"

	"github.com/signoff/signoff/approval"
	"github.com/signoff/signoff/approval/access"
	"github.com/signoff/signoff/config/identity"
	"github.com/signoff/signoff/store/approvalstore"
)

// inboxData is the inbox page.
type inboxData struct {
	PageTitle string
	Nav       *nav
	// View is the tab shown: waiting, requests or all.
	View    string
	Tabs    []tab
	Rows    []inboxRow
	Empty   string
	NextURL string
	// Truncated says the waiting list stopped at its limit.
	Truncated bool
	// ProposeSecret links the secret change form (with a store to
	// change secrets in).
	ProposeSecret bool
}

type tab struct {
	Name, Label, URL string
	Current          bool
}

type inboxRow struct {
	ID, Title, Status, StatusClass, Environment, Requester, Policy string
	// For is the approver the viewer would decide for, as their delegate.
	For                                        string
	Created, CreatedISO, Deadline, DeadlineISO string
}

// Inbox limits. The waiting list asks the index who is awaited
// (AwaitedBy, one query per person); for approvals started before they
// kept it, it reads each candidate's state, so it stops at waitingLimit.
const (
	inboxPageSize = 50
	waitingLimit  = 50
)

var views = []tab{
	{Name: "waiting", Label: "Waiting for me"},
	{Name: "requests", Label: "My requests"},
	{Name: "all", Label: "All I may read"},
}

// inbox lists approvals for the signed-in person: those waiting for their
// decision, their own requests, and everything they may read.
func (h *Handler) inbox(w http.ResponseWriter, r *http.Request) {
	ss, u, ok := h.sessions.current(r)
	if !ok {
		http.Redirect(w, r, signinURL(r), http.StatusSeeOther)
		return
	}
	d := &inboxData{PageTitle: "Inbox", Nav: h.nav(ss, u), View: r.URL.Query().Get("view"), ProposeSecret: h.propose != nil && len(h.targets()) > 0}
	if !slices.ContainsFunc(views, func(t tab) bool { return t.Name == d.View }) {
		d.View = "waiting"
	}
	for _, t := range views {
		t.URL, t.Current = "/inbox?view="+t.Name, t.Name == d.View
		d.Tabs = append(d.Tabs, t)
	}
	token, err := base64.RawURLEncoding.DecodeString(r.URL.Query().Get("page"))
	if err != nil {
		token = nil
	}
	ctx, cancel := h.callContext(r.Context())
	defer cancel()
	q := approvalstore.Query{PageSize: inboxPageSize, PageToken: token}
	if !access.CanReadAll(u) {
		q.ReadableBy = u.Name
	}
	switch d.View {
	case "waiting":
		d.Rows, d.Truncated = h.awaited(r, u)
		// Approvals that do not keep who is awaited: their candidates.
		q.Status, q.Open, q.Untracked, q.PageSize, q.PageToken = approval.StatusPending, true, true, 2*waitingLimit, nil
		d.Empty = "Nothing is waiting for your decision."
	case "requests":
		q.Requester = u.Name
		d.Empty = "You have not requested anything yet."
	default:
		d.Empty = "There is nothing you may read yet."
	}
	page, err := h.approvals.List(ctx, q)
	if err != nil {
		h.loadError(w, err)
		return
	}
	for _, a := range page.Approvals {
		// The index is checked again, entry by entry, as the API does.
		if !access.CanRead(a.Known(), u) {
			continue
		}
		if d.View == "waiting" {
			if !slices.Contains(a.Approvers, u.Name) || listed(d.Rows, a.ID) {
				continue
			}
			if len(d.Rows) == waitingLimit {
				d.Truncated = true
				break
			}
			if !h.awaits(r, a.ID, u.Name, u.Name) {
				continue
			}
		}
		d.Rows = append(d.Rows, rowOf(a))
	}
	if d.View == "waiting" {
		d.Rows = append(d.Rows, h.delegated(r, u.Name, d.Rows)...)
	}
	if d.View != "waiting" && len(page.NextPageToken) > 0 {
		d.NextURL = "/inbox?view=" + d.View + "&page=" + base64.RawURLEncoding.EncodeToString(page.NextPageToken)
	}
	h.render(w, http.StatusOK, "inbox", d)
}

// awaited are the approvals whose workflows say they wait for u's decision
// now, or for the decision of someone u stands in for (u deciding for
// them): one index query per person, no state read. True when the list
// stopped at waitingLimit.
func (h *Handler) awaited(r *http.Request, u *identity.User) ([]inboxRow, bool) {
	standsIn := h.standsIn(r.Context(), u.Name)
	var rows []inboxRow
	for _, person := range append([]string{u.Name}, standsIn...) {
		ctx, cancel := h.callContext(r.Context())
		page, err := h.approvals.List(ctx, approvalstore.Query{Open: true, AwaitedBy: person, PageSize: waitingLimit + 1})
		cancel()
		if err != nil {
			h.logger.Warn("inbox: list awaited", "for", person, "err", err)
			continue
		}
		for _, a := range page.Approvals {
			// The index is checked again, entry by entry; a delegate never
			// decides their own request.
			if listed(rows, a.ID) || !access.CanReadFor(a.Known(), u, standsIn) || (person != u.Name && a.Requester == u.Name) {
				continue
			}
			if len(rows) == waitingLimit {
				return rows, true
			}
			row := rowOf(a)
			if person != u.Name {
				row.For = person
			}
			rows = append(rows, row)
		}
	}
	return rows, false
}

func listed(rows []inboxRow, id string) bool {
	return slices.ContainsFunc(rows, func(x inboxRow) bool { return x.ID == id })
}

// awaits reports whether approval id still waits for person's decision,
// made by viewer (the person, or their delegate): the index knows its
// approvers, the state knows who has decided.
func (h *Handler) awaits(r *http.Request, id, person, viewer string) bool {
	ctx, cancel := h.callContext(r.Context())
	defer cancel()
	st, err := h.load(ctx, id)
	if err != nil {
		h.logger.Warn("inbox: read approval", "approval_id", id, "err", err)
		return false
	}
	// Pending leaves out the requester unless the policy allows
	// self-approval.
	if st.Status != approval.StatusPending || !slices.Contains(st.Pending(), person) {
		return false
	}
	if person == viewer {
		return true
	}
	// A delegate never decides their own request.
	return st.Requester != viewer && st.Rules >= approval.RulesDelegation
}

// delegated are the approvals waiting for the people viewer stands in for,
// not already listed.
func (h *Handler) delegated(r *http.Request, viewer string, listed []inboxRow) []inboxRow {
	var out []inboxRow
	for _, p := range h.standsIn(r.Context(), viewer) {
		ctx, cancel := h.callContext(r.Context())
		page, err := h.approvals.List(ctx, approvalstore.Query{Status: approval.StatusPending, Open: true, Untracked: true, ReadableBy: p, PageSize: 2 * waitingLimit})
		cancel()
		if err != nil {
			h.logger.Warn("inbox: list delegated", "for", p, "err", err)
			continue
		}
		for _, a := range page.Approvals {
			if len(listed)+len(out) >= waitingLimit {
				return out
			}
			dup := slices.ContainsFunc(listed, func(x inboxRow) bool { return x.ID == a.ID }) ||
				slices.ContainsFunc(out, func(x inboxRow) bool { return x.ID == a.ID })
			if dup || !slices.Contains(a.Approvers, p) || !h.awaits(r, a.ID, p, viewer) {
				continue
			}
			row := rowOf(a)
			row.For = p
			out = append(out, row)
		}
	}
	return out
}

func rowOf(a approvalstore.Summary) inboxRow {
	iso := func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format(time.RFC3339)
	}
	return inboxRow{
		ID: a.ID, Title: a.Title, Status: string(a.Status), StatusClass: statusClass(a.Status),
		Environment: a.Environment, Requester: a.Requester, Policy: a.Policy,
		Created: formatTime(a.StartTime), CreatedISO: iso(a.StartTime),
		Deadline: formatTime(a.Deadline), DeadlineISO: iso(a.Deadline),
	}
}
