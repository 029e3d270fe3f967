// Package workflows holds ApprovalWorkflow: it waits durably for decisions,
// checks each against the policy snapshot, runs the action once granted and
// reports the outcome. All I/O is in activities.
package workflows

import (
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"

	"github.com/signoff/signoff/approval"
)

// Public names other processes rely on.
const (
	DefaultTaskQueue = "signoff"
	WorkflowName     = "ApprovalWorkflow"
	// SignalDecision carries a DecisionRequest (fire and forget, e.g. Slack).
	SignalDecision = "decision"
	// SignalCancel carries a CancelRequest.
	SignalCancel = "cancel"
	// UpdateDecide carries a DecisionRequest and answers with the recorded
	// attempt, or an error naming why it was refused.
	UpdateDecide = "decide"
	// UpdateCancel carries a CancelRequest.
	UpdateCancel = "cancel"
	// UpdateBypass carries a BypassRequest (break-glass on soft policies).
	UpdateBypass = "bypass"
	// UpdateAmend carries an AmendRequest.
	UpdateAmend = "amend"
	// QueryState returns the current approval.State.
	QueryState = "state"

	// Memo keys, read by list views without a query.
	MemoTitle       = "title"
	MemoPolicy      = "policy"
	MemoDeadline    = "deadline"
	MemoRequestHash = "request_hash"
	// MemoRego marks approvals whose policy has a Rego check, so the
	// gateway knows to evaluate it before delivering a decision.
	MemoRego = "rego"
)

// Error types of refusals returned by the update handlers.
const (
	ErrTypePermissionDenied   = "PermissionDenied"
	ErrTypeFailedPrecondition = "FailedPrecondition"
	ErrTypeInvalidArgument    = "InvalidArgument"
)

// Search attributes upserted by the workflow.
var (
	AttrStatus      = temporal.NewSearchAttributeKeyKeyword("ApprovalStatus")
	AttrRequester   = temporal.NewSearchAttributeKeyKeyword("Requester")
	AttrEnvironment = temporal.NewSearchAttributeKeyKeyword("Environment")
)

// SearchAttributes must be registered in the namespace.
var SearchAttributes = map[string]enumspb.IndexedValueType{
	AttrStatus.GetName():      enumspb.INDEXED_VALUE_TYPE_KEYWORD,
	AttrRequester.GetName():   enumspb.INDEXED_VALUE_TYPE_KEYWORD,
	AttrEnvironment.GetName(): enumspb.INDEXED_VALUE_TYPE_KEYWORD,
}

// ApprovalWorkflowID is the workflow ID of approval id.
func ApprovalWorkflowID(id string) string { return "approval-" + id }

// Input starts an approval. It holds no secret: actions name their
// credentials, activities resolve them.
type Input struct {
	ID        string           `json:"id"`
	Requester string           `json:"requester"`
	Request   approval.Request `json:"request"`
	Policy    approval.Policy  `json:"policy"`
	CreatedAt time.Time        `json:"created_at"`
	// Notifiers are the configured prompt channels ("log", ...).
	Notifiers []string `json:"notifiers"`
	// Justification is the requester's reason, when the policy asks.
	Justification string `json:"justification,omitempty"`
	// SecurityNotifiers are told at once about break-glass.
	SecurityNotifiers []string `json:"security_notifiers,omitempty"`
}

// DecisionRequest is one decision attempt as delivered by the gateway, which
// has already established who the user is.
type DecisionRequest struct {
	// AttemptID deduplicates redelivery (Slack retries, client retries).
	AttemptID string            `json:"attempt_id"`
	User      string            `json:"user"`
	Decision  approval.Decision `json:"decision"`
	Comment   string            `json:"comment,omitempty"`
	Values    []string          `json:"values,omitempty"`
	Channel   string            `json:"channel"`
	// Refusal, when set, records the attempt as refused for this reason:
	// the gateway uses it for clicks it cannot tie to a permitted person,
	// so they still land in the audit trail without counting.
	Refusal string `json:"refusal,omitempty"`
	// Verdict is the Rego policy's verdict, recorded with the attempt.
	Verdict string `json:"verdict,omitempty"`
	// Slack is set for Slack clicks: the workflow checks the place and
	// runs the policy's Rego check itself (see SlackClick).
	Slack *SlackClick `json:"slack,omitempty"`
}

// BypassRequest is break-glass by the requester.
type BypassRequest struct {
	User   string `json:"user"`
	Reason string `json:"reason"`
}

// AmendRequest replaces the request's content.
type AmendRequest struct {
	User    string           `json:"user"`
	Request approval.Request `json:"request"`
}

// DecideResult answers an accepted decide update.
type DecideResult struct {
	Attempt  approval.Attempt `json:"attempt"`
	Approval *approval.State  `json:"approval"`
}

// CancelRequest asks to cancel a pending approval.
type CancelRequest struct {
	User   string `json:"user"`
	Admin  bool   `json:"admin"`
	Reason string `json:"reason,omitempty"`
}
