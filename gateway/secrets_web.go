package gateway

import (
	"context"
	"maps"
	"net/http"
	"slices"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/signoff/signoff/approval"
	"github.com/signoff/signoff/channel/web"
	"github.com/signoff/signoff/config/identity"
)

// proposeSecretWeb is the web form's proposal: ProposeSecret, its
// refusals told in the API's words (web.Refused, with the HTTP
// status the REST API would answer, but 422 for a form the rules refuse,
// as the other forms answer).
func (s *Service) proposeSecretWeb(ctx context.Context, user *identity.User, requestID string, p web.SecretProposal) (*approval.State, error) {
	st, err := s.ProposeSecret(ctx, user, requestID, SecretProposal(p))
	if err == nil {
		return st, nil
	}
	return nil, webRefused(s.proposalStatus(ctx, user, err))
}

// webRefused tells a form the API's refusal (a gRPC status error) in its
// words, with the HTTP status the REST API would answer, but 422 for a form
// the rules refuse, as the other forms answer.
func webRefused(err error) *web.Refused {
	sts := status.Convert(err)
	code := runtime.HTTPStatusFromCode(sts.Code())
	switch sts.Code() {
	case codes.InvalidArgument:
		code = http.StatusUnprocessableEntity
	case codes.FailedPrecondition:
		code = http.StatusConflict // as httpErrorHandler answers it
	}
	return &web.Refused{Code: code, Reason: sts.Message()}
}

// secretTargets are the stores of the config in force, for the form.
func (s *Service) secretTargets() []web.SecretTarget {
	targets := s.conf().Actions.Secrets.Targets
	out := make([]web.SecretTarget, 0, len(targets))
	for _, name := range slices.Sorted(maps.Keys(targets)) {
		out = append(out, web.SecretTarget{Name: name, Secrets: slices.Clone(targets[name].Secrets)})
	}
	return out
}
