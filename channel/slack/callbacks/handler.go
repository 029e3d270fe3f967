package callbacks

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/slack-go/slack"

	"github.com/signoff/signoff/approval"
	"github.com/signoff/signoff/auth/proof"
	"github.com/signoff/signoff/channel/ballot"
	"github.com/signoff/signoff/channel/slack/slackmsg"
	"github.com/signoff/signoff/channel/wording"
	"github.com/signoff/signoff/config"
	"github.com/signoff/signoff/config/identity"
	"github.com/signoff/signoff/intake"
	"github.com/signoff/signoff/store/approvalstore"
	"github.com/signoff/signoff/store/peoplestore"
)

// Routes served over HTTP.
const (
	PathInteractions = "/slack/interactions"
	PathCommands     = "/slack/commands"
)

// Options build a Handler.
type Options struct {
	// Config is the Slack config in force and Directory the users in
	// force: both are read per request, so a reloaded config applies.
	// The API URL and secrets are read once.
	Config    func() config.Slack
	Secrets   config.SlackSecrets
	Directory func() *identity.Directory
	// Approvals reads approvals, takes the clicks (as signals) and the
	// revoke requests of "Revoke now" (as updates).
	Approvals approvalstore.Approvals
	Logger    *slog.Logger
	// PublicURL is the gateway's public base URL, for links.
	PublicURL string
	// HTTPClient calls the Web API and response URLs (default: 10 s timeout).
	HTTPClient *http.Client
	// AckBudget is how long a click waits for its decision to be
	// delivered before Slack is answered anyway (default 2 s: Slack gives
	// up after 3).
	AckBudget time.Duration
	// ResultTimeout bounds waiting for the workflow to record an attempt
	// before the clicker is told (default 30 s).
	ResultTimeout time.Duration
	// DeliveryTimeout bounds a decision's delivery in the background,
	// retries included (default 2 min).
	DeliveryTimeout time.Duration
	// Proofs stamps what the handler verified about a click, so the
	// workflow counts it; without it every click is refused there.
	Proofs *proof.Keyring
	// People has the delegations in force: a delegate's click counts for
	// the approver they stand in for. Nil: nobody decides for anyone.
	People peoplestore.Store
	// Memberships are the outside groups people are in now, for policies
	// that recheck them; nil: none.
	Memberships func(ctx context.Context, users ...string) map[string][]string
	// Extend starts the extension of a grant for `/signoff extend` (the
	// gateway's Service.Extend); nil: the command says it is not
	// available.
	Extend intake.ExtendFunc
}

// Handler serves Slack's callbacks.
type Handler struct {
	proofs    *proof.Keyring
	people    peoplestore.Store
	ballots   *ballot.Box
	extend    intake.ExtendFunc
	cfg       func() config.Slack
	secret    string
	token     string
	dir       func() *identity.Directory
	approvals approvalstore.Approvals
	logger    *slog.Logger
	api       *slack.Client
	hc        *http.Client
	users     *Resolver
	render    slackmsg.Render
	redact    slackmsg.Redactor
	apiURL    string
	ackBudget time.Duration
	resultTTL time.Duration
	deliverTO time.Duration
	now       func() time.Time

	// ctx bounds background work; Close cancels it.
	ctx    context.Context
	cancel context.CancelFunc
	bg     sync.WaitGroup

	flightsMu sync.Mutex
	flights   map[string]*flight
}

// New returns a Handler; it makes no call yet.
func New(o Options) (*Handler, error) {
	if o.Config == nil || o.Directory == nil || o.Approvals == nil {
		return nil, errors.New("slack callbacks: config, directory and approvals are required")
	}
	if o.Secrets.BotToken == "" {
		return nil, fmt.Errorf("slack callbacks: %s is not set", config.EnvSlackBotToken)
	}
	hc := o.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: 10 * time.Second}
	}
	logger := o.Logger
	if logger == nil {
		logger = slog.Default()
	}
	logger = logger.With("component", "slack")
	def := func(d, v time.Duration) time.Duration {
		if d > 0 {
			return d
		}
		return v
	}
	apiURL := o.Config().ResolvedAPIURL()
	api := slack.New(o.Secrets.BotToken, slack.OptionAPIURL(apiURL), slack.OptionHTTPClient(hc))
	dir := o.Directory
	ctx, cancel := context.WithCancel(context.Background())
	// Clicks are stamped at the real time, whatever clock verifies Slack's
	// signatures.
	ballots := &ballot.Box{Approvals: o.Approvals, Proofs: o.Proofs, People: o.People, Memberships: o.Memberships, Now: time.Now, Logger: logger}
	return &Handler{
		ballots: ballots,
		proofs:  o.Proofs, people: o.People, extend: o.Extend, cfg: o.Config, secret: o.Secrets.SigningSecret, token: o.Secrets.BotToken, dir: dir, approvals: o.Approvals, logger: logger,
		api: api, hc: hc,
		users: NewResolver(api, dir, func() string { return o.Config().TeamID }, o.Config().CacheTTL(), logger),
		render: slackmsg.Render{PublicURL: o.PublicURL, SlackID: func(name string) string {
			if u, ok := dir().Lookup(name); ok {
				return u.SlackID
			}
			return ""
		}},
		redact:    slackmsg.Redactor{o.Secrets.BotToken, o.Secrets.SigningSecret, o.Secrets.AppToken},
		apiURL:    apiURL,
		ackBudget: def(o.AckBudget, 2*time.Second),
		resultTTL: def(o.ResultTimeout, 30*time.Second),
		deliverTO: def(o.DeliveryTimeout, 2*time.Minute),
		now:       time.Now,
		ctx:       ctx, cancel: cancel,
		flights: map[string]*flight{},
	}, nil
}

// Mount serves the HTTP Request URLs on mux.
func (h *Handler) Mount(mux *http.ServeMux) {
	mux.HandleFunc("POST "+PathInteractions, h.ServeInteractions)
	mux.HandleFunc("POST "+PathCommands, h.ServeCommands)
}

// Close waits for background deliveries (bounded by ctx), then stops them.
func (h *Handler) Close(ctx context.Context) {
	done := make(chan struct{})
	go func() { h.bg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
	}
	h.cancel()
}

// Idle waits until no delivery runs in the background (tests).
func (h *Handler) Idle() { h.bg.Wait() }

// verified reads and verifies a request; on failure it has answered.
func (h *Handler) verified(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	body, err := readBody(w, r)
	if errors.Is(err, ErrTooLarge) {
		http.Error(w, "request body too large", http.StatusRequestEntityTooLarge)
		return nil, false
	}
	if err != nil {
		http.Error(w, "cannot read request", http.StatusBadRequest)
		return nil, false
	}
	if err := Verify(r.Header, body, h.secret, h.now()); err != nil {
		h.logger.WarnContext(r.Context(), "slack request refused", "path", r.URL.Path, "reason", err.Error(),
			"remote", r.RemoteAddr)
		http.Error(w, "invalid Slack signature", http.StatusUnauthorized)
		return nil, false
	}
	return body, true
}

// ServeInteractions handles POST /slack/interactions.
func (h *Handler) ServeInteractions(w http.ResponseWriter, r *http.Request) {
	body, ok := h.verified(w, r)
	if !ok {
		return
	}
	ic, err := ParseInteraction(body)
	if err != nil {
		h.logger.WarnContext(r.Context(), "slack interaction unreadable", "error", err)
		http.Error(w, "malformed interaction payload", http.StatusBadRequest)
		return
	}
	if n := r.Header.Get("X-Slack-Retry-Num"); n != "" {
		// The same payload again: its attempt ID is the same, so the
		// workflow counts it once.
		h.logger.InfoContext(r.Context(), "slack retry", "retry_num", n, "reason", r.Header.Get("X-Slack-Retry-Reason"))
	}
	writeResponse(w, h.Interaction(r.Context(), &ic))
}

func writeResponse(w http.ResponseWriter, resp any) {
	if resp == nil {
		w.WriteHeader(http.StatusOK)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_ = json.NewEncoder(w).Encode(resp)
}

// Interaction handles one verified interaction and returns what to answer
// Slack with (nil: an empty 200). HTTP and Socket Mode share it.
func (h *Handler) Interaction(ctx context.Context, ic *slack.InteractionCallback) any {
	switch ic.Type {
	case slack.InteractionTypeBlockActions:
		c, err := readClick(ic)
		if errors.Is(err, errIgnored) {
			return nil
		}
		if err != nil {
			h.logger.WarnContext(ctx, "slack click unreadable", "error", err, "user", ic.User.ID)
			h.tell(ctx, click{SlackUser: ic.User.ID, Channel: channelOf(ic), ResponseURL: ic.ResponseURL}, "❌ "+err.Error())
			return nil
		}
		if c.Action.Verb == slackmsg.VerbRevoke {
			h.revokeClick(ctx, c)
			return nil
		}
		if c.Action.Opens() {
			h.openModal(ctx, ic, c)
			return nil
		}
		h.deliver(ctx, c)
		return nil
	case slack.InteractionTypeViewSubmission:
		c, err := readSubmission(ic)
		if errors.Is(err, errIgnored) {
			return nil
		}
		if err != nil {
			return modalError(err.Error())
		}
		if c.Text && c.Values[0] == "" || !c.Text && c.Comment == "" {
			return modalError("Please write something.")
		}
		h.deliver(ctx, c)
		return nil // closes the modal
	}
	return nil
}

// modalError keeps the modal open with a message under its input.
func modalError(msg string) any {
	return map[string]any{"response_action": "errors", "errors": map[string]string{slackmsg.ModalBlockID: msg}}
}

// openModal asks for a comment or a text answer. It runs before anything
// else: the click's trigger_id expires after 3 s.
func (h *Handler) openModal(ctx context.Context, ic *slack.InteractionCallback, c click) {
	title := ic.Message.Text
	if title == "" {
		title = "Approval " + c.Action.ApprovalID
	}
	meta := slackmsg.ModalMetadata{ApprovalID: c.Action.ApprovalID, Verb: c.Action.Verb, Channel: c.Channel,
		MessageTS: c.MessageTS, Revision: max(c.Revision, 0)}
	ctx, cancel := context.WithTimeout(ctx, 2500*time.Millisecond)
	defer cancel()
	err := slackmsg.Call(ctx, nil, func(ctx context.Context) error {
		_, err := h.api.OpenViewContext(ctx, ic.TriggerID, slackmsg.DecisionModal(meta, title))
		return err
	})
	if err != nil {
		_, msg := slackmsg.Classify(err)
		msg = h.redact.Redact(msg)
		h.logger.WarnContext(ctx, "slack views.open failed", "approval_id", c.Action.ApprovalID, "error", msg)
		h.tell(h.ctx, c, "❌ The form could not be opened ("+msg+"): click again.")
	}
}

// attemptID derives the attempt's ID from the click: the same click (a
// Slack retry, a redelivery) gives the same ID and counts once.
func attemptID(c click) string {
	sum := sha256.Sum256([]byte(c.SlackUser + "\x00" + c.Action.ApprovalID + "\x00" + c.Key))
	return "slack:" + hex.EncodeToString(sum[:16])
}

// flight is one attempt being delivered by this gateway.
type flight struct {
	delivered chan struct{}
	once      sync.Once
	started   time.Time
}

func (f *flight) markDelivered() { f.once.Do(func() { close(f.delivered) }) }

// startFlight returns the flight of id and whether the caller must run it.
func (h *Handler) startFlight(id string) (*flight, bool) {
	h.flightsMu.Lock()
	defer h.flightsMu.Unlock()
	now := h.now()
	for k, f := range h.flights {
		if now.Sub(f.started) > 10*time.Minute {
			delete(h.flights, k)
		}
	}
	if f, ok := h.flights[id]; ok {
		return f, false
	}
	f := &flight{delivered: make(chan struct{}), started: now}
	h.flights[id] = f
	return f, true
}

// deliver starts delivering c in the background and waits until it is
// delivered or the ack budget is spent, whichever comes first: Slack must
// hear back within 3 s, whatever Temporal's latency.
func (h *Handler) deliver(ctx context.Context, c click) {
	id := attemptID(c)
	h.inFlight(ctx, c, id, func(ctx context.Context, f *flight) { h.decide(ctx, c, id, f) })
}

// inFlight runs work for attempt id in the background, once per attempt
// however often Slack delivers the click, and waits until the flight is
// marked delivered (at the latest when work returns) or the ack budget is
// spent.
func (h *Handler) inFlight(ctx context.Context, c click, id string, work func(ctx context.Context, f *flight)) {
	f, run := h.startFlight(id)
	if run {
		h.bg.Add(1)
		go func() {
			defer h.bg.Done()
			defer f.markDelivered()
			bctx, cancel := context.WithTimeout(h.ctx, h.deliverTO)
			defer cancel()
			work(bctx, f)
		}()
	}
	t := time.NewTimer(h.ackBudget)
	defer t.Stop()
	select {
	case <-f.delivered:
	case <-t.C:
		h.logger.WarnContext(ctx, "slack click answered before it was delivered; delivery goes on",
			"approval_id", c.Action.ApprovalID, "attempt_id", id)
	case <-ctx.Done():
	}
}

// decide resolves the person and delivers the attempt (refused ones too,
// for the audit trail) as a signal: once it is in history the click is
// acknowledged, and the workflow checks it against the approval. Then the
// clicker is told what the workflow made of it.
func (h *Handler) decide(ctx context.Context, c click, id string, f *flight) {
	log := h.logger.With("approval_id", c.Action.ApprovalID, "attempt_id", id, "slack_user", c.SlackUser)
	person, err := h.users.Resolve(ctx, c.SlackUser, c.Team)
	if err != nil {
		log.WarnContext(ctx, "slack identity unverifiable", "error", h.redact.Redact(err.Error()))
	}
	cfg := h.cfg()
	b := ballot.Ballot{
		ApprovalID: c.Action.ApprovalID, AttemptID: id, Name: person.Name(), Refusal: person.Refusal,
		IdentifiedBy: person.IdentifiedBy(), Channel: "slack:" + c.Channel, Comment: c.Comment,
		Place: &approval.Place{Notifier: approval.NotifierSlack, Channel: c.Channel, Revision: c.Revision, Has2FA: person.Has2FA,
			Require2FA: cfg.Require2FA, AllowedChannels: cfg.AllowedChannels},
	}
	if person.Refusal == "" && person.User != nil {
		d := person.Decider(c.Team, c.Channel)
		b.Person, b.Decider = person.User, &d
	}
	b.Decision, b.Values = choice(c)
	req, v := h.ballots.Post(ctx, b)
	f.markDelivered()
	switch v.Outcome {
	case ballot.Delivered:
	case ballot.Closed, ballot.NotFound:
		sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, serr := h.approvals.Get(sctx, c.Action.ApprovalID)
		cancel()
		if errors.Is(serr, approvalstore.ErrNotFound) {
			h.tell(ctx, c, fmt.Sprintf("❌ There is no approval `%s`.", c.Action.ApprovalID))
			return
		}
		h.tell(ctx, c, "❌ Not counted: "+approval.RefusedNotPending+".")
		return
	case ballot.TooMany:
		log.WarnContext(ctx, "slack decision refused: over the person's budget", "error", v.Err)
		h.tell(ctx, c, "⏳ "+wording.TooMany(v.RetryAfter))
		return
	case ballot.Invalid:
		h.tell(ctx, c, "❌ Not counted: "+slackmsg.Escape(v.Err.Error())+".")
		return
	default:
		log.ErrorContext(ctx, "slack decision not delivered", "error", v.Err)
		h.tell(ctx, c, "❌ Your decision could not be delivered: try again.")
		return
	}
	log.InfoContext(ctx, "slack decision delivered", "user", req.User, "decision", string(req.Decision), "refusal", req.Refusal)
	a, st, err := h.awaitAttempt(ctx, c.Action.ApprovalID, id)
	if err != nil {
		log.WarnContext(ctx, "slack decision delivered but not yet recorded", "error", err)
		h.tell(ctx, c, "⏳ Your decision was delivered; the approval has not recorded it yet.")
		return
	}
	h.tell(ctx, c, resultText(a, st, h.render))
}

// awaitAttempt reads the approval until the attempt is recorded.
func (h *Handler) awaitAttempt(ctx context.Context, id, attempt string) (approval.Attempt, *approval.State, error) {
	ctx, cancel := context.WithTimeout(ctx, h.resultTTL)
	defer cancel()
	wait := 50 * time.Millisecond
	for {
		sctx, scancel := context.WithTimeout(ctx, 5*time.Second)
		st, err := h.approvals.Get(sctx, id)
		scancel()
		if err == nil {
			if a, ok := st.Find(attempt); ok {
				return a, st, nil
			}
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return approval.Attempt{}, nil, fmt.Errorf("attempt %s not recorded: %w", attempt, ctx.Err())
		case <-t.C:
		}
		wait = min(wait*2, time.Second)
	}
}

// choice maps a click to a decision and option values. An option's
// decision is left to the workflow, which knows the options.
func choice(c click) (approval.Decision, []string) {
	switch c.Action.Verb {
	case slackmsg.VerbApprove, slackmsg.VerbApproveComment:
		return approval.DecisionApprove, nil
	case slackmsg.VerbReject, slackmsg.VerbRejectComment:
		return approval.DecisionReject, nil
	case slackmsg.VerbRespond, slackmsg.VerbSubmit:
		return approval.DecisionApprove, c.Values
	}
	return "", c.Values
}

// resultText tells the clicker what became of their attempt.
func resultText(a approval.Attempt, st *approval.State, r slackmsg.Render) string {
	title := "*" + slackmsg.Escape(slackmsg.Truncate(st.Request.Title, 150)) + "*"
	verb := "approved"
	if a.Decision == approval.DecisionReject {
		verb = "rejected"
	}
	now := ""
	if st.Status.Final() {
		now = fmt.Sprintf(" The approval is now *%s*.", st.Status)
	} else {
		now = " (" + slackmsg.Progress(st) + ")"
	}
	if a.Accepted {
		return fmt.Sprintf("✅ Counted: you %s %s.%s", verb, title, now)
	}
	if a.RefusalReason == approval.RefusedAlreadyDecided {
		for _, prev := range st.Attempts {
			if prev.Accepted && !prev.Voided && prev.User == a.User && prev.Decision == a.Decision && prev.Stage == a.Stage {
				return fmt.Sprintf("✅ Already counted: you %s %s.%s", verb, title, now)
			}
		}
	}
	return fmt.Sprintf("❌ Not counted: %s. (%s)", slackmsg.Escape(a.RefusalReason), title)
}
