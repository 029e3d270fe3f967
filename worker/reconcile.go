package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/signoff/signoff/activities"
	"github.com/signoff/signoff/config"
	"github.com/signoff/signoff/workflows"
)

// registerReconciler registers the grant reconciler (workflows/reconcile.go)
// on the worker and makes its schedule match the config: a grant whose
// approval's workflow was terminated is revoked within
// worker.reconcile_interval.
func registerReconciler(w sdkworker.Worker, c client.Client, cfg *config.Loaded, acts *activities.Activities, logger *slog.Logger) error {
	logger = logger.With("component", "reconciler")
	w.RegisterWorkflowWithOptions(workflows.ReconcileGrantsWorkflow, workflow.RegisterOptions{Name: workflows.ReconcileWorkflowName})
	w.RegisterWorkflowWithOptions(workflows.ReconcileGrantWorkflow, workflow.RegisterOptions{Name: workflows.ReconcileGrantWorkflowName})
	rec := &activities.GrantReconciler{Client: c, TaskQueue: cfg.Temporal.TaskQueue, Activities: acts, Logger: logger}
	w.RegisterActivityWithOptions(rec.FindOrphanedGrants, activity.RegisterOptions{Name: workflows.ActivityFindOrphanedGrants})
	w.RegisterActivityWithOptions(rec.RevokeOrphanedGrant, activity.RegisterOptions{Name: workflows.ActivityRevokeOrphanedGrant})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return syncReconcileSchedule(ctx, c.ScheduleClient(), cfg, logger)
}

// syncReconcileSchedule creates the reconciler's schedule, or updates its
// interval and notifiers; a pause people set in the UI is kept.
func syncReconcileSchedule(ctx context.Context, sc client.ScheduleClient, cfg *config.Loaded, logger *slog.Logger) error {
	opts := reconcileScheduleOptions(cfg)
	_, err := sc.Create(ctx, opts)
	switch {
	case errors.Is(err, temporal.ErrScheduleAlreadyRunning):
		err = sc.GetHandle(ctx, opts.ID).Update(ctx, client.ScheduleUpdateOptions{
			DoUpdate: func(in client.ScheduleUpdateInput) (*client.ScheduleUpdate, error) {
				s := in.Description.Schedule
				spec := opts.Spec
				s.Spec, s.Action = &spec, opts.Action
				s.Policy = &client.SchedulePolicies{Overlap: opts.Overlap, CatchupWindow: opts.CatchupWindow}
				return &client.ScheduleUpdate{Schedule: &s}, nil
			},
		})
		if err != nil {
			return fmt.Errorf("update the grant reconciler's schedule: %w", err)
		}
		logger.Info("grant reconciler schedule updated", "schedule_id", opts.ID, "every", cfg.Worker.ReconcileInterval.Std())
	case err != nil:
		return fmt.Errorf("create the grant reconciler's schedule: %w", err)
	default:
		logger.Info("grant reconciler schedule created", "schedule_id", opts.ID, "every", cfg.Worker.ReconcileInterval.Std())
	}
	return nil
}

func reconcileScheduleOptions(cfg *config.Loaded) client.ScheduleOptions {
	tq, every := cfg.Temporal.TaskQueue, cfg.Worker.ReconcileInterval.Std()
	return client.ScheduleOptions{
		ID:   workflows.ReconcileScheduleID(tq),
		Spec: client.ScheduleSpec{Intervals: []client.ScheduleIntervalSpec{{Every: every}}},
		Action: &client.ScheduleWorkflowAction{
			ID:       workflows.ReconcileScheduleID(tq),
			Workflow: workflows.ReconcileWorkflowName,
			Args: []any{workflows.ReconcileInput{
				Notifiers: cfg.Notifiers, SecurityNotifiers: cfg.SecurityNotifiers,
			}},
			TaskQueue:     tq,
			StaticSummary: "Revoke grants whose approval's workflow closed without revoking them (terminated in Temporal)",
		},
		// One pass at a time; a missed pass is made up by the next.
		Overlap:       enumspb.SCHEDULE_OVERLAP_POLICY_SKIP,
		CatchupWindow: every,
		// The first pass runs at once: its metrics exist from the start.
		TriggerImmediately: true,
		Note:               "signoff grant reconciler (managed by the worker, every worker.reconcile_interval)",
	}
}
