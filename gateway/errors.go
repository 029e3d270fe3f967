package gateway

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/temporal"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/signoff/signoff/approval"
	"github.com/signoff/signoff/workflows"
)

// temporalError turns an error from the Temporal client into a gRPC status
// a caller can act on; what cannot be classified is Internal and logged.
func (s *Service) temporalError(ctx context.Context, op string, err error) error {
	var app *temporal.ApplicationError
	var notFound *serviceerror.NotFound
	var unavailable *serviceerror.Unavailable
	var deadline *serviceerror.DeadlineExceeded
	switch {
	case errors.As(err, &app):
		switch app.Type() {
		case workflows.ErrTypePermissionDenied:
			return status.Error(codes.PermissionDenied, app.Message())
		case workflows.ErrTypeFailedPrecondition:
			return status.Error(codes.FailedPrecondition, app.Message())
		case workflows.ErrTypeInvalidArgument:
			return status.Error(codes.InvalidArgument, app.Message())
		}
	case errors.As(err, &notFound):
		return status.Error(codes.NotFound, "approval not found")
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &unavailable), errors.As(err, &deadline):
		return status.Error(codes.Unavailable,
			"no worker answered in time: the request may still be applied when one does; retry with the same request_id and it counts once")
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, "request cancelled")
	}
	s.logger.ErrorContext(ctx, "temporal call failed", "op", op, "err", err)
	return status.Error(codes.Internal, op+" failed")
}

// httpErrorHandler keeps grpc-gateway's JSON error body but gives the HTTP
// statuses this API promises: 409 for FAILED_PRECONDITION (a finished
// approval) and 413 for an oversize body.
func httpErrorHandler(ctx context.Context, mux *runtime.ServeMux, m runtime.Marshaler, w http.ResponseWriter, r *http.Request, err error) {
	st := status.Convert(err)
	code := 0
	switch {
	case st.Code() == codes.FailedPrecondition:
		code = http.StatusConflict
	case st.Code() == codes.InvalidArgument && strings.Contains(st.Message(), "request body too large"):
		code = http.StatusRequestEntityTooLarge
		err = status.Error(codes.InvalidArgument, "request body too large")
	}
	if code != 0 {
		w = &statusOverride{ResponseWriter: w, code: code}
	}
	runtime.DefaultHTTPErrorHandler(ctx, mux, m, w, r, err)
}

type statusOverride struct {
	http.ResponseWriter
	code int
}

func (o *statusOverride) WriteHeader(int) { o.ResponseWriter.WriteHeader(o.code) }

// refusal is a failed update as the caller gets it (its gRPC status), with
// the workflow's refusal code kept for the gateway's own decisions.
type refusal struct {
	status error
	code   approval.Code
}

func (r refusal) Error() string              { return r.status.Error() }
func (r refusal) GRPCStatus() *status.Status { return status.Convert(r.status) }

// refusalCode is the workflow's refusal code behind err, "" if none.
func refusalCode(err error) approval.Code {
	var r refusal
	if errors.As(err, &r) {
		return r.code
	}
	return ""
}

// codeOfFailure reads the refusal code the workflow attaches to its
// application errors.
func codeOfFailure(err error) approval.Code {
	var app *temporal.ApplicationError
	var code approval.Code
	if errors.As(err, &app) && app.HasDetails() && app.Details(&code) == nil {
		return code
	}
	return ""
}
