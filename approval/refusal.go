package approval

import "errors"

// Code says why an attempt was refused. Codes are stable: the audit trail,
// evidence and callers classify refusals by code, never by message.
type Code string

// Refusal codes of decisions.
const (
	CodeUnproven        Code = "unproven"
	CodeStaleProof      Code = "stale_proof"
	CodePersonRefused   Code = "person_refused"
	CodeNotPending      Code = "not_pending"
	CodeDeadlinePassed  Code = "deadline_passed"
	CodeUnknownDecision Code = "unknown_decision"
	CodeInvalidChoice   Code = "invalid_choice"
	CodeSelfApproval    Code = "self_approval"
	CodeNotApprover     Code = "not_approver"
	CodeNotThisStage    Code = "not_this_stage"
	CodeAlreadyDecided  Code = "already_decided"
	CodeEarlierStage    Code = "earlier_stage"
	CodeCommentRequired Code = "comment_required"
	CodeContentChanged  Code = "content_changed"
	CodeNo2FA           Code = "no_2fa"
	CodeChannel         Code = "channel_not_allowed"
	CodeNotPromptedHere Code = "not_prompted_here"
	CodePolicyDenied    Code = "policy_denied"
	CodeNotDelegate     Code = "not_delegate"
	CodeLeftGroup       Code = "left_group"
	// CodeInvalidDuration: a shorter grant was approved where none can be
	// (not a grant, not an approval, or not shorter than asked).
	CodeInvalidDuration Code = "invalid_duration"
	// CodeInvalidMessage: the message is malformed or oversized; it was
	// turned away before history and is not recorded.
	CodeInvalidMessage Code = "invalid_message"
)

// Refusal codes of the requester's and admins' operations.
const (
	CodeNotAllowedToCancel Code = "not_allowed_to_cancel"
	CodeNotRequester       Code = "not_requester"
	CodeHardEnforcement    Code = "hard_enforcement"
	CodeReasonRequired     Code = "reason_required"
	CodeTooManyAmendments  Code = "too_many_amendments"
)

// Class groups codes by what the caller did wrong, for mapping to gRPC
// codes and HTTP statuses.
type Class int

const (
	// ClassPrecondition: the approval's state does not allow it (409/400).
	ClassPrecondition Class = iota
	// ClassPermission: this person may not (403).
	ClassPermission
	// ClassInvalid: the attempt itself is malformed (400).
	ClassInvalid
)

// Class of the code.
func (c Code) Class() Class {
	switch c {
	case CodeUnproven, CodeStaleProof, CodePersonRefused, CodeSelfApproval, CodeNotApprover, CodeNotThisStage, CodeNotDelegate, CodeLeftGroup,
		CodeEarlierStage, CodeNo2FA, CodeChannel, CodeNotPromptedHere, CodePolicyDenied,
		CodeNotAllowedToCancel, CodeNotRequester, CodeHardEnforcement, CodeNotAllowedToRevoke, CodeNotAllowedToAck:
		return ClassPermission
	case CodeUnknownDecision, CodeInvalidChoice, CodeCommentRequired, CodeReasonRequired, CodeInvalidMessage, CodeInvalidDuration:
		return ClassInvalid
	}
	return ClassPrecondition
}

// Refusal is the judge's answer: the zero Refusal allows.
type Refusal struct {
	Code    Code   `json:"code,omitempty"`
	Message string `json:"message,omitempty"`
}

// OK reports whether nothing was refused.
func (r Refusal) OK() bool { return r.Code == "" && r.Message == "" }

func refuse(c Code, msg string) Refusal { return Refusal{Code: c, Message: msg} }

// Error makes a Refusal usable as an error by the operations that return one.
func (r Refusal) Error() string { return r.Message }

// CodeOf returns the code of a refusal returned as an error, "" otherwise.
func CodeOf(err error) Code {
	var r Refusal
	if errors.As(err, &r) {
		return r.Code
	}
	return ""
}
