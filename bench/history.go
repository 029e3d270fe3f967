package bench

import (
	"context"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
)

// HistoryCounts counts one workflow's events by kind: where an approval's
// cost goes (activities, signals, updates, timers, workflow tasks).
func HistoryCounts(ctx context.Context, c client.Client, workflowID string) (map[string]int, error) {
	out := map[string]int{}
	it := c.GetWorkflowHistory(ctx, workflowID, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			return nil, err
		}
		switch e.GetEventType() {
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
			out["activities"]++
		case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
			out["signals"]++
		case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
			out["updates"]++
		case enumspb.EVENT_TYPE_TIMER_STARTED:
			out["timers"]++
		case enumspb.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
			out["workflow_tasks"]++
		}
		out["events"]++
	}
	return out, nil
}
