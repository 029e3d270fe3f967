package slackhttp

import (
	"context"
	"errors"
	"fmt"
	"strings"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"golang.org/x/sync/errgroup"

	"github.com/signoff/signoff/approval"
	"github.com/signoff/signoff/workflows"
)

// ErrNotFound means no approval has this ID, or its workflow is gone.
var ErrNotFound = errors.New("approval not found")

// ErrClosed means the approval's workflow has finished: nothing can be
// decided any more.
var ErrClosed = errors.New(approval.RefusedNotPending)

// Approvals is what the Slack callbacks need of Temporal.
type Approvals interface {
	// State reads an approval, open or finished.
	State(ctx context.Context, id string) (*approval.State, error)
	// Decide delivers a decision attempt durably (a signal: recorded in
	// history before it returns). ErrClosed if the approval has finished.
	Decide(ctx context.Context, id string, req workflows.DecisionRequest) error
	// Pending lists pending approvals, at most limit.
	Pending(ctx context.Context, limit int) ([]*approval.State, error)
}

// Temporal implements Approvals with a Temporal client.
type Temporal struct {
	Client    client.Client
	Namespace string
}

// State queries a running approval, or reads a finished one's result.
func (t Temporal) State(ctx context.Context, id string) (*approval.State, error) {
	wid := workflows.ApprovalWorkflowID(id)
	v, err := t.Client.QueryWorkflow(ctx, wid, "", workflows.QueryState)
	if err == nil {
		var st approval.State
		if err := v.Get(&st); err != nil {
			return nil, fmt.Errorf("decode approval state: %w", err)
		}
		return &st, nil
	}
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return nil, ErrNotFound
	}
	// A finished workflow may be read without a worker.
	desc, derr := t.Client.DescribeWorkflowExecution(ctx, wid, "")
	if derr != nil || desc.GetWorkflowExecutionInfo().GetStatus() != enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED {
		return nil, fmt.Errorf("query approval %s: %w", id, err)
	}
	var st approval.State
	if err := t.Client.GetWorkflow(ctx, wid, desc.GetWorkflowExecutionInfo().GetExecution().GetRunId()).Get(ctx, &st); err != nil {
		return nil, fmt.Errorf("read approval %s result: %w", id, err)
	}
	return &st, nil
}

// Decide signals the decision; the workflow records it, accepted or
// refused, and dedups by AttemptID.
func (t Temporal) Decide(ctx context.Context, id string, req workflows.DecisionRequest) error {
	err := t.Client.SignalWorkflow(ctx, workflows.ApprovalWorkflowID(id), "", workflows.SignalDecision, req)
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return ErrClosed
	}
	if err != nil {
		return fmt.Errorf("signal approval %s: %w", id, err)
	}
	return nil
}

// Pending lists pending approvals from visibility and reads each one's
// state, a few at a time.
func (t Temporal) Pending(ctx context.Context, limit int) ([]*approval.State, error) {
	q := fmt.Sprintf("WorkflowType = '%s' AND %s = '%s' AND ExecutionStatus = 'Running'",
		workflows.WorkflowName, workflows.AttrStatus.GetName(), approval.StatusPending)
	resp, err := t.Client.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
		Namespace: t.Namespace, PageSize: int32(limit), Query: q,
	})
	if err != nil {
		return nil, fmt.Errorf("list pending approvals: %w", err)
	}
	execs := resp.GetExecutions()
	if len(execs) > limit {
		execs = execs[:limit]
	}
	out := make([]*approval.State, len(execs))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for i, e := range execs {
		id := strings.TrimPrefix(e.GetExecution().GetWorkflowId(), workflows.ApprovalWorkflowID(""))
		g.Go(func() error {
			st, err := t.State(gctx, id)
			if err != nil {
				return nil // gone or unreadable: leave it out
			}
			out[i] = st
			return nil
		})
	}
	_ = g.Wait()
	var states []*approval.State
	for _, st := range out {
		if st != nil {
			states = append(states, st)
		}
	}
	return states, nil
}
