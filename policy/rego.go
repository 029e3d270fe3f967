package policy

import (
	"fmt"

	"github.com/signoff/signoff/config/identity"
)

// RegoInput is what a policy's Rego module sees as `input`. The workflow
// builds it and package regopolicy evaluates it; the types live here, apart
// from the evaluator, so the workflow's contract does not link OPA.
type RegoInput struct {
	Decider  Decider  `json:"decider"`
	Decision string   `json:"decision"`
	Comment  string   `json:"comment,omitempty"`
	Values   []string `json:"values,omitempty"`
	Channel  string   `json:"channel"`
	// OnBehalfOf is the approver the decider stands in for, as their
	// delegate; empty for a decision in one's own right.
	OnBehalfOf string         `json:"on_behalf_of,omitempty"`
	Request    any            `json:"request"`
	Approval   RegoApproval   `json:"approval"`
	Decisions  []RegoDecision `json:"decisions"`
}

// Decider is the person deciding, as the gateway established it.
type Decider struct {
	User   string   `json:"user"`
	Groups []string `json:"groups"`
	Admin  bool     `json:"admin"`
	// Slack is set for decisions made in Slack.
	Slack *SlackUser `json:"slack,omitempty"`
}

// DeciderOf is what a module sees of a configured user; Groups is never
// null, so modules can iterate it.
func DeciderOf(u *identity.User) Decider {
	d := Decider{User: u.Name, Groups: u.Groups, Admin: u.Admin}
	if d.Groups == nil {
		d.Groups = []string{}
	}
	return d
}

// SlackUser is the Slack side of a decider.
type SlackUser struct {
	UserID       string `json:"user_id"`
	IsAdmin      bool   `json:"is_admin"`
	Has2FA       bool   `json:"has_2fa"`
	IsRestricted bool   `json:"is_restricted"`
	Team         string `json:"team"`
	Channel      string `json:"channel"`
}

// RegoApproval is the approval's state around the decision.
type RegoApproval struct {
	ID          string `json:"id"`
	Requester   string `json:"requester"`
	Environment string `json:"environment"`
	Status      string `json:"status"`
	Stage       string `json:"stage"`
	Policy      string `json:"policy"`
}

// RegoDecision is one earlier attempt.
type RegoDecision struct {
	User     string `json:"user"`
	Decision string `json:"decision"`
	Accepted bool   `json:"accepted"`
	Channel  string `json:"channel"`
}

// RegoVerdict is the module's answer.
type RegoVerdict struct {
	Allow   bool
	Reasons []string
}

// String is how the verdict is recorded in history.
func (v RegoVerdict) String() string {
	if v.Allow {
		return "rego: allow"
	}
	if len(v.Reasons) == 0 {
		return "rego: deny"
	}
	return fmt.Sprintf("rego: deny: %v", v.Reasons)
}
