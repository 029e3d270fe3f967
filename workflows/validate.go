package workflows

import (
	"encoding/json"
	"fmt"
	"unicode/utf8"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/signoff/signoff/approval"
)

// Bounds of one update's message. A validator's refusal leaves no trace in
// history, so an oversized message sent straight to Temporal cannot grow
// it; the gateway's own limits are well inside these.
const (
	maxNameBytes    = 256
	maxMessageBytes = 64 << 10
	maxAmendBytes   = 512 << 10
)

// validatorFor returns the validator of update name: the message's size
// first, then admission (admission.go). Validators are not replayed; their
// JSON sizing is deterministic anyway.
//
//workflowcheck:ignore
func (r *approvalRun) validatorFor(name string) any {
	switch name {
	case UpdateDecide:
		return func(ctx workflow.Context, req DecisionRequest) error {
			if len(req.Values) > approval.MaxValues {
				return oversized("values", len(req.Values), approval.MaxValues)
			}
			if n := utf8.RuneCountInString(req.Comment); n > approval.MaxCommentRunes {
				return oversized("comment", n, approval.MaxCommentRunes)
			}
			if err := checkMessage(req, maxMessageBytes, req.User, req.AttemptID, req.Channel); err != nil {
				return err
			}
			return r.admitDecision(ctx, req)
		}
	case UpdateCancel:
		return func(ctx workflow.Context, req CancelRequest) error {
			if err := checkMessage(req, maxMessageBytes, req.User, req.AttemptID); err != nil {
				return err
			}
			return admitOperation(ctx, r, req, req.User, req.Admin, func(s *approval.State, who approval.Actor) error {
				return s.Cancel(who, req.Reason, workflow.Now(ctx))
			})
		}
	case UpdateBypass:
		return func(ctx workflow.Context, req BypassRequest) error {
			if err := checkMessage(req, maxMessageBytes, req.User, req.AttemptID); err != nil {
				return err
			}
			return admitOperation(ctx, r, req, req.User, false, func(s *approval.State, who approval.Actor) error {
				return s.Bypass(who, req.Reason, workflow.Now(ctx))
			})
		}
	case UpdateRevoke:
		return func(ctx workflow.Context, req RevokeRequest) error {
			if err := checkMessage(req, maxMessageBytes, req.User, req.AttemptID); err != nil {
				return err
			}
			return admitOperation(ctx, r, req, req.User, req.Admin, func(s *approval.State, who approval.Actor) error {
				return s.RequestRevoke(who, req.Reason, workflow.Now(ctx))
			})
		}
	case UpdateExtendGrant:
		return func(ctx workflow.Context, req ExtendGrantRequest) error {
			if err := checkMessage(req, maxMessageBytes, req.Extension); err != nil {
				return err
			}
			return admitOperation(ctx, r, req, "signoff", false, func(s *approval.State, who approval.Actor) error {
				return s.Extend(who, req.Extension, req.To, workflow.Now(ctx))
			})
		}
	case UpdateAcknowledgeRevoke:
		return func(ctx workflow.Context, req AcknowledgeRevokeRequest) error {
			if err := checkMessage(req, maxMessageBytes, req.User, req.AttemptID); err != nil {
				return err
			}
			return admitOperation(ctx, r, req, req.User, req.Admin, func(s *approval.State, who approval.Actor) error {
				return s.AcknowledgeRevokeFailure(who, req.Reason, workflow.Now(ctx))
			})
		}
	case UpdateAddDelegate:
		return func(ctx workflow.Context, req AddDelegateRequest) error {
			if err := checkMessage(req, maxMessageBytes, req.From, req.To, req.AttemptID); err != nil {
				return err
			}
			return admitOperation(ctx, r, req, "signoff", false, func(s *approval.State, who approval.Actor) error {
				_, err := s.AddDelegate(who, req.From, req.To, workflow.Now(ctx))
				return err
			})
		}
	case UpdateAmend:
		return func(ctx workflow.Context, req AmendRequest) error {
			if err := checkMessage(req, maxAmendBytes, req.User, req.AttemptID); err != nil {
				return err
			}
			return admitOperation(ctx, r, req, req.User, false, func(s *approval.State, who approval.Actor) error {
				return s.Amend(who, req.Request, workflow.Now(ctx))
			})
		}
	}
	return nil
}

func checkMessage(m any, maxBytes int, names ...string) error {
	for _, n := range names {
		if len(n) > maxNameBytes {
			return oversized("name", len(n), maxNameBytes)
		}
	}
	b, err := json.Marshal(m)
	if err != nil {
		return invalidMessage("message does not encode: " + err.Error())
	}
	if len(b) > maxBytes {
		return oversized("message bytes", len(b), maxBytes)
	}
	return nil
}

func oversized(what string, n, limit int) error {
	return invalidMessage(fmt.Sprintf("%s: %d is over the limit of %d", what, n, limit))
}

// invalidMessage is a validator's refusal, coded like the handlers' ones.
func invalidMessage(msg string) error {
	return temporal.NewApplicationErrorWithOptions(msg, ErrTypeInvalidArgument, temporal.ApplicationErrorOptions{
		NonRetryable: true, Details: []any{approval.CodeInvalidMessage},
	})
}
