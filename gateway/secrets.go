package gateway

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/signoff/signoff/approval"
	"github.com/signoff/signoff/approval/access"
	"github.com/signoff/signoff/config/identity"
	"github.com/signoff/signoff/intake"
	pb "github.com/signoff/signoff/proto/signoff/v1"
	"github.com/signoff/signoff/secretchange"
	"github.com/signoff/signoff/store/approvalstore"
)

// secretProposers have the secret_change action of the config in force.
type secretProposers interface {
	SecretProposer() (intake.SecretProposer, error)
}

// SecretProposal is a proposed change of one secret, with its values:
// only in memory, never logged or put in an error.
type SecretProposal struct {
	Target, Secret, Environment       string
	Title, Description, Justification string
	Edits                             []secretchange.Edit
}

// Refusals of a proposal, besides intake's and the approvals port's.
var (
	// errSecretsOff: secret changes cannot be proposed here (not
	// configured, or no SIGNOFF_SECRET_KEYS); its message says why.
	errSecretsOff = errors.New("secret changes are off")
	// errSecretStore: the target store could not be read or written.
	errSecretStore = errors.New("the target store could not be read or written; nothing was proposed, retry later")
)

// secretsOff is errSecretsOff with the reason as its whole message.
type secretsOff struct{ reason string }

func (e *secretsOff) Error() string        { return e.reason }
func (e *secretsOff) Is(target error) bool { return target == errSecretsOff }

// ProposeSecretChange stages the values (sealed, in the target store) and
// starts an approval carrying only the redacted diff. Values go nowhere
// else: not into the approval, a log line or an error.
func (s *Service) ProposeSecretChange(ctx context.Context, req *pb.ProposeSecretChangeRequest) (*pb.Approval, error) {
	user, err := userFrom(ctx)
	if err != nil {
		return nil, err
	}
	p := SecretProposal{
		Target: req.GetTarget(), Secret: req.GetSecret(), Environment: req.GetEnvironment(),
		Title: req.GetTitle(), Description: req.GetDescription(), Justification: req.GetJustification(),
		Edits: make([]secretchange.Edit, 0, len(req.GetChanges())),
	}
	for _, c := range req.GetChanges() {
		p.Edits = append(p.Edits, secretchange.Edit{Key: c.GetKey(), Op: secretchange.Op(c.GetOp()), Value: c.GetValue()})
	}
	st, err := s.ProposeSecret(ctx, user, req.GetRequestId(), p)
	if err != nil {
		return nil, s.proposalStatus(ctx, user, err)
	}
	return toProto(st), nil
}

// ProposeSecret is what the API and the web pages share of a proposal:
// as user, it checks p, stages its values (sealed, bound to the approval,
// in the target store) and starts the approval of the redacted diff, once
// per requestID (empty: a new one every time). A retry finds the approval
// and stages nothing again; a start that fails destroys what was staged.
//
// Errors (their messages name keys, never a value): intake.ErrInvalid for
// input the rules refuse (the text fields, the edits, a target or secret
// not configured, a key a rotate or delete does not find), errSecretsOff,
// errSecretStore, intake's ErrDenied, ErrConflict and ErrUnavailable from
// the start, and the approvals port's. proposalStatus tells them as the
// API does.
func (s *Service) ProposeSecret(ctx context.Context, user *identity.User, requestID string, p SecretProposal) (*approval.State, error) {
	if user == nil {
		return nil, fmt.Errorf("%w: no user", intake.ErrDenied)
	}
	title := strings.TrimSpace(p.Title)
	if title == "" {
		title = "Change " + p.Secret
	}
	justification := strings.TrimSpace(p.Justification)
	for _, c := range []struct{ name, v string }{{"title", title}, {"description", p.Description}, {"justification", justification}} {
		if err := checkText(c.name, c.v, maxDescription); err != nil {
			return nil, fmt.Errorf("%w: %s", intake.ErrInvalid, status.Convert(err).Message())
		}
	}
	if strings.TrimSpace(p.Environment) == "" {
		return nil, fmt.Errorf("%w: environment is required", intake.ErrInvalid)
	}
	if err := secretchange.Check(p.Edits); err != nil {
		return nil, fmt.Errorf("%w: %w", intake.ErrInvalid, err)
	}
	sp, ok := s.actions.(secretProposers)
	if !ok {
		return nil, &secretsOff{"secret changes are not configured"}
	}
	proposer, err := sp.SecretProposer()
	if err != nil {
		return nil, &secretsOff{err.Error()}
	}
	if requestID == "" {
		requestID = intake.NewID()
	}
	if err := checkText("request_id", requestID, 200); err != nil {
		return nil, fmt.Errorf("%w: %s", intake.ErrInvalid, status.Convert(err).Message())
	}
	id := intake.ApprovalID(user.Name, requestID)
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	// A retry of a proposal finds its approval and stages nothing again.
	if st, err := s.approvals.Get(ctx, id); err == nil {
		if !access.CanRead(st, user) {
			return nil, fmt.Errorf("read approval %s: %w", id, approvalstore.ErrNotFound)
		}
		return st, nil
	} else if !errors.Is(err, approvalstore.ErrNotFound) {
		return nil, fmt.Errorf("read approval %s: %w", id, err)
	}
	change, err := proposer.Propose(ctx, id, p.Target, p.Secret, p.Edits)
	switch {
	case errors.Is(err, approval.ErrInvalidAction):
		return nil, fmt.Errorf("%w: %s", intake.ErrInvalid, strings.TrimPrefix(err.Error(), approval.ErrInvalidAction.Error()+": "))
	case errors.Is(err, secretchange.ErrNoKeys):
		return nil, &secretsOff{err.Error()}
	case err != nil:
		s.logger.WarnContext(ctx, "secret change not staged", "requester", user.Name, "target", p.Target, "secret", p.Secret, "err", err)
		return nil, errSecretStore
	}
	r := approval.Request{
		Title: title, Description: p.Description, Environment: p.Environment, Resource: change.Secret,
		Fields: intake.SecretFields(change), Secret: change,
		Action: approval.Action{Type: secretchange.ActionType, Params: map[string]string{"target": change.Target, "secret": change.Secret}},
	}
	res, err := s.starter.Start(ctx, intake.Request{Requester: user, RequestID: requestID, Request: r, Justification: justification})
	if err != nil {
		// Nothing will apply them: the staged values go now.
		if uerr := proposer.Unpropose(context.WithoutCancel(ctx), id, change.Target); uerr != nil {
			s.logger.WarnContext(ctx, "staged values of a refused proposal not destroyed", "approval_id", id, "err", uerr)
		}
		return nil, err
	}
	if res.Existing {
		st, err := s.approvals.Get(ctx, res.ID)
		if err != nil {
			return nil, fmt.Errorf("read approval %s: %w", res.ID, err)
		}
		return st, nil
	}
	s.logger.InfoContext(ctx, "approval created", "approval_id", res.ID, "requester", user.Name,
		"environment", r.Environment, "policy", res.State.Policy.Name)
	return res.State, nil
}

// proposalStatus is the API's answer to ProposeSecret's error.
func (s *Service) proposalStatus(ctx context.Context, user *identity.User, err error) error {
	switch {
	case errors.Is(err, errSecretsOff):
		return status.Error(codes.FailedPrecondition, err.Error())
	case errors.Is(err, errSecretStore):
		return status.Error(codes.Unavailable, err.Error())
	}
	return s.startStatus(ctx, user, "propose secret change", err)
}
