package approval

import (
	"slices"
	"time"
)

// Enforcement modes.
const (
	EnforcementHard = "hard"
	EnforcementSoft = "soft"
)

// Outcomes at the deadline.
const (
	OnDeadlineExpire = "expire"
	OnDeadlineReject = "reject"
)

// Policy is the snapshot of the matching policy taken when the approval was
// created: later config changes never alter an approval in flight. Groups
// are already expanded to user names.
type Policy struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	// Approvers and RequiredApprovals describe a single-stage policy.
	Approvers         []string `json:"approvers"`
	RequiredApprovals int      `json:"required_approvals"`
	// Stages, when set, are decided in order; each needs its own quorum.
	Stages   []Stage       `json:"stages,omitempty"`
	Deadline time.Duration `json:"deadline"`
	// OnDeadline is "expire" (default) or "reject".
	OnDeadline string `json:"on_deadline,omitempty"`
	// RejectionsRequired rejections reject (default 1).
	RejectionsRequired int  `json:"rejections_required,omitempty"`
	SelfApproval       bool `json:"self_approval,omitempty"`
	// SameApproverAcrossStages lets one person approve several stages
	// (off by default: distinct people per stage).
	SameApproverAcrossStages bool        `json:"same_approver_across_stages,omitempty"`
	RequireJustification     bool        `json:"require_justification,omitempty"`
	RequireComment           CommentRule `json:"require_comment,omitzero"`
	Require2FA               bool        `json:"require_2fa,omitempty"`
	// OutsideGroups are the groups read from outside the config when the
	// approval was created ("slack:S…") and the configured users each held
	// then: why those people are approvers.
	OutsideGroups map[string][]string `json:"outside_groups,omitempty"`
	// MaxDuration bounds Request.Duration (grant actions need it).
	MaxDuration time.Duration `json:"max_duration,omitempty"`
	// MaxStartAhead bounds how far ahead a grant may start
	// (Request.StartAt); zero: MaxStartAhead, 7 days.
	MaxStartAhead time.Duration `json:"max_start_ahead,omitempty"`
	// RecheckGroups: an approver only through an outside group must still
	// be in it (as the gateway read it at the decision); Direct are the
	// approvers through the config alone, who are not rechecked.
	RecheckGroups bool     `json:"recheck_groups,omitempty"`
	Direct        []string `json:"direct,omitempty"`
	// Delegates are the delegations in force when the approval was
	// created (approver → delegate): delegates are prompted with their
	// approver. Who may decide for whom is checked at each decision.
	Delegates map[string]string `json:"delegates,omitempty"`
	// AllowedChannels are the Slack channel IDs decisions may come from.
	AllowedChannels []string      `json:"allowed_channels,omitempty"`
	Reminder        time.Duration `json:"reminder,omitempty"`
	Escalations     []Escalation  `json:"escalations,omitempty"`
	// Enforcement "hard" (default) lets only approval through; "soft" lets
	// the requester break glass with a reason.
	Enforcement string `json:"enforcement,omitempty"`
	// Rego is an extra decision check, evaluated by the gateway.
	Rego string `json:"rego,omitempty"`
}

// Stage is one step of a staged policy.
type Stage struct {
	Name              string   `json:"name"`
	Approvers         []string `json:"approvers"`
	RequiredApprovals int      `json:"required_approvals"`
}

// CommentRule says when a decision needs a comment.
type CommentRule struct {
	Approve bool `json:"approve,omitempty"`
	Reject  bool `json:"reject,omitempty"`
}

// Escalation is one level: after a delay from creation, notify more people
// and optionally let more people decide.
type Escalation struct {
	After        time.Duration `json:"after"`
	Notify       Targets       `json:"notify"`
	AddApprovers []string      `json:"add_approvers,omitempty"`
}

// Targets are who a notification goes to: channels and users (groups
// already expanded).
type Targets struct {
	Channels []string `json:"channels,omitempty"`
	Users    []string `json:"users,omitempty"`
}

// StageList returns the stages, a single-stage policy as one stage.
func (p Policy) StageList() []Stage {
	if len(p.Stages) > 0 {
		return p.Stages
	}
	return []Stage{{Name: "approval", Approvers: p.Approvers, RequiredApprovals: p.RequiredApprovals}}
}

// AllApprovers is everyone who may decide some stage, sorted.
func (p Policy) AllApprovers() []string {
	var out []string
	for _, st := range p.StageList() {
		out = append(out, st.Approvers...)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// IsApprover reports whether user may decide some stage of this policy.
func (p Policy) IsApprover(user string) bool { return slices.Contains(p.AllApprovers(), user) }

func (p Policy) rejectionsRequired() int {
	if p.RejectionsRequired > 0 {
		return p.RejectionsRequired
	}
	return 1
}

// Soft reports whether break-glass is allowed.
func (p Policy) Soft() bool { return p.Enforcement == EnforcementSoft }
