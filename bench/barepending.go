package bench

import (
	"context"
	"fmt"
	"runtime/debug"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/workflow"
)

// PendingWorkflow is the bare counterpart of a pending approval: it waits
// for one signal, with one timer (a reminder) running.
func PendingWorkflow(ctx workflow.Context) (string, error) {
	var decision string
	sel := workflow.NewSelector(ctx)
	sel.AddReceive(workflow.GetSignalChannel(ctx, "decision"), func(c workflow.ReceiveChannel, _ bool) { c.Receive(ctx, &decision) })
	sel.AddFuture(workflow.NewTimer(ctx, time.Hour), func(workflow.Future) {})
	sel.Select(ctx)
	return decision, nil
}

// BarePending is the memory of n bare pending workflows, measured as the
// scale phase measures approvals: at rest, in the same harness.
type BarePending struct {
	Pending int     `json:"pending"`
	Errors  int     `json:"errors"`
	RSSMiB  float64 `json:"rss_mib"`
	HeapMiB float64 `json:"heap_mib"`
}

// StartPending starts n PendingWorkflows from conc clients on the baseline
// worker's queue and measures the process at rest once the queue is idle.
func StartPending(ctx context.Context, c client.Client, namespace string, n, conc int) BarePending {
	_, errs := runConcurrently(n, conc, func(i int) error {
		_, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
			ID: fmt.Sprintf("pending-%d", i), TaskQueue: baselineQueue,
		}, PendingWorkflow)
		return err
	})
	if err := WaitIdle(ctx, c, namespace, baselineQueue, 10*time.Minute); err != nil {
		fmt.Println(err)
	}
	if err := WaitVisible(ctx, c, `WorkflowType = "PendingWorkflow" AND ExecutionStatus = "Running"`, int64(n-len(errs)), 10*time.Minute); err != nil {
		fmt.Println(err)
	}
	debug.FreeOSMemory()
	return BarePending{Pending: n - len(errs), Errors: len(errs), RSSMiB: RSSMiB(), HeapMiB: heapMiB()}
}
