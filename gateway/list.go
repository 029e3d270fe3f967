package gateway

import (
	"context"
	"encoding/base64"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/signoff/signoff/approval"
	"github.com/signoff/signoff/approval/access"
	pb "github.com/signoff/signoff/proto/signoff/v1"
	"github.com/signoff/signoff/store/approvalstore"
)

// ListApprovals reads the approvals' index (Temporal visibility), so
// listing needs no worker. Entries carry no decisions: GetApproval has them.
//
// Callers see only approvals they may read (access.CanRead): unless they
// may read everything (admins, auditors), the query asks for approvals
// they requested or may decide, and each entry is checked again against
// what visibility says of it, so an attribute that is stale, or a store
// that matches more loosely than CanRead (SQLite's keyword lists ignore
// case), never shows a stranger an approval.
func (s *Service) ListApprovals(ctx context.Context, req *pb.ListApprovalsRequest) (*pb.ListApprovalsResponse, error) {
	user, err := userFrom(ctx)
	if err != nil {
		return nil, err
	}
	q := approvalstore.Query{Environment: req.GetEnvironment(), Requester: req.GetRequester()}
	if req.GetAwaitingMe() {
		q.AwaitedBy, q.Open = user.Name, true
	}
	if !access.CanReadAll(user) {
		q.ReadableBy = user.Name
	}
	if req.GetStatus() != pb.Status_STATUS_UNSPECIFIED {
		st, ok := statusFromProto(req.GetStatus())
		if !ok {
			return nil, status.Errorf(codes.InvalidArgument, "unknown status %v", req.GetStatus())
		}
		q.Status = st
	}
	for _, f := range []struct{ name, value string }{{"environment", q.Environment}, {"requester", q.Requester}} {
		if f.value != "" && !approval.IsName(f.value) {
			return nil, status.Errorf(codes.InvalidArgument, "malformed %s filter", f.name)
		}
	}
	size := req.GetPageSize()
	switch {
	case size < 0:
		return nil, status.Error(codes.InvalidArgument, "page_size must not be negative")
	case size == 0:
		size = defPageSize
	case size > maxPageSize:
		size = maxPageSize
	}
	q.PageSize = int(size)
	if q.PageToken, err = base64.RawURLEncoding.DecodeString(req.GetPageToken()); err != nil {
		return nil, status.Error(codes.InvalidArgument, "malformed page_token")
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	page, err := s.approvals.List(ctx, q)
	if err != nil {
		return nil, s.statusOf(ctx, "list approvals", err)
	}
	out := &pb.ListApprovalsResponse{NextPageToken: base64.RawURLEncoding.EncodeToString(page.NextPageToken)}
	for _, a := range page.Approvals {
		if !access.CanRead(a.Known(), user) {
			continue
		}
		out.Approvals = append(out.Approvals, &pb.Approval{
			Id: a.ID, Status: statusToProto[a.Status], Environment: a.Environment, Requester: a.Requester,
			Title: a.Title, PolicyName: a.Policy, CreateTime: ts(a.StartTime), CloseTime: ts(a.CloseTime),
			Deadline: ts(a.Deadline),
		})
	}
	return out, nil
}
