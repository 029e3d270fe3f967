package gateway

import (
	"context"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/signoff/signoff/approval"
	"github.com/signoff/signoff/approval/access"
	"github.com/signoff/signoff/config/identity"
	"github.com/signoff/signoff/intake"
	pb "github.com/signoff/signoff/proto/signoff/v1"
	"github.com/signoff/signoff/workflows"
)

// BypassApproval is break-glass; the workflow decides whether the policy
// allows it and records the attempt either way.
func (s *Service) BypassApproval(ctx context.Context, req *pb.BypassApprovalRequest) (*pb.Approval, error) {
	return s.reasoned(ctx, req.GetId(), req.GetReason(), workflows.UpdateBypass, func(ctx context.Context, u *identity.User, attemptID string) (*approval.State, error) {
		return s.approvals.Bypass(ctx, req.GetId(), workflows.Stamp(s.proofs, req.GetId(), workflows.BypassRequest{
			AttemptID: attemptID, User: u.Name, Reason: req.GetReason(),
		}, s.now()))
	})
}

// AmendApproval replaces the content of a pending request. The amended
// request must still fall under the same policy: a change that would move
// it under other rules is a new request.
func (s *Service) AmendApproval(ctx context.Context, req *pb.AmendApprovalRequest) (*pb.Approval, error) {
	user, err := userFrom(ctx)
	if err != nil {
		return nil, err
	}
	if err := checkID(req.GetId()); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	before, err := s.approvals.Get(ctx, req.GetId())
	if err != nil {
		return nil, s.statusOf(ctx, "read approval", err)
	}
	if !access.CanRead(before, user) {
		return nil, errNotFound // what it says of an unknown approval
	}
	current := toProto(before)
	if current.GetStatus() != pb.Status_STATUS_PENDING {
		return nil, status.Error(codes.FailedPrecondition, approval.RefusedNotPending)
	}
	switch {
	case before.Request.Extends != "":
		return nil, status.Error(codes.FailedPrecondition, "an extension is not amended: cancel it and ask again")
	case before.Request.Secret != nil:
		return nil, status.Error(codes.FailedPrecondition, "a secret change is not amended (its values are staged): cancel it and propose again")
	}
	r, err := requestFromProto(&pb.CreateApprovalRequest{
		Title: req.GetTitle(), Description: req.GetDescription(), Environment: current.GetEnvironment(),
		Resource: req.GetResource(), Fields: req.GetFields(), Action: req.GetAction(), Input: req.GetInput(),
	})
	if err != nil {
		return nil, err
	}
	// As intake checks a new request's: else "apps/../prod-db" would be
	// told it falls under another policy, not why.
	if err := intake.CheckResource(r); err != nil {
		return nil, status.Error(codes.InvalidArgument, strings.TrimPrefix(err.Error(), intake.ErrInvalid.Error()+": "))
	}
	if err := s.actions.Validate(r.Action); err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	// The access duration and start are not amended: they stay what was
	// asked.
	r.Duration, r.StartAt = before.Request.Duration, before.Request.StartAt
	if err := intake.CheckDuration(s.actions, r, before.Policy); err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	pol, err := s.conf().Policies.Resolve(r, before.Requester)
	if err != nil || pol.Name != current.GetPolicyName() {
		return nil, status.Errorf(codes.FailedPrecondition,
			"the amended request would fall under another policy than %q: create a new request instead", current.GetPolicyName())
	}
	attemptID := "amend:" + intake.NewID()
	amend := workflows.Stamp(s.proofs, req.GetId(), workflows.AmendRequest{
		AttemptID: attemptID, User: user.Name, Request: r,
	}, s.now())
	st, err := s.approvals.Amend(ctx, req.GetId(), amend)
	if err != nil {
		return nil, s.statusOf(ctx, "amend", err)
	}
	s.logger.InfoContext(ctx, "approval amended", "approval_id", req.GetId(), "user", user.Name, "request_hash", st.RequestHash)
	return toProto(st), nil
}
