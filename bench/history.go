package bench

import (
	"context"
	"strings"

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
		name := strings.TrimPrefix(e.GetEventType().String(), "EVENT_TYPE_")
		switch name {
		case "ACTIVITY_TASK_SCHEDULED":
			out["activities"]++
		case "WORKFLOW_EXECUTION_SIGNALED":
			out["signals"]++
		case "WORKFLOW_EXECUTION_UPDATE_ACCEPTED":
			out["updates"]++
		case "TIMER_STARTED":
			out["timers"]++
		case "WORKFLOW_TASK_COMPLETED":
			out["workflow_tasks"]++
		}
		out["events"]++
	}
	return out, nil
}
