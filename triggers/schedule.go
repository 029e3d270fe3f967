package triggers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/signoff/signoff/config"
)

// catchupWindow: after an outage, a missed run is taken if it is at most
// this late; older ones count as missed (visible in the UI). One catch-up
// run is enough, for every run looks at the data as it is now.
const catchupWindow = 5 * time.Minute

// SyncSchedules creates or updates one schedule per trigger and deletes
// this task queue's schedules of triggers no longer configured: the config
// is the source of truth. A schedule's pause state is left as people set
// it in the UI; `paused` only applies when it is created.
func SyncSchedules(ctx context.Context, c client.Client, taskQueue string, list []config.Trigger, logger *slog.Logger) error {
	sc := c.ScheduleClient()
	want := map[string]bool{}
	for _, t := range list {
		id := ScheduleID(taskQueue, t.Name)
		want[id] = true
		opts := scheduleOptions(taskQueue, t)
		_, err := sc.Create(ctx, opts)
		switch {
		case errors.Is(err, temporal.ErrScheduleAlreadyRunning):
			if err := update(ctx, sc.GetHandle(ctx, id), opts); err != nil {
				return fmt.Errorf("trigger %s: update schedule: %w", t.Name, err)
			}
			logger.Info("trigger schedule updated", "trigger", t.Name, "schedule_id", id)
		case err != nil:
			return fmt.Errorf("trigger %s: create schedule: %w", t.Name, err)
		default:
			logger.Info("trigger schedule created", "trigger", t.Name, "schedule_id", id, "paused", t.Paused)
		}
	}
	// Listing is eventually consistent and only tidies up: a failure is
	// worth a warning, not a worker that will not start.
	it, err := sc.List(ctx, client.ScheduleListOptions{PageSize: 200})
	if err != nil {
		logger.Warn("could not list schedules to remove those of deleted triggers", "err", err)
		return nil
	}
	prefix := ScheduleID(taskQueue, "")
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			logger.Warn("could not list schedules to remove those of deleted triggers", "err", err)
			return nil
		}
		if !strings.HasPrefix(e.ID, prefix) || want[e.ID] {
			continue
		}
		if err := sc.GetHandle(ctx, e.ID).Delete(ctx); err != nil {
			logger.Warn("could not delete the schedule of a removed trigger", "schedule_id", e.ID, "err", err)
			continue
		}
		logger.Info("schedule of a removed trigger deleted", "schedule_id", e.ID)
	}
	return nil
}

func scheduleOptions(taskQueue string, t config.Trigger) client.ScheduleOptions {
	spec := client.ScheduleSpec{Jitter: t.Schedule.Jitter.Std()}
	if t.Schedule.Every != 0 {
		spec.Intervals = []client.ScheduleIntervalSpec{{Every: t.Schedule.Every.Std()}}
	} else {
		spec.CronExpressions = []string{t.Schedule.Cron}
	}
	return client.ScheduleOptions{
		ID:   ScheduleID(taskQueue, t.Name),
		Spec: spec,
		Action: &client.ScheduleWorkflowAction{
			ID:            "trigger-run-" + t.Name,
			Workflow:      WorkflowName,
			Args:          []any{RunInput{Trigger: t.Name}},
			TaskQueue:     taskQueue,
			StaticSummary: fmt.Sprintf("Trigger %s: one approval per %s, requested by %s", t.Name, t.PrimaryKey, t.Requester),
		},
		Overlap:       enumspb.SCHEDULE_OVERLAP_POLICY_SKIP,
		CatchupWindow: catchupWindow,
		Paused:        t.Paused,
		Note:          "signoff trigger " + t.Name + " (managed from the config file)",
		Memo:          map[string]any{"trigger": t.Name},
	}
}

// update replaces spec, action and policies, keeping the state (pause,
// note) people may have changed in the UI.
func update(ctx context.Context, h client.ScheduleHandle, opts client.ScheduleOptions) error {
	return h.Update(ctx, client.ScheduleUpdateOptions{
		DoUpdate: func(in client.ScheduleUpdateInput) (*client.ScheduleUpdate, error) {
			s := in.Description.Schedule
			spec := opts.Spec
			s.Spec = &spec
			s.Action = opts.Action
			s.Policy = &client.SchedulePolicies{Overlap: opts.Overlap, CatchupWindow: opts.CatchupWindow}
			return &client.ScheduleUpdate{Schedule: &s}, nil
		},
	})
}
