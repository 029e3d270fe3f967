package bench

import (
	"context"
	"fmt"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
)

const baselineQueue = "bench-baseline"

// BaselineWorkflow is the smallest approval imaginable: wait for one signal.
func BaselineWorkflow(ctx workflow.Context) (string, error) {
	var decision string
	workflow.GetSignalChannel(ctx, "decision").Receive(ctx, &decision)
	return decision, nil
}

// StartBaselineWorker runs BaselineWorkflow on its own task queue.
func StartBaselineWorker(c client.Client) (worker.Worker, error) {
	w := worker.New(c, baselineQueue, worker.Options{})
	w.RegisterWorkflow(BaselineWorkflow)
	w.RegisterWorkflow(PendingWorkflow)
	return w, w.Start()
}

// Throughput is a phase's result.
type Throughput struct {
	Concurrency int     `json:"concurrency"`
	N           int     `json:"n"`
	Errors      int     `json:"errors"`
	PerSecond   float64 `json:"per_second"`
	EndToEnd    Summary `json:"end_to_end"`
	FirstError  string  `json:"first_error,omitempty"`
}

// Baseline starts, signals and awaits n bare workflows at concurrency c.
func Baseline(ctx context.Context, c client.Client, run string, n, conc int) Throughput {
	var lat Latencies
	wall, errs := runConcurrently(n, conc, func(i int) error {
		start := time.Now()
		id := BaselineID(run, i)
		wr, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: baselineQueue}, BaselineWorkflow)
		if err != nil {
			return err
		}
		if err := c.SignalWorkflow(ctx, id, "", "decision", "approve"); err != nil {
			return err
		}
		var out string
		if err := wr.Get(ctx, &out); err != nil {
			return err
		}
		lat.Add(time.Since(start))
		return nil
	})
	return throughputOf(conc, n, wall, errs, &lat)
}

// BaselineID is the workflow id of a run's i-th bare workflow.
func BaselineID(run string, i int) string { return fmt.Sprintf("baseline-%s-%d", run, i) }

// throughputOf is a phase's result from its run.
func throughputOf(conc, n int, wall time.Duration, errs []error, lat *Latencies) Throughput {
	t := Throughput{Concurrency: conc, N: n, Errors: len(errs), PerSecond: rate(n-len(errs), wall), EndToEnd: lat.Summary()}
	if len(errs) > 0 {
		t.FirstError = errs[0].Error()
	}
	return t
}

func rate(n int, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(int(float64(n)/d.Seconds()*10)) / 10
}
