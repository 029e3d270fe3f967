package gateway

import (
	"context"
	"errors"
	"log/slog"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/signoff/signoff/access"
	"github.com/signoff/signoff/approval"
	"github.com/signoff/signoff/config"
	"github.com/signoff/signoff/identity"
	"github.com/signoff/signoff/intake"
	"github.com/signoff/signoff/policy"
	"github.com/signoff/signoff/proof"
	pb "github.com/signoff/signoff/proto/signoff/v1"
	"github.com/signoff/signoff/workflows"
)

// Service implements ApprovalService on Temporal.
type Service struct {
	pb.UnimplementedApprovalServiceServer
	live     *config.Live
	temporal client.Client
	actions  intake.ActionValidator
	logger   *slog.Logger
	starter  *intake.Starter
	timeout  time.Duration
	now      func() time.Time
	// proofs stamps what the gateway verified, so the workflow counts it.
	proofs *proof.Keyring
}

// NewService returns the API implementation.
func NewService(live *config.Live, tc client.Client, actions intake.ActionValidator, proofs *proof.Keyring, logger *slog.Logger) *Service {
	return &Service{
		live: live, temporal: tc, actions: actions, logger: logger, proofs: proofs,
		starter: &intake.Starter{Live: live, Temporal: tc, Actions: actions, Now: time.Now},
		timeout: time.Duration(live.Get().Gateway.CallTimeout), now: time.Now,
	}
}

// conf is the config in force (reloadable).
func (s *Service) conf() *config.Loaded { return s.live.Get() }

// Input limits: generous for people, small enough that one request cannot
// bloat workflow history.
const (
	maxTitle       = 200
	maxDescription = 4000
	maxFields      = 50
	maxFieldKey    = 64
	maxFieldValue  = 2000
	maxRequestID   = 128
	maxComment     = 2000
	maxPageSize    = 200
	defPageSize    = 50
)

var (
	idPattern    = regexp.MustCompile(`^[a-z2-7]{26}$`)
	hashPattern  = regexp.MustCompile(`^[0-9a-f]{64}$`)
	namePattern  = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,63}$`)
	errMissingID = status.Error(codes.InvalidArgument, "id is required")
)

func checkID(id string) error {
	if id == "" {
		return errMissingID
	}
	if !idPattern.MatchString(id) {
		return status.Errorf(codes.InvalidArgument, "malformed approval id %q", truncate(id, 40))
	}
	return nil
}

func (s *Service) CreateApproval(ctx context.Context, req *pb.CreateApprovalRequest) (*pb.Approval, error) {
	user, err := userFrom(ctx)
	if err != nil {
		return nil, err
	}
	r, err := requestFromProto(req)
	if err != nil {
		return nil, err
	}
	justification := strings.TrimSpace(req.GetJustification())
	if err := checkText("justification", justification, maxDescription); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	res, err := s.starter.Start(ctx, intake.Request{
		Requester: user, RequestID: req.GetRequestId(), Request: r, Justification: justification,
	})
	switch {
	case errors.Is(err, intake.ErrInvalid):
		return nil, status.Error(codes.InvalidArgument, strings.TrimPrefix(err.Error(), intake.ErrInvalid.Error()+": "))
	case errors.Is(err, intake.ErrDenied):
		return nil, status.Error(codes.PermissionDenied, strings.TrimPrefix(err.Error(), intake.ErrDenied.Error()+": "))
	case errors.Is(err, intake.ErrConflict):
		return nil, status.Error(codes.AlreadyExists, err.Error())
	case err != nil:
		return nil, s.temporalError(ctx, "start approval", err)
	case res.Existing:
		desc, err := s.describe(ctx, res.ID)
		if err != nil {
			return nil, err
		}
		return s.get(ctx, res.ID, desc)
	}
	s.logger.InfoContext(ctx, "approval created", "approval_id", res.ID, "requester", user.Name,
		"environment", r.Environment, "policy", res.State.Policy.Name)
	return toProto(res.State), nil
}

// GetApproval answers only those who may read the approval
// (access.CanRead); anyone else is told it does not exist, exactly as for
// an unknown ID.
func (s *Service) GetApproval(ctx context.Context, req *pb.GetApprovalRequest) (*pb.Approval, error) {
	user, err := userFrom(ctx)
	if err != nil {
		return nil, err
	}
	if err := checkID(req.GetId()); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	desc, err := s.describe(ctx, req.GetId())
	if err != nil {
		return nil, err
	}
	st, err := s.state(ctx, req.GetId(), desc)
	if err != nil {
		return nil, err
	}
	if !access.CanRead(st, user) {
		return nil, errNotFound
	}
	return toProto(st), nil
}

func (s *Service) describe(ctx context.Context, id string) (*workflowservice.DescribeWorkflowExecutionResponse, error) {
	desc, err := s.temporal.DescribeWorkflowExecution(ctx, workflows.ApprovalWorkflowID(id), "")
	if err != nil {
		return nil, s.temporalError(ctx, "describe approval", err)
	}
	return desc, nil
}

// get reads the approval as the API shows it. It checks no access: callers
// that return it to someone other than its requester check access.CanRead.
func (s *Service) get(ctx context.Context, id string, desc *workflowservice.DescribeWorkflowExecutionResponse) (*pb.Approval, error) {
	st, err := s.state(ctx, id, desc)
	if err != nil {
		return nil, err
	}
	return toProto(st), nil
}

// state reads the state: a completed workflow's result (no worker needed),
// otherwise the state query.
func (s *Service) state(ctx context.Context, id string, desc *workflowservice.DescribeWorkflowExecutionResponse) (*approval.State, error) {
	var st approval.State
	info := desc.GetWorkflowExecutionInfo()
	if info.GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED {
		run := s.temporal.GetWorkflow(ctx, workflows.ApprovalWorkflowID(id), info.GetExecution().GetRunId())
		if err := run.Get(ctx, &st); err != nil {
			return nil, s.temporalError(ctx, "read approval result", err)
		}
		return &st, nil
	}
	v, err := s.temporal.QueryWorkflow(ctx, workflows.ApprovalWorkflowID(id), info.GetExecution().GetRunId(), workflows.QueryState)
	// A query can fail while the workflow's task is being retried (seen
	// under bursts of concurrent decisions); it answers again moments later.
	for wait := 100 * time.Millisecond; err != nil && ctx.Err() == nil && wait <= 800*time.Millisecond; wait *= 2 {
		var app *temporal.ApplicationError
		var notFound *serviceerror.NotFound
		if errors.As(err, &notFound) || errors.As(err, &app) {
			break
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
		v, err = s.temporal.QueryWorkflow(ctx, workflows.ApprovalWorkflowID(id), info.GetExecution().GetRunId(), workflows.QueryState)
	}
	if err != nil {
		return nil, s.temporalError(ctx, "query approval", err)
	}
	if err := v.Get(&st); err != nil {
		return nil, s.temporalError(ctx, "decode approval", err)
	}
	return &st, nil
}

func (s *Service) DecideApproval(ctx context.Context, req *pb.DecideApprovalRequest) (*pb.DecideApprovalResponse, error) {
	user, err := userFrom(ctx)
	if err != nil {
		return nil, err
	}
	if err := checkID(req.GetId()); err != nil {
		return nil, err
	}
	d, err := decisionFromProto(req.GetDecision())
	if err != nil {
		return nil, err
	}
	if err := checkText("comment", req.GetComment(), maxComment); err != nil {
		return nil, err
	}
	if len(req.GetValues()) > maxOptions {
		return nil, status.Errorf(codes.InvalidArgument, "at most %d values", maxOptions)
	}
	for _, v := range req.GetValues() {
		limit := maxComment // a text answer
		if len(req.GetValues()) > 1 {
			limit = maxValue // option values
		}
		if err := checkText("value", v, limit); err != nil {
			return nil, err
		}
	}
	if len(req.GetRequestId()) > maxRequestID {
		return nil, status.Errorf(codes.InvalidArgument, "request_id is longer than %d", maxRequestID)
	}
	attemptID := "api:" + intake.NewID()
	if req.GetRequestId() != "" {
		attemptID = "api:" + intake.ApprovalID(user.Name, req.GetRequestId())
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	desc, err := s.describe(ctx, req.GetId())
	if err != nil {
		return nil, err
	}
	if desc.GetWorkflowExecutionInfo().GetStatus() != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
		return nil, status.Error(codes.FailedPrecondition, approval.RefusedNotPending)
	}
	if !hashPattern.MatchString(req.GetRequestHash()) {
		return nil, status.Error(codes.InvalidArgument,
			"request_hash is required: the approval's request_hash as you read it (64 hex characters); the decision counts only for that content")
	}
	dr := workflows.Stamp(s.proofs, req.GetId(), workflows.DecisionRequest{
		AttemptID: attemptID, User: user.Name, Decision: d, Comment: req.GetComment(),
		Values: req.GetValues(), Channel: "api", SeenHash: req.GetRequestHash(), Person: ptr(policy.DeciderOf(user)),
		IdentifiedBy: "bearer token",
	}, s.now())
	var res workflows.DecideResult
	if err := s.update(ctx, req.GetId(), attemptID, workflows.UpdateDecide, dr, &res); err != nil {
		// Someone with no part in the approval is told what a reader is
		// told: it does not exist (the attempt is in its audit trail).
		if refusalCode(err) == approval.CodeNotApprover && !access.CanReadAll(user) {
			return nil, errNotFound
		}
		return nil, err
	}
	s.logger.InfoContext(ctx, "decision accepted", "approval_id", req.GetId(), "user", user.Name, "decision", string(d))
	return &pb.DecideApprovalResponse{Attempt: attemptToProto(res.Attempt), Approval: toProto(res.Approval)}, nil
}

func (s *Service) CancelApproval(ctx context.Context, req *pb.CancelApprovalRequest) (*pb.Approval, error) {
	return s.reasoned(ctx, req.GetId(), req.GetReason(), workflows.UpdateCancel, func(u *identity.User, attemptID string) any {
		return workflows.Stamp(s.proofs, req.GetId(), workflows.CancelRequest{
			AttemptID: attemptID, User: u.Name, Admin: u.Admin, Reason: req.GetReason(),
		}, s.now())
	})
}

// reasoned runs an update in which the caller acts on a pending approval
// with a reason (cancel, break-glass); the workflow decides whether they
// may, and records the attempt either way.
func (s *Service) reasoned(ctx context.Context, id, reason, update string, arg func(u *identity.User, attemptID string) any) (*pb.Approval, error) {
	user, err := userFrom(ctx)
	if err != nil {
		return nil, err
	}
	if err := checkID(id); err != nil {
		return nil, err
	}
	if err := checkText("reason", reason, maxComment); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	if err := s.checkOpen(ctx, id); err != nil {
		return nil, err
	}
	var st approval.State
	attemptID := update + ":" + intake.NewID()
	if err := s.update(ctx, id, attemptID, update, arg(user, attemptID), &st); err != nil {
		if c := refusalCode(err); (c == approval.CodeNotAllowedToCancel || c == approval.CodeNotRequester) && !s.mayRead(ctx, id, user) {
			return nil, errNotFound // as for reads; the attempt is recorded
		}
		return nil, err
	}
	level := slog.LevelInfo
	if update == workflows.UpdateBypass {
		level = slog.LevelWarn // break-glass is for people to look at
	}
	s.logger.Log(ctx, level, "approval "+update, "approval_id", id, "user", user.Name, "status", string(st.Status))
	return toProto(&st), nil
}

// checkOpen answers 404 for an unknown approval and 409 for a finished one
// before any update is sent.
func (s *Service) checkOpen(ctx context.Context, id string) error {
	desc, err := s.describe(ctx, id)
	if err != nil {
		return err
	}
	if desc.GetWorkflowExecutionInfo().GetStatus() != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
		return status.Error(codes.FailedPrecondition, approval.RefusedNotPending)
	}
	return nil
}

// update sends a workflow update and waits for its outcome. An update that
// races the workflow's completion is reported as a finished approval.
func (s *Service) update(ctx context.Context, id, updateID, name string, arg, out any) error {
	h, err := s.temporal.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID: workflows.ApprovalWorkflowID(id), UpdateID: updateID, UpdateName: name,
		Args: []any{arg}, WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	if err == nil {
		err = h.Get(ctx, out)
	}
	var notFound *serviceerror.NotFound
	if errors.As(err, &notFound) {
		return status.Error(codes.FailedPrecondition, approval.RefusedNotPending)
	}
	if err != nil {
		return refusal{status: s.temporalError(ctx, name, err), code: codeOfFailure(err)}
	}
	return nil
}

// mayRead reports whether user may read approval id; false when it cannot
// be read now.
func (s *Service) mayRead(ctx context.Context, id string, user *identity.User) bool {
	desc, err := s.describe(ctx, id)
	if err != nil {
		return false
	}
	st, err := s.state(ctx, id, desc)
	return err == nil && access.CanRead(st, user)
}

func requestFromProto(req *pb.CreateApprovalRequest) (approval.Request, error) {
	var r approval.Request
	title := strings.TrimSpace(req.GetTitle())
	if title == "" {
		return r, status.Error(codes.InvalidArgument, "title is required")
	}
	if err := checkText("title", title, maxTitle); err != nil {
		return r, err
	}
	if err := checkText("description", req.GetDescription(), maxDescription); err != nil {
		return r, err
	}
	if !namePattern.MatchString(req.GetEnvironment()) {
		return r, status.Error(codes.InvalidArgument, "environment is required: 1-64 letters, digits, '_', '.', ':', '/' or '-'")
	}
	if err := checkText("resource", req.GetResource(), maxTitle); err != nil {
		return r, err
	}
	if len(req.GetRequestId()) > maxRequestID {
		return r, status.Errorf(codes.InvalidArgument, "request_id is longer than %d", maxRequestID)
	}
	if len(req.GetFields()) > maxFields {
		return r, status.Errorf(codes.InvalidArgument, "at most %d fields", maxFields)
	}
	for k, v := range req.GetFields() {
		if k == "" || len(k) > maxFieldKey || !utf8.ValidString(k) {
			return r, status.Errorf(codes.InvalidArgument, "field names must be 1-%d characters", maxFieldKey)
		}
		if err := checkText("field "+k, v, maxFieldValue); err != nil {
			return r, err
		}
	}
	if len(req.GetAction().GetParams()) > maxFields {
		return r, status.Errorf(codes.InvalidArgument, "at most %d action params", maxFields)
	}
	for k, v := range req.GetAction().GetParams() {
		if k == "" || len(k) > maxFieldKey || !utf8.ValidString(k) {
			return r, status.Errorf(codes.InvalidArgument, "action param names must be 1-%d characters", maxFieldKey)
		}
		if err := checkText("action param "+k, v, maxFieldValue); err != nil {
			return r, err
		}
	}
	act := approval.Action{Type: "noop"}
	if a := req.GetAction(); a != nil && a.GetType() != "" {
		act = approval.Action{Type: a.GetType(), URL: a.GetUrl(), Params: a.GetParams()}
		if len(act.Params) == 0 {
			act.Params = nil
		}
	}
	input, err := inputFromProto(req.GetInput())
	if err != nil {
		return r, err
	}
	r = approval.Request{
		Title: title, Description: req.GetDescription(), Environment: req.GetEnvironment(),
		Resource: req.GetResource(), Fields: req.GetFields(), Action: act, Input: input,
	}
	if len(r.Fields) == 0 {
		r.Fields = nil
	}
	return r, nil
}

// Slack's limits bound what an input may offer: 25 options, 75-character
// button labels.
const (
	maxOptions     = 25
	maxOptionLabel = 75
	maxValue       = 150
)

func inputFromProto(in *pb.Input) (approval.Input, error) {
	if in == nil || (in.GetType() == "" && len(in.GetOptions()) == 0) {
		return approval.Input{}, nil
	}
	out := approval.Input{Type: in.GetType(), Prompt: in.GetPrompt()}
	if err := checkText("input.prompt", in.GetPrompt(), maxTitle); err != nil {
		return out, err
	}
	switch out.Type {
	case approval.InputText:
		if len(in.GetOptions()) > 0 {
			return out, status.Error(codes.InvalidArgument, "a text input takes no options")
		}
		return out, nil
	case approval.InputButton, approval.InputSelect, approval.InputMultiselect:
	default:
		return out, status.Error(codes.InvalidArgument, "input.type must be button, select, multiselect or text")
	}
	if n := len(in.GetOptions()); n == 0 || n > maxOptions {
		return out, status.Errorf(codes.InvalidArgument, "input needs 1-%d options", maxOptions)
	}
	seen := map[string]bool{}
	for i, o := range in.GetOptions() {
		if o.GetLabel() == "" || utf8.RuneCountInString(o.GetLabel()) > maxOptionLabel {
			return out, status.Errorf(codes.InvalidArgument, "input.options[%d].label must be 1-%d characters", i, maxOptionLabel)
		}
		if o.GetValue() == "" || len(o.GetValue()) > maxValue || !utf8.ValidString(o.GetValue()) {
			return out, status.Errorf(codes.InvalidArgument, "input.options[%d].value must be 1-%d bytes", i, maxValue)
		}
		if seen[o.GetValue()] {
			return out, status.Errorf(codes.InvalidArgument, "input.options[%d].value %q is repeated", i, o.GetValue())
		}
		seen[o.GetValue()] = true
		switch o.GetStyle() {
		case "", "primary", "danger":
		default:
			return out, status.Errorf(codes.InvalidArgument, "input.options[%d].style must be primary, danger or empty", i)
		}
		d, err := decisionFromProto(o.GetDecision())
		if err != nil && out.Type != approval.InputMultiselect {
			return out, status.Errorf(codes.InvalidArgument, "input.options[%d].decision must be DECISION_APPROVE or DECISION_REJECT", i)
		}
		out.Options = append(out.Options, approval.Option{Label: o.GetLabel(), Value: o.GetValue(), Style: o.GetStyle(), Decision: d})
	}
	return out, nil
}

func decisionFromProto(d pb.Decision) (approval.Decision, error) {
	switch d {
	case pb.Decision_DECISION_APPROVE:
		return approval.DecisionApprove, nil
	case pb.Decision_DECISION_REJECT:
		return approval.DecisionReject, nil
	}
	return "", status.Error(codes.InvalidArgument, "decision must be DECISION_APPROVE or DECISION_REJECT")
}

func checkText(name, v string, max int) error {
	if !utf8.ValidString(v) {
		return status.Errorf(codes.InvalidArgument, "%s is not valid UTF-8", name)
	}
	if utf8.RuneCountInString(v) > max {
		return status.Errorf(codes.InvalidArgument, "%s is longer than %d characters", name, max)
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

func ptr[T any](v T) *T { return &v }
