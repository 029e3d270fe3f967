package gateway

import (
	"context"
	"encoding/base64"
	"fmt"
	"strings"
	"time"

	"go.temporal.io/api/workflowservice/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/signoff/signoff/access"
	"github.com/signoff/signoff/approval"
	"github.com/signoff/signoff/identity"
	pb "github.com/signoff/signoff/proto/signoff/v1"
	"github.com/signoff/signoff/workflows"
)

// ListApprovals reads Temporal visibility (search attributes and memo), so
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
	q := []string{fmt.Sprintf("WorkflowType = '%s'", workflows.WorkflowName)}
	if scope, ok := readScope(user); ok {
		q = append(q, scope)
	}
	if req.GetStatus() != pb.Status_STATUS_UNSPECIFIED {
		st, ok := statusFromProto(req.GetStatus())
		if !ok {
			return nil, status.Errorf(codes.InvalidArgument, "unknown status %v", req.GetStatus())
		}
		q = append(q, fmt.Sprintf("%s = '%s'", workflows.AttrStatus.GetName(), st))
	}
	// Values are checked against a strict pattern, so they cannot break out
	// of the quoted literal.
	for _, f := range []struct{ attr, value string }{
		{workflows.AttrEnvironment.GetName(), req.GetEnvironment()},
		{workflows.AttrRequester.GetName(), req.GetRequester()},
	} {
		if f.value == "" {
			continue
		}
		if !namePattern.MatchString(f.value) {
			return nil, status.Errorf(codes.InvalidArgument, "malformed %s filter", strings.ToLower(f.attr))
		}
		q = append(q, fmt.Sprintf("%s = '%s'", f.attr, f.value))
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
	token, err := base64.RawURLEncoding.DecodeString(req.GetPageToken())
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, "malformed page_token")
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	resp, err := s.temporal.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
		Namespace: s.conf().Temporal.Namespace, PageSize: size, NextPageToken: token, Query: strings.Join(q, " AND "),
	})
	if err != nil {
		return nil, s.temporalError(ctx, "list approvals", err)
	}
	out := &pb.ListApprovalsResponse{NextPageToken: base64.RawURLEncoding.EncodeToString(resp.GetNextPageToken())}
	for _, info := range resp.GetExecutions() {
		a := &pb.Approval{
			Id:         strings.TrimPrefix(info.GetExecution().GetWorkflowId(), workflows.ApprovalWorkflowID("")),
			CreateTime: info.GetStartTime(),
			CloseTime:  info.GetCloseTime(),
		}
		fields := info.GetSearchAttributes().GetIndexedFields()
		var st, env, requester string
		var approvers []string
		_ = decodeIf(fields[workflows.AttrStatus.GetName()], &st)
		_ = decodeIf(fields[workflows.AttrEnvironment.GetName()], &env)
		_ = decodeIf(fields[workflows.AttrRequester.GetName()], &requester)
		_ = decodeIf(fields[workflows.AttrApprovers.GetName()], &approvers)
		// What the list knows of the approval; an attribute that could
		// not be read leaves a person out, which only ever denies.
		known := &approval.State{Requester: requester, Policy: approval.Policy{Approvers: approvers}}
		if !access.CanRead(known, user) {
			continue
		}
		a.Status, a.Environment, a.Requester = statusToProto[approval.Status(st)], env, requester
		memo := info.GetMemo().GetFields()
		var title, pol string
		var deadline time.Time
		_ = decodeIf(memo[workflows.MemoTitle], &title)
		_ = decodeIf(memo[workflows.MemoPolicy], &pol)
		if decodeIf(memo[workflows.MemoDeadline], &deadline) == nil {
			a.Deadline = ts(deadline)
		}
		a.Title, a.PolicyName = title, pol
		out.Approvals = append(out.Approvals, a)
	}
	return out, nil
}

// readScope is the visibility clause limiting a list to the approvals user
// requested or may decide; ok is false for those who read everything. A
// name the strict pattern cannot vouch for is left out of the query (it
// could break out of the quoted literal): the per-entry check still
// filters, the pages are just sparser.
func readScope(user *identity.User) (string, bool) {
	if access.CanReadAll(user) || !namePattern.MatchString(user.Name) {
		return "", false
	}
	return fmt.Sprintf("(%s = '%s' OR %s = '%s')",
		workflows.AttrRequester.GetName(), user.Name, workflows.AttrApprovers.GetName(), user.Name), true
}
