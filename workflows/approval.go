package workflows

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/signoff/signoff/activities"
	"github.com/signoff/signoff/approval"
)

// acts is only used for method references; the worker registers the real one.
var acts *activities.Activities

// ApprovalWorkflow waits for decisions until the quorum, a rejection, a
// cancellation or the deadline, then runs the action if granted and reports
// the outcome. Its result is the final approval.State.
func ApprovalWorkflow(ctx workflow.Context, in Input) (*approval.State, error) {
	// Request.Hash marshals JSON, which sorts map keys: deterministic.
	st := approval.New(in.ID, in.Requester, in.Request, in.Policy, in.CreatedAt) //workflowcheck:ignore
	logger := workflow.GetLogger(ctx)

	if err := workflow.SetQueryHandler(ctx, QueryState, func() (*approval.State, error) { return st, nil }); err != nil {
		return nil, fmt.Errorf("set query handler: %w", err)
	}
	decide := func(req DecisionRequest) approval.Attempt {
		a := st.Decide(approval.Attempt{
			ID: req.AttemptID, User: req.User, Decision: req.Decision, Comment: req.Comment,
			Values: req.Values, Channel: req.Channel, RefusalReason: req.Refusal,
		}, workflow.Now(ctx))
		if !a.Accepted {
			logger.Info("decision refused", "user", a.User, "reason", a.RefusalReason)
		}
		setDetails(ctx, st)
		return a
	}
	if err := workflow.SetUpdateHandler(ctx, UpdateDecide, func(ctx workflow.Context, req DecisionRequest) (DecideResult, error) {
		a := decide(req)
		if !a.Accepted {
			// The refused attempt is in the state (and so in history);
			// the error tells the caller why.
			return DecideResult{}, refusalError(a.RefusalReason)
		}
		return DecideResult{Attempt: a, Approval: st}, nil
	}); err != nil {
		return nil, fmt.Errorf("set update handler: %w", err)
	}
	cancel := func(req CancelRequest) error {
		err := st.Cancel(req.User, req.Admin, req.Reason, workflow.Now(ctx))
		setDetails(ctx, st)
		return err
	}
	if err := workflow.SetUpdateHandler(ctx, UpdateCancel, func(ctx workflow.Context, req CancelRequest) (*approval.State, error) {
		if err := cancel(req); err != nil {
			return nil, refusalError(err.Error())
		}
		return st, nil
	}); err != nil {
		return nil, fmt.Errorf("set update handler: %w", err)
	}
	// Signals are drained for the workflow's whole life, so attempts that
	// arrive while the action runs are still recorded (as refused).
	decisions := workflow.GetSignalChannel(ctx, SignalDecision)
	cancels := workflow.GetSignalChannel(ctx, SignalCancel)
	workflow.Go(ctx, func(ctx workflow.Context) {
		for {
			sel := workflow.NewSelector(ctx)
			sel.AddReceive(decisions, func(c workflow.ReceiveChannel, _ bool) {
				var req DecisionRequest
				c.Receive(ctx, &req)
				decide(req)
			})
			sel.AddReceive(cancels, func(c workflow.ReceiveChannel, _ bool) {
				var req CancelRequest
				c.Receive(ctx, &req)
				if err := cancel(req); err != nil {
					logger.Info("cancel refused", "user", req.User, "reason", err)
				}
			})
			sel.Select(ctx)
			if ctx.Err() != nil {
				return
			}
		}
	})

	if err := upsertStatus(ctx, st); err != nil {
		return nil, err
	}
	setDetails(ctx, st)
	notifyAll(ctx, st, in.Notifiers, activities.KindPrompt)

	if err := waitForOutcome(ctx, st); err != nil {
		if !errors.Is(err, workflow.ErrCanceled) {
			return nil, err
		}
		// Cancelled from Temporal itself (UI or CLI): record it and still
		// tell people, on a context that is not cancelled.
		ctx, _ = workflow.NewDisconnectedContext(ctx)
		_ = st.Cancel("temporal", true, "workflow cancelled in Temporal", workflow.Now(ctx))
	}
	if err := upsertStatus(ctx, st); err != nil {
		return nil, err
	}
	setDetails(ctx, st)

	if st.Status.Granted() {
		st.ActionResult = runAction(ctx, st)
		st.Record(workflow.Now(ctx), "action", "", actionSummary(st.ActionResult))
		setDetails(ctx, st)
	}
	notifyAll(ctx, st, in.Notifiers, activities.KindOutcome)

	// Let in-flight update handlers answer before the workflow closes.
	if err := workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) }); err != nil {
		return nil, err
	}
	return st, nil
}

// waitForOutcome blocks until the status is final or the deadline passes.
func waitForOutcome(ctx workflow.Context, st *approval.State) error {
	remaining := st.Deadline.Sub(workflow.Now(ctx))
	if remaining > 0 {
		ok, err := workflow.AwaitWithOptions(ctx, workflow.AwaitOptions{
			Timeout:      remaining,
			TimerOptions: workflow.TimerOptions{Summary: "deadline " + st.Deadline.UTC().Format(time.RFC3339)},
		}, func() bool { return st.Status.Final() })
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
	}
	st.Expire(workflow.Now(ctx))
	return nil
}

func runAction(ctx workflow.Context, st *approval.State) *approval.ActionResult {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 2 * time.Minute,
		Summary:             "run " + st.Request.Action.Type + " action",
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:    time.Second,
			BackoffCoefficient: 2,
			MaximumInterval:    time.Minute,
			MaximumAttempts:    8,
		},
	})
	var res approval.ActionResult
	err := workflow.ExecuteActivity(ctx, acts.RunAction, activities.ActionInput{Approval: *st}).Get(ctx, &res)
	if err != nil {
		res = approval.ActionResult{Type: st.Request.Action.Type, Success: false, Error: rootMessage(err)}
	}
	res.FinishTime = workflow.Now(ctx)
	return &res
}

// notifyAll runs one notify activity per notifier in parallel. A notifier
// that fails is recorded and never blocks the approval: people can still
// decide through the other channels and the API.
func notifyAll(ctx workflow.Context, st *approval.State, notifiers []string, kind string) {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: time.Minute,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:    time.Second,
			BackoffCoefficient: 2,
			MaximumInterval:    time.Minute,
			MaximumAttempts:    10,
		},
	})
	futures := make([]workflow.Future, len(notifiers))
	for i, n := range notifiers {
		actx := workflow.WithActivityOptions(ctx, withSummary(ctx, kind+" via "+n))
		futures[i] = workflow.ExecuteActivity(actx, acts.Notify, activities.NotifyInput{Notifier: n, Kind: kind, Approval: *st})
	}
	for i, f := range futures {
		var d activities.Delivery
		if err := f.Get(ctx, &d); err != nil {
			st.Record(workflow.Now(ctx), "notify_failed", "", fmt.Sprintf("%s %s: %s", notifiers[i], kind, rootMessage(err)))
			continue
		}
		st.Messages = append(st.Messages, d.Messages...)
		st.Record(workflow.Now(ctx), "notified", "", fmt.Sprintf("%s %s: %s", notifiers[i], kind, strings.Join(d.Targets, ", ")))
	}
}

func withSummary(ctx workflow.Context, summary string) workflow.ActivityOptions {
	o := workflow.GetActivityOptions(ctx)
	o.Summary = summary
	return o
}

func upsertStatus(ctx workflow.Context, st *approval.State) error {
	err := workflow.UpsertTypedSearchAttributes(ctx,
		AttrStatus.ValueSet(string(st.Status)),
		AttrRequester.ValueSet(st.Requester),
		AttrEnvironment.ValueSet(st.Request.Environment),
	)
	if err != nil {
		return fmt.Errorf("upsert search attributes: %w", err)
	}
	return nil
}

// setDetails keeps the Temporal UI's "current details" readable. fmt only
// formats strings and ints here, which is deterministic.
//
//workflowcheck:ignore
func setDetails(ctx workflow.Context, st *approval.State) {
	var b strings.Builder
	fmt.Fprintf(&b, "**%s** — %s\n\n", st.Status, st.Request.Title)
	fmt.Fprintf(&b, "%d of %d approvals (policy `%s`)", len(st.ApprovedBy), st.Policy.RequiredApprovals, st.Policy.Name)
	if len(st.ApprovedBy) > 0 {
		fmt.Fprintf(&b, ", approved by %s", strings.Join(st.ApprovedBy, ", "))
	}
	if st.Status == approval.StatusPending {
		fmt.Fprintf(&b, "\n\nWaiting for: %s; deadline %s", strings.Join(st.Pending(), ", "), st.Deadline.UTC().Format(time.RFC3339))
	}
	if st.ActionResult != nil {
		fmt.Fprintf(&b, "\n\nAction: %s", actionSummary(st.ActionResult))
	}
	workflow.SetCurrentDetails(ctx, b.String())
}

func actionSummary(r *approval.ActionResult) string {
	if r.Success {
		return r.Type + " succeeded: " + r.Output
	}
	return r.Type + " failed: " + r.Error
}

// refusalError maps a refusal reason to an application error whose type the
// gateway turns into a gRPC code.
func refusalError(reason string) error {
	typ := ErrTypeFailedPrecondition
	switch reason {
	case approval.RefusedNotApprover, approval.RefusedSelfApproval, approval.ErrNotAllowedToCancel.Error():
		typ = ErrTypePermissionDenied
	case approval.RefusedUnknownDecision:
		typ = ErrTypeInvalidArgument
	}
	return temporal.NewNonRetryableApplicationError(reason, typ, nil)
}

func rootMessage(err error) string {
	var app *temporal.ApplicationError
	if errors.As(err, &app) {
		return app.Message()
	}
	var to *temporal.TimeoutError
	if errors.As(err, &to) {
		return "timed out: " + to.Error()
	}
	return err.Error()
}
