package gateway

import (
	"context"
	"errors"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/signoff/signoff/access"
	"github.com/signoff/signoff/activities/action"
	"github.com/signoff/signoff/approval"
	"github.com/signoff/signoff/approvals"
	"github.com/signoff/signoff/intake"
	pb "github.com/signoff/signoff/proto/signoff/v1"
	"github.com/signoff/signoff/secretchange"
)

// secretProposers have the secret_change action of the config in force.
type secretProposers interface {
	SecretProposer() (intake.SecretProposer, error)
}

// ProposeSecretChange stages the values (sealed, in the target store) and
// starts an approval carrying only the redacted diff. Values go nowhere
// else: not into the approval, a log line or an error.
func (s *Service) ProposeSecretChange(ctx context.Context, req *pb.ProposeSecretChangeRequest) (*pb.Approval, error) {
	user, err := userFrom(ctx)
	if err != nil {
		return nil, err
	}
	title := strings.TrimSpace(req.GetTitle())
	if title == "" {
		title = "Change " + req.GetSecret()
	}
	for _, c := range []struct{ name, v string }{{"title", title}, {"description", req.GetDescription()}, {"justification", req.GetJustification()}} {
		if err := checkText(c.name, c.v, maxDescription); err != nil {
			return nil, err
		}
	}
	if strings.TrimSpace(req.GetEnvironment()) == "" {
		return nil, status.Error(codes.InvalidArgument, "environment is required")
	}
	edits := make([]secretchange.Edit, 0, len(req.GetChanges()))
	for _, c := range req.GetChanges() {
		edits = append(edits, secretchange.Edit{Key: c.GetKey(), Op: secretchange.Op(c.GetOp()), Value: c.GetValue()})
	}
	if err := secretchange.Check(edits); err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	sp, ok := s.actions.(secretProposers)
	if !ok {
		return nil, status.Error(codes.FailedPrecondition, "secret changes are not configured")
	}
	proposer, err := sp.SecretProposer()
	if err != nil {
		return nil, status.Error(codes.FailedPrecondition, err.Error())
	}
	requestID := req.GetRequestId()
	if requestID == "" {
		requestID = intake.NewID()
	}
	if err := checkText("request_id", requestID, 200); err != nil {
		return nil, err
	}
	id := intake.ApprovalID(user.Name, requestID)
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	// A retry of a proposal finds its approval and stages nothing again.
	if st, err := s.approvals.Get(ctx, id); err == nil {
		if !access.CanRead(st, user) {
			return nil, errNotFound
		}
		return toProto(st), nil
	} else if !errors.Is(err, approvals.ErrNotFound) {
		return nil, s.statusOf(ctx, "read approval", err)
	}
	change, err := proposer.Propose(ctx, id, req.GetTarget(), req.GetSecret(), edits)
	switch {
	case errors.Is(err, action.ErrInvalid):
		return nil, status.Error(codes.InvalidArgument, strings.TrimPrefix(err.Error(), action.ErrInvalid.Error()+": "))
	case errors.Is(err, action.ErrNoSecretKeys):
		return nil, status.Error(codes.FailedPrecondition, err.Error())
	case err != nil:
		s.logger.WarnContext(ctx, "secret change not staged", "requester", user.Name, "target", req.GetTarget(), "secret", req.GetSecret(), "err", err)
		return nil, status.Error(codes.Unavailable, "the target store could not be read or written; nothing was proposed, retry later")
	}
	r := approval.Request{
		Title: title, Description: req.GetDescription(), Environment: req.GetEnvironment(), Resource: change.Secret,
		Fields: intake.SecretFields(change), Secret: change,
		Action: approval.Action{Type: action.SecretChangeType, Params: map[string]string{"target": change.Target, "secret": change.Secret}},
	}
	out, err := s.start(ctx, user, requestID, r, strings.TrimSpace(req.GetJustification()))
	if err != nil {
		// Nothing will apply them: the staged values go now.
		if uerr := proposer.Unpropose(context.WithoutCancel(ctx), id, change.Target); uerr != nil {
			s.logger.WarnContext(ctx, "staged values of a refused proposal not destroyed", "approval_id", id, "err", uerr)
		}
		return nil, err
	}
	return out, nil
}
