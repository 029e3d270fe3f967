package workflows

import (
	"github.com/signoff/signoff/approval"
	"github.com/signoff/signoff/policy"
)

// SlackClick is how gateways before DecisionRequest.Place sent a Slack
// click: where it was made and the clicker's facts. Histories and clicks
// in flight still carry it; Normalized turns it into Place and Person.
type SlackClick struct {
	Place   approval.Place `json:"place"`
	Decider policy.Decider `json:"decider"`
}

// Normalized is r with a legacy Slack click moved to Place and Person, so
// the rest of the workflow sees one shape. Call it after the proof is
// checked: the stamp covers r as sent.
func (r DecisionRequest) Normalized() DecisionRequest {
	if r.Slack != nil && r.Place == nil {
		p, d := r.Slack.Place, r.Slack.Decider
		r.Place, r.Person = &p, &d
	}
	return r
}

// Origin is where a decision was made and who made it, as the gateway
// established: the place and the person (with the place's facts for a
// click).
func (r DecisionRequest) Origin() (*approval.Place, policy.Decider) {
	r = r.Normalized()
	if r.Person != nil {
		return r.Place, *r.Person
	}
	return r.Place, policy.Decider{}
}

// FromPrompt reports whether the decision was a click on a prompt: an
// option click then names its option alone, and the workflow finds the
// option's decision.
func (r DecisionRequest) FromPrompt() bool { return r.Slack != nil || r.Place != nil }

// CheckPlace completes a click against the approval under the legacy
// rules: an option click gets its option's decision, and a click from a
// place the approval does not accept gets its refusal. Other requests are
// returned unchanged.
func CheckPlace(st *approval.State, req DecisionRequest) DecisionRequest {
	place, _ := req.Origin()
	if place == nil {
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
		req.Refusal = st.PlaceRefusal(*place, req.User)
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
