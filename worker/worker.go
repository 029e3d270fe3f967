// Package worker builds the Temporal worker: it registers ApprovalWorkflow
// and the activities, wired to notifiers and actions from config.
package worker

import (
	"log/slog"
	"net/http"
	"os"
	"time"

	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/signoff/signoff/activities"
	"github.com/signoff/signoff/activities/action"
	"github.com/signoff/signoff/activities/notify"
	"github.com/signoff/signoff/config"
	"github.com/signoff/signoff/workflows"
)

// New returns a worker polling cfg's task queue; Run or Start it.
func New(c client.Client, cfg *config.Loaded, logger *slog.Logger) sdkworker.Worker {
	w := sdkworker.New(c, cfg.Temporal.TaskQueue, sdkworker.Options{
		MaxConcurrentActivityExecutionSize:     cfg.Worker.MaxConcurrentActivities,
		MaxConcurrentWorkflowTaskExecutionSize: cfg.Worker.MaxConcurrentWorkflows,
	})
	if cfg.Worker.StickyCacheSize > 0 {
		sdkworker.SetStickyWorkflowCacheSize(cfg.Worker.StickyCacheSize)
	}
	w.RegisterWorkflowWithOptions(workflows.ApprovalWorkflow, workflow.RegisterOptions{Name: workflows.WorkflowName})
	w.RegisterActivity(NewActivities(cfg, logger))
	return w
}

// NewActions builds the action registry from config; the gateway uses it to
// validate actions at create time, the worker to run them.
func NewActions(cfg *config.Loaded) *action.Registry {
	reg := action.NewRegistry(nil)
	reg.Register("noop", action.Noop{})
	reg.Register("webhook", &action.Webhook{
		AllowedPrefixes: cfg.Actions.Webhook.AllowedURLPrefixes,
		Secret:          []byte(os.Getenv(cfg.Actions.Webhook.SecretEnv)),
		Client:          &http.Client{Timeout: 30 * time.Second},
	})
	return reg
}

// NewActivities wires notifiers and actions.
func NewActivities(cfg *config.Loaded, logger *slog.Logger) *activities.Activities {
	notifiers := map[string]activities.Notifier{}
	for _, n := range cfg.Notifiers {
		switch n {
		case "log":
			notifiers[n] = &notify.Log{Logger: logger.With("notifier", "log"), GatewayURL: cfg.Gateway.PublicURL}
		}
	}
	return &activities.Activities{Notifiers: notifiers, Actions: NewActions(cfg), Logger: logger}
}
