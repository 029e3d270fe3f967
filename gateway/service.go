package gateway

import (
	"context"
	"errors"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/signoff/signoff/approval"
	"github.com/signoff/signoff/approval/access"
	"github.com/signoff/signoff/auth/proof"
	"github.com/signoff/signoff/channel/ballot"
	"github.com/signoff/signoff/config"
	"github.com/signoff/signoff/config/identity"
	"github.com/signoff/signoff/intake"
	"github.com/signoff/signoff/policy"
	pb "github.com/signoff/signoff/proto/signoff/v1"
	"github.com/signoff/signoff/store/approvalstore"
	"github.com/signoff/signoff/store/peoplestore"
	"github.com/signoff/signoff/workflows"
)

// Service implements ApprovalService on the approvals port.
type Service struct {
	pb.UnimplementedApprovalServiceServer
	live      *config.Live
	approvals approvalstore.Approvals
	actions   intake.ActionValidator
	logger    *slog.Logger
	starter   *intake.Starter
	timeout   time.Duration
	now       func() time.Time
	// proofs stamps what the gateway verified, so the workflow counts it.
	proofs *proof.Keyring
	// people has the delegations in force; nil: nobody decides for anyone.
	people peoplestore.Store
}

// NewService returns the API implementation.
func NewService(live *config.Live, port approvalstore.Approvals, actions intake.ActionValidator, proofs *proof.Keyring, logger *slog.Logger) *Service {
	return &Service{
		live: live, approvals: port, actions: actions, logger: logger, proofs: proofs,
		starter: &intake.Starter{Live: live, Approvals: port, Actions: actions, Now: time.Now, Proofs: proofs},
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
	maxComment     = ballot.MaxComment
	maxPageSize    = 200
	defPageSize    = 50
)

var (
	idPattern    = regexp.MustCompile(`^[a-z2-7]{26}$`)
	hashPattern  = regexp.MustCompile(`^[0-9a-f]{64}$`)
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
	return s.start(ctx, user, req.GetRequestId(), r, justification)
}

// startStatus is the status of a start intake refused or could not make.
func (s *Service) startStatus(ctx context.Context, user *identity.User, op string, err error) error {
	switch {
	case errors.Is(err, intake.ErrInvalid):
		return status.Error(codes.InvalidArgument, strings.TrimPrefix(err.Error(), intake.ErrInvalid.Error()+": "))
	case errors.Is(err, intake.ErrDenied):
		return status.Error(codes.PermissionDenied, strings.TrimPrefix(err.Error(), intake.ErrDenied.Error()+": "))
	case errors.Is(err, intake.ErrConflict):
		return status.Error(codes.AlreadyExists, err.Error())
	case errors.Is(err, intake.ErrUnavailable):
		s.logger.WarnContext(ctx, op+": nothing created", "requester", user.Name, "err", err)
		return status.Error(codes.Unavailable, "the policy's approver groups could not be read (Slack); nothing was created, retry later")
	}
	return s.statusOf(ctx, op, err)
}

// start starts an approval of r for user, once per requestID.
func (s *Service) start(ctx context.Context, user *identity.User, requestID string, r approval.Request, justification string) (*pb.Approval, error) {
	res, err := s.starter.Start(ctx, intake.Request{
		Requester: user, RequestID: requestID, Request: r, Justification: justification,
	})
	switch {
	case err != nil:
		return nil, s.startStatus(ctx, user, "start approval", err)
	case res.Existing:
		st, err := s.approvals.Get(ctx, res.ID)
		if err != nil {
			return nil, s.statusOf(ctx, "read approval", err)
		}
		return toProto(st), nil
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
	st, err := s.approvals.Get(ctx, req.GetId())
	if err != nil {
		return nil, s.statusOf(ctx, "read approval", err)
	}
	if !access.CanRead(st, user) && !access.CanReadFor(st, user, s.standsIn(ctx, user)) {
		return nil, errNotFound
	}
	return toProto(st), nil
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
	if len(req.GetRequestId()) > maxRequestID {
		return nil, status.Errorf(codes.InvalidArgument, "request_id is longer than %d", maxRequestID)
	}
	caller := callerFrom(ctx)
	attemptID := caller.Channel + ":" + intake.NewID()
	if req.GetRequestId() != "" {
		attemptID = caller.Channel + ":" + intake.ApprovalID(user.Name, req.GetRequestId())
	}
	b := ballot.Ballot{
		ApprovalID: req.GetId(), AttemptID: attemptID, Person: user, IdentifiedBy: caller.IdentifiedBy, Channel: caller.Channel,
		Decision: d, Comment: req.GetComment(), Values: req.GetValues(), SeenHash: req.GetRequestHash(), OnBehalfOf: req.GetOnBehalfOf(),
	}
	if v := strings.TrimSpace(req.GetDuration()); v != "" {
		if b.Duration, err = parseDuration(v); err != nil {
			return nil, err
		}
	}
	if err := ballot.Check(b); err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	if !hashPattern.MatchString(req.GetRequestHash()) {
		if !s.mayRead(ctx, req.GetId(), user) {
			return nil, errNotFound // as for an unknown ID
		}
		return nil, status.Error(codes.InvalidArgument,
			"request_hash is required: the approval's request_hash as you read it (64 hex characters); the decision counts only for that content")
	}
	// Straight to the workflow, which judges everything; only a closed (or
	// unknown) approval costs a read, to answer as it deserves.
	v := s.ballots().Cast(ctx, b)
	switch v.Outcome {
	case ballot.Closed:
		return s.decideClosed(ctx, req.GetId(), user, v.Request)
	case ballot.Accepted:
		if _, err := s.decided(v.Request, &workflows.DecideResult{Attempt: v.Attempt, Approval: v.Approval}); err != nil {
			return nil, err
		}
	default:
		return nil, s.refused(ctx, req.GetId(), user, "decide", v.Err)
	}
	s.logger.InfoContext(ctx, "decision accepted", "approval_id", req.GetId(), "user", user.Name, "decision", string(d))
	return &pb.DecideApprovalResponse{Attempt: attemptToProto(v.Attempt), Approval: toProto(v.Approval)}, nil
}

// decideClosed answers a decision the approval's workflow could not take:
// 404 when it does not exist or the caller may not read it, the answer of
// the decision that closed it when this is its retry (same request_id),
// 409 otherwise.
func (s *Service) decideClosed(ctx context.Context, id string, user *identity.User, dr workflows.DecisionRequest) (*pb.DecideApprovalResponse, error) {
	st, err := s.approvals.Get(ctx, id)
	switch {
	case errors.Is(err, approvalstore.ErrNotFound):
		return nil, errNotFound
	case err != nil:
		return nil, s.statusOf(ctx, "read approval", err)
	case !access.CanRead(st, user):
		return nil, errNotFound
	}
	if a, ok := st.Find(dr.AttemptID); ok && a.Accepted {
		return s.decided(dr, &workflows.DecideResult{Attempt: a, Approval: st})
	}
	return nil, status.Error(codes.FailedPrecondition, approval.RefusedNotPending)
}

// decided answers a decision with the attempt recorded under its ID, unless
// that attempt is another decision: a request_id names one decision, as it
// names one request on create.
func (s *Service) decided(dr workflows.DecisionRequest, res *workflows.DecideResult) (*pb.DecideApprovalResponse, error) {
	a := res.Attempt
	if a.Decision != dr.Decision || a.Comment != dr.Comment || a.SeenHash != dr.SeenHash || !slices.Equal(a.Values, dr.Values) {
		return nil, status.Error(codes.AlreadyExists, "request_id was already used for a different decision")
	}
	return &pb.DecideApprovalResponse{Attempt: attemptToProto(a), Approval: toProto(res.Approval)}, nil
}

func (s *Service) CancelApproval(ctx context.Context, req *pb.CancelApprovalRequest) (*pb.Approval, error) {
	return s.reasoned(ctx, req.GetId(), req.GetReason(), workflows.UpdateCancel, func(ctx context.Context, u *identity.User, attemptID string) (*approval.State, error) {
		return s.approvals.Cancel(ctx, req.GetId(), workflows.Stamp(s.proofs, req.GetId(), workflows.CancelRequest{
			AttemptID: attemptID, User: u.Name, Admin: u.Admin, Reason: req.GetReason(),
		}, s.now()))
	})
}

// RevokeGrant ends an approval's granted access now: the grantee (the
// requester) or an admin; the workflow judges and records it.
func (s *Service) RevokeGrant(ctx context.Context, req *pb.RevokeGrantRequest) (*pb.Approval, error) {
	return s.reasoned(ctx, req.GetId(), req.GetReason(), workflows.UpdateRevoke, func(ctx context.Context, u *identity.User, attemptID string) (*approval.State, error) {
		return s.approvals.Revoke(ctx, req.GetId(), workflows.Stamp(s.proofs, req.GetId(), workflows.RevokeRequest{
			AttemptID: attemptID, User: u.Name, Admin: u.Admin, Reason: req.GetReason(),
		}, s.now()))
	})
}

// ExtendGrant starts the extension approval of a grant: only its grantee
// asks, under the same policy as the grant.
func (s *Service) ExtendGrant(ctx context.Context, req *pb.ExtendGrantRequest) (*pb.Approval, error) {
	user, err := userFrom(ctx)
	if err != nil {
		return nil, err
	}
	if err := checkID(req.GetId()); err != nil {
		return nil, err
	}
	d, err := parseDuration(strings.TrimSpace(req.GetDuration()))
	if err != nil {
		return nil, err
	}
	justification := strings.TrimSpace(req.GetJustification())
	if err := checkText("justification", justification, maxDescription); err != nil {
		return nil, err
	}
	st, err := s.Extend(ctx, user, req.GetId(), d, justification, req.GetRequestId())
	var refused *extensionRefused
	switch {
	case err == nil:
		return toProto(st), nil
	case errors.As(err, &refused) && errors.Is(err, intake.ErrDenied):
		return nil, status.Error(codes.PermissionDenied, strings.TrimPrefix(err.Error(), intake.ErrDenied.Error()+": "))
	case errors.As(err, &refused):
		return nil, status.Error(codes.FailedPrecondition, strings.TrimPrefix(err.Error(), intake.ErrInvalid.Error()+": "))
	}
	return nil, s.startStatus(ctx, user, "extend grant", err)
}

// AcknowledgeRevokeFailure lets an admin take a failing revoke over; the
// workflow judges (admins only, a revoke failing) and records it.
func (s *Service) AcknowledgeRevokeFailure(ctx context.Context, req *pb.AcknowledgeRevokeFailureRequest) (*pb.Approval, error) {
	if strings.TrimSpace(req.GetReason()) == "" {
		return nil, status.Error(codes.InvalidArgument, "reason is required: say what is done about the access instead")
	}
	return s.reasoned(ctx, req.GetId(), req.GetReason(), workflows.UpdateAcknowledgeRevoke, func(ctx context.Context, u *identity.User, attemptID string) (*approval.State, error) {
		return s.approvals.AcknowledgeRevoke(ctx, req.GetId(), workflows.Stamp(s.proofs, req.GetId(), workflows.AcknowledgeRevokeRequest{
			AttemptID: attemptID, User: u.Name, Admin: u.Admin, Reason: req.GetReason(),
		}, s.now()))
	})
}

// reasoned runs an update in which the caller acts on a pending approval
// with a reason (cancel, break-glass); the workflow decides whether they
// may, and records the attempt either way.
func (s *Service) reasoned(ctx context.Context, id, reason, update string, op func(ctx context.Context, u *identity.User, attemptID string) (*approval.State, error)) (*pb.Approval, error) {
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
	if err := s.checkOpen(ctx, id, user); err != nil {
		return nil, err
	}
	attemptID := update + ":" + intake.NewID()
	st, err := op(ctx, user, attemptID)
	if err != nil {
		return nil, s.refused(ctx, id, user, update, err)
	}
	level := slog.LevelInfo
	if update == workflows.UpdateBypass {
		level = slog.LevelWarn // break-glass is for people to look at
	}
	s.logger.Log(ctx, level, "approval "+update, "approval_id", id, "user", user.Name, "status", string(st.Status))
	return toProto(st), nil
}

// checkOpen answers 404 for an unknown approval, and 409 for a finished one
// (404 to those who may not read it), before anything is sent.
func (s *Service) checkOpen(ctx context.Context, id string, user *identity.User) error {
	info, err := s.approvals.Info(ctx, id)
	if err != nil {
		return s.statusOf(ctx, "describe approval", err)
	}
	if !info.Open {
		if !s.mayRead(ctx, id, user) {
			return errNotFound
		}
		return status.Error(codes.FailedPrecondition, approval.RefusedNotPending)
	}
	return nil
}

// refused answers a write the workflow refused, or could not take: someone
// who may not read the approval is told what an unknown ID is told (the
// attempt is still in its audit trail); anyone else hears why.
func (s *Service) refused(ctx context.Context, id string, user *identity.User, op string, err error) error {
	var ref approval.Refusal
	if (errors.As(err, &ref) || errors.Is(err, approvalstore.ErrClosed)) && !s.mayRead(ctx, id, user) {
		return errNotFound
	}
	return s.statusOf(ctx, op, err)
}

// mayRead reports whether user may read approval id; false when it cannot
// be read now.
func (s *Service) mayRead(ctx context.Context, id string, user *identity.User) bool {
	st, err := s.approvals.Get(ctx, id)
	return err == nil && (access.CanRead(st, user) || access.CanReadFor(st, user, s.standsIn(ctx, user)))
}

// Memberships are the outside groups each of users is in now, for
// policies that recheck them; nil when none does, or (logged) when they
// cannot be read, which such a policy refuses: deny by default.
func (s *Service) Memberships(ctx context.Context, users ...string) map[string][]string {
	m, err := s.conf().Policies.Memberships(ctx, s.starter.Outside, users)
	if err != nil {
		s.logger.WarnContext(ctx, "group memberships unreadable", "users", users, "err", err)
	}
	return m
}

// ballots is the one inbound path of decisions, over this service's port,
// keys and people.
func (s *Service) ballots() *ballot.Box {
	return &ballot.Box{Approvals: s.approvals, Proofs: s.proofs, People: s.people, Memberships: s.Memberships, Now: s.now, Logger: s.logger}
}

// standsIn are the people with a delegation to user in force now (see
// ballot.Box.StandsIn).
func (s *Service) standsIn(ctx context.Context, user *identity.User) []string {
	return s.ballots().StandsIn(ctx, user.Name)
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
	if !approval.IsName(req.GetEnvironment()) {
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
	if d := strings.TrimSpace(req.GetDuration()); d != "" {
		if r.Duration, err = parseDuration(d); err != nil {
			return r, err
		}
	}
	if t := req.GetStartTime(); t != nil {
		if err := t.CheckValid(); err != nil {
			return r, status.Error(codes.InvalidArgument, "start_time is not a valid time")
		}
		r.StartAt = t.AsTime().UTC()
	}
	return r, nil
}

// parseDuration reads an access duration: positive, at most 90 days.
func parseDuration(d string) (time.Duration, error) {
	var v policy.Duration
	if err := v.UnmarshalText([]byte(d)); err != nil || v <= 0 || v.Std() > 90*24*time.Hour {
		return 0, status.Errorf(codes.InvalidArgument, "duration %q: want a positive duration up to 90d (2h, 90m, 1d)", truncate(d, 32))
	}
	return v.Std(), nil
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
	if err := ballot.CheckText(name, v, max); err != nil {
		return status.Error(codes.InvalidArgument, err.Error())
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
