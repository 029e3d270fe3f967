package gateway

import (
	"context"
	"errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/signoff/signoff/approval"
	"github.com/signoff/signoff/policy"
	pb "github.com/signoff/signoff/proto/signoff/v1"
)

// PolicyService shows the policies in force; any authenticated user may
// read them (who approves what is not a secret; Rego source is not shown).
type PolicyService struct {
	pb.UnimplementedPolicyServiceServer
	svc *Service
}

func (p *PolicyService) ListPolicies(ctx context.Context, _ *pb.ListPoliciesRequest) (*pb.ListPoliciesResponse, error) {
	if _, err := userFrom(ctx); err != nil {
		return nil, err
	}
	out := &pb.ListPoliciesResponse{}
	for _, e := range p.svc.conf().Policies.List() {
		out.Policies = append(out.Policies, policyToProto(e))
	}
	return out, nil
}

func (p *PolicyService) GetPolicy(ctx context.Context, req *pb.GetPolicyRequest) (*pb.Policy, error) {
	if _, err := userFrom(ctx); err != nil {
		return nil, err
	}
	e, ok := p.svc.conf().Policies.Get(req.GetName())
	if !ok {
		return nil, status.Errorf(codes.NotFound, "no policy named %q", truncate(req.GetName(), 64))
	}
	return policyToProto(e), nil
}

// EvaluatePolicy is a dry run with the caller as requester: which policy,
// who may approve each stage, how many, and the deadline if created now.
func (p *PolicyService) EvaluatePolicy(ctx context.Context, req *pb.EvaluatePolicyRequest) (*pb.EvaluatePolicyResponse, error) {
	user, err := userFrom(ctx)
	if err != nil {
		return nil, err
	}
	r := approval.Request{Environment: req.GetEnvironment(), Resource: req.GetResource(), Action: approval.Action{Type: "noop"}}
	if a := req.GetAction(); a.GetType() != "" {
		r.Action = approval.Action{Type: a.GetType(), URL: a.GetUrl(), Params: a.GetParams()}
	}
	if !approval.IsName(r.Environment) {
		return nil, status.Error(codes.InvalidArgument, "environment is required")
	}
	out := &pb.EvaluatePolicyResponse{}
	snap, err := p.svc.conf().Policies.Resolve(r, user.Name)
	switch {
	case errors.Is(err, policy.ErrNoPolicy):
		out.Refusal = err.Error() + ": refused (deny by default)"
		return out, nil
	case errors.Is(err, policy.ErrUnreachable), errors.Is(err, policy.ErrNotRequester):
		out.Refusal = err.Error()
	case err != nil:
		return nil, status.Error(codes.Internal, "resolve policy failed")
	}
	if e, ok := p.svc.conf().Policies.Get(snap.Name); ok {
		out.Policy = policyToProto(e)
		snap = e.Snapshot
	}
	for _, st := range snap.StageList() {
		out.Stages = append(out.Stages, &pb.Stage{Name: st.Name, Approvers: st.Approvers, RequiredApprovals: int32(st.RequiredApprovals)})
	}
	out.Deadline = ts(p.svc.now().Add(snap.Deadline))
	if err := p.svc.actions.Validate(r.Action); err != nil && out.Refusal == "" {
		out.Refusal = err.Error()
	}
	return out, nil
}

func policyToProto(e policy.Entry) *pb.Policy {
	p, snap := e.Policy, e.Snapshot
	out := &pb.Policy{
		Name: p.Name, Version: e.Version, Description: p.Description,
		MatchEnvironment: p.Match.Environment, MatchAction: p.Match.Action, MatchResource: p.Match.Resource,
		Deadline: snap.Deadline.String(), OnDeadline: or(snap.OnDeadline, approval.OnDeadlineExpire),
		Enforcement: or(snap.Enforcement, approval.EnforcementHard), RejectionsRequired: int32(max(snap.RejectionsRequired, 1)),
		SelfApproval: snap.SelfApproval, DistinctAcrossStages: !snap.SameApproverAcrossStages,
		RequireJustification: snap.RequireJustification, RequireCommentOnApprove: snap.RequireComment.Approve,
		RequireCommentOnReject: snap.RequireComment.Reject, Require_2Fa: snap.Require2FA,
		AllowedChannels: snap.AllowedChannels, HasRego: snap.Rego != "",
	}
	if snap.Reminder > 0 {
		out.Reminder = snap.Reminder.String()
	}
	for _, st := range snap.StageList() {
		out.Stages = append(out.Stages, &pb.Stage{Name: st.Name, Approvers: st.Approvers, RequiredApprovals: int32(st.RequiredApprovals)})
	}
	for _, esc := range snap.Escalations {
		out.Escalations = append(out.Escalations, &pb.Escalation{
			After: esc.After.String(), NotifyChannels: esc.Notify.Channels, NotifyUsers: esc.Notify.Users, AddApprovers: esc.AddApprovers,
		})
	}
	return out
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
