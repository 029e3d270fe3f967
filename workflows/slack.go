package workflows

import (
	"github.com/signoff/signoff/approval"
	"github.com/signoff/signoff/policy"
)

// SlackClick is what the gateway verified about a Slack click. The
// workflow checks it against the approval itself (the prompt clicked, 2FA,
// the channel, Rego), so the gateway acknowledges a click as soon as its
// signal is in history, without reading the approval first; and a click
// made while no worker runs waits in history and is judged when one does.
type SlackClick struct {
	Place   approval.SlackPlace `json:"place"`
	Decider policy.Decider      `json:"decider"`
}

// Origin is where a decision was made and who made it, as the gateway
// established: the Slack place and clicker for a click, the person for the
// API and email.
func (r DecisionRequest) Origin() (*approval.SlackPlace, policy.Decider) {
	switch {
	case r.Slack != nil:
		p := r.Slack.Place
		return &p, r.Slack.Decider
	case r.Person != nil:
		return nil, *r.Person
	}
	return nil, policy.Decider{}
}

// CheckPlace completes a Slack click against the approval: an option
// click gets its option's decision, and a click from a place the approval
// does not accept gets its refusal. Other requests are returned unchanged.
func CheckPlace(st *approval.State, req DecisionRequest) DecisionRequest {
	if req.Slack == nil {
		return req
	}
	if req.Decision == "" && len(req.Values) == 1 {
		o, ok := st.Request.Input.Option(req.Values[0])
		switch {
		case ok:
			req.Decision = o.Decision
		case req.Refusal == "":
			req.Decision, req.Refusal = approval.DecisionApprove, approval.RefusedInvalidChoice
		}
	}
	if req.Refusal == "" {
		req.Refusal = st.PlaceRefusal(req.Slack.Place, req.User)
	}
	return req
}

// RegoInput is what a policy's Rego module sees for one decision.
func RegoInput(st *approval.State, d policy.Decider, req DecisionRequest) policy.RegoInput {
	in := policy.RegoInput{
		Decider:  d,
		Decision: string(req.Decision), Comment: req.Comment, Values: req.Values, Channel: req.Channel,
		OnBehalfOf: req.OnBehalfOf, Request: st.Request,
		Approval: policy.RegoApproval{
			ID: st.ID, Requester: st.Requester, Environment: st.Request.Environment, Status: string(st.Status),
			Stage: st.CurrentStage().Name, Policy: st.Policy.Name,
		},
		Decisions: []policy.RegoDecision{},
	}
	for _, a := range st.Attempts {
		in.Decisions = append(in.Decisions, policy.RegoDecision{User: a.User, Decision: string(a.Decision), Accepted: a.Accepted && !a.Voided, Channel: a.Channel})
	}
	return in
}

// RegoOutcome turns an evaluation into what the attempt records: the
// verdict, and a refusal unless the module allowed it. An evaluation error
// denies (deny by default).
func RegoOutcome(v policy.RegoVerdict, err error) (verdict, refusal string) {
	if err != nil {
		return "rego: error: " + err.Error(), approval.RefusedByPolicy + ": it could not be evaluated (deny by default)"
	}
	if v.Allow {
		return v.String(), ""
	}
	refusal = approval.RefusedByPolicy
	if len(v.Reasons) > 0 {
		refusal += ": " + v.Reasons[0]
	}
	return v.String(), refusal
}
