// Package callbacks is the gateway's Microsoft Teams bot endpoint: it
// verifies every activity Teams sends (a Bot Framework JWT, the tenant,
// the Bot Connector it names), ties the clicker to a configured person by
// their Entra object ID or, through the Bot Connector's members API, their
// email, and hands Approve/Reject clicks to the workflow's judge as any
// other decision. The clicker's card is answered with the approval as it
// stands, which is how Universal Actions refresh a card.
package callbacks

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/signoff/signoff/approval"
	"github.com/signoff/signoff/approval/access"
	"github.com/signoff/signoff/auth/proof"
	"github.com/signoff/signoff/channel/ballot"
	"github.com/signoff/signoff/channel/teams/botauth"
	"github.com/signoff/signoff/channel/teams/teamsmsg"
	"github.com/signoff/signoff/channel/wording"
	"github.com/signoff/signoff/config"
	"github.com/signoff/signoff/config/identity"
	"github.com/signoff/signoff/store/approvalstore"
	"github.com/signoff/signoff/store/peoplestore"
)

// PathMessages is the bot's messaging endpoint.
const PathMessages = "/teams/messages"

// Channel is the decisions' channel in the audit trail.
const Channel = "teams"

// Refusal reasons of the Teams endpoint, shown to the clicker and kept in
// the audit trail.
const (
	RefusedUnknownUser  = "your Teams account is not linked to a Signoff user (teams_id or email)"
	RefusedUnverifiable = "your Teams account could not be verified right now: try again"
	RefusedMismatch     = "your Teams account does not match the Signoff user with this email"
	RefusedGuest        = "guest accounts may not decide"
)

// Limits of what is read.
const (
	maxBody = 256 << 10
)

// Verifier checks an inbound activity's Bot Framework token.
type Verifier interface {
	Verify(ctx context.Context, authorization, channelID, serviceURL string) (botauth.Claims, error)
}

// Options build a Handler.
type Options struct {
	// Config and Directory are read per request, so a reloaded config
	// applies.
	Config    func() config.Teams
	Directory func() *identity.Directory
	Verifier  Verifier
	// Connector reads members (email, UPN) for people mapped by email;
	// nil maps by Entra object ID only.
	Connector *teamsmsg.Connector
	Approvals approvalstore.Approvals
	Proofs    *proof.Keyring
	// People has the delegations in force; nil: nobody decides for anyone.
	People peoplestore.Store
	// Memberships are the outside groups people are in now; nil: none.
	Memberships func(ctx context.Context, users ...string) map[string][]string
	PublicURL   string
	Logger      *slog.Logger
	// DecideTimeout bounds waiting for the workflow's judgement (default
	// 10 s). A decision that takes longer still counts once recorded; the
	// clicker is told it was sent, and the card shows it on refresh.
	DecideTimeout time.Duration
	Now           func() time.Time
}

// Handler serves the bot's messaging endpoint.
type Handler struct {
	o       Options
	ballots *ballot.Box
	render  teamsmsg.Render
	logger  *slog.Logger
}

// New returns a Handler.
func New(o Options) (*Handler, error) {
	if o.Config == nil || o.Directory == nil || o.Verifier == nil || o.Approvals == nil || o.Proofs == nil {
		return nil, errors.New("teams endpoint: config, directory, verifier, approvals and proofs are required")
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.DecideTimeout <= 0 {
		o.DecideTimeout = 10 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	logger := o.Logger.With("component", "teams")
	ballots := &ballot.Box{Approvals: o.Approvals, Proofs: o.Proofs, People: o.People, Memberships: o.Memberships, Now: o.Now, Logger: logger}
	return &Handler{o: o, ballots: ballots, render: teamsmsg.Render{PublicURL: o.PublicURL}, logger: logger}, nil
}

// ServeHTTP takes one activity. Nothing is read from it before its token
// is verified, beyond what the verification itself needs.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		http.Error(w, "activity too large", http.StatusRequestEntityTooLarge)
		return
	}
	var a teamsmsg.Activity
	if err := json.Unmarshal(body, &a); err != nil {
		http.Error(w, "malformed activity", http.StatusBadRequest)
		return
	}
	cfg := h.o.Config()
	if _, err := h.o.Verifier.Verify(r.Context(), r.Header.Get("Authorization"), a.ChannelID, a.ServiceURL); err != nil {
		h.logger.WarnContext(r.Context(), "teams activity refused: token", "error", err, "remote", r.RemoteAddr)
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	switch {
	case a.ChannelID != teamsmsg.ChannelTeams:
		h.refuse(w, r, "channel "+a.ChannelID)
		return
	case a.TenantID() != cfg.TenantID:
		h.refuse(w, r, "tenant "+a.TenantID())
		return
	case !cfg.SameTeamsService(a.ServiceURL):
		h.refuse(w, r, "service URL "+a.ServiceURL)
		return
	}
	if a.Type != teamsmsg.TypeInvoke {
		// Messages, installs, conversation updates: nothing to do; Teams
		// wants a 200.
		w.WriteHeader(http.StatusOK)
		return
	}
	if a.Name != teamsmsg.NameAdaptiveCardAction {
		writeJSON(w, http.StatusOK, teamsmsg.InvokeResponse{StatusCode: http.StatusNotImplemented, Type: teamsmsg.ContentTypeError,
			Value: teamsmsg.ErrorValue{Code: "NotImplemented", Message: "Signoff handles Adaptive Card actions only"}})
		return
	}
	writeJSON(w, http.StatusOK, h.action(r.Context(), &a))
}

func (h *Handler) refuse(w http.ResponseWriter, r *http.Request, what string) {
	h.logger.WarnContext(r.Context(), "teams activity refused", "not_allowed", what)
	http.Error(w, "forbidden", http.StatusForbidden)
}

// click is what an Action.Execute carries.
type click struct {
	verb       string
	approvalID string
	seenHash   string
	option     string
	values     []string
	text       string
	comment    string
}

func parseClick(a *teamsmsg.Activity) (click, error) {
	var v teamsmsg.ActionInvokeValue
	if err := json.Unmarshal(a.Value, &v); err != nil {
		return click{}, fmt.Errorf("malformed action: %w", err)
	}
	if v.Action.Type != "Action.Execute" {
		return click{}, fmt.Errorf("action type %q: want Action.Execute", v.Action.Type)
	}
	var data map[string]any
	if len(v.Action.Data) > 0 {
		if err := json.Unmarshal(v.Action.Data, &data); err != nil {
			return click{}, fmt.Errorf("malformed action data: %w", err)
		}
	}
	str := func(k string) string {
		s, _ := data[k].(string)
		return strings.TrimSpace(s)
	}
	c := click{verb: v.Action.Verb, approvalID: str(teamsmsg.DataApprovalID), seenHash: str(teamsmsg.DataRequestHash),
		option: str(teamsmsg.DataOption), text: str(teamsmsg.DataText), comment: str(teamsmsg.DataComment)}
	// A multi-select ChoiceSet's value is its choices joined by commas.
	if s := str(teamsmsg.DataValues); s != "" {
		for _, p := range strings.Split(s, ",") {
			if p = strings.TrimSpace(p); p != "" {
				c.values = append(c.values, p)
			}
		}
	}
	if c.approvalID == "" || len(c.approvalID) > 200 {
		return click{}, errors.New("the action names no approval")
	}
	return c, nil
}

// action answers an adaptiveCard/action invoke: a decision, or a refresh.
func (h *Handler) action(ctx context.Context, a *teamsmsg.Activity) teamsmsg.InvokeResponse {
	c, err := parseClick(a)
	if err != nil {
		return errorResponse(http.StatusBadRequest, "BadRequest", err.Error())
	}
	log := h.logger.With("approval_id", c.approvalID, "verb", c.verb, "activity_id", a.ID)
	p := h.resolve(ctx, a)
	gctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	st, err := h.o.Approvals.Get(gctx, c.approvalID)
	cancel()
	if errors.Is(err, approvalstore.ErrNotFound) {
		return message(fmt.Sprintf("There is no approval %s.", c.approvalID))
	}
	if err != nil {
		log.ErrorContext(ctx, "teams: approval unreadable", "error", err)
		return errorResponse(http.StatusServiceUnavailable, "Unavailable", "Signoff cannot read this approval right now: try again.")
	}
	switch c.verb {
	case teamsmsg.VerbRefresh:
		return h.answer(ctx, p, st, "")
	case teamsmsg.VerbApprove, teamsmsg.VerbReject, teamsmsg.VerbOption:
		return h.decide(ctx, a, c, p, st, log)
	}
	return errorResponse(http.StatusBadRequest, "BadRequest", "unknown verb")
}

// decide delivers the click to the workflow's judge, refused clicks too
// (for the audit trail), and answers with the card as it stands.
func (h *Handler) decide(ctx context.Context, a *teamsmsg.Activity, c click, p person, st *approval.State, log *slog.Logger) teamsmsg.InvokeResponse {
	d, values, formErr := choice(st.Request.Input, c)
	if formErr != "" {
		return h.answer(ctx, p, st, "❌ Nothing was decided. "+formErr)
	}
	b := ballot.Ballot{
		ApprovalID: st.ID, AttemptID: attemptID(a, c), Name: p.name(a), Refusal: p.refusal, IdentifiedBy: p.identifiedBy(a),
		Channel: Channel, Decision: d, Values: values, Comment: c.comment, SeenHash: c.seenHash,
		// The workflow judges whether the card was posted in this
		// conversation: a card copied elsewhere does not decide.
		Place: &approval.Place{Notifier: config.NotifierTeams, Channel: conversationOf(a.Conversation), Revision: -1},
	}
	if p.user != nil && p.refusal == "" {
		b.Person = p.user
	}
	dctx, cancel := context.WithTimeout(ctx, h.o.DecideTimeout)
	defer cancel()
	v := h.ballots.Cast(dctx, b)
	switch v.Outcome {
	case ballot.Accepted:
		log.InfoContext(ctx, "teams decision accepted", "user", b.User(), "decision", string(d))
		after := v.Approval
		if after == nil {
			after = st
		}
		return h.answer(ctx, p, after, "✅ Counted: you "+wording.Verb(v.Attempt.Decision)+" this request.")
	case ballot.Invalid:
		return h.answer(ctx, p, st, "❌ Nothing was decided. "+wording.Sentence(v.Err.Error()))
	case ballot.Refused, ballot.Closed:
		log.InfoContext(ctx, "teams decision refused", "user", b.User(), "code", string(v.Refusal.Code), "reason", v.Refusal.Message)
		return h.answer(ctx, p, h.reread(ctx, st), "❌ Not counted: "+v.Refusal.Message+".")
	case ballot.TooMany:
		log.WarnContext(ctx, "teams decision refused: over the person's budget", "error", v.Err)
		return h.answer(ctx, p, st, "⏳ "+wording.TooMany(v.RetryAfter))
	case ballot.Unavailable:
		log.WarnContext(ctx, "teams decision delivered but not yet judged", "error", v.Err)
		return h.answer(ctx, p, st, "⏳ Your decision was sent; the approval has not recorded it yet. Refresh the card in a moment.")
	}
	log.ErrorContext(ctx, "teams decision not delivered", "error", v.Err)
	return errorResponse(http.StatusServiceUnavailable, "Unavailable", "Your decision could not be delivered: try again.")
}

// reread reads the approval again after a refusal, for the card; st when
// it cannot be read.
func (h *Handler) reread(ctx context.Context, st *approval.State) *approval.State {
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if now, err := h.o.Approvals.Get(rctx, st.ID); err == nil {
		return now
	}
	return st
}

// choice maps a click to a decision and values, checked against the
// approval's input as the web form is; the workflow judges again.
func choice(in approval.Input, c click) (approval.Decision, []string, string) {
	switch c.verb {
	case teamsmsg.VerbOption:
		o, ok := in.Option(c.option)
		if in.Type != approval.InputButton || !ok {
			return "", nil, "Choose among the options shown."
		}
		return o.Decision, []string{o.Value}, ""
	case teamsmsg.VerbApprove, teamsmsg.VerbReject:
	default:
		return "", nil, "Unknown action."
	}
	d := approval.DecisionApprove
	if c.verb == teamsmsg.VerbReject {
		d = approval.DecisionReject
	}
	values, msg := in.Answer(d, c.option, c.values, c.text)
	if msg != "" {
		return "", nil, msg
	}
	return d, values, ""
}

// conversationOf is the conversation a card was clicked in: a channel
// reply's conversation ID carries ";messageid=…" after the channel's.
func conversationOf(conv *teamsmsg.ConversationAccount) string {
	if conv == nil {
		return ""
	}
	id, _, _ := strings.Cut(conv.ID, ";")
	return id
}

// attemptID derives the attempt's ID from the activity: the Bot Framework
// redelivers an activity with its ID, which counts once.
func attemptID(a *teamsmsg.Activity, c click) string {
	from := ""
	if a.From != nil {
		from = a.From.ID
	}
	sum := sha256.Sum256([]byte(from + "\x00" + c.approvalID + "\x00" + a.ID))
	return "teams:" + hex.EncodeToString(sum[:16])
}

func (h *Handler) standsIn(ctx context.Context, user string) []string {
	return h.ballots.StandsIn(ctx, user)
}

// answer replaces the clicker's card with the approval as it stands and
// status, when they may read it; anyone else is told status alone, and
// nothing of the approval.
func (h *Handler) answer(ctx context.Context, p person, st *approval.State, status string) teamsmsg.InvokeResponse {
	if p.user == nil || !access.CanReadFor(st, p.user, h.standsIn(ctx, p.user.Name)) {
		if status == "" {
			status = "This approval is not shared with you."
		}
		return message(status)
	}
	return teamsmsg.InvokeResponse{StatusCode: http.StatusOK, Type: teamsmsg.ContentTypeAdaptiveCard, Value: h.render.PromptCard(st, status)}
}

func message(text string) teamsmsg.InvokeResponse {
	return teamsmsg.InvokeResponse{StatusCode: http.StatusOK, Type: teamsmsg.ContentTypeMessage, Value: text}
}

func errorResponse(status int, code, msg string) teamsmsg.InvokeResponse {
	return teamsmsg.InvokeResponse{StatusCode: status, Type: teamsmsg.ContentTypeError, Value: teamsmsg.ErrorValue{Code: code, Message: msg}}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
