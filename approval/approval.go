// Package approval holds the domain types of an approval and its pure state
// machine. It does no I/O and reads no clock, so the workflow can run it
// deterministically and tests can drive it directly.
package approval

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"time"

	"github.com/signoff/signoff/secretchange"
)

// Status is where an approval stands. The values are the ApprovalStatus
// search attribute's values, so `ApprovalStatus='Pending'` finds pending ones.
type Status string

const (
	StatusPending   Status = "Pending"
	StatusApproved  Status = "Approved"
	StatusRejected  Status = "Rejected"
	StatusExpired   Status = "Expired"
	StatusCancelled Status = "Cancelled"
	StatusBypassed  Status = "Bypassed"
	// StatusGranted: access granted for Request.Duration, revoke pending.
	StatusGranted Status = "Granted"
	// StatusRevoked: the access was granted, then revoked (on time, or
	// earlier on request).
	StatusRevoked Status = "Revoked"
)

// Final reports whether no decision can change the status any more.
func (s Status) Final() bool { return s != StatusPending && s != "" }

// Granted reports whether the approval was granted: the action may run
// (and, for access, ran).
func (s Status) Granted() bool {
	return s == StatusApproved || s == StatusBypassed || s == StatusGranted || s == StatusRevoked
}

// Decision is what a person chose.
type Decision string

const (
	DecisionApprove Decision = "approve"
	DecisionReject  Decision = "reject"
)

// Action names what runs once the approval is granted. It carries no secret:
// credentials are resolved by the activity that runs it.
type Action struct {
	Type string `json:"type"`
	URL  string `json:"url,omitempty"`
	// Params are the type's parameters (key IDs, repo names, refs); never
	// credentials.
	Params map[string]string `json:"params,omitempty"`
}

// Input types, as in Flowpipe's input step.
const (
	InputButton      = "button"
	InputSelect      = "select"
	InputMultiselect = "multiselect"
	InputText        = "text"
)

// Input is what an approver is asked to choose or write. The zero Input is
// plain Approve / Reject buttons.
type Input struct {
	Type    string   `json:"type,omitempty"`
	Prompt  string   `json:"prompt,omitempty"`
	Options []Option `json:"options,omitempty"`
}

// Option is one choice. Choosing it approves or rejects; its value reaches
// the action.
type Option struct {
	Label    string   `json:"label"`
	Value    string   `json:"value"`
	Style    string   `json:"style,omitempty"` // primary, danger or empty
	Decision Decision `json:"decision"`
}

// Option returns the option with value v.
func (in Input) Option(v string) (Option, bool) {
	for _, o := range in.Options {
		if o.Value == v {
			return o, true
		}
	}
	return Option{}, false
}

// Request is what the requester asks for; its hash binds decisions to it.
type Request struct {
	Title       string            `json:"title"`
	Description string            `json:"description,omitempty"`
	Environment string            `json:"environment"`
	Resource    string            `json:"resource,omitempty"`
	Fields      map[string]string `json:"fields,omitempty"`
	Action      Action            `json:"action"`
	Input       Input             `json:"input,omitzero"`
	// Duration is how long access is asked for (grant actions): it is
	// revoked that long after the approval, whatever happens between.
	Duration time.Duration `json:"duration,omitempty"`
	// StartAt, for a grant, is when access should start (at most
	// MaxStartAhead after the request): approved before it, the access is
	// granted then and revoked at StartAt + Duration. Zero: at approval.
	StartAt time.Time `json:"start_at,omitzero"`
	// Extends names the granted approval this request extends: approved,
	// that grant's revoke time moves to this approval's time plus
	// Duration. Its action is the grant's, for the approvers to see; it
	// does not run again.
	Extends string `json:"extends,omitempty"`
	// Secret is a secret change's redacted diff (action secret_change):
	// keys, operations and fingerprints, never a value. The values are
	// staged, sealed, in the target store.
	Secret *secretchange.Change `json:"secret,omitempty"`
}

// Hash is a stable SHA-256 of the request's content (encoding/json sorts map
// keys), used for idempotent creates and to bind approvals to what was asked.
func (r Request) Hash() string {
	b, err := json.Marshal(r)
	if err != nil {
		// A struct of strings and a string map always marshals.
		panic(err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// Attempt is one decision attempt, accepted or refused. Every attempt is kept
// for the audit trail.
type Attempt struct {
	// ID makes redelivery idempotent: an attempt with a known ID is not
	// counted again.
	ID       string   `json:"id"`
	User     string   `json:"user"`
	Decision Decision `json:"decision"`
	Comment  string   `json:"comment,omitempty"`
	// Values are the chosen option values, or the text written.
	Values        []string  `json:"values,omitempty"`
	Channel       string    `json:"channel"`
	Time          time.Time `json:"time"`
	Accepted      bool      `json:"accepted"`
	RefusalReason string    `json:"refusal_reason,omitempty"`
	// Stage is the index of the stage the attempt was made in.
	Stage int `json:"stage,omitempty"`
	// RequestHash is the content decided on; Voided marks an accepted
	// attempt that no longer counts because the request was amended.
	RequestHash string `json:"request_hash,omitempty"`
	Voided      bool   `json:"voided,omitempty"`
	// Verdict is what an extra policy check (Rego) said, when one ran.
	Verdict string `json:"verdict,omitempty"`
	// RefusalCode classifies RefusalReason.
	RefusalCode Code `json:"refusal_code,omitempty"`
	// Proof says how the attempt's origin was proven (the gateway's stamp
	// and key), empty when it was not.
	Proof string `json:"proof,omitempty"`
	// SeenHash is the request hash the person saw when deciding.
	SeenHash string `json:"seen_hash,omitempty"`
	// IdentifiedBy says how the gateway tied the attempt to User.
	IdentifiedBy string `json:"identified_by,omitempty"`
	// OnBehalfOf is the approver User decided for, as their delegate.
	OnBehalfOf string `json:"on_behalf_of,omitempty"`
	// Duration, on an approval of a grant, approves less time than was
	// asked: the grant uses the narrowest approved (GrantDuration).
	Duration time.Duration `json:"duration,omitempty"`
	// Memberships are the outside groups people were in at the decision,
	// as the gateway read them (Policy.RecheckGroups); judged, not kept.
	Memberships map[string][]string `json:"-"`
}

// For is whose say the attempt is: the approver a delegate decided for,
// else the person who decided.
func (a Attempt) For() string {
	if a.OnBehalfOf != "" {
		return a.OnBehalfOf
	}
	return a.User
}

// Who names the decider as the audit trail says it: "carol for bob".
func (a Attempt) Who() string {
	if a.OnBehalfOf != "" {
		return a.User + " for " + a.OnBehalfOf
	}
	return a.User
}

// ActionResult is what the action reported, secrets already redacted.
type ActionResult struct {
	Type       string    `json:"type"`
	Success    bool      `json:"success"`
	Output     string    `json:"output,omitempty"`
	Error      string    `json:"error,omitempty"`
	FinishTime time.Time `json:"finish_time"`
}

// MessageRef points at a message a notifier posted (a Slack channel and ts,
// an email Message-ID), so the outcome can update it later.
type MessageRef struct {
	Notifier string `json:"notifier"`
	Channel  string `json:"channel"`
	ID       string `json:"id"`
	// User is the person a direct message went to, if any.
	User string `json:"user,omitempty"`
}

// Delivery says where a notification went, for the audit trail.
type Delivery struct {
	Targets []string `json:"targets"`
	// Messages posted, kept in the workflow so Outcome can update them.
	Messages []MessageRef `json:"messages,omitempty"`
}

// Event is an audit entry other than a decision attempt: notifications,
// cancellation attempts, expiry, the action.
type Event struct {
	Time   time.Time `json:"time"`
	Kind   EventKind `json:"kind"`
	User   string    `json:"user,omitempty"`
	Detail string    `json:"detail,omitempty"`
}

// ErrInvalidAction wraps every validation failure of an action (the
// actions' own ErrInvalid is this one), so the edges recognise it without
// importing the actions.
var ErrInvalidAction = errors.New("invalid action")
