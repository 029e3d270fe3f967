package gateway

import (
	"context"
	"errors"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/signoff/signoff/config/identity"
	"github.com/signoff/signoff/intake"
	"github.com/signoff/signoff/people"
	pb "github.com/signoff/signoff/proto/signoff/v1"
	"github.com/signoff/signoff/store/approvalstore"
	"github.com/signoff/signoff/store/peoplestore"
)

// DelegationService lets people hand their approvals to a colleague for a
// while. The delegations live in the people workflow; who may decide for
// whom is judged again by each approval's workflow at each decision.
type DelegationService struct {
	pb.UnimplementedDelegationServiceServer
	svc *Service
}

// begin is every call's start: the caller, and the store.
func (d *DelegationService) begin(ctx context.Context) (*identity.User, peoplestore.Store, error) {
	user, err := userFrom(ctx)
	if err != nil {
		return nil, nil, err
	}
	if d.svc.people == nil {
		return nil, nil, status.Error(codes.Unimplemented, "delegation is not available on this gateway")
	}
	return user, d.svc.people, nil
}

func (d *DelegationService) CreateDelegation(ctx context.Context, req *pb.CreateDelegationRequest) (*pb.Delegation, error) {
	user, store, err := d.begin(ctx)
	if err != nil {
		return nil, err
	}
	if err := checkText("reason", req.GetReason(), maxComment); err != nil {
		return nil, err
	}
	if len(req.GetRequestId()) > maxRequestID {
		return nil, status.Errorf(codes.InvalidArgument, "request_id is longer than %d", maxRequestID)
	}
	if req.GetEndTime() == nil {
		return nil, status.Error(codes.InvalidArgument, "end_time is required: a delegation ends")
	}
	id := intake.NewID()
	if req.GetRequestId() != "" {
		id = intake.ApprovalID(user.Name, "delegation:"+req.GetRequestId())
	}
	r := peoplestore.Request{By: user, ID: id, From: req.GetFrom(), To: req.GetTo(), End: req.GetEndTime().AsTime(), Reason: req.GetReason()}
	if req.GetStartTime() != nil {
		r.Start = req.GetStartTime().AsTime()
	}
	ctx, cancel := context.WithTimeout(ctx, d.svc.timeout)
	defer cancel()
	out, err := peoplestore.Create(ctx, store, d.svc.conf().Directory, r, d.svc.now())
	if err != nil {
		return nil, delegationStatus(err)
	}
	n, err := approvalstore.AnnounceDelegation(ctx, d.svc.approvals, d.svc.proofs, out, d.svc.now())
	if err != nil {
		// The delegation holds: the delegate finds what was missed in the
		// inbox and decides there.
		d.svc.logger.WarnContext(ctx, "delegation not announced to every pending approval", "id", out.ID, "error", err)
	}
	d.svc.logger.InfoContext(ctx, "delegation created", "id", out.ID, "from", out.From, "to", out.To,
		"start", out.Start, "end", out.End, "by", user.Name, "pending_approvals_told", n)
	return delegationToProto(out, d.svc.now()), nil
}

func (d *DelegationService) ListDelegations(ctx context.Context, _ *pb.ListDelegationsRequest) (*pb.ListDelegationsResponse, error) {
	user, store, err := d.begin(ctx)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, d.svc.timeout)
	defer cancel()
	st, err := store.State(ctx)
	if err != nil {
		return nil, delegationStatus(err)
	}
	list := st.Involving(user.Name)
	if user.Admin {
		list = st.Delegations
	}
	out := &pb.ListDelegationsResponse{}
	for _, dl := range list {
		out.Delegations = append(out.Delegations, delegationToProto(dl, d.svc.now()))
	}
	return out, nil
}

func (d *DelegationService) RevokeDelegation(ctx context.Context, req *pb.RevokeDelegationRequest) (*pb.Delegation, error) {
	user, store, err := d.begin(ctx)
	if err != nil {
		return nil, err
	}
	if !idPattern.MatchString(req.GetId()) {
		return nil, status.Error(codes.InvalidArgument, "malformed delegation id")
	}
	ctx, cancel := context.WithTimeout(ctx, d.svc.timeout)
	defer cancel()
	out, err := store.Revoke(ctx, req.GetId(), user.Name, user.Admin)
	if err != nil {
		return nil, delegationStatus(err)
	}
	d.svc.logger.InfoContext(ctx, "delegation revoked", "id", out.ID, "from", out.From, "to", out.To, "by", user.Name)
	return delegationToProto(out, d.svc.now()), nil
}

// delegationStatus maps the store's errors to gRPC codes.
func delegationStatus(err error) error {
	switch {
	case errors.Is(err, people.ErrInvalid):
		return status.Error(codes.InvalidArgument, err.Error())
	case errors.Is(err, people.ErrNotFound):
		return status.Error(codes.NotFound, "delegation not found")
	case errors.Is(err, people.ErrNotYours), errors.Is(err, peoplestore.ErrForbidden):
		return status.Error(codes.PermissionDenied, err.Error())
	}
	return status.Error(codes.Unavailable, "delegations are unavailable: no worker answered; retry later")
}

func delegationToProto(d people.Delegation, now time.Time) *pb.Delegation {
	out := &pb.Delegation{
		Id: d.ID, From: d.From, To: d.To, StartTime: timestamppb.New(d.Start), EndTime: timestamppb.New(d.End),
		Reason: d.Reason, CreatedBy: d.CreatedBy, CreateTime: timestamppb.New(d.CreatedAt),
		RevokedBy: d.RevokedBy, Active: d.Active(now),
	}
	if !d.RevokedAt.IsZero() {
		out.RevokeTime = timestamppb.New(d.RevokedAt)
	}
	return out
}
