// Package workflows holds ApprovalWorkflow: it waits durably for decisions,
// checks each against the policy snapshot, runs the action once granted and
// reports the outcome. All I/O is in activities.
package workflows

import (
	"encoding/json"
	"fmt"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"

	"github.com/signoff/signoff/approval"
	"github.com/signoff/signoff/auth/proof"
	"github.com/signoff/signoff/policy"
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
	// UpdateRevoke carries a RevokeRequest: end granted access now.
	UpdateRevoke = "revoke"
	// UpdateExtendGrant carries an ExtendGrantRequest (from the worker).
	UpdateExtendGrant = "extend_grant"
	// UpdateAcknowledgeRevoke carries an AcknowledgeRevokeRequest.
	UpdateAcknowledgeRevoke = "acknowledge_revoke"
	// UpdateAmend carries an AmendRequest and answers with the approval
	// without its request (the caller has it).
	UpdateAmend = "amend"
	// UpdateAddDelegate carries an AddDelegateRequest: a delegation made
	// after the approval was created reaches it. It answers whether the
	// delegate was added.
	UpdateAddDelegate = "add_delegate"
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
	// AttrApprovers is everyone who may decide: the policy snapshot's
	// approvers, set at start, and those added by escalation. Lists are
	// scoped with it (Requester = me OR Approvers = me).
	AttrApprovers = temporal.NewSearchAttributeKeyKeywordList("Approvers")
	// AttrRevokeFailing is true while a granted access could not be
	// revoked yet (set on the first failed revoke, cleared once revoked):
	// /metrics counts them, an alert watches the count.
	AttrRevokeFailing = temporal.NewSearchAttributeKeyBool("RevokeFailing")
	// AttrAwaitedBy is who may decide now (Awaited): set at start and kept
	// current as people decide, stages open, escalation adds people and
	// delegations are announced; empty once the approval is decided
	// (Version2). Inboxes ask it: "waiting for me" is one query.
	AttrAwaitedBy = temporal.NewSearchAttributeKeyKeywordList("AwaitedBy")
	// AttrVersion is Input.Version, set by intake at start (since
	// Version3): which old paths an approval can still take, without
	// version markers.
	AttrVersion = temporal.NewSearchAttributeKeyInt64("SignoffVersion")
)

// SearchAttributes must be registered in the namespace.
var SearchAttributes = map[string]enumspb.IndexedValueType{
	AttrStatus.GetName():        enumspb.INDEXED_VALUE_TYPE_KEYWORD,
	AttrRequester.GetName():     enumspb.INDEXED_VALUE_TYPE_KEYWORD,
	AttrEnvironment.GetName():   enumspb.INDEXED_VALUE_TYPE_KEYWORD,
	AttrApprovers.GetName():     enumspb.INDEXED_VALUE_TYPE_KEYWORD_LIST,
	AttrRevokeFailing.GetName(): enumspb.INDEXED_VALUE_TYPE_BOOL,
	AttrAwaitedBy.GetName():     enumspb.INDEXED_VALUE_TYPE_KEYWORD_LIST,
	AttrVersion.GetName():       enumspb.INDEXED_VALUE_TYPE_INT,
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
	// Rules is the version of the rules the approval is judged by; intake
	// sets approval.RulesProven. Approvals started before it existed are
	// moved to it at their first message, when their history allows.
	Rules int `json:"rules,omitempty"`
	// Version is the version of the workflow's behaviour the approval
	// runs; intake sets VersionLatest. A running approval keeps the version
	// it started with, so its history replays (see the Version constants).
	Version int `json:"version,omitempty"`
	// Notifiers are the configured prompt channels ("log", ...).
	Notifiers []string `json:"notifiers"`
	// Justification is the requester's reason, when the policy asks.
	Justification string `json:"justification,omitempty"`
	// Initiator is the configured person an app asked on behalf of
	// (approval.State.Initiator).
	Initiator string `json:"initiator,omitempty"`
	// SecurityNotifiers are told at once about break-glass.
	SecurityNotifiers []string `json:"security_notifiers,omitempty"`
	// Proof is the stamp of whoever started it through Signoff (the
	// gateway, or a trigger on the worker) over everything above: an
	// approval started straight in Temporal, with approvers and an action
	// of someone's choosing, asks no one and runs nothing.
	Proof *proof.Stamp `json:"proof,omitempty"`
}

// DecisionRequest is one decision attempt as delivered by the gateway, which
// has established who the user is and stamped what it verified (Proof).
// The workflow judges it; a request without a valid stamp counts for
// nothing, whatever user it names.
type DecisionRequest struct {
	// AttemptID deduplicates redelivery (Slack retries, client retries).
	AttemptID string            `json:"attempt_id"`
	User      string            `json:"user"`
	Decision  approval.Decision `json:"decision"`
	Comment   string            `json:"comment,omitempty"`
	Values    []string          `json:"values,omitempty"`
	Channel   string            `json:"channel"`
	// SeenHash is the request hash the person saw (API, CLI, email, a
	// Teams card); Slack clicks are bound by the prompt's revision instead
	// (Place.Revision).
	SeenHash string `json:"seen_hash,omitempty"`
	// Duration approves a grant for less time than asked (approval.Attempt).
	Duration time.Duration `json:"duration,omitempty"`
	// IdentifiedBy says how the gateway tied the request to User (a bearer
	// token, a signed email link, a Slack user ID), for the evidence.
	IdentifiedBy string `json:"identified_by,omitempty"`
	// Person is what the gateway knows of the user, for the policy's Rego
	// check (Slack clicks stamped before Place carry it in Slack).
	Person *policy.Decider `json:"person,omitempty"`
	// Refusal, when set, records the attempt as refused for this reason:
	// the gateway uses it for clicks it cannot tie to a permitted person,
	// so they still land in the audit trail without counting.
	Refusal string `json:"refusal,omitempty"`
	// Verdict is the Rego verdict the gateway obtained, for approvals
	// judged by approval.RulesLegacy only; the workflow obtains it itself.
	Verdict string `json:"verdict,omitempty"`
	// Slack is how gateways before Place sent a Slack click; kept so that
	// their histories replay and their clicks in flight are judged (see
	// docs/versions.md). New clicks carry Place and Person.
	Slack *SlackClick `json:"slack,omitempty"`
	// Place is where a click on a prompt was made (Slack, Teams) and what
	// the gateway verified there; nil for the API, email links and pages.
	// The workflow judges it (approval.State.PlaceRefusal), for every
	// notifier alike.
	Place *approval.Place `json:"place,omitempty"`
	// StandsInFor are the people with a delegation to User in force when
	// the gateway received the decision; OnBehalfOf, the one User chose
	// to decide for (empty: the workflow settles it, approval.ForWhom).
	StandsInFor []string `json:"stands_in_for,omitempty"`
	OnBehalfOf  string   `json:"on_behalf_of,omitempty"`
	// Memberships are the outside groups User and those they stand in
	// for were in when the gateway received the decision, for policies
	// that recheck them (approval.Policy.RecheckGroups).
	Memberships map[string][]string `json:"memberships,omitempty"`
	// Proof is the gateway's stamp over everything above.
	Proof *proof.Stamp `json:"proof,omitempty"`
}

// BypassRequest is break-glass by the requester.
type BypassRequest struct {
	// AttemptID names the attempt (the update's ID).
	AttemptID string       `json:"attempt_id,omitempty"`
	User      string       `json:"user"`
	Reason    string       `json:"reason"`
	Proof     *proof.Stamp `json:"proof,omitempty"`
}

// RevokeRequest asks to revoke granted access before its time: the
// grantee (the requester) or an admin (Admin counts only stamped).
type RevokeRequest struct {
	AttemptID string       `json:"attempt_id,omitempty"`
	User      string       `json:"user"`
	Admin     bool         `json:"admin"`
	Reason    string       `json:"reason,omitempty"`
	Proof     *proof.Stamp `json:"proof,omitempty"`
}

// ExtendGrantRequest moves a grant's revoke time to To, approved by the
// extension approval Extension. The worker stamps it once the extension is
// approved; nobody else holds the keys.
type ExtendGrantRequest struct {
	Extension string       `json:"extension"`
	To        time.Time    `json:"to"`
	Proof     *proof.Stamp `json:"proof,omitempty"`
}

// AcknowledgeRevokeRequest: an admin takes over a failing revoke (the
// access is removed by hand), which stops its retries.
type AcknowledgeRevokeRequest struct {
	AttemptID string       `json:"attempt_id,omitempty"`
	User      string       `json:"user"`
	Admin     bool         `json:"admin"`
	Reason    string       `json:"reason"`
	Proof     *proof.Stamp `json:"proof,omitempty"`
}

// AddDelegateRequest tells an approval that From delegated to To after it
// was created. The gateway stamps it once the delegation is recorded.
type AddDelegateRequest struct {
	AttemptID string       `json:"attempt_id,omitempty"`
	From      string       `json:"from"`
	To        string       `json:"to"`
	Proof     *proof.Stamp `json:"proof,omitempty"`
}

// AmendRequest replaces the request's content.
type AmendRequest struct {
	AttemptID string           `json:"attempt_id,omitempty"`
	User      string           `json:"user"`
	Request   approval.Request `json:"request"`
	Proof     *proof.Stamp     `json:"proof,omitempty"`
}

// DecideResult answers an accepted decide update.
type DecideResult struct {
	Attempt  approval.Attempt `json:"attempt"`
	Approval *approval.State  `json:"approval"`
}

// CancelRequest asks to cancel a pending approval. Admin counts only
// under the gateway's stamp.
type CancelRequest struct {
	AttemptID string       `json:"attempt_id,omitempty"`
	User      string       `json:"user"`
	Admin     bool         `json:"admin"`
	Reason    string       `json:"reason,omitempty"`
	Proof     *proof.Stamp `json:"proof,omitempty"`
}

// What a stamp is for: the same bytes stamped for one kind of message never
// pass as another.
const (
	ProofDecide      = "decide"
	ProofCancel      = "cancel"
	ProofBypass      = "bypass"
	ProofAmend       = "amend"
	ProofStart       = "start"
	ProofRevokeGrant = "revoke_grant"
	ProofExtendGrant = "extend_grant"
	ProofAckRevoke   = "acknowledge_revoke"
	ProofAddDelegate = "add_delegate"
)

// Provable is a message the gateway stamps: M is the message type itself.
type Provable[M any] interface {
	// proofKind says what the message is for, so a stamp made for one kind
	// never passes for another.
	proofKind() string
	stamp() *proof.Stamp
	// withStamp is the message with s as its stamp; withStamp(nil) is
	// what a stamp covers.
	withStamp(s *proof.Stamp) M
}

func (DecisionRequest) proofKind() string     { return ProofDecide }
func (r DecisionRequest) stamp() *proof.Stamp { return r.Proof }
func (r DecisionRequest) withStamp(s *proof.Stamp) DecisionRequest {
	r.Proof = s
	return r
}
func (CancelRequest) proofKind() string     { return ProofCancel }
func (r CancelRequest) stamp() *proof.Stamp { return r.Proof }
func (r CancelRequest) withStamp(s *proof.Stamp) CancelRequest {
	r.Proof = s
	return r
}
func (BypassRequest) proofKind() string     { return ProofBypass }
func (r BypassRequest) stamp() *proof.Stamp { return r.Proof }
func (r BypassRequest) withStamp(s *proof.Stamp) BypassRequest {
	r.Proof = s
	return r
}
func (RevokeRequest) proofKind() string     { return ProofRevokeGrant }
func (r RevokeRequest) stamp() *proof.Stamp { return r.Proof }
func (r RevokeRequest) withStamp(s *proof.Stamp) RevokeRequest {
	r.Proof = s
	return r
}
func (ExtendGrantRequest) proofKind() string     { return ProofExtendGrant }
func (r ExtendGrantRequest) stamp() *proof.Stamp { return r.Proof }
func (r ExtendGrantRequest) withStamp(s *proof.Stamp) ExtendGrantRequest {
	r.Proof = s
	return r
}
func (AcknowledgeRevokeRequest) proofKind() string     { return ProofAckRevoke }
func (r AcknowledgeRevokeRequest) stamp() *proof.Stamp { return r.Proof }
func (r AcknowledgeRevokeRequest) withStamp(s *proof.Stamp) AcknowledgeRevokeRequest {
	r.Proof = s
	return r
}
func (Input) proofKind() string      { return ProofStart }
func (in Input) stamp() *proof.Stamp { return in.Proof }
func (in Input) withStamp(s *proof.Stamp) Input {
	in.Proof = s
	return in
}
func (AddDelegateRequest) proofKind() string     { return ProofAddDelegate }
func (r AddDelegateRequest) stamp() *proof.Stamp { return r.Proof }
func (r AddDelegateRequest) withStamp(s *proof.Stamp) AddDelegateRequest {
	r.Proof = s
	return r
}
func (AmendRequest) proofKind() string     { return ProofAmend }
func (r AmendRequest) stamp() *proof.Stamp { return r.Proof }
func (r AmendRequest) withStamp(s *proof.Stamp) AmendRequest {
	r.Proof = s
	return r
}

// ProofSubject is what a stamp covers: the kind of message, the approval it
// is for and the message's JSON without its stamp (struct fields in order,
// map keys sorted: the same bytes on the gateway and in the workflow, so
// deterministic).
//
//workflowcheck:ignore
func ProofSubject[M Provable[M]](approvalID string, m M) []byte {
	b, err := json.Marshal(m.withStamp(nil))
	if err != nil {
		// Structs of strings, bools, string slices and maps always marshal.
		panic(fmt.Errorf("proof subject: %w", err))
	}
	return append([]byte(m.proofKind()+"\n"+approvalID+"\n"), b...)
}

// Stamp returns m stamped by the gateway's key ring for approval id. With
// no ring it returns m unstamped, which the workflow records as unproven.
func Stamp[M Provable[M]](k *proof.Keyring, approvalID string, m M, now time.Time) M {
	if k == nil {
		return m.withStamp(nil)
	}
	s := k.Sign(ProofSubject(approvalID, m), now)
	return m.withStamp(&s)
}
