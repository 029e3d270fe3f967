package web

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"github.com/signoff/signoff/approval"
	"github.com/signoff/signoff/approval/access"
	"github.com/signoff/signoff/channel/ballot"
	"github.com/signoff/signoff/channel/wording"
	"github.com/signoff/signoff/config/identity"
	"github.com/signoff/signoff/intake"
	"github.com/signoff/signoff/policy"
	"github.com/signoff/signoff/store/approvalstore"
	"github.com/signoff/signoff/workflows"
)

// ChannelWeb is the decision channel of the web pages.
const ChannelWeb = "web"

// acts are the forms an approval's page offers its signed-in viewer.
type acts struct {
	CSRF string
	// Attempt names this page's forms: a form sent twice (a double
	// click, a resend after a timeout) counts once.
	Attempt     string
	RequestHash string
	Decide      bool
	// AskedFor is a grant's duration as asked: an approver may approve
	// less.
	AskedFor  string
	Prompt    string
	Choices   []choiceView
	Multi     bool
	Single    bool
	TextInput bool
	// CommentApprove and CommentReject say the policy needs a comment.
	CommentApprove, CommentReject bool
	Cancel                        bool
	Bypass                        bool
	// Revoke: granted access the viewer (grantee or admin) may end now.
	Revoke bool
	// Extend: granted access the viewer (the grantee) may ask more time
	// for, with the durations offered, when it ends now, and whether the
	// policy wants a justification.
	Extend                bool
	Durations             []durationChoice
	Ends                  string
	JustificationRequired bool
	// Requested is true on the viewer's own request.
	Requested bool
	// For are the approvers the viewer may decide for as their delegate;
	// Own says they are awaited in their own right too.
	For []string
	Own bool
}

// actsFor is what u may do on st now: decide when they are among the
// approvers still awaited, cancel their own request (admins any), and
// break-glass their own request under a soft policy. The workflow judges
// every attempt again; these only choose the forms shown.
func (h *Handler) actsFor(st *approval.State, u *identity.User, ss session, standsIn []string) *acts {
	a := &acts{CSRF: h.sessions.csrf(ss), Attempt: randomString(), RequestHash: st.RequestHash, Requested: st.Requester == u.Name}
	if st.Status == approval.StatusGranted && st.Grant != nil && st.Grant.RevokeRequestedAt.IsZero() {
		a.Revoke = st.Requester == u.Name || u.Admin
		if a.Extend = h.extendable(st, u); a.Extend {
			a.Durations = durationChoices(st.Policy.MaxDuration)
			a.Ends, a.JustificationRequired = formatTime(st.Grant.RevokeAt), st.Policy.RequireJustification
		}
	}
	if st.Scheduled(h.now()) {
		// Approved for later: it may still be called off, granting nothing.
		a.Cancel = st.Requester == u.Name || u.Admin
	}
	if st.Status != approval.StatusPending {
		return a
	}
	pending := st.Pending()
	a.Own = slices.Contains(pending, u.Name) // Pending leaves out the requester unless self-approval
	if st.Requester != u.Name && st.Rules >= approval.RulesDelegation {
		for _, p := range standsIn {
			if slices.Contains(pending, p) && p != u.Name {
				a.For = append(a.For, p)
			}
		}
	}
	a.Decide = a.Own || len(a.For) > 0
	if st.Request.Duration > 0 {
		a.AskedFor = approval.ShortDuration(st.Request.Duration)
	}
	a.Cancel = st.Requester == u.Name || u.Admin
	a.Bypass = st.Requester == u.Name && st.Policy.Soft()
	a.CommentApprove, a.CommentReject = st.Policy.RequireComment.Approve, st.Policy.RequireComment.Reject
	in := st.Request.Input
	a.Prompt = in.Prompt
	switch in.Type {
	case approval.InputButton, approval.InputSelect:
		a.Single = true
	case approval.InputMultiselect:
		a.Multi = true
	case approval.InputText:
		a.TextInput = true
	}
	for _, o := range in.Options {
		a.Choices = append(a.Choices, choiceView{Label: o.Label, Value: o.Value})
	}
	return a
}

// doneMessages confirm what the viewer just did, after the redirect.
var doneMessages = map[string]string{
	"approved":  "Your approval was recorded.",
	"rejected":  "Your rejection was recorded.",
	"cancelled": "The request was cancelled.",
	"bypassed":  "Break-glass recorded: the request proceeds without approval, and approvers and security were told.",
	"revoked":   "The revoke was asked for: the access is being taken back now.",
	"extend_asked": "You asked for more time: this approval asks the grant's approvers. Your access ends as planned " +
		"unless they approve before; then it lasts the time you asked for, from their approval.",
	"secret_proposed": "Your secret change was proposed: the values are sealed and staged, and are never shown again. " +
		"Approvers decide on the diff below; once approved, the secret is written once.",
	"access_requested": "Your access request was made: its approvers are asked now. Once approved, the access is granted " +
		"for the time you asked for, then taken back.",
}

var attemptPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{16,64}$`)

// form starts a POST on an approval's page: a signed-in person, a form
// from Signoff's own page (origin and the session's CSRF token), a valid
// ID and an approval they may read. ok false means it has answered.
func (h *Handler) form(w http.ResponseWriter, r *http.Request) (ss session, u *identity.User, st *approval.State, attempt string, ok bool) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBody)
	ss, u, signed := h.sessions.current(r)
	if !signed {
		http.Redirect(w, r, "/signin?next="+url.QueryEscape("/approvals/"+r.PathValue("id")), http.StatusSeeOther)
		return ss, nil, nil, "", false
	}
	id := r.PathValue("id")
	if err := r.ParseForm(); err != nil || !idPattern.MatchString(id) {
		h.message(w, http.StatusBadRequest, message{Heading: "The form could not be read", Result: "invalid",
			Message: "Nothing was done.", Nav: h.nav(ss, u)})
		return ss, nil, nil, "", false
	}
	if !h.sameOrigin(r) || !h.sessions.checkCSRF(ss, r.PostFormValue("csrf")) {
		h.logger.Warn("web form refused: CSRF check failed", "approval_id", id, "user", u.Name)
		h.message(w, http.StatusForbidden, message{Heading: "Please try again from Signoff's page", Result: "forbidden",
			Message: "This form could not be checked (it did not come from Signoff's page, or you signed in again since). Nothing was done.",
			Nav:     h.nav(ss, u), ViewURL: "/approvals/" + id})
		return ss, nil, nil, "", false
	}
	attempt = r.PostFormValue("attempt")
	if !attemptPattern.MatchString(attempt) {
		attempt = randomString()
	}
	ctx, cancel := h.callContext(r.Context())
	defer cancel()
	st, err := h.load(ctx, id)
	if err == nil && !access.CanReadFor(st, u, h.standsIn(ctx, u.Name)) {
		err = approvalstore.ErrNotFound
	}
	if err != nil {
		h.loadError(w, err)
		return ss, nil, nil, "", false
	}
	return ss, u, st, attempt, true
}

// webDecide approves or rejects as the signed-in person. The workflow
// judges it as any other decision (the one decision pipeline); the page
// only reads the form.
func (h *Handler) webDecide(w http.ResponseWriter, r *http.Request) {
	ss, u, st, attempt, ok := h.form(w, r)
	if !ok {
		return
	}
	var d approval.Decision
	switch r.PostFormValue("decision") {
	case "approve":
		d = approval.DecisionApprove
	case "reject":
		d = approval.DecisionReject
	default:
		h.message(w, http.StatusBadRequest, message{Heading: "Choose Approve or Reject", Result: "invalid",
			Message: "Nothing was decided.", Nav: h.nav(ss, u), ViewURL: "/approvals/" + st.ID})
		return
	}
	comment := strings.TrimSpace(r.PostFormValue("comment"))
	values, formErr := formValues(st.Request.Input, d, r.PostFormValue("option"), r)
	b := ballot.Ballot{
		ApprovalID: st.ID, AttemptID: ChannelWeb + ":" + intake.ApprovalID(u.Name, attempt), Person: u, IdentifiedBy: ss.identifiedBy(),
		Channel: ChannelWeb, Decision: d, Comment: comment, Values: values, SeenHash: r.PostFormValue("request_hash"),
		OnBehalfOf: r.PostFormValue("on_behalf_of"),
	}
	if v := strings.TrimSpace(r.PostFormValue("duration")); v != "" && d == approval.DecisionApprove && formErr == "" {
		// Approving a grant for less time than asked; the judge checks it.
		var pd policy.Duration
		if err := pd.UnmarshalText([]byte(v)); err != nil || pd <= 0 {
			formErr = "Give a shorter duration such as 30m or 1h, or leave it empty to approve the time asked for."
		}
		b.Duration = pd.Std()
	}
	if formErr == "" {
		if err := ballot.CheckForm(b, st); err != nil {
			formErr = wording.Sentence(err.Error())
		}
	}
	if formErr != "" {
		h.message(w, http.StatusUnprocessableEntity, message{Heading: "Nothing was decided", Result: "invalid", Reason: formErr,
			Message: "Go back to the approval, correct the form and send it again.", Nav: h.nav(ss, u), ViewURL: "/approvals/" + st.ID})
		return
	}
	ctx, cancel := h.callContext(r.Context())
	defer cancel()
	v := h.ballots().Cast(ctx, b)
	if v.Outcome != ballot.Accepted && h.refusedOrFailed(w, ss, u, st, "decision", v.Err) {
		return
	}
	h.logger.Info("web decision accepted", "approval_id", st.ID, "user", u.Name, "decision", string(d))
	done := "approved"
	if d == approval.DecisionReject {
		done = "rejected"
	}
	http.Redirect(w, r, "/approvals/"+st.ID+"?done="+done, http.StatusSeeOther)
}

// reason reads a cancel or break-glass form's reason.
func (h *Handler) reason(w http.ResponseWriter, r *http.Request, ss session, u *identity.User, st *approval.State, required bool) (string, bool) {
	reason := strings.TrimSpace(r.PostFormValue("reason"))
	if ballot.CheckText("reason", reason, ballot.MaxComment) != nil || (required && reason == "") {
		h.message(w, http.StatusUnprocessableEntity, message{Heading: "Nothing was done", Result: "invalid",
			Reason: fmt.Sprintf("Give a reason of at most %d characters.", ballot.MaxComment), Nav: h.nav(ss, u), ViewURL: "/approvals/" + st.ID})
		return "", false
	}
	return reason, true
}

// refusedOrFailed answers an attempt the workflow refused or could not
// take; false when err is nil.
func (h *Handler) refusedOrFailed(w http.ResponseWriter, ss session, u *identity.User, st *approval.State, what string, err error) bool {
	if err == nil {
		return false
	}
	if ref, refused := refusalOf(err); refused {
		h.logger.Info("web "+what+" refused", "approval_id", st.ID, "user", u.Name, "code", string(ref.Code), "reason", ref.Message)
		h.message(w, refusalStatus(ref.Code), message{Heading: "Your " + what + " was not accepted", Result: "refused",
			Reason: ref.Message, Message: "Signoff recorded the attempt in the audit trail, but it does not count.",
			Summary: summarize(st), ViewURL: "/approvals/" + st.ID, Nav: h.nav(ss, u)})
		return true
	}
	h.loadError(w, fmt.Errorf("%s on approval %s: %w", what, st.ID, err))
	return true
}

// operation is one of the requester's or an admin's operations on an
// approval's page: its name in messages and logs, whether it needs a
// reason, the done message it redirects to, and the stamped update.
type operation struct {
	name, done     string
	reasonRequired bool
	// level of its log line: break-glass is for people to look at.
	level slog.Level
	send  func(ctx context.Context, h *Handler, st *approval.State, u *identity.User, attemptID, reason string) error
}

var (
	cancelOp = operation{name: "cancellation", done: "cancelled",
		send: func(ctx context.Context, h *Handler, st *approval.State, u *identity.User, attemptID, reason string) error {
			_, err := h.approvals.Cancel(ctx, st.ID, workflows.Stamp(h.proofs, st.ID, workflows.CancelRequest{
				AttemptID: workflows.UpdateCancel + ":" + attemptID, User: u.Name, Admin: u.Admin, Reason: reason}, h.now()))
			return err
		}}
	// Break-glass: the requester proceeds without approval under a soft
	// policy, with a reason; approvers and security are told at once.
	bypassOp = operation{name: "break-glass", done: "bypassed", reasonRequired: true, level: slog.LevelWarn,
		send: func(ctx context.Context, h *Handler, st *approval.State, u *identity.User, attemptID, reason string) error {
			_, err := h.approvals.Bypass(ctx, st.ID, workflows.Stamp(h.proofs, st.ID, workflows.BypassRequest{
				AttemptID: workflows.UpdateBypass + ":" + attemptID, User: u.Name, Reason: reason}, h.now()))
			return err
		}}
	// Revoke: granted access ends now (the grantee or an admin).
	revokeOp = operation{name: "revoke", done: "revoked",
		send: func(ctx context.Context, h *Handler, st *approval.State, u *identity.User, attemptID, reason string) error {
			_, err := h.approvals.Revoke(ctx, st.ID, workflows.Stamp(h.proofs, st.ID, workflows.RevokeRequest{
				AttemptID: workflows.UpdateRevoke + ":" + attemptID, User: u.Name, Admin: u.Admin, Reason: reason}, h.now()))
			return err
		}}
)

// operate serves op's form: the workflow judges and records it.
func (h *Handler) operate(op operation) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ss, u, st, attempt, ok := h.form(w, r)
		if !ok {
			return
		}
		reason, ok := h.reason(w, r, ss, u, st, op.reasonRequired)
		if !ok {
			return
		}
		ctx, cancel := h.callContext(r.Context())
		defer cancel()
		err := op.send(ctx, h, st, u, intake.ApprovalID(u.Name, attempt), reason)
		if h.refusedOrFailed(w, ss, u, st, op.name, err) {
			return
		}
		h.logger.Log(ctx, op.level, "web "+op.name, "approval_id", st.ID, "user", u.Name)
		http.Redirect(w, r, "/approvals/"+st.ID+"?done="+op.done, http.StatusSeeOther)
	}
}
