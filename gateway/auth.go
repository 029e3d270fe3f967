package gateway

import (
	"context"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/signoff/signoff/auth/authn"
	"github.com/signoff/signoff/config/identity"
)

// userFrom returns the authenticated caller; every ApprovalService method
// runs behind authUnary (or is called in process by the web pages, which
// authenticate the browser's session), so a missing user is a bug,
// reported as such.
func userFrom(ctx context.Context) (*identity.User, error) {
	c, ok := authn.CallerFrom(ctx)
	if !ok {
		return nil, status.Error(codes.Unauthenticated, "no authenticated caller")
	}
	return c.User, nil
}

// callerFrom is the caller with how they were identified; API callers
// unless the web pages said otherwise.
func callerFrom(ctx context.Context) authn.Caller {
	c, _ := authn.CallerFrom(ctx)
	if c.Channel == "" {
		c.Channel, c.IdentifiedBy = ChannelAPI, "bearer token"
	}
	return c
}

// ChannelAPI is the decision channel of gRPC and REST calls.
const ChannelAPI = "api"

// bearerToken extracts the token of "Bearer <token>" (case-insensitive scheme).
func bearerToken(header string) string {
	scheme, token, ok := strings.Cut(strings.TrimSpace(header), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(token)
}

// authUnary authenticates every call of the services it guards. Identity
// comes from the token alone, never from a request field.
func authUnary(auth *authn.Authenticator, guarded string) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if !strings.HasPrefix(info.FullMethod, guarded) {
			return handler(ctx, req)
		}
		var header string
		if md, ok := metadata.FromIncomingContext(ctx); ok {
			if v := md.Get("authorization"); len(v) > 0 {
				header = v[0]
			}
		}
		token := bearerToken(header)
		if token == "" {
			return nil, status.Error(codes.Unauthenticated, "missing bearer token (Authorization: Bearer <token>)")
		}
		u, err := auth.Authenticate(ctx, token)
		if err != nil {
			return nil, status.Error(codes.Unauthenticated, "unknown token")
		}
		return handler(authn.WithCaller(ctx, authn.Caller{User: u, Channel: ChannelAPI, IdentifiedBy: "bearer token"}), req)
	}
}
