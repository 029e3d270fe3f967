// Package callbacks is Signoff as a GitHub App custom deployment protection
// rule, on the gateway's side: GitHub's deployment_protection_rule webhook
// (POST /github/webhook), verified with the app's webhook secret, starts an
// approval through the same intake as the API. The approval's fields carry
// the deployment (channel/github/githubmsg), so the worker's
// github_deployments notifier (channel/github/notifier) can approve or
// reject it on GitHub when the approval ends.
package callbacks

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/signoff/signoff/approval"
	"github.com/signoff/signoff/channel/github/githubmsg"
	"github.com/signoff/signoff/config"
	"github.com/signoff/signoff/config/identity"
	"github.com/signoff/signoff/intake"
)

// Route is where GitHub delivers the app's webhooks, on the gateway's HTTP
// listener.
const Route = "/github/webhook"

// Headers of a GitHub webhook delivery.
const (
	HeaderSignature = "X-Hub-Signature-256"
	HeaderEvent     = "X-GitHub-Event"
	HeaderDelivery  = "X-GitHub-Delivery"
)

// EventDeploymentProtectionRule is the event a protection rule answers;
// ActionRequested is its only action.
const (
	EventDeploymentProtectionRule = "deployment_protection_rule"
	ActionRequested               = "requested"
)

// Starter starts approvals: intake.Starter, as the API uses it.
type Starter interface {
	Start(ctx context.Context, r intake.Request) (intake.Result, error)
}

// Options build a Handler.
type Options struct {
	// Live is the config in force: github_app (repositories, environments,
	// requester), the users, the gateway's public URL, body limit and
	// call timeout are read from it per delivery.
	Live *config.Live
	// Starter starts the approvals.
	Starter Starter
	// Env finds the webhook secret (github_app.webhook_secret_env), once,
	// when the handler is built.
	Env    config.Env
	Logger *slog.Logger
}

// Handler serves GitHub's webhook deliveries.
type Handler struct {
	live    *config.Live
	starter Starter
	secret  []byte
	logger  *slog.Logger
}

// ErrNoSecret is why a handler cannot be built: deliveries could not be
// verified.
var ErrNoSecret = errors.New("the GitHub App's webhook secret is not set")

// New builds the handler of the config in force; its github_app section
// must be valid and its webhook secret set.
func New(o Options) (*Handler, error) {
	if o.Live == nil || o.Starter == nil {
		return nil, errors.New("github webhook: no config or starter")
	}
	cfg := o.Live.Get()
	gc := cfg.GitHubApp.WithDefaults()
	if err := gc.Validate(cfg.Directory); err != nil {
		return nil, err
	}
	secret := strings.TrimSpace(o.Env.Get(gc.WebhookSecretEnv))
	if secret == "" {
		return nil, fmt.Errorf("%w: %s is empty: GitHub's deliveries could not be verified", ErrNoSecret, gc.WebhookSecretEnv)
	}
	logger := o.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Handler{live: o.Live, starter: o.Starter, secret: []byte(secret), logger: logger.With("component", "github_app")}, nil
}

// Mount serves POST /github/webhook on mux when the config in force has a
// github_app section; without one it mounts nothing.
func Mount(mux *http.ServeMux, o Options) error {
	if o.Live == nil || !o.Live.Get().GitHubApp.Enabled() {
		return nil
	}
	h, err := New(o)
	if err != nil {
		return fmt.Errorf("github app webhook: %w", err)
	}
	mux.Handle("POST "+Route, h)
	h.logger.Info("GitHub deployment protection rule webhook ready", "route", Route)
	return nil
}

// VerifySignature reports whether header, an X-Hub-Signature-256 value
// ("sha256=" and hex), is the HMAC-SHA256 of body under secret. The
// comparison takes the same time whatever matches; an empty secret
// verifies nothing.
func VerifySignature(secret, body []byte, header string) bool {
	hexSum, ok := strings.CutPrefix(strings.TrimSpace(header), "sha256=")
	if !ok || len(secret) == 0 {
		return false
	}
	got, err := hex.DecodeString(hexSum)
	if err != nil || len(got) != sha256.Size {
		return false
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	return hmac.Equal(got, mac.Sum(nil))
}

// Sign is the X-Hub-Signature-256 value of body under secret, as GitHub
// computes it.
func Sign(secret, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// Event is what Signoff reads of a deployment_protection_rule delivery.
type Event struct {
	Action                string `json:"action"`
	Environment           string `json:"environment"`
	Event                 string `json:"event"`
	DeploymentCallbackURL string `json:"deployment_callback_url"`
	// Ref and SHA at the top level appear in newer deliveries; the
	// deployment's are read first.
	Ref        string `json:"ref"`
	SHA        string `json:"sha"`
	Deployment *struct {
		ID          int64  `json:"id"`
		Ref         string `json:"ref"`
		SHA         string `json:"sha"`
		Environment string `json:"environment"`
	} `json:"deployment"`
	Repository *struct {
		FullName string `json:"full_name"`
	} `json:"repository"`
	Installation *struct {
		ID int64 `json:"id"`
	} `json:"installation"`
	// Sender is who set the deployment off: ID is their immutable GitHub
	// user ID, Login their current (renamable) login.
	Sender *struct {
		ID    int64  `json:"id"`
		Login string `json:"login"`
	} `json:"sender"`
}

// ParseEvent decodes a delivery's body.
func ParseEvent(body []byte) (Event, error) {
	var e Event
	if !utf8.Valid(body) {
		return e, errors.New("body is not UTF-8")
	}
	if err := json.Unmarshal(body, &e); err != nil {
		return e, fmt.Errorf("body is not a webhook payload: %w", err)
	}
	return e, nil
}

var (
	loginPattern = regexp.MustCompile(`^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})(?:\[bot\])?$`)
	shaPattern   = regexp.MustCompile(`^(?:[0-9a-f]{40}|[0-9a-f]{64})$`)
	eventPattern = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)
)

// Waiting is the deployment e asks about, checked against the API root
// base (see githubmsg.Deployment.Check): the callback URL must be base's
// review route for the event's repository.
func (e Event) Waiting(base string) (githubmsg.Deployment, error) {
	d := githubmsg.Deployment{Environment: e.Environment, Ref: e.Ref, SHA: e.SHA, Event: e.Event, CallbackURL: e.DeploymentCallbackURL}
	if e.Deployment != nil {
		d.DeploymentID = e.Deployment.ID
		if e.Deployment.Ref != "" {
			d.Ref = e.Deployment.Ref
		}
		if e.Deployment.SHA != "" {
			d.SHA = e.Deployment.SHA
		}
		if d.Environment == "" {
			d.Environment = e.Deployment.Environment
		}
	}
	if e.Repository != nil {
		d.Repository = e.Repository.FullName
	}
	if e.Installation != nil {
		d.InstallationID = e.Installation.ID
	}
	if e.Sender != nil {
		d.Actor, d.ActorID = e.Sender.Login, e.Sender.ID
	}
	cb, err := d.Check(base)
	var errs []error
	if err != nil {
		errs = append(errs, err)
	}
	d.RunID = cb.RunID
	if len(d.Ref) > 255 || strings.ContainsFunc(d.Ref, func(r rune) bool { return r < ' ' || r == 0x7f }) {
		errs = append(errs, errors.New("malformed ref"))
	}
	if d.SHA != "" && !shaPattern.MatchString(d.SHA) {
		errs = append(errs, errors.New("malformed sha"))
	}
	if d.Actor != "" && !loginPattern.MatchString(d.Actor) {
		errs = append(errs, errors.New("malformed sender login"))
	}
	if d.ActorID < 0 {
		errs = append(errs, errors.New("malformed sender id"))
	}
	if d.Event != "" && !eventPattern.MatchString(d.Event) {
		errs = append(errs, errors.New("malformed event"))
	}
	return d, errors.Join(errs...)
}

// senderPerson is the name of the configured person who set d off, or
// "". The sender's GitHub ID decides: a login can be renamed and then
// registered by someone else, so a login alone names only a person
// configured without a github_id.
func senderPerson(log *slog.Logger, dir *identity.Directory, d githubmsg.Deployment) string {
	if u, ok := dir.ByGitHubID(d.ActorID); ok {
		return u.Name
	}
	u, ok := dir.ByGitHubLogin(d.Actor)
	switch {
	case !ok || d.Actor == "":
		return ""
	case u.GitHubID != 0:
		log.Warn("GitHub webhook: the sender has a user's github_login but not their github_id: not taken as them (the login may have changed hands)",
			"user", u.Name, "sender_login", d.Actor, "sender_id", d.ActorID, "github_id", u.GitHubID)
		return ""
	}
	log.Warn("GitHub webhook: sender taken as a user by github_login alone; set their github_id, as a login can be renamed and registered by someone else",
		"user", u.Name, "sender_login", d.Actor, "sender_id", d.ActorID)
	return u.Name
}

// requestID makes the start idempotent per deployment: GitHub's
// redelivery of the same event finds the approval the first started.
func requestID(d githubmsg.Deployment) string {
	return fmt.Sprintf("github:%s:deployment:%d:%s", strings.ToLower(d.Repository), d.DeploymentID, d.Environment)
}

// request is the approval d asks for, in environment env (the mapped
// one); base is the API root.
func request(d githubmsg.Deployment, env, base string) approval.Request {
	ref := d.Ref
	if ref == "" {
		ref = short(d.SHA)
	} else if d.SHA != "" {
		ref += " (" + short(d.SHA) + ")"
	}
	title := fmt.Sprintf("Deploy %s %s to %s", d.Repository, ref, d.Environment)
	desc := fmt.Sprintf("GitHub Actions run %d of %s waits at environment %q until this approval ends: approved lets the deployment go on, anything else rejects it.",
		d.RunID, d.Repository, d.Environment)
	if d.Actor != "" {
		desc += fmt.Sprintf(" Triggered by %s", d.Actor)
		if d.Event != "" {
			desc += " (" + d.Event + ")"
		}
		desc += "."
	}
	return approval.Request{
		Title:       githubmsg.Clip(title, 200),
		Description: desc,
		Environment: env,
		Resource:    d.Repository,
		Fields:      d.Fields(base),
		Action:      approval.Action{Type: "noop"},
	}
}

func short(sha string) string {
	if len(sha) > 7 {
		return sha[:7]
	}
	return sha
}

// answer is the JSON body of every reply: GitHub shows it in the
// delivery's log.
type answer struct {
	Status     string `json:"status"`
	Message    string `json:"message,omitempty"`
	ApprovalID string `json:"approval_id,omitempty"`
	URL        string `json:"url,omitempty"`
}

func reply(w http.ResponseWriter, code int, a answer) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(a)
}

// ServeHTTP verifies the delivery, then starts (or finds) the approval of
// the deployment it asks about: 201 started, 200 found (a redelivery), 202
// another event or action (ignored), 400 malformed, 401 unsigned or signed
// with another secret, 403 repository or request not allowed, 409 the same
// deployment asked with other content, 413 too large, 503 try again later.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	cfg := h.live.Get()
	gc := cfg.GitHubApp.WithDefaults()
	log := h.logger.With("delivery", githubmsg.Clip(r.Header.Get(HeaderDelivery), 64), "event", githubmsg.Clip(r.Header.Get(HeaderEvent), 64))
	if !gc.Enabled() {
		reply(w, http.StatusNotFound, answer{Status: "off", Message: "github_app is not configured"})
		return
	}
	limit := cfg.Gateway.MaxBodyBytes
	if limit <= 0 {
		limit = 1 << 20
	}
	if r.ContentLength > limit {
		reply(w, http.StatusRequestEntityTooLarge, answer{Status: "refused", Message: "body too large"})
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			reply(w, http.StatusRequestEntityTooLarge, answer{Status: "refused", Message: "body too large"})
			return
		}
		reply(w, http.StatusBadRequest, answer{Status: "refused", Message: "could not read the body"})
		return
	}
	if !VerifySignature(h.secret, body, r.Header.Get(HeaderSignature)) {
		log.Warn("GitHub webhook refused: missing or bad signature")
		reply(w, http.StatusUnauthorized, answer{Status: "refused", Message: "missing or bad " + HeaderSignature})
		return
	}
	if ev := r.Header.Get(HeaderEvent); ev != EventDeploymentProtectionRule {
		reply(w, http.StatusAccepted, answer{Status: "ignored", Message: "not a " + EventDeploymentProtectionRule + " event"})
		return
	}
	e, err := ParseEvent(body)
	if err != nil {
		reply(w, http.StatusBadRequest, answer{Status: "refused", Message: err.Error()})
		return
	}
	if e.Action != ActionRequested {
		reply(w, http.StatusAccepted, answer{Status: "ignored", Message: "not a requested action"})
		return
	}
	d, err := e.Waiting(gc.BaseURL)
	if err != nil {
		log.Warn("GitHub webhook refused: malformed deployment", "err", err)
		reply(w, http.StatusBadRequest, answer{Status: "refused", Message: err.Error()})
		return
	}
	log = log.With("repository", d.Repository, "environment", d.Environment, "deployment_id", d.DeploymentID, "run_id", d.RunID)
	if !gc.RepoAllowed(d.Repository) {
		log.Warn("GitHub webhook refused: repository not allowed (github_app.allowed_repos)")
		reply(w, http.StatusForbidden, answer{Status: "refused", Message: "repository " + d.Repository + " is not allowed (github_app.allowed_repos)"})
		return
	}
	env := gc.ApprovalEnvironment(d.Environment)
	if !approval.IsName(env) {
		reply(w, http.StatusBadRequest, answer{Status: "refused", Message: fmt.Sprintf("environment %q is not an approval environment: map it in github_app.environments", d.Environment)})
		return
	}
	requester, ok := cfg.Directory.Lookup(gc.Requester)
	if !ok {
		log.Error("GitHub webhook: github_app.requester is not a configured user", "requester", gc.Requester)
		reply(w, http.StatusServiceUnavailable, answer{Status: "error", Message: "Signoff is misconfigured (github_app.requester); nothing was started"})
		return
	}
	ctx := r.Context()
	if t := cfg.Gateway.CallTimeout.Std(); t > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, t)
		defer cancel()
	}
	// The person who set the deployment off, when configured, counts as
	// its requester: they do not approve their own deployment.
	initiator := senderPerson(log, cfg.Directory, d)
	res, err := h.starter.Start(ctx, intake.Request{Requester: requester, RequestID: requestID(d), Request: request(d, env, gc.BaseURL), Initiator: initiator})
	if err != nil {
		code, status := http.StatusServiceUnavailable, "error"
		msg := "the approval could not be started; redeliver later"
		switch {
		case errors.Is(err, intake.ErrInvalid):
			code, status, msg = http.StatusBadRequest, "refused", err.Error()
		case errors.Is(err, intake.ErrDenied):
			code, status, msg = http.StatusForbidden, "refused", err.Error()
		case errors.Is(err, intake.ErrConflict):
			code, status, msg = http.StatusConflict, "refused", "this deployment was already asked about with other content (was the config changed?)"
		}
		log.Warn("GitHub webhook: no approval started", "err", err, "status", code)
		reply(w, code, answer{Status: status, Message: msg})
		return
	}
	link := strings.TrimRight(cfg.Gateway.PublicURL, "/") + "/approvals/" + res.ID
	if res.Existing {
		log.Info("GitHub webhook: redelivery of a deployment already asked about", "approval_id", res.ID)
		reply(w, http.StatusOK, answer{Status: "existing", ApprovalID: res.ID, URL: link})
		return
	}
	log.Info("approval created", "approval_id", res.ID, "requester", requester.Name, "approval_environment", env,
		"policy", res.State.Policy.Name, "deadline", res.State.Deadline.UTC().Format(time.RFC3339))
	reply(w, http.StatusCreated, answer{Status: "created", ApprovalID: res.ID, URL: link})
}
