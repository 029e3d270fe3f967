package triggers

import (
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// RunWorkflow is one run of a trigger: a single activity does the query and
// the starts, all idempotent, so the workflow only fixes the run's time and
// the retry policy. A query the database refuses fails the run (red in the
// Temporal UI); rows that could not get an approval are listed in the
// result.
func RunWorkflow(ctx workflow.Context, in RunInput) (RunResult, error) {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		// The activity bounds its query with the trigger's timeout and
		// heartbeats, so a lost worker is noticed within a minute.
		StartToCloseTimeout: time.Hour,
		HeartbeatTimeout:    time.Minute,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:        5 * time.Second,
			BackoffCoefficient:     2,
			MaximumInterval:        time.Minute,
			MaximumAttempts:        5,
			NonRetryableErrorTypes: []string{ErrTypeConfig, ErrTypeQuery},
		},
		Summary: "query " + in.Trigger + " and start approvals",
	})
	var res RunResult
	err := workflow.ExecuteActivity(ctx, ActivityName, ActivityInput{Trigger: in.Trigger, Time: workflow.Now(ctx)}).Get(ctx, &res)
	if err != nil {
		return RunResult{}, err
	}
	workflow.SetCurrentDetails(ctx, "**"+in.Trigger+"**: "+res.Summary())
	return res, nil
}
