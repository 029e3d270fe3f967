// Package worker builds the Temporal worker: it registers ApprovalWorkflow
// and the activities, wired to notifiers and actions from config.
package worker

import (
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"sort"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/signoff/signoff/activities"
	"github.com/signoff/signoff/activities/action"
	"github.com/signoff/signoff/activities/notify"
	"github.com/signoff/signoff/config"
	"github.com/signoff/signoff/proof"
	"github.com/signoff/signoff/workflows"
)

// NotifierBuilder makes one notifier from config. Each channel (log, slack,
// email) registers its builder in a file of its own.
type NotifierBuilder func(cfg *config.Loaded, logger *slog.Logger) (activities.Notifier, error)

// ActionBuilder registers action types from config.
type ActionBuilder func(cfg *config.Loaded, reg *action.Registry) error

var (
	notifierBuilders = map[string]NotifierBuilder{
		"log": func(cfg *config.Loaded, logger *slog.Logger) (activities.Notifier, error) {
			return &notify.Log{Logger: logger.With("notifier", "log"), GatewayURL: cfg.Gateway.PublicURL}, nil
		},
	}
	actionBuilders = []ActionBuilder{
		func(cfg *config.Loaded, reg *action.Registry) error {
			reg.Register("noop", action.Noop{})
			reg.Register("webhook", &action.Webhook{
				AllowedPrefixes: cfg.Actions.Webhook.AllowedURLPrefixes,
				Secret:          []byte(os.Getenv(cfg.Actions.Webhook.SecretEnv)),
				Client:          &http.Client{Timeout: 30 * time.Second},
				// The logged response body is scrubbed of every secret
				// the worker holds, not only the webhook's own.
				Redact: newRedactor(cfg),
			})
			return nil
		},
	}
)

// RegisterNotifier adds a notifier channel; call from init.
func RegisterNotifier(name string, b NotifierBuilder) { notifierBuilders[name] = b }

// RegisterActions adds action types; call from init.
func RegisterActions(b ActionBuilder) { actionBuilders = append(actionBuilders, b) }

// Extension registers more workflows and activities on a new worker (and may
// set up what they need, such as schedules).
type Extension func(w sdkworker.Worker, c client.Client, cfg *config.Loaded, acts *activities.Activities, logger *slog.Logger) error

var extensions []Extension

// RegisterExtension adds an extension; call from init.
func RegisterExtension(e Extension) { extensions = append(extensions, e) }

// New returns a worker polling cfg's task queue; Start or Run it.
func New(c client.Client, cfg *config.Loaded, logger *slog.Logger) (sdkworker.Worker, error) {
	acts, err := NewActivities(cfg, logger)
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
	})
	w.RegisterWorkflowWithOptions(workflows.ApprovalWorkflow, workflow.RegisterOptions{Name: workflows.WorkflowName})
	registerActivities(w, acts)
	for _, ext := range extensions {
		if err := ext(w, c, cfg, acts, logger); err != nil {
			return nil, err
		}
	}
	return w, nil
}

// NewActions builds the action registry from config; the gateway uses it to
// validate actions at create time, the worker to run them.
func NewActions(cfg *config.Loaded) (*action.Registry, error) {
	reg := action.NewRegistry(newRedactor(cfg))
	for _, b := range actionBuilders {
		if err := b(cfg, reg); err != nil {
			return nil, fmt.Errorf("actions: %w", err)
		}
	}
	return reg, nil
}

// NewActivities wires the configured notifiers and the actions.
func NewActivities(cfg *config.Loaded, logger *slog.Logger) (*activities.Activities, error) {
	notifiers := map[string]activities.Notifier{}
	for _, name := range append(append([]string(nil), cfg.Notifiers...), cfg.SecurityNotifiers...) {
		if _, done := notifiers[name]; done {
			continue
		}
		b, ok := notifierBuilders[name]
		if !ok {
			return nil, fmt.Errorf("notifier %q is not built into this binary (have %v)", name, Notifiers())
		}
		n, err := b(cfg, logger)
		if err != nil {
			return nil, fmt.Errorf("notifier %s: %w", name, err)
		}
		notifiers[name] = n
	}
	acts, err := NewActions(cfg)
	if err != nil {
		return nil, err
	}
	proofs, err := proof.FromEnv()
	if err != nil {
		return nil, fmt.Errorf("worker: %w", err)
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
		workflows.ActivityCheckRego:   acts.CheckRego,
	} {
		w.RegisterActivityWithOptions(fn, activity.RegisterOptions{Name: name})
	}
}
