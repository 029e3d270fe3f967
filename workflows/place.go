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
