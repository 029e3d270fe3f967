package bench

import (
	"context"
	"fmt"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	taskqueuepb "go.temporal.io/api/taskqueue/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
)

// WaitIdle blocks until the task queue has no workflow or activity backlog,
// so a latency measured next is the steady state, not the queue draining.
// Backlog counts are approximate and eventually consistent: it polls, and
// takes a queue whose backlog reads the same while no task is added or
// dispatched for stalledSamples polls in a row as idle too (after thousands
// of starts the approximate count can stay above zero for good). Rates
// that read zero for 600 ms were not enough: they are approximate too, and
// a round of decisions started on such readings queued behind 10,000
// creates for 19 s.
func WaitIdle(ctx context.Context, c client.Client, namespace, queue string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	quiet, stalled, prev := 0, 0, int64(-1)
	for quiet < 3 && stalled < stalledSamples {
		if time.Now().After(deadline) {
			return fmt.Errorf("task queue %s still busy after %s", queue, timeout)
		}
		busy, moving := int64(0), 0.0
		for _, typ := range []enumspb.TaskQueueType{enumspb.TASK_QUEUE_TYPE_WORKFLOW, enumspb.TASK_QUEUE_TYPE_ACTIVITY} {
			resp, err := c.WorkflowService().DescribeTaskQueue(ctx, &workflowservice.DescribeTaskQueueRequest{
				Namespace: namespace, TaskQueue: &taskqueuepb.TaskQueue{Name: queue}, TaskQueueType: typ, ReportStats: true,
			})
			if err != nil {
				return fmt.Errorf("describe task queue: %w", err)
			}
			stats := resp.GetStats()
			busy += stats.GetApproximateBacklogCount()
			moving += float64(stats.GetTasksAddRate()) + float64(stats.GetTasksDispatchRate())
		}
		switch {
		case busy == 0:
			quiet, stalled = quiet+1, 0
		case moving == 0 && busy == prev:
			quiet, stalled = 0, stalled+1
		default:
			quiet, stalled = 0, 0
		}
		prev = busy
		time.Sleep(200 * time.Millisecond)
	}
	return nil
}

// stalledSamples polls (2 s) of an unchanged backlog with nothing moving
// count as idle.
const stalledSamples = 10

// WaitVisible blocks until visibility counts at least want workflows for
// query: the server's visibility queue has caught up with a burst of
// starts, and memory it held for them can be measured at rest.
func WaitVisible(ctx context.Context, c client.Client, query string, want int64, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		resp, err := c.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{Query: query})
		if err == nil && resp.GetCount() >= want {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("visibility counts %d of %d for %q after %s (%v)", resp.GetCount(), want, query, timeout, err)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// Pending says what workflow wid waits on: its status and each pending
// activity's attempt and last failure (for a bench phase that waited in
// vain).
func Pending(ctx context.Context, c client.Client, wid string) string {
	d, err := c.DescribeWorkflowExecution(ctx, wid, "")
	if err != nil {
		return "describe: " + err.Error()
	}
	out := d.GetWorkflowExecutionInfo().GetStatus().String()
	for _, a := range d.GetPendingActivities() {
		out += fmt.Sprintf("; activity %s attempt %d state %s last failure %q",
			a.GetActivityType().GetName(), a.GetAttempt(), a.GetState(), a.GetLastFailure().GetMessage())
	}
	return out
}
