package activities

import (
	"context"
	"errors"
	"fmt"

	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/signoff/signoff/temporal/connect"
	"github.com/signoff/signoff/workflows"
)

// RunLister finds the runs of a workflow ID in Temporal's visibility.
type RunLister interface {
	// OtherRuns are the IDs of runs of workflowID other than runID.
	OtherRuns(ctx context.Context, workflowID, runID string) ([]string, error)
}

// TemporalRuns lists runs through a Temporal client.
type TemporalRuns struct{ Client client.Client }

// OtherRuns asks visibility for at most a few other runs: one is enough to
// tell a copy.
func (t TemporalRuns) OtherRuns(ctx context.Context, workflowID, runID string) ([]string, error) {
	q := fmt.Sprintf("WorkflowId = %s AND RunId != %s", connect.Quote(workflowID), connect.Quote(runID))
	resp, err := t.Client.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: q, PageSize: 5})
	if err != nil {
		return nil, fmt.Errorf("list runs of %s: %w", workflowID, err)
	}
	var out []string
	for _, e := range resp.GetExecutions() {
		out = append(out, e.GetExecution().GetRunId())
	}
	return out, nil
}

// Admit answers a Version4 start's checks in one call: the stamp, then,
// only for a good one, the other runs under its ID and the ring's public
// keys. A failed listing fails the call, so the approval waits (the local
// activity is retried) rather than trusting it.
func (a *Activities) Admit(ctx context.Context, in workflows.AdmitInput) (workflows.Admission, error) {
	out := workflows.Admission{Verdict: a.Proofs.Check(in.Proof.Subject, in.Proof.Stamp)}
	if !out.Verdict.OK {
		return out, nil
	}
	others, err := a.EarlierRuns(ctx, in.Runs)
	if err != nil {
		return workflows.Admission{}, err
	}
	out.OtherRuns, out.PublicKeys = others, a.Proofs.PublicKeys()
	return out, nil
}

// EarlierRuns answers the workflow's first-run check: the other runs under
// its workflow ID. A worker without a lister fails the check, so the
// approval waits (the local activity is retried) rather than trusting it.
func (a *Activities) EarlierRuns(ctx context.Context, in workflows.RunsInput) ([]string, error) {
	if a.Runs == nil {
		return nil, errors.New("this worker cannot list workflow runs")
	}
	return a.Runs.OtherRuns(ctx, in.WorkflowID, in.RunID)
}
