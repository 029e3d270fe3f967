package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/signoff/signoff/approval"
	"github.com/signoff/signoff/config/identity"
	"github.com/signoff/signoff/intake"
	"github.com/signoff/signoff/secretchange"
)

// SecretProposal is a proposed change of one secret, with its values: only
// in memory, never rendered, logged or put in an error.
type SecretProposal struct {
	Target, Secret, Environment       string
	Title, Description, Justification string
	Edits                             []secretchange.Edit
}

// ProposeSecretFunc stages, as user, the values of p (sealed, in the
// target store) and starts the approval of its redacted diff, once per
// requestID (the gateway's Service.ProposeSecret). Its refusals are
// *Refused; any other error is an outage or a bug.
type ProposeSecretFunc func(ctx context.Context, user *identity.User, requestID string, p SecretProposal) (*approval.State, error)

// SecretTarget is one configured store a change may name, with the
// secrets (path.Match patterns) that may be changed there.
type SecretTarget struct {
	Name    string
	Secrets []string
}

// Bounds of the proposal form: rows of keys, and the body, where each value
// may be percent-encoded to three times its size.
const (
	secretRows    = 10
	maxSecretForm = 3*secretRows*secretchange.MaxValueBytes + maxFormBody
)

// secretFormData is the proposal form. It never holds a value: a form sent
// back after a refusal keeps everything but the values.
type secretFormData struct {
	PageTitle string
	Nav       *nav
	CSRF      string
	Attempt   string
	Targets   []targetChoice
	Secret    string
	Env       string
	Title     string
	Justify   string
	Rows      []secretRow
	// Error says why the form came back; Result names it for tests and
	// tools (invalid, refused, unavailable).
	Error, Result string
}

type targetChoice struct {
	Name, Secrets string
	Selected      bool
}

// secretRow is one key of the form: its index and number (from 1), key
// and operation.
type secretRow struct {
	N, Num  int
	Key, Op string
}

var secretOps = []secretchange.Op{secretchange.OpSet, secretchange.OpRotate, secretchange.OpDelete}

// secretForm shows "Propose a secret change".
func (h *Handler) secretForm(w http.ResponseWriter, r *http.Request) {
	ss, u, ok := h.sessions.current(r)
	if !ok {
		http.Redirect(w, r, signinURL(r), http.StatusSeeOther)
		return
	}
	if !h.secretsOn(w, ss, u) {
		return
	}
	h.renderSecretForm(w, http.StatusOK, ss, u, SecretProposal{}, nil, randomString(), "", "")
}

// secretsOn answers, when secret changes cannot be proposed here, that
// they cannot.
func (h *Handler) secretsOn(w http.ResponseWriter, ss session, u *identity.User) bool {
	if h.propose != nil {
		return true
	}
	h.message(w, http.StatusNotFound, message{Heading: "Secret changes are not available here", Result: "unavailable",
		Message: "Nothing was proposed. Use the signoff secret-change command or the API instead.", Nav: h.nav(ss, u)})
	return false
}

// targets are the stores the form offers.
func (h *Handler) targets() []SecretTarget {
	if h.secretTargets == nil {
		return nil
	}
	return h.secretTargets()
}

// renderSecretForm shows the form with what p had, except its values.
func (h *Handler) renderSecretForm(w http.ResponseWriter, code int, ss session, u *identity.User, p SecretProposal, rows []secretRow,
	attempt, formErr, result string) {
	d := &secretFormData{PageTitle: "Propose a secret change", Nav: h.nav(ss, u), CSRF: h.sessions.csrf(ss), Attempt: attempt,
		Secret: p.Secret, Env: p.Environment, Title: p.Title, Justify: p.Justification, Error: formErr, Result: result}
	targets := h.targets()
	for _, t := range targets {
		d.Targets = append(d.Targets, targetChoice{Name: t.Name, Secrets: strings.Join(t.Secrets, ", "),
			Selected: t.Name == p.Target || len(targets) == 1})
	}
	for i := range secretRows {
		row := secretRow{N: i, Num: i + 1, Op: string(secretchange.OpSet)}
		if i < len(rows) {
			row.Key, row.Op = rows[i].Key, rows[i].Op
		}
		d.Rows = append(d.Rows, row)
	}
	h.render(w, code, "secretchange", d)
}

// webProposeSecret serves the form: the values go, with the rest, to the
// gateway's proposal (as the API's), which stages them sealed and starts
// the approval of the diff; the proposer lands on its page. The form's
// attempt makes a form sent twice propose once. Values are read from the
// body alone and never rendered, logged or put in an error: a refused
// form comes back without them.
func (h *Handler) webProposeSecret(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxSecretForm)
	ss, u, ok := h.sessions.current(r)
	if !ok {
		http.Redirect(w, r, "/signin?next=%2Fsecret-changes%2Fnew", http.StatusSeeOther)
		return
	}
	if err := r.ParseForm(); err != nil {
		h.message(w, http.StatusBadRequest, message{Heading: "The form could not be read", Result: "invalid",
			Message: "Nothing was proposed. A value may be longer than allowed.", Nav: h.nav(ss, u), ViewURL: "/secret-changes/new"})
		return
	}
	if !h.sameOrigin(r) || !h.sessions.checkCSRF(ss, r.PostFormValue("csrf")) {
		h.logger.Warn("web form refused: CSRF check failed", "form", "secret change", "user", u.Name)
		h.message(w, http.StatusForbidden, message{Heading: "Please try again from Signoff's page", Result: "forbidden",
			Message: "This form could not be checked (it did not come from Signoff's page, or you signed in again since). Nothing was proposed.",
			Nav:     h.nav(ss, u), ViewURL: "/secret-changes/new"})
		return
	}
	if !h.secretsOn(w, ss, u) {
		return
	}
	attempt := r.PostFormValue("attempt")
	if !attemptPattern.MatchString(attempt) {
		attempt = randomString()
	}
	p := SecretProposal{
		Target: r.PostFormValue("target"), Secret: strings.TrimSpace(r.PostFormValue("secret")),
		Environment: strings.TrimSpace(r.PostFormValue("environment")), Title: strings.TrimSpace(r.PostFormValue("title")),
		Justification: strings.TrimSpace(r.PostFormValue("justification")),
	}
	rows, formErr := readSecretRows(r, &p)
	if formErr != "" {
		h.renderSecretForm(w, http.StatusUnprocessableEntity, ss, u, p, rows, attempt, formErr, "invalid")
		return
	}
	ctx, cancel := h.callContext(r.Context())
	defer cancel()
	st, err := h.propose(ctx, u, "web:secret:"+attempt, p)
	var refused *Refused
	switch {
	case errors.As(err, &refused):
		h.logger.Info("web secret change refused", "user", u.Name, "target", p.Target, "secret", p.Secret, "reason", refused.Reason)
		result := "refused"
		if refused.Code == http.StatusServiceUnavailable {
			result = "unavailable"
		}
		h.renderSecretForm(w, refused.Code, ss, u, p, rows, attempt, refused.Reason, result)
		return
	case err != nil:
		// Not the error itself: the page says only that nothing was done.
		h.logger.Error("web secret change failed", "user", u.Name, "target", p.Target, "secret", p.Secret, "err", err)
		h.renderSecretForm(w, http.StatusInternalServerError, ss, u, p, rows, attempt,
			"Something went wrong: nothing was proposed. Send the form again (with the values), or try later.", "error")
		return
	}
	h.logger.Info("web secret change proposed", "approval_id", st.ID, "user", u.Name, "target", p.Target, "secret", p.Secret,
		"keys", len(p.Edits))
	http.Redirect(w, r, "/approvals/"+st.ID+"?done=secret_proposed", http.StatusSeeOther)
}

// readSecretRows reads the form's keys into p.Edits: a row with neither key
// nor value is left out. The rows it returns (for a form sent back) hold
// no value; nor does its error.
func readSecretRows(r *http.Request, p *SecretProposal) ([]secretRow, string) {
	var rows []secretRow
	formErr := ""
	for i := range secretRows {
		n := strconv.Itoa(i)
		key := strings.TrimSpace(r.PostFormValue("key" + n))
		op := r.PostFormValue("op" + n)
		value := r.PostFormValue("value" + n)
		if !slices.Contains(secretOps, secretchange.Op(op)) {
			op = string(secretchange.OpSet)
		}
		rows = append(rows, secretRow{N: i, Key: key, Op: op})
		if key == "" {
			if value != "" && formErr == "" {
				formErr = fmt.Sprintf("Row %d has a value but no key: give its key, or leave the row empty.", i+1)
			}
			continue
		}
		p.Edits = append(p.Edits, secretchange.Edit{Key: key, Op: secretchange.Op(op), Value: value})
	}
	if formErr == "" && len(p.Edits) == 0 {
		formErr = "Give at least one key to set, rotate or delete."
	}
	return rows, formErr
}

// secretView is a secret change's redacted diff, as approvers see it.
type secretView struct {
	Target, Secret, BaseVersion string
	Keys                        []secretKeyView
}

type secretKeyView struct {
	Key, Op, Kind string
	Old, New      fingerprintView
}

// fingerprintView is one side of a key's change: empty when there is no
// value (an added key's old side, a removed key's new side).
type fingerprintView struct {
	Hash   string
	Length int
}

func secretViewOf(c *secretchange.Change) *secretView {
	if c == nil {
		return nil
	}
	v := &secretView{Target: c.Target, Secret: c.Secret, BaseVersion: c.BaseVersion}
	for _, k := range c.Keys {
		v.Keys = append(v.Keys, secretKeyView{Key: k.Key, Op: string(k.Op), Kind: k.Kind,
			Old: fingerprintView{Hash: k.Old.Hash, Length: k.Old.Length}, New: fingerprintView{Hash: k.New.Hash, Length: k.New.Length}})
	}
	return v
}

// secretFieldsOf are the request fields that only repeat a secret change's
// diff in words (intake.SecretFields), which the pages show as a table.
func secretFieldsOf(st *approval.State) map[string]string {
	if st.Request.Secret == nil {
		return nil
	}
	return intake.SecretFields(st.Request.Secret)
}
