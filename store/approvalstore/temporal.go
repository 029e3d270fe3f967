package approvalstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"

	"github.com/signoff/signoff/approval"
	"github.com/signoff/signoff/approval/evidence"
	"github.com/signoff/signoff/temporal/connect"
	"github.com/signoff/signoff/workflows"
)

// Temporal implements Approvals with ApprovalWorkflow executions.
type Temporal struct {
	client    client.Client
	converter converter.DataConverter
	namespace string
	taskQueue string
}

// NewTemporal returns the port over c. dc must be the converter c was
// dialled with: memos and attributes the SDK hands over raw are decoded
// with it (they are encrypted when payload encryption is on).
func NewTemporal(c client.Client, dc converter.DataConverter, namespace, taskQueue string) *Temporal {
	if dc == nil {
		dc = converter.GetDefaultDataConverter()
	}
	return &Temporal{client: c, converter: dc, namespace: namespace, taskQueue: taskQueue}
}

var _ Approvals = (*Temporal)(nil)

// Start starts the approval's workflow, indexed for lists and described
// for the Temporal UI.
func (t *Temporal) Start(ctx context.Context, in workflows.Input) error {
	st := approval.New(in.ID, in.Requester, in.Request, in.Policy, in.CreatedAt)
	st.Justification = in.Justification
	_, err := t.client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                                       workflows.ApprovalWorkflowID(in.ID),
		TaskQueue:                                t.taskQueue,
		WorkflowIDReusePolicy:                    enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		WorkflowIDConflictPolicy:                 enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
		WorkflowExecutionErrorWhenAlreadyStarted: true,
		// No eager start (the first workflow task handed back with the start
		// when a worker shares this client): measured on SDK 1.50, the next
		// task of about one eagerly started approval in a hundred was taken
		// by the worker and never completed, so its first decision waited
		// out the 10 s workflow task timeout, once or twice. Without it no
		// decision took over 5 s (docs/architecture-notes.md).
		Memo: map[string]any{
			workflows.MemoTitle:       in.Request.Title,
			workflows.MemoPolicy:      in.Policy.Name,
			workflows.MemoDeadline:    st.Deadline,
			workflows.MemoRequestHash: st.RequestHash,
			workflows.MemoRego:        in.Policy.Rego != "",
		},
		TypedSearchAttributes: temporal.NewSearchAttributes(searchAttributes(in)...),
		StaticSummary:         fmt.Sprintf("%s (%s) requested by %s", in.Request.Title, in.Request.Environment, in.Requester),
		StaticDetails:         staticDetails(st),
	}, workflows.WorkflowName, in)
	var started *serviceerror.WorkflowExecutionAlreadyStarted
	switch {
	case errors.As(err, &started):
		hash, err := t.requestHash(ctx, in.ID)
		if err != nil {
			return err
		}
		return &Exists{RequestHash: hash}
	case err != nil:
		return t.fail("start approval", err)
	}
	return nil
}

// requestHash is a started approval's content hash from its memo.
func (t *Temporal) requestHash(ctx context.Context, id string) (string, error) {
	desc, err := t.client.DescribeWorkflowExecution(ctx, workflows.ApprovalWorkflowID(id), "")
	if err != nil {
		return "", t.fail("describe approval", err)
	}
	// No memo (an approval from before it existed) reads as no hash, which
	// the caller answers as a conflict; one that cannot be decoded (a codec
	// key gone) is an error, not a conflict.
	var hash string
	if err := t.decode(desc.GetWorkflowExecutionInfo().GetMemo().GetFields()[workflows.MemoRequestHash], &hash); err != nil && !errors.Is(err, errAbsent) {
		return "", fmt.Errorf("read the request hash of approval %s: %w", id, err)
	}
	return hash, nil
}

// searchAttributes index a new approval. Approvers scopes lists to the
// people an approval concerns.
func searchAttributes(in workflows.Input) []temporal.SearchAttributeUpdate {
	attrs := []temporal.SearchAttributeUpdate{
		workflows.AttrStatus.ValueSet(string(approval.StatusPending)),
		workflows.AttrRequester.ValueSet(in.Requester),
		workflows.AttrEnvironment.ValueSet(in.Request.Environment),
	}
	if approvers := in.Policy.AllApprovers(); len(approvers) > 0 {
		attrs = append(attrs, workflows.AttrApprovers.ValueSet(approvers))
	}
	if in.Version >= workflows.Version3 {
		attrs = append(attrs, workflows.AttrVersion.ValueSet(int64(in.Version)))
	}
	if awaited := workflows.AwaitedAtStart(in); in.Version >= workflows.Version2 && len(awaited) > 0 {
		attrs = append(attrs, workflows.AttrAwaitedBy.ValueSet(awaited))
	}
	return attrs
}

// staticDetails is the Temporal UI's markdown summary of the request.
func staticDetails(st *approval.State) string {
	var b strings.Builder
	fmt.Fprintf(&b, "**%s**\n\n", st.Request.Title)
	if st.Request.Description != "" {
		fmt.Fprintf(&b, "%s\n\n", st.Request.Description)
	}
	fmt.Fprintf(&b, "- Environment: `%s`\n- Requester: %s\n- Policy: `%s` (%s), approvers %s\n- Action: `%s`\n",
		st.Request.Environment, st.Requester, st.Policy.Name, st.Policy.Version,
		strings.Join(st.Policy.AllApprovers(), ", "), st.Request.Action.Type)
	if st.Request.Resource != "" {
		fmt.Fprintf(&b, "- Resource: `%s`\n", st.Request.Resource)
	}
	if st.Justification != "" {
		fmt.Fprintf(&b, "- Justification: %s\n", st.Justification)
	}
	keys := make([]string, 0, len(st.Request.Fields))
	for k := range st.Request.Fields {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, "- %s: %s\n", k, st.Request.Fields[k])
	}
	return b.String()
}

// Info describes the approval's workflow.
func (t *Temporal) Info(ctx context.Context, id string) (Info, error) {
	desc, err := t.client.DescribeWorkflowExecution(ctx, workflows.ApprovalWorkflowID(id), "")
	if err != nil {
		return Info{}, t.fail("describe approval", err)
	}
	info := desc.GetWorkflowExecutionInfo()
	return Info{
		Open:      info.GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING,
		StartTime: info.GetStartTime().AsTime(),
	}, nil
}

// Get reads a completed approval's result (no worker needed), otherwise
// its state query.
func (t *Temporal) Get(ctx context.Context, id string) (*approval.State, error) {
	wid := workflows.ApprovalWorkflowID(id)
	desc, err := t.client.DescribeWorkflowExecution(ctx, wid, "")
	if err != nil {
		return nil, t.fail("describe approval", err)
	}
	info := desc.GetWorkflowExecutionInfo()
	runID := info.GetExecution().GetRunId()
	var st approval.State
	if info.GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED {
		if err := t.client.GetWorkflow(ctx, wid, runID).Get(ctx, &st); err != nil {
			return nil, t.fail("read approval result", err)
		}
		return &st, nil
	}
	v, err := t.client.QueryWorkflow(ctx, wid, runID, workflows.QueryState)
	// A query can fail while the workflow's task is being retried (seen
	// under bursts of concurrent decisions); it answers again moments later.
	for wait := 100 * time.Millisecond; err != nil && transient(err) && ctx.Err() == nil && wait <= 800*time.Millisecond; wait *= 2 {
		tm := time.NewTimer(wait)
		select {
		case <-ctx.Done():
		case <-tm.C:
		}
		tm.Stop()
		v, err = t.client.QueryWorkflow(ctx, wid, runID, workflows.QueryState)
	}
	if err != nil {
		return nil, t.fail("query approval", err)
	}
	if err := v.Get(&st); err != nil {
		return nil, fmt.Errorf("decode approval %s: %w", id, err)
	}
	return &st, nil
}

// transient reports whether a failed query may answer if asked again.
func transient(err error) bool {
	var app *temporal.ApplicationError
	var notFound *serviceerror.NotFound
	return !errors.As(err, &notFound) && !errors.As(err, &app)
}

// Decide sends the decide update; the update ID is the attempt ID, so a
// repeat is the same update.
func (t *Temporal) Decide(ctx context.Context, id string, req workflows.DecisionRequest) (*workflows.DecideResult, error) {
	var res workflows.DecideResult
	if err := t.update(ctx, id, req.AttemptID, workflows.UpdateDecide, req, &res); err != nil {
		return nil, err
	}
	return &res, nil
}

// Click signals the decision: durable once this returns, judged by the
// workflow when a worker runs it.
func (t *Temporal) Click(ctx context.Context, id string, req workflows.DecisionRequest) error {
	err := t.client.SignalWorkflow(ctx, workflows.ApprovalWorkflowID(id), "", workflows.SignalDecision, req)
	var notFound *serviceerror.NotFound
	if errors.As(err, &notFound) {
		return ErrClosed
	}
	if err != nil {
		return t.fail("signal approval", err)
	}
	return nil
}

// Cancel sends the cancel update.
func (t *Temporal) Cancel(ctx context.Context, id string, req workflows.CancelRequest) (*approval.State, error) {
	var st approval.State
	if err := t.update(ctx, id, req.AttemptID, workflows.UpdateCancel, req, &st); err != nil {
		return nil, err
	}
	return &st, nil
}

// Bypass sends the break-glass update.
func (t *Temporal) Bypass(ctx context.Context, id string, req workflows.BypassRequest) (*approval.State, error) {
	var st approval.State
	if err := t.update(ctx, id, req.AttemptID, workflows.UpdateBypass, req, &st); err != nil {
		return nil, err
	}
	return &st, nil
}

// Revoke sends the revoke update.
func (t *Temporal) Revoke(ctx context.Context, id string, req workflows.RevokeRequest) (*approval.State, error) {
	var st approval.State
	if err := t.update(ctx, id, req.AttemptID, workflows.UpdateRevoke, req, &st); err != nil {
		return nil, err
	}
	return &st, nil
}

// ExtendGrant sends the extend_grant update, one per extension.
func (t *Temporal) ExtendGrant(ctx context.Context, id string, req workflows.ExtendGrantRequest) (*approval.State, error) {
	var st approval.State
	if err := t.update(ctx, id, "extend/"+req.Extension, workflows.UpdateExtendGrant, req, &st); err != nil {
		return nil, err
	}
	return &st, nil
}

// AcknowledgeRevoke sends the acknowledge_revoke update.
func (t *Temporal) AcknowledgeRevoke(ctx context.Context, id string, req workflows.AcknowledgeRevokeRequest) (*approval.State, error) {
	var st approval.State
	if err := t.update(ctx, id, req.AttemptID, workflows.UpdateAcknowledgeRevoke, req, &st); err != nil {
		return nil, err
	}
	return &st, nil
}

// AddDelegate sends the add_delegate update, one per delegation.
func (t *Temporal) AddDelegate(ctx context.Context, id string, req workflows.AddDelegateRequest) (bool, error) {
	var added bool
	if err := t.update(ctx, id, req.AttemptID, workflows.UpdateAddDelegate, req, &added); err != nil {
		return false, err
	}
	return added, nil
}

// Amend sends the amend update. The workflow answers without the request
// (the caller has it); the answer is completed with it here.
func (t *Temporal) Amend(ctx context.Context, id string, req workflows.AmendRequest) (*approval.State, error) {
	var st approval.State
	if err := t.update(ctx, id, req.AttemptID, workflows.UpdateAmend, req, &st); err != nil {
		return nil, err
	}
	st.Request = req.Request
	return &st, nil
}

// update sends a workflow update and waits for its outcome. An update that
// races the workflow's completion is reported as a finished approval.
func (t *Temporal) update(ctx context.Context, id, updateID, name string, arg, out any) error {
	h, err := t.client.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID: workflows.ApprovalWorkflowID(id), UpdateID: updateID, UpdateName: name,
		Args: []any{arg}, WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	if err == nil {
		err = h.Get(ctx, out)
	}
	var notFound *serviceerror.NotFound
	if errors.As(err, &notFound) {
		return ErrClosed
	}
	if err != nil {
		return t.fail(name+" approval", err)
	}
	return nil
}

// List reads Temporal visibility (search attributes and memo).
func (t *Temporal) List(ctx context.Context, q Query) (Page, error) {
	resp, err := t.client.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
		Namespace: t.namespace, PageSize: int32(q.PageSize), NextPageToken: q.PageToken, Query: visibilityQuery(q),
	})
	var invalid *serviceerror.InvalidArgument
	if errors.As(err, &invalid) && len(q.PageToken) > 0 {
		return Page{}, fmt.Errorf("%w: %w", ErrBadPageToken, err)
	}
	if err != nil {
		return Page{}, t.fail("list approvals", err)
	}
	page := Page{NextPageToken: resp.GetNextPageToken()}
	for _, info := range resp.GetExecutions() {
		id, ok := strings.CutPrefix(info.GetExecution().GetWorkflowId(), workflows.ApprovalWorkflowID(""))
		if !ok {
			continue
		}
		s := Summary{ID: id, StartTime: info.GetStartTime().AsTime()}
		if info.GetCloseTime() != nil {
			s.CloseTime = info.GetCloseTime().AsTime()
		}
		// An attribute that cannot be read stays empty: a person left out
		// of Approvers only ever denies.
		fields := info.GetSearchAttributes().GetIndexedFields()
		var status string
		_ = t.decode(fields[workflows.AttrStatus.GetName()], &status)
		_ = t.decode(fields[workflows.AttrEnvironment.GetName()], &s.Environment)
		_ = t.decode(fields[workflows.AttrRequester.GetName()], &s.Requester)
		_ = t.decode(fields[workflows.AttrApprovers.GetName()], &s.Approvers)
		s.Status = approval.Status(status)
		memo := info.GetMemo().GetFields()
		_ = t.decode(memo[workflows.MemoTitle], &s.Title)
		_ = t.decode(memo[workflows.MemoPolicy], &s.Policy)
		_ = t.decode(memo[workflows.MemoDeadline], &s.Deadline)
		page.Approvals = append(page.Approvals, s)
	}
	return page, nil
}

// CountGrants counts in Temporal visibility: one CountWorkflowExecutions,
// scoped as lists are (grantsQuery).
func (t *Temporal) CountGrants(ctx context.Context, revokeFailing bool) (int64, error) {
	resp, err := t.client.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{
		Namespace: t.namespace, Query: grantsQuery(revokeFailing),
	})
	if err != nil {
		return 0, t.fail("count grants", err)
	}
	return resp.GetCount(), nil
}

// CountPending counts in Temporal visibility: one CountWorkflowExecutions,
// scoped as lists are (pendingQuery).
func (t *Temporal) CountPending(ctx context.Context, startedBefore time.Time) (int64, error) {
	resp, err := t.client.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{
		Namespace: t.namespace, Query: pendingQuery(startedBefore),
	})
	if err != nil {
		return 0, t.fail("count pending approvals", err)
	}
	return resp.GetCount(), nil
}

// pendingQuery selects the running approval workflows whose
// ApprovalStatus is Pending and, with startedBefore not zero, that started
// before it.
func pendingQuery(startedBefore time.Time) string {
	q := visibilityQuery(Query{Status: approval.StatusPending, Open: true})
	if !startedBefore.IsZero() {
		q += " AND StartTime < " + connect.Quote(startedBefore.UTC().Format(time.RFC3339Nano))
	}
	return q
}

// grantsQuery selects the approval workflows that hold a grant: running
// (a run closed by hand, or left behind by a reset, keeps its last
// attribute values and holds nothing), ApprovalStatus Granted, and with
// revokeFailing, RevokeFailing true (set by the workflow while its revoke
// fails).
func grantsQuery(revokeFailing bool) string {
	q := visibilityQuery(Query{Status: approval.StatusGranted, Open: true})
	if revokeFailing {
		q += " AND " + workflows.AttrRevokeFailing.GetName() + " = true"
	}
	return q
}

// visibilityQuery is q in Temporal's list filter language. Every value is
// quoted, so none can break out of its literal.
func visibilityQuery(q Query) string {
	clauses := []string{fmt.Sprintf("WorkflowType = %s", connect.Quote(workflows.WorkflowName))}
	if q.Open {
		clauses = append(clauses, "ExecutionStatus = 'Running'")
	}
	for _, f := range []struct{ attr, value string }{
		{workflows.AttrStatus.GetName(), string(q.Status)},
		{workflows.AttrEnvironment.GetName(), q.Environment},
		{workflows.AttrRequester.GetName(), q.Requester},
	} {
		if f.value != "" {
			clauses = append(clauses, fmt.Sprintf("%s = %s", f.attr, connect.Quote(f.value)))
		}
	}
	if q.AwaitedBy != "" {
		clauses = append(clauses, fmt.Sprintf("%s = %s", workflows.AttrAwaitedBy.GetName(), connect.Quote(q.AwaitedBy)))
	}
	if q.Untracked {
		clauses = append(clauses, workflows.AttrAwaitedBy.GetName()+" IS NULL")
	}
	if q.ReadableBy != "" {
		clauses = append(clauses, fmt.Sprintf("(%s = %s OR %s = %s)",
			workflows.AttrRequester.GetName(), connect.Quote(q.ReadableBy), workflows.AttrApprovers.GetName(), connect.Quote(q.ReadableBy)))
	}
	return strings.Join(clauses, " AND ")
}

// Record reads the latest run's history for the timers that fired, with
// the names the workflow gave them (deadline, reminder, escalation level).
func (t *Temporal) Record(ctx context.Context, id string) (Record, error) {
	wid := workflows.ApprovalWorkflowID(id)
	desc, err := t.client.DescribeWorkflowExecution(ctx, wid, "")
	if err != nil {
		return Record{}, t.fail("describe approval", err)
	}
	rec := Record{RunID: desc.GetWorkflowExecutionInfo().GetExecution().GetRunId()}
	iter := t.client.GetWorkflowHistory(ctx, wid, rec.RunID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	started := map[int64]string{}
	for iter.HasNext() {
		ev, err := iter.Next()
		if err != nil {
			return Record{}, t.fail("read history", err)
		}
		switch ev.GetEventType() {
		case enumspb.EVENT_TYPE_TIMER_STARTED:
			a := ev.GetTimerStartedEventAttributes()
			name := fmt.Sprintf("timer %s (%s)", a.GetTimerId(), a.GetStartToFireTimeout().AsDuration())
			var summary string
			// A summary that cannot be decoded leaves the timer unnamed.
			if t.decode(ev.GetUserMetadata().GetSummary(), &summary) == nil && summary != "" {
				name = summary
			}
			started[ev.GetEventId()] = name
		case enumspb.EVENT_TYPE_TIMER_FIRED:
			a := ev.GetTimerFiredEventAttributes()
			rec.Timers = append(rec.Timers, evidence.Timer{Time: ev.GetEventTime().AsTime(), Name: started[a.GetStartedEventId()]})
		}
	}
	return rec, nil
}

var errAbsent = errors.New("absent")

// decode decodes a payload the SDK hands over raw; absent ones leave out
// unchanged.
func (t *Temporal) decode(p *commonpb.Payload, out any) error {
	if p == nil {
		return errAbsent
	}
	return t.converter.FromPayload(p, out)
}

// fail maps an error of the Temporal client to the port's errors: a
// refusal by the workflow keeps its code, an unknown approval is
// ErrNotFound, a timeout is ErrUnavailable; anything else is wrapped.
func (t *Temporal) fail(op string, err error) error {
	var app *temporal.ApplicationError
	var notFound *serviceerror.NotFound
	var unavailable *serviceerror.Unavailable
	var deadline *serviceerror.DeadlineExceeded
	switch {
	case errors.As(err, &app) && refusalType(app.Type()):
		var code approval.Code
		if !app.HasDetails() || app.Details(&code) != nil || code == "" {
			code = codeOfType(app.Type(), app.Message())
		}
		return approval.Refusal{Code: code, Message: app.Message()}
	case errors.As(err, &notFound):
		return ErrNotFound
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &unavailable), errors.As(err, &deadline):
		return fmt.Errorf("%w: %s: %w", ErrUnavailable, op, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}

// codeOfType is the code of a refusal that carries none (from an older
// worker): its message's, when that agrees with the error's type.
func codeOfType(typ, msg string) approval.Code {
	code := approval.CodeOfMessage(msg)
	switch {
	case typ == workflows.ErrTypeInvalidArgument && code.Class() != approval.ClassInvalid:
		return approval.CodeInvalidMessage
	case typ == workflows.ErrTypeFailedPrecondition && code.Class() != approval.ClassPrecondition:
		return approval.CodeNotPending
	}
	return code
}

// refusalType reports whether an application error type is one the
// workflow's handlers refuse with.
func refusalType(typ string) bool {
	switch typ {
	case workflows.ErrTypePermissionDenied, workflows.ErrTypeFailedPrecondition, workflows.ErrTypeInvalidArgument:
		return true
	}
	return false
}
