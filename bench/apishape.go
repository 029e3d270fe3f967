package bench

import (
	"context"
	"fmt"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/signoff/signoff/workflows"
)

// APIShape runs n approvals at concurrency c the way an API client does:
// REST create, one approver decides through REST on what they read, the
// no-op action runs, the approval closes. It is the shape the bare
// baseline stands for (start, one message, complete).
func APIShape(ctx context.Context, api *API, c client.Client, env string, n, conc int) Throughput {
	var lat Latencies
	wall, errs := runConcurrently(n, conc, func(i int) error {
		ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		defer cancel()
		start := time.Now()
		id, err := api.Create(ctx, env, fmt.Sprintf("api %d", i), "")
		if err != nil {
			return err
		}
		if err := api.Decide(ctx, id, "dev-bob", "DECISION_APPROVE"); err != nil {
			return err
		}
		if err := c.GetWorkflow(ctx, workflows.ApprovalWorkflowID(id), "").Get(ctx, nil); err != nil {
			return fmt.Errorf("close of %s: %w", id, err)
		}
		lat.Add(time.Since(start))
		return nil
	})
	return throughputOf(conc, n, wall, errs, &lat)
}
