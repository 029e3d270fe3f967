package action

import (
	"errors"

	"go.temporal.io/sdk/temporal"
)

// permanentError marks a failure that retrying cannot fix (a 4xx, a bad
// parameter).
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// Permanent marks err as not worth retrying.
func Permanent(err error) error { return &permanentError{err: err} }

// IsPermanent reports whether err was marked permanent.
func IsPermanent(err error) bool {
	var p *permanentError
	return errors.As(err, &p)
}

// redactErr turns err into a Temporal application error whose message is
// redacted (errors land in workflow history) and whose retryability follows
// Permanent.
func redactErr(err error, redact func(string) string) error {
	msg := redact(err.Error())
	if IsPermanent(err) {
		return temporal.NewNonRetryableApplicationError(msg, "ActionFailed", nil)
	}
	return temporal.NewApplicationError(msg, "ActionError")
}
