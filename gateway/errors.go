package gateway

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/signoff/signoff/approval"
	"github.com/signoff/signoff/store/approvalstore"
)

// statusOf turns an error of the approvals port into a gRPC status a
// caller can act on; what cannot be classified is Internal and logged.
func (s *Service) statusOf(ctx context.Context, op string, err error) error {
	var ref approval.Refusal
	var tooMany *approvalstore.TooMany
	switch {
	case errors.As(err, &tooMany):
		retryAfter(ctx, tooMany)
		return status.Error(codes.ResourceExhausted, tooMany.Error())
	case errors.As(err, &ref):
		switch ref.Code.Class() {
		case approval.ClassPermission:
			return status.Error(codes.PermissionDenied, ref.Message)
		case approval.ClassInvalid:
			return status.Error(codes.InvalidArgument, ref.Message)
		}
		return status.Error(codes.FailedPrecondition, ref.Message)
	case errors.Is(err, approvalstore.ErrNotFound):
		return errNotFound
	case errors.Is(err, approvalstore.ErrBadPageToken):
		return status.Error(codes.InvalidArgument, "malformed page_token")
	case errors.Is(err, approvalstore.ErrClosed):
		return status.Error(codes.FailedPrecondition, approval.RefusedNotPending)
	case errors.Is(err, approvalstore.ErrUnavailable), errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.Unavailable,
			"no worker answered in time: the request may still be applied when one does; retry with the same request_id and it counts once")
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, "request cancelled")
	}
	s.logger.ErrorContext(ctx, "approvals call failed", "op", op, "err", err)
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

// retryAfter tells the caller when to try again: the "retry-after" header
// of a gRPC answer, which the REST mux passes on as Retry-After.
func retryAfter(ctx context.Context, tooMany *approvalstore.TooMany) {
	_ = grpc.SetHeader(ctx, metadata.Pairs("retry-after", strconv.Itoa(tooMany.Seconds())))
}

// outgoingHeader passes Retry-After on to REST callers; other gRPC headers
// keep grpc-gateway's "Grpc-Metadata-" prefix.
func outgoingHeader(key string) (string, bool) {
	if strings.EqualFold(key, "retry-after") {
		return "Retry-After", true
	}
	return runtime.MetadataHeaderPrefix + key, true
}
