package emailhttp

import (
	"context"
	"errors"
	"fmt"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"

	"github.com/signoff/signoff/approval"
	"github.com/signoff/signoff/codec"
	"github.com/signoff/signoff/evidence"
	"github.com/signoff/signoff/workflows"
)

var (
	errNotFound    = errors.New("approval not found")
	errUnavailable = errors.New("no worker answered in time")
)

// loaded is an approval as the pages see it.
type loaded struct {
	st    *approval.State
	runID string
}

// load reads an approval: a finished one's result (no worker needed), else
// the state query.
func (h *Handler) load(ctx context.Context, id string) (*loaded, error) {
	wid := workflows.ApprovalWorkflowID(id)
	desc, err := h.tc.DescribeWorkflowExecution(ctx, wid, "")
	if err != nil {
		return nil, classify(err)
	}
	info := desc.GetWorkflowExecutionInfo()
	runID := info.GetExecution().GetRunId()
	var st approval.State
	if info.GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED {
		if err := h.tc.GetWorkflow(ctx, wid, runID).Get(ctx, &st); err != nil {
			return nil, fmt.Errorf("read approval result: %w", classify(err))
		}
		return &loaded{st: &st, runID: runID}, nil
	}
	v, err := h.tc.QueryWorkflow(ctx, wid, runID, workflows.QueryState)
	if err != nil {
		return nil, classify(err)
	}
	if err := v.Get(&st); err != nil {
		return nil, fmt.Errorf("decode approval state: %w", err)
	}
	return &loaded{st: &st, runID: runID}, nil
}

func classify(err error) error {
	var nf *serviceerror.NotFound
	var unavailable *serviceerror.Unavailable
	switch {
	case errors.As(err, &nf):
		return errNotFound
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &unavailable):
		return fmt.Errorf("%w: %v", errUnavailable, err)
	}
	return err
}

// timers lists the workflow's timers that fired, with the names the
// workflow gave them (deadline, reminder, escalation level).
func (h *Handler) timers(ctx context.Context, id, runID string) ([]evidence.Timer, error) {
	iter := h.tc.GetWorkflowHistory(ctx, workflows.ApprovalWorkflowID(id), runID, false,
		enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	started := map[int64]string{}
	var out []evidence.Timer
	// Summaries are payloads, encrypted when the payload codec is on.
	dc, err := codec.EnvDataConverter()
	if err != nil {
		dc = converter.GetDefaultDataConverter()
	}
	for iter.HasNext() {
		ev, err := iter.Next()
		if err != nil {
			return nil, fmt.Errorf("read history: %w", classify(err))
		}
		switch ev.GetEventType() {
		case enumspb.EVENT_TYPE_TIMER_STARTED:
			a := ev.GetTimerStartedEventAttributes()
			name := fmt.Sprintf("timer %s (%s)", a.GetTimerId(), a.GetStartToFireTimeout().AsDuration())
			var summary string
			// A summary that cannot be decoded leaves the timer unnamed.
			if p := ev.GetUserMetadata().GetSummary(); p != nil && dc.FromPayload(p, &summary) == nil && summary != "" {
				name = summary
			}
			started[ev.GetEventId()] = name
		case enumspb.EVENT_TYPE_TIMER_FIRED:
			a := ev.GetTimerFiredEventAttributes()
			out = append(out, evidence.Timer{Time: ev.GetEventTime().AsTime(), Name: started[a.GetStartedEventId()]})
		}
	}
	return out, nil
}

// refusal is a decision the workflow recorded as refused.
type refusal struct {
	reason string
	kind   string // the workflows.ErrType*
}

func (r *refusal) Error() string { return r.reason }

// decideUpdate delivers the decision as an update, so the person hears at
// once whether it counted. The update ID is the attempt ID: a repeat is
// the same update.
func (h *Handler) decideUpdate(ctx context.Context, id string, dr workflows.DecisionRequest) (*workflows.DecideResult, error) {
	handle, err := h.tc.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID: workflows.ApprovalWorkflowID(id), UpdateID: dr.AttemptID, UpdateName: workflows.UpdateDecide,
		Args: []any{dr}, WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	var res workflows.DecideResult
	if err == nil {
		err = handle.Get(ctx, &res)
	}
	var app *temporal.ApplicationError
	var nf *serviceerror.NotFound
	switch {
	case err == nil:
		return &res, nil
	case errors.As(err, &app):
		return nil, &refusal{reason: app.Message(), kind: app.Type()}
	case errors.As(err, &nf):
		return nil, &refusal{reason: approval.RefusedNotPending, kind: workflows.ErrTypeFailedPrecondition}
	}
	return nil, classify(err)
}

// callContext bounds one page's Temporal calls.
func (h *Handler) callContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, h.timeout)
}

// formatTime is how pages show instants: UTC, unambiguous.
func formatTime(t time.Time) string {
	if t.IsZero() {
		return "none"
	}
	return t.UTC().Format("Mon 2 Jan 2006 15:04:05 MST")
}
