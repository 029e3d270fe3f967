// Package worker builds the Temporal worker: it registers ApprovalWorkflow
// and the activities, wired to notifiers and actions from config.
package worker

import (
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/signoff/signoff/activities"
	"github.com/signoff/signoff/activities/action"
	"github.com/signoff/signoff/auth/proof"
	emailnotify "github.com/signoff/signoff/channel/email/notifier"
	ghdeploy "github.com/signoff/signoff/channel/github/notifier"
	lognotify "github.com/signoff/signoff/channel/log/notifier"
	slacknotify "github.com/signoff/signoff/channel/slack/notifier"
	teamsnotify "github.com/signoff/signoff/channel/teams/notifier"
	"github.com/signoff/signoff/config"
	"github.com/signoff/signoff/store/approvalstore"
	"github.com/signoff/signoff/store/leasestore"
	"github.com/signoff/signoff/workflows"
)

// NotifierBuilder makes one notifier from config and the secrets read at
// start; each channel's builder is in a file of its own.
type NotifierBuilder func(cfg *config.Loaded, sec Secrets, logger *slog.Logger) (activities.Notifier, error)

// ActionBuilder registers action types from config and the secrets read at
// start.
type ActionBuilder func(cfg *config.Loaded, sec Secrets, reg *action.Registry) error

var (
	notifierBuilders = map[string]NotifierBuilder{
		"log": func(cfg *config.Loaded, _ Secrets, logger *slog.Logger) (activities.Notifier, error) {
			return &lognotify.Log{Logger: logger.With("notifier", "log"), GatewayURL: cfg.Gateway.PublicURL}, nil
		},
		slacknotify.Name: newSlackNotifier,
		emailnotify.Name: newEmailNotifier,
		ghdeploy.Name:    newGitHubDeployNotifier,
		teamsnotify.Name: newTeamsNotifier,
	}
	actionBuilders = []ActionBuilder{
		func(cfg *config.Loaded, sec Secrets, reg *action.Registry) error {
			reg.Register("noop", action.Noop{})
			reg.Register("webhook", &action.Webhook{
				AllowedPrefixes: cfg.Actions.Webhook.AllowedURLPrefixes,
				Secret:          []byte(sec.Env.Get(cfg.Actions.Webhook.SecretEnv)),
				Client:          &http.Client{Timeout: 30 * time.Second},
				// The logged response body is scrubbed of every secret
				// the worker holds, not only the webhook's own.
				Redact: newRedactor(cfg, sec),
			})
			return nil
		},
		cloudActions,
		secretActions,
	}
)

// Options are what a worker is built from; the composition root fills them
// once at start.
type Options struct {
	Client client.Client
	Config *config.Loaded
	// Approvals is the port the triggers start and cancel approvals through.
	Approvals approvalstore.Approvals
	// Proofs verifies the gateway's stamps (and stamps the triggers'
	// cancellations); nil refuses every message (deny by default).
	Proofs *proof.Keyring
	// Secrets are what the notifiers, actions and triggers need from the
	// environment, read once at start.
	Secrets Secrets
	Logger  *slog.Logger
}

// New returns a worker polling cfg's task queue; Start or Run it.
func New(o Options) (sdkworker.Worker, error) {
	c, cfg, logger := o.Client, o.Config, o.Logger
	acts, err := NewActivities(cfg, o.Secrets, o.Proofs, logger)
	if err != nil {
		return nil, err
	}
	if cfg.Worker.StickyCacheSize > 0 {
		// Process-wide, and read when the first worker builds its cache.
		sdkworker.SetStickyWorkflowCacheSize(cfg.Worker.StickyCacheSize)
	}
	w := sdkworker.New(c, cfg.Temporal.TaskQueue, sdkworker.Options{
		MaxConcurrentActivityExecutionSize:     cfg.Worker.MaxConcurrentActivities,
		MaxConcurrentWorkflowTaskExecutionSize: cfg.Worker.MaxConcurrentWorkflows,
		DeadlockDetectionTimeout:               cfg.Worker.DeadlockDetectionTimeout.Std(),
	})
	w.RegisterWorkflowWithOptions(workflows.Approval(o.Proofs), workflow.RegisterOptions{Name: workflows.WorkflowName})
	w.RegisterWorkflowWithOptions(workflows.PeopleWorkflow, workflow.RegisterOptions{Name: workflows.PeopleWorkflowName})
	w.RegisterWorkflowWithOptions(workflows.LeaseWorkflow, workflow.RegisterOptions{Name: workflows.LeaseWorkflowName})
	acts.Leases = leasestore.NewTemporal(c, cfg.Temporal.TaskQueue, o.Proofs)
	acts.Runs = activities.TemporalRuns{Client: c}
	if o.Approvals != nil {
		acts.Extender = grantExtender{approvals: o.Approvals, proofs: o.Proofs}
	}
	registerActivities(w, acts)
	if err := registerTriggers(w, c, cfg, o.Approvals, acts, o.Secrets, logger); err != nil {
		return nil, err
	}
	if err := registerReconciler(w, c, cfg, acts, logger); err != nil {
		return nil, err
	}
	return w, nil
}

// NewActions builds the action registry from config; the gateway uses it to
// validate actions at create time, the worker to run them. env looks up the
// variables the config names (Secrets.Env): the webhook secret, the GitHub
// token, the secrets scrubbed from outputs; nil finds none.
func NewActions(cfg *config.Loaded, env func(string) (string, bool)) (*action.Registry, error) {
	return newActions(cfg, Secrets{Env: env})
}

func newActions(cfg *config.Loaded, sec Secrets) (*action.Registry, error) {
	reg := action.NewRegistry(newRedactor(cfg, sec))
	for _, b := range actionBuilders {
		if err := b(cfg, sec, reg); err != nil {
			return nil, fmt.Errorf("actions: %w", err)
		}
	}
	return reg, nil
}

// NewActivities wires the configured notifiers and the actions.
func NewActivities(cfg *config.Loaded, sec Secrets, proofs *proof.Keyring, logger *slog.Logger) (*activities.Activities, error) {
	notifiers := map[string]activities.Notifier{}
	for _, name := range append(append([]string(nil), cfg.Notifiers...), cfg.SecurityNotifiers...) {
		if _, done := notifiers[name]; done {
			continue
		}
		b, ok := notifierBuilders[name]
		if !ok {
			return nil, fmt.Errorf("notifier %q is not built into this binary (have %v)", name, Notifiers())
		}
		n, err := b(cfg, sec, logger)
		if err != nil {
			return nil, fmt.Errorf("notifier %s: %w", name, err)
		}
		notifiers[name] = n
	}
	acts, err := newActions(cfg, sec)
	if err != nil {
		return nil, err
	}
	return &activities.Activities{Notifiers: notifiers, Actions: acts, Logger: logger, Proofs: proofs}, nil
}

// Notifiers lists the notifier channels built in.
func Notifiers() []string {
	out := make([]string, 0, len(notifierBuilders))
	for n := range notifierBuilders {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// registerActivities registers acts under the names the workflow calls.
func registerActivities(w sdkworker.Worker, acts *activities.Activities) {
	for name, fn := range map[string]any{
		workflows.ActivityNotify:      acts.Notify,
		workflows.ActivityRunAction:   acts.RunAction,
		workflows.ActivityVerifyProof: acts.VerifyProof,
		workflows.ActivityAdmit:       acts.Admit,
		workflows.ActivityCheckRego:   acts.CheckRego,
		workflows.ActivityStampLease:  acts.StampLease,
		workflows.ActivityStampPeople: acts.StampPeople,
		workflows.ActivityEarlierRuns: acts.EarlierRuns,
	} {
		w.RegisterActivityWithOptions(fn, activity.RegisterOptions{Name: name})
	}
}
