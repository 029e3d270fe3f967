package web

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/signoff/signoff/approval"
	"github.com/signoff/signoff/config/identity"
	"github.com/signoff/signoff/intake"
	"github.com/signoff/signoff/policy"
	"github.com/signoff/signoff/store/approvalstore"
)

// Bounds of the extension form, as the API's.
const (
	maxJustification  = 4000
	maxExtendDuration = 90 * 24 * time.Hour
)

// durationChoice is one duration the extension form offers.
type durationChoice struct {
	Value, Label string
	Selected     bool
}

// extendable: the viewer is the grantee of access granted now, not being
// revoked, not past its end, that is not itself an extension. The
// gateway and the workflow judge the request again; this only chooses
// whether the form is shown.
func (h *Handler) extendable(st *approval.State, u *identity.User) bool {
	g := st.Grant
	return h.extend != nil && st.Status == approval.StatusGranted && g != nil && st.Requester == u.Name &&
		st.Request.Extends == "" && g.RevokeRequestedAt.IsZero() && g.RevokeFailures == 0 && h.now().Before(g.RevokeAt)
}

// standardDurations are what the form offers, up to the policy's
// max_duration.
var standardDurations = []time.Duration{15 * time.Minute, 30 * time.Minute, time.Hour, 2 * time.Hour, 4 * time.Hour,
	8 * time.Hour, 12 * time.Hour, 24 * time.Hour, 48 * time.Hour, 7 * 24 * time.Hour}

// durationChoices are the standard durations within most, the policy's
// max_duration (all when the snapshot has none), and most itself; an hour
// (or the nearest below) is chosen.
func durationChoices(most time.Duration) []durationChoice {
	var ds []time.Duration
	for _, d := range standardDurations {
		if most <= 0 || d <= most {
			ds = append(ds, d)
		}
	}
	if most > 0 && most <= maxExtendDuration && (len(ds) == 0 || ds[len(ds)-1] != most) {
		ds = append(ds, most)
	}
	out := make([]durationChoice, len(ds))
	chosen := 0
	for i, d := range ds {
		out[i] = durationChoice{Value: durationValue(d), Label: durationLabel(d)}
		if d <= time.Hour {
			chosen = i
		}
	}
	if len(out) > 0 {
		out[chosen].Selected = true
	}
	return out
}

// durationValue writes d as the API reads it: "1d", "2h", "1h30m", "45m".
func durationValue(d time.Duration) string {
	if d >= 24*time.Hour && d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	}
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// durationLabel is how the form says d: "15 minutes", "1 hour", "2 days".
func durationLabel(d time.Duration) string {
	plural := func(n int64, unit string) string {
		if n == 1 {
			return "1 " + unit
		}
		return fmt.Sprintf("%d %ss", n, unit)
	}
	switch {
	case d >= 24*time.Hour && d%(24*time.Hour) == 0:
		return plural(int64(d/(24*time.Hour)), "day")
	case d >= time.Hour && d%time.Hour == 0:
		return plural(int64(d/time.Hour), "hour")
	case d%time.Minute == 0:
		return plural(int64(d/time.Minute), "minute")
	}
	return durationValue(d)
}

// webExtend serves "Ask for more time": the signed-in grantee asks for an
// extension, which starts an approval of its own under the grant's
// policy; they are sent to its page. The form's attempt makes a form sent
// twice start one approval.
func (h *Handler) webExtend(w http.ResponseWriter, r *http.Request) {
	ss, u, st, attempt, ok := h.form(w, r)
	if !ok {
		return
	}
	back := "/approvals/" + st.ID
	if h.extend == nil {
		h.message(w, http.StatusNotFound, message{Heading: "Asking for more time is not available here", Result: "unavailable",
			Message: "Nothing was asked. Use the signoff extend command or the API instead.", Nav: h.nav(ss, u), ViewURL: back})
		return
	}
	var v policy.Duration
	err := v.UnmarshalText([]byte(strings.TrimSpace(r.PostFormValue("duration"))))
	justification := strings.TrimSpace(r.PostFormValue("justification"))
	formErr := ""
	switch {
	case err != nil || v <= 0 || v.Std() > maxExtendDuration:
		formErr = "Choose how much more time you need (such as 30m, 2h or 1d)."
	case !utf8.ValidString(justification) || utf8.RuneCountInString(justification) > maxJustification:
		formErr = fmt.Sprintf("The justification must be valid text of at most %d characters.", maxJustification)
	}
	if formErr != "" {
		h.message(w, http.StatusUnprocessableEntity, message{Heading: "Nothing was asked", Result: "invalid", Reason: formErr,
			Message: "Go back to the approval, correct the form and send it again.", Nav: h.nav(ss, u), ViewURL: back})
		return
	}
	ctx, cancel := h.callContext(r.Context())
	defer cancel()
	ext, err := h.extend(ctx, u, st.ID, v.Std(), justification, "web:extend:"+attempt)
	if err != nil {
		h.extendRefused(w, ss, u, st, err)
		return
	}
	h.logger.Info("web extension asked", "approval_id", ext.ID, "extends", st.ID, "user", u.Name, "duration", v.Std().String())
	http.Redirect(w, r, "/approvals/"+ext.ID+"?done=extend_asked", http.StatusSeeOther)
}

// extendRefused says why no extension was asked.
func (h *Handler) extendRefused(w http.ResponseWriter, ss session, u *identity.User, st *approval.State, err error) {
	refused := func(code int, sentinel error) {
		reason := strings.TrimPrefix(err.Error(), sentinel.Error()+": ")
		h.logger.Info("web extension refused", "approval_id", st.ID, "user", u.Name, "reason", reason)
		h.message(w, code, message{Heading: "Your request for more time was not accepted", Result: "refused", Reason: reason,
			Message: "Nothing was asked; your access ends as planned.", Summary: summarize(st), ViewURL: "/approvals/" + st.ID, Nav: h.nav(ss, u)})
	}
	switch {
	case errors.Is(err, intake.ErrDenied):
		refused(http.StatusForbidden, intake.ErrDenied)
	case errors.Is(err, intake.ErrInvalid):
		refused(http.StatusUnprocessableEntity, intake.ErrInvalid)
	case errors.Is(err, intake.ErrConflict):
		refused(http.StatusConflict, intake.ErrConflict)
	case errors.Is(err, intake.ErrUnavailable):
		h.logger.Warn("web extension unavailable", "approval_id", st.ID, "user", u.Name, "err", err)
		h.message(w, http.StatusServiceUnavailable, message{Heading: "Signoff is busy", Result: "unavailable",
			Message: "The policy's approver groups could not be read right now: nothing was asked. Try again later.",
			Nav:     h.nav(ss, u), ViewURL: "/approvals/" + st.ID})
	case errors.Is(err, approvalstore.ErrNotFound), errors.Is(err, approvalstore.ErrUnavailable):
		h.loadError(w, err)
	default:
		h.loadError(w, fmt.Errorf("extend grant %s: %w", st.ID, err))
	}
}
