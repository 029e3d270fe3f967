package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/signoff/signoff/approval"
	"github.com/signoff/signoff/channel/web"
	"github.com/signoff/signoff/config/identity"
	"github.com/signoff/signoff/intake"
	"github.com/signoff/signoff/policy/catalog"
	pb "github.com/signoff/signoff/proto/signoff/v1"
)

// catalogFor is what user may request now, under the config in force.
func (s *Service) catalogFor(user *identity.User, f catalog.Filter) []catalog.Item {
	cfg := s.conf()
	return catalog.List(cfg.Policies, cfg.Actions.Grantables(), user.Name, f)
}

// ListCatalog lists what the caller may request. Any authenticated caller
// may ask: the list is theirs (other people's differ as the policies'
// requesters say).
func (p *PolicyService) ListCatalog(ctx context.Context, req *pb.ListCatalogRequest) (*pb.ListCatalogResponse, error) {
	user, err := userFrom(ctx)
	if err != nil {
		return nil, err
	}
	if err := checkText("environment", req.GetEnvironment(), maxTitle); err != nil {
		return nil, err
	}
	if err := checkText("action_type", req.GetActionType(), maxTitle); err != nil {
		return nil, err
	}
	out := &pb.ListCatalogResponse{}
	for _, it := range p.svc.catalogFor(user, catalog.Filter{Environment: req.GetEnvironment(), ActionType: req.GetActionType()}) {
		out.Items = append(out.Items, catalogItemToProto(it))
	}
	return out, nil
}

func catalogItemToProto(it catalog.Item) *pb.CatalogItem {
	out := &pb.CatalogItem{
		Id: it.ID, Title: it.Title, Environment: it.Environment,
		Action:     &pb.Action{Type: it.ActionType, Params: it.Params},
		PolicyName: it.Policy.Policy.Name, MaxDuration: approval.ShortDuration(it.MaxDuration()),
		RequireJustification: it.Policy.Snapshot.RequireJustification, HasRego: it.Policy.Snapshot.Rego != "",
	}
	for _, f := range it.Ask {
		out.Ask = append(out.Ask, &pb.CatalogField{Param: f.Param, Hint: f.Hint})
	}
	for _, st := range it.Stages() {
		out.Stages = append(out.Stages, &pb.Stage{Name: st.Name, Approvers: st.Approvers, RequiredApprovals: int32(st.RequiredApprovals)})
	}
	return out
}

// webCatalog is the "Request access" page's list.
func (s *Service) webCatalog(user *identity.User) []catalog.Item {
	return s.catalogFor(user, catalog.Filter{})
}

// requestAccessWeb starts, as user, the approval of a catalog item with
// the form's fields: the same intake as the API, so the same refusals.
// An item that is not in user's catalog now is refused as unknown.
func (s *Service) requestAccessWeb(ctx context.Context, user *identity.User, requestID string, r web.AccessRequest) (*approval.State, error) {
	it, err := catalog.Find(s.catalogFor(user, catalog.Filter{}), r.Item)
	if err != nil {
		return nil, &web.Refused{Code: http.StatusNotFound, Reason: "That is not in the catalog of what you may request (the config may have changed): nothing was requested."}
	}
	req, err := it.Fill(r.Fields, r.Duration)
	if err != nil {
		return nil, &web.Refused{Code: http.StatusUnprocessableEntity, Reason: err.Error()}
	}
	req.StartAt = r.StartAt
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	res, err := s.starter.Start(ctx, intake.Request{Requester: user, RequestID: requestID, Request: req, Justification: r.Justification})
	switch {
	case errors.Is(err, intake.ErrInvalid), errors.Is(err, intake.ErrDenied), errors.Is(err, intake.ErrConflict), errors.Is(err, intake.ErrUnavailable):
		return nil, webRefused(s.startStatus(ctx, user, "request access", err))
	case err != nil:
		return nil, fmt.Errorf("request access %s: %w", it.ID, err)
	case res.Existing:
		return s.approvals.Get(ctx, res.ID)
	}
	s.logger.InfoContext(ctx, "access requested", "approval_id", res.ID, "requester", user.Name, "item", it.ID,
		"duration", r.Duration.String(), "policy", res.State.Policy.Name)
	return res.State, nil
}
