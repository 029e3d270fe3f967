package activities

import (
	"context"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"

	"github.com/signoff/signoff/workflows"
)

// The activities' metrics, emitted through the activity's metrics handler
// (the worker's: exported to Prometheus with the SDK's, counters with
// _total). Each attempt counts: a retried failure counts again.
const (
	// MetricActionRuns counts action attempts, by action type and phase
	// (run, revoke, extend, discard).
	MetricActionRuns = "signoff_action_runs"
	// MetricActionFailures counts the action attempts that failed, by
	// action type and phase.
	MetricActionFailures = "signoff_action_failures"
	// MetricNotifyFailures counts notification attempts that failed, by
	// notifier.
	MetricNotifyFailures = "signoff_notify_failures"
)

// MetricsHandler is ctx's activity metrics handler, with the task queue
// set (local activities' handlers lack it) so every series of a metric has
// the same labels; outside an activity (tests calling a method directly),
// one that records nothing.
func MetricsHandler(ctx context.Context) client.MetricsHandler {
	if !activity.IsActivity(ctx) {
		return client.MetricsNopHandler
	}
	return activity.GetMetricsHandler(ctx).WithTags(map[string]string{"task_queue": activity.GetInfo(ctx).TaskQueue})
}

// countAction counts one action attempt of in, failed when *err is not nil.
func countAction(ctx context.Context, in workflows.ActionInput, err *error) {
	phase := in.Phase
	if phase == "" {
		phase = "run"
	}
	h := MetricsHandler(ctx).WithTags(map[string]string{"action": in.Approval.Request.Action.Type, "phase": phase})
	h.Counter(MetricActionRuns).Inc(1)
	// A success adds 0: the failures' series exists before the first
	// failure, so increase() sees that one too.
	var failed int64
	if *err != nil {
		failed = 1
	}
	h.Counter(MetricActionFailures).Inc(failed)
}

// countNotify counts a notification attempt through notifier that failed
// (*err not nil); a success adds 0, so the series exists before the first
// failure.
func countNotify(ctx context.Context, notifier string, err *error) {
	var failed int64
	if *err != nil {
		failed = 1
	}
	MetricsHandler(ctx).WithTags(map[string]string{"notifier": notifier}).Counter(MetricNotifyFailures).Inc(failed)
}
