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

// validatorFor returns the validator of update name. Validators are not
// replayed; their JSON sizing is deterministic anyway.
//
//workflowcheck:ignore
func validatorFor(name string) any {
	switch name {
	case UpdateDecide:
		return func(_ workflow.Context, req DecisionRequest) error {
			if len(req.Values) > approval.MaxValues {
				return oversized("values", len(req.Values), approval.MaxValues)
			}
			if n := utf8.RuneCountInString(req.Comment); n > approval.MaxCommentRunes {
				return oversized("comment", n, approval.MaxCommentRunes)
			}
			return checkMessage(req, maxMessageBytes, req.User, req.AttemptID, req.Channel)
		}
	case UpdateCancel:
		return func(_ workflow.Context, req CancelRequest) error {
			return checkMessage(req, maxMessageBytes, req.User, req.AttemptID)
		}
	case UpdateBypass:
		return func(_ workflow.Context, req BypassRequest) error {
			return checkMessage(req, maxMessageBytes, req.User, req.AttemptID)
		}
	case UpdateRevoke:
		return func(_ workflow.Context, req RevokeRequest) error {
			return checkMessage(req, maxMessageBytes, req.User, req.AttemptID)
		}
	case UpdateExtendGrant:
		return func(_ workflow.Context, req ExtendGrantRequest) error {
			return checkMessage(req, maxMessageBytes, req.Extension)
		}
	case UpdateAcknowledgeRevoke:
		return func(_ workflow.Context, req AcknowledgeRevokeRequest) error {
			return checkMessage(req, maxMessageBytes, req.User, req.AttemptID)
		}
	case UpdateAddDelegate:
		return func(_ workflow.Context, req AddDelegateRequest) error {
			return checkMessage(req, maxMessageBytes, req.From, req.To, req.AttemptID)
		}
	case UpdateAmend:
		return func(_ workflow.Context, req AmendRequest) error {
			return checkMessage(req, maxAmendBytes, req.User, req.AttemptID)
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
