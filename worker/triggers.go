package worker

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/signoff/signoff/activities"
	"github.com/signoff/signoff/channel/slack/usergroups"
	"github.com/signoff/signoff/config"
	"github.com/signoff/signoff/config/identity"
	"github.com/signoff/signoff/intake"
	"github.com/signoff/signoff/policy"
	"github.com/signoff/signoff/store/approvalstore"
	"github.com/signoff/signoff/store/peoplestore"
	"github.com/signoff/signoff/triggers"
)

// Triggers: TriggerRunWorkflow and its activity are registered on every
// worker (so a schedule left from an older config fails its run with a
// clear error instead of waiting for a worker), and the schedules are made
// to match the config when the worker starts.
func registerTriggers(w sdkworker.Worker, c client.Client, cfg *config.Loaded, port approvalstore.Approvals, acts *activities.Activities, sec Secrets, logger *slog.Logger) error {
	compiled, err := triggers.Compile(cfg.Triggers)
	if err != nil {
		return err
	}
	for _, t := range cfg.Triggers {
		if _, ok := cfg.Directory.Lookup(t.Requester); !ok {
			return fmt.Errorf("trigger %s: requester %q is not a configured user", t.Name, t.Requester)
		}
		if _, missing, _ := t.DSN(sec.Env.Lookup); len(missing) > 0 {
			logger.Warn("trigger database URL names unset environment variables; its runs will fail",
				"trigger", t.Name, "missing", missing)
		}
	}
	w.RegisterWorkflowWithOptions(triggers.RunWorkflow, workflow.RegisterOptions{Name: triggers.WorkflowName})
	// Read only: the worker records no groups or delegations.
	people := peoplestore.NewTemporal(c, cfg.Temporal.TaskQueue, nil)
	w.RegisterActivity(&triggers.Activities{
		Triggers: compiled,
		Starter: &intake.Starter{Live: config.NewLive(cfg, nil), Approvals: port, Actions: acts.Actions, Now: time.Now,
			Outside: policy.Sources{
				policy.SlackUsergroupPrefix: usergroups.ForConfig(cfg.Slack, sec.Slack, func() *identity.Directory { return cfg.Directory }),
				policy.OIDCGroupPrefix:      peoplestore.Groups{Store: people},
			},
			People: people, Proofs: acts.Proofs},
		Approvals: port,
		Proofs:    acts.Proofs,
		LookupEnv: sec.Env.Lookup,
		Logger:    logger.With("component", "triggers"),
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return triggers.SyncSchedules(ctx, c, cfg.Temporal.TaskQueue, cfg.Triggers, logger.With("component", "triggers"))
}
