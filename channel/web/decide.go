package web

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/signoff/signoff/approval"
	"github.com/signoff/signoff/channel/ballot"
	"github.com/signoff/signoff/channel/email/linktoken"
	"github.com/signoff/signoff/channel/wording"
	"github.com/signoff/signoff/store/approvalstore"
)

// Form limits, as the API's.
const (
	maxFormBody = 64 << 10
)

// RefusedUnknownUser is recorded when a link's approver is no longer in
// the directory.
const RefusedUnknownUser = "the link's approver is no longer a configured user"

// confirmPage is the data of the confirmation page.
type confirmPage struct {
	PageTitle       string
	Heading         string
	Decider         string
	Summary         *summary
	Action          string
	CSRF            string
	RequestHash     string
	Prompt          string
	Choices         []choiceView
	TextInput       bool
	Text            string
	CommentRequired bool
	Comment         string
	Button          string
	Style           string
	Error           string
	ViewURL         string
	Nav             *nav
}

type choiceView struct {
	Label, Value string
	Checked      bool
}

// confirm shows what the link would decide. It only reads: it never
// decides, whoever fetches it.
func (h *Handler) confirm(w http.ResponseWriter, r *http.Request) {
	token := r.PathValue("token")
	c, ok := h.verifyDecide(w, token)
	if !ok {
		return
	}
	ctx, cancel := h.callContext(r.Context())
	defer cancel()
	st, err := h.load(ctx, c.Approval)
	if err != nil {
		h.loadError(w, err)
		return
	}
	h.setSession(w, c)
	if h.precheck(w, c, st) {
		return
	}
	// Reuse the browser's CSRF cookie for this link when it sent one (two
	// tabs of one link keep working); a cross-site navigation from a
	// webmail never sends it (SameSite=Strict), so then a new one is set.
	cookie := ""
	if ck, err := r.Cookie(csrfCookie); err == nil && len(ck.Value) >= 32 {
		cookie = ck.Value
	} else {
		cookie = randomString()
	}
	http.SetCookie(w, &http.Cookie{
		Name: csrfCookie, Value: cookie, Path: "/d/" + token, MaxAge: 3600,
		HttpOnly: true, Secure: h.secure, SameSite: http.SameSiteStrictMode,
	})
	h.render(w, http.StatusOK, "confirm", h.confirmData(token, c, st, cookie))
}

func (h *Handler) confirmData(token string, c linktoken.Claims, st *approval.State, cookie string) *confirmPage {
	p := &confirmPage{
		Decider: c.User, Summary: summarize(st), Action: "/d/" + token, CSRF: h.keys.CSRF(c.ID, cookie),
		RequestHash: st.RequestHash, Prompt: st.Request.Input.Prompt, ViewURL: "/approvals/" + st.ID,
	}
	switch c.Decision {
	case approval.DecisionApprove:
		p.Heading, p.Button, p.Style = "Approve this request?", "Approve", "primary"
		p.CommentRequired = st.Policy.RequireComment.Approve
	default:
		p.Heading, p.Button, p.Style = "Reject this request?", "Reject", "danger"
		p.CommentRequired = st.Policy.RequireComment.Reject
	}
	in := st.Request.Input
	switch in.Type {
	case approval.InputButton, approval.InputSelect:
		if o, ok := in.Option(c.Option); ok {
			p.Heading = fmt.Sprintf("Choose %q?", o.Label)
			p.Button = "Confirm: " + o.Label
		}
	case approval.InputMultiselect:
		for _, o := range in.Options {
			p.Choices = append(p.Choices, choiceView{Label: o.Label, Value: o.Value})
		}
	case approval.InputText:
		p.TextInput = true
	}
	p.PageTitle = p.Heading
	return p
}

// decide records the decision the link stands for, as the link's approver,
// once the confirmation form comes back with a valid CSRF token.
func (h *Handler) decide(w http.ResponseWriter, r *http.Request) {
	token := r.PathValue("token")
	c, ok := h.verifyDecide(w, token)
	if !ok {
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBody)
	if err := r.ParseForm(); err != nil {
		h.message(w, http.StatusBadRequest, message{Heading: "The form could not be read", Result: "invalid",
			Message: "Nothing was decided. Open the link from the email again."})
		return
	}
	ck, _ := r.Cookie(csrfCookie)
	if !h.sameOrigin(r) || ck == nil || !h.keys.CheckCSRF(c.ID, ck.Value, r.PostFormValue("csrf")) {
		h.logger.Warn("email decision refused: CSRF check failed", "approval_id", c.Approval, "user", c.User)
		h.message(w, http.StatusForbidden, message{Heading: "Please confirm again", Result: "forbidden",
			Message: "This confirmation could not be checked (it expired, or it was not sent from Signoff's page). " +
				"Nothing was decided. Open the link from the email again and confirm there."})
		return
	}
	ctx, cancel := h.callContext(r.Context())
	defer cancel()
	st, err := h.load(ctx, c.Approval)
	if err != nil {
		h.loadError(w, err)
		return
	}
	if h.precheck(w, c, st) {
		return
	}
	comment := strings.TrimSpace(r.PostFormValue("comment"))
	values, formErr := h.values(st, c, r)
	// The decision is bound to the content the confirmation page showed;
	// the workflow refuses it if the request changed since.
	seen := r.PostFormValue("request_hash")
	if c.RequestHash != "" && !strings.HasPrefix(seen, c.RequestHash) {
		seen = "" // not the content the email was about
	}
	b := ballot.Ballot{
		ApprovalID: c.Approval, AttemptID: c.AttemptID(), Name: c.User, IdentifiedBy: "signed email link", Channel: ChannelEmail,
		Decision: c.Decision, Comment: comment, Values: values, SeenHash: seen,
	}
	if u, ok := h.dir().Lookup(c.User); ok {
		b.Person = u
	} else {
		b.Refusal = RefusedUnknownUser
	}
	if formErr == "" {
		if err := ballot.CheckForm(b, st); err != nil {
			formErr = wording.Sentence(err.Error())
		}
	}
	if formErr != "" {
		// Nothing is sent: the link stays usable once the form is right.
		p := h.confirmData(token, c, st, ck.Value)
		p.Error, p.Comment = formErr, comment
		p.Text = r.PostFormValue("text")
		for i := range p.Choices {
			p.Choices[i].Checked = slices.Contains(values, p.Choices[i].Value)
		}
		h.render(w, http.StatusUnprocessableEntity, "confirm", p)
		return
	}
	// Cast waits for the workflow's judgement, so the person hears at
	// once whether it counted. The attempt ID makes a repeat count once.
	v := h.ballots().Cast(ctx, b)
	switch v.Outcome {
	case ballot.Refused, ballot.Closed:
		ref := v.Refusal
		h.logger.Info("email decision refused", "approval_id", c.Approval, "user", c.User, "decision", c.Decision,
			"code", string(ref.Code), "reason", ref.Message)
		h.message(w, refusalStatus(ref.Code), message{Heading: "Your decision was not accepted", Result: "refused", Reason: ref.Message,
			Message: "Signoff recorded the attempt in the audit trail, but it does not count.",
			Summary: summarize(st), ViewURL: "/approvals/" + c.Approval})
	case ballot.Accepted:
		h.logger.Info("email decision accepted", "approval_id", c.Approval, "user", c.User, "decision", c.Decision)
		after := v.Approval
		if after == nil {
			after = st
		}
		verb := "approval"
		if c.Decision == approval.DecisionReject {
			verb = "rejection"
		}
		msg := "Thank you. "
		switch {
		case after.Status == approval.StatusPending:
			msg += "The request is still pending: " + wording.ProgressInFull(after, wording.Plain) + "."
		default:
			msg += "The request is now " + strings.ToLower(string(after.Status)) + "."
		}
		h.message(w, http.StatusOK, message{Heading: "Your " + verb + " was recorded", Result: "accepted", Tone: "ok",
			Message: msg, Summary: summarize(after), ViewURL: "/approvals/" + c.Approval})
	default:
		h.loadError(w, fmt.Errorf("decide approval %s: %w", c.Approval, v.Err))
	}
}

// values are the chosen option values: the link's own option for buttons
// and selects, the ticked boxes for multiselect, the answer for text.
func (h *Handler) values(st *approval.State, c linktoken.Claims, r *http.Request) ([]string, string) {
	return formValues(st.Request.Input, c.Decision, c.Option, r)
}

// formValues reads a decision form's answer to the request's input:
// option is the one chosen for buttons and selects (the link's, or the
// form's radio button), the ticked boxes for multiselect, the text box
// for text. The message is for the person when the answer is not valid.
func formValues(in approval.Input, d approval.Decision, option string, r *http.Request) ([]string, string) {
	return in.Answer(d, option, r.PostForm["value"], strings.TrimSpace(r.PostFormValue("text")))
}

// verifyDecide checks a decision link; on failure it has answered.
func (h *Handler) verifyDecide(w http.ResponseWriter, token string) (linktoken.Claims, bool) {
	c, err := h.keys.Verify(token, h.now())
	if err == nil && c.Purpose != linktoken.PurposeDecide {
		err = linktoken.ErrMalformed
	}
	if err != nil {
		h.logger.Info("email link refused", "reason", err.Error(), "approval_id", c.Approval)
		h.tokenError(w, err)
		return c, false
	}
	return c, true
}

// precheck answers for links that can no longer decide: used, the
// approval finished, or the request changed since the email.
func (h *Handler) precheck(w http.ResponseWriter, c linktoken.Claims, st *approval.State) bool {
	view := "/approvals/" + st.ID
	if prev, ok := st.Find(c.AttemptID()); ok {
		outcome := "It was accepted."
		reason := ""
		if !prev.Accepted {
			outcome = "It was not accepted."
			reason = prev.RefusalReason
		}
		h.message(w, http.StatusConflict, message{Heading: "This link was already used", Result: "used", Tone: "info",
			Message: fmt.Sprintf("It recorded %s's decision (%s) at %s. %s Each link decides once.",
				prev.User, prev.Decision, formatTime(prev.Time), outcome),
			Reason: reason, Summary: summarize(st), ViewURL: view})
		return true
	}
	if st.Status.Final() {
		h.message(w, http.StatusConflict, message{Heading: "This approval is no longer pending", Result: "closed", Tone: "info",
			Message: "It is " + strings.ToLower(string(st.Status)) + ": there is nothing left to decide.",
			Summary: summarize(st), ViewURL: view})
		return true
	}
	if c.RequestHash != "" && c.RequestHash != linktoken.ShortRequestHash(st.RequestHash) {
		h.message(w, http.StatusConflict, message{Heading: "The request changed after this email was sent", Result: "changed",
			Message: "The requester amended it, so this link no longer applies. Nothing was decided. " +
				"Use the newest email about this request.",
			Summary: summarize(st), ViewURL: view})
		return true
	}
	return false
}

// loadError explains why an approval could not be read or decided.
func (h *Handler) loadError(w http.ResponseWriter, err error) {
	var tooMany *approvalstore.TooMany
	switch {
	case errors.As(err, &tooMany):
		// The person's budget on this approval is spent (approvalstore.Budget).
		w.Header().Set("Retry-After", strconv.Itoa(tooMany.Seconds()))
		h.message(w, http.StatusTooManyRequests, message{Heading: "Too many attempts", Result: "too_many",
			Message: wording.TooMany(tooMany.RetryAfter)})
	case errors.Is(err, approvalstore.ErrNotFound):
		h.message(w, http.StatusNotFound, message{Heading: "Approval not found", Result: "not_found",
			Message: "This approval does not exist, or its history was deleted after retention."})
	case errors.Is(err, approvalstore.ErrUnavailable):
		h.message(w, http.StatusServiceUnavailable, message{Heading: "Signoff is busy", Result: "unavailable",
			Message: "No worker answered in time. If you confirmed a decision it may still be recorded: " +
				"open the link again in a few minutes to see."})
	default:
		h.logger.Error("email page: approvals call failed", "err", err)
		h.message(w, http.StatusInternalServerError, message{Heading: "Something went wrong", Result: "error",
			Message: "Nothing was decided. Try again later."})
	}
}
