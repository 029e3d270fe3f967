package workflows

// Errors: refusals as the application errors the gateway maps to gRPC
// codes, and the message of an activity's failure.

import (
	"errors"

	"go.temporal.io/sdk/temporal"

	"github.com/signoff/signoff/approval"
)

// refusalError maps a refusal to an application error whose type the
// gateway turns into a gRPC code. Refusals without a code (recorded before
// codes existed) are classified by their message.
func refusalError(code approval.Code, reason string) error {
	if code == "" {
		code = approval.CodeOfMessage(reason)
	}
	typ := ErrTypeFailedPrecondition
	switch code.Class() {
	case approval.ClassPermission:
		typ = ErrTypePermissionDenied
	case approval.ClassInvalid:
		typ = ErrTypeInvalidArgument
	}
	return temporal.NewApplicationErrorWithOptions(reason, typ, temporal.ApplicationErrorOptions{
		NonRetryable: true, Details: []any{code},
	})
}

func rootMessage(err error) string {
	var app *temporal.ApplicationError
	if errors.As(err, &app) {
		return app.Message()
	}
	var to *temporal.TimeoutError
	if errors.As(err, &to) {
		return "timed out: " + to.Error()
	}
	return err.Error()
}
