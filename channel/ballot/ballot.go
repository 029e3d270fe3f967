// Package ballot is the one way a decision comes in. Every channel's
// callback handler (the API, Slack, Teams, email links, the browser) turns
// what it received into a Ballot — who, for whom, which decision with which
// values and comment, what they saw and where they were asked — and hands
// it to a Box, which bounds the input, resolves delegations and group
// memberships, stamps it with the gateway's proof, delivers it and maps the
// workflow's answer to one Verdict the channel renders in its own words.
// The workflow judges everything (approval.State.Judge); nothing here
// decides whether a decision counts.
package ballot

import (
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/signoff/signoff/approval"
	"github.com/signoff/signoff/config/identity"
	"github.com/signoff/signoff/policy"
)

// Limits on what a ballot may carry: generous for people, small enough
// that one decision cannot bloat workflow history.
const (
	MaxComment   = approval.MaxCommentRunes
	MaxValues    = approval.MaxValues
	MaxValue     = approval.MaxOptionValueBytes // one of several option values
	MaxAttemptID = 200
)

// Ballot is one decision as a channel received it.
type Ballot struct {
	ApprovalID string
	// AttemptID is the channel's redelivery key (an idempotency key, an
	// email link's ID, a Slack action's ID): the same ballot sent twice
	// counts once.
	AttemptID string
	// Person is the configured person the channel tied the sender to; nil
	// when it could not (then Name and Refusal say who and why).
	Person *identity.User
	// Name is who the attempt is recorded for when Person is nil.
	Name string
	// Refusal is why the channel already knows the ballot cannot count
	// (an unknown or unverifiable sender): it is still delivered, so the
	// audit trail has it.
	Refusal string
	// IdentifiedBy says how the channel tied the ballot to the person.
	IdentifiedBy string
	// Channel is what the attempt records as its channel ("api",
	// "slack:C123", "teams", "email", "web").
	Channel string
	// Decision, or "" with one value on a prompt: the option's decision,
	// which the workflow looks up.
	Decision   approval.Decision
	Values     []string
	Comment    string
	SeenHash   string
	OnBehalfOf string
	// Duration approves a grant for less time than asked; zero: as asked.
	Duration time.Duration
	// Place is the prompt the decision was made on (nil off prompts).
	Place *approval.Place
	// Decider, when set, is the person with the channel's facts for the
	// policy's Rego check (Slack's team and channel); else DeciderOf(Person).
	Decider *policy.Decider
}

// User is the name the attempt is recorded under.
func (b Ballot) User() string {
	if b.Person != nil {
		return b.Person.Name
	}
	return b.Name
}

// OutOfBounds is a ballot whose input is out of bounds: nothing is sent.
type OutOfBounds struct {
	Field   string
	Message string
}

func (e *OutOfBounds) Error() string { return e.Message }

// Check bounds what a person typed or chose; nil when it may be sent.
func Check(b Ballot) error {
	if err := CheckText("comment", b.Comment, MaxComment); err != nil {
		return err
	}
	if len(b.Values) > MaxValues {
		return &OutOfBounds{Field: "values", Message: fmt.Sprintf("at most %d values", MaxValues)}
	}
	for _, v := range b.Values {
		limit := MaxComment // a text answer
		if len(b.Values) > 1 {
			limit = MaxValue // option values
		}
		if err := CheckText("value", v, limit); err != nil {
			return err
		}
	}
	if b.OnBehalfOf != "" && !approval.IsName(b.OnBehalfOf) {
		return &OutOfBounds{Field: "on_behalf_of", Message: "malformed on_behalf_of"}
	}
	if b.ApprovalID == "" || len(b.AttemptID) > MaxAttemptID {
		return &OutOfBounds{Field: "attempt_id", Message: "the ballot names no approval or too long an attempt"}
	}
	return nil
}

// CheckText bounds one text a person wrote (a comment, a reason): valid
// UTF-8 of at most max characters.
func CheckText(field, v string, max int) error {
	if !utf8.ValidString(v) {
		return &OutOfBounds{Field: field, Message: field + " is not valid UTF-8"}
	}
	if utf8.RuneCountInString(v) > max {
		return &OutOfBounds{Field: field, Message: fmt.Sprintf("%s is longer than %d characters", field, max)}
	}
	return nil
}

// CheckForm is Check against the approval a form was filled for: also the
// comment its policy requires for this decision, so that a form is sent
// back to be completed rather than recorded as refused.
func CheckForm(b Ballot, st *approval.State) error {
	if err := Check(b); err != nil {
		return err
	}
	if b.Comment == "" && ((b.Decision == approval.DecisionApprove && st.Policy.RequireComment.Approve) ||
		(b.Decision == approval.DecisionReject && st.Policy.RequireComment.Reject)) {
		return &OutOfBounds{Field: "comment", Message: "this policy needs a comment for this decision"}
	}
	return nil
}
