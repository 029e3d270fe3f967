// Package intake turns a request into a running approval: it validates the
// action, resolves the policy (deny by default) and starts ApprovalWorkflow
// idempotently. The gateway and scheduled triggers both start approvals
// through it, so the rules are the same whoever asks.
package intake

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/signoff/signoff/approval"
	"github.com/signoff/signoff/codec"
	"github.com/signoff/signoff/config"
	"github.com/signoff/signoff/identity"
	"github.com/signoff/signoff/policy"
	"github.com/signoff/signoff/workflows"
)

// Errors the caller maps to its own vocabulary (gRPC codes, run reports).
var (
	// ErrInvalid wraps a request that is malformed (a bad action, a missing
	// justification).
	ErrInvalid = errors.New("invalid request")
	// ErrDenied wraps a request no policy allows, or one nobody could
	// ever approve.
	ErrDenied = errors.New("request refused")
	// ErrConflict is a request_id reused for different content.
	ErrConflict = errors.New("request_id was already used for a different request")
)

// ActionValidator checks an action's type and parameters before anyone is
// asked (the worker's action registry is one); it has no side effects.
type ActionValidator interface {
	Validate(a approval.Action) error
}

// Starter starts approvals.
type Starter struct {
	Live     *config.Live
	Temporal client.Client
	Actions  ActionValidator
	Now      func() time.Time
}

// Request is one would-be approval.
type Request struct {
	Requester *identity.User
	// RequestID makes the start idempotent per requester; empty means a
	// fresh approval every time.
	RequestID     string
	Request       approval.Request
	Justification string
}

// Result is what Start did.
type Result struct {
	ID string
	// State is the new approval; nil when Existing.
	State *approval.State
	// Existing: an approval with this requester and request_id and the same
	// content was already started; nothing new was started.
	Existing bool
}

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// NewID is a random approval ID: 26 lowercase base32 characters.
func NewID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return strings.ToLower(b32.EncodeToString(b[:]))
}

// ApprovalID derives the approval ID from the requester and their
// request_id, so a repeated start finds the same workflow.
func ApprovalID(requester, requestID string) string {
	sum := sha256.Sum256([]byte(requester + "\x00" + requestID))
	return strings.ToLower(b32.EncodeToString(sum[:16]))
}

// Start validates r and starts its workflow, once.
func (s *Starter) Start(ctx context.Context, r Request) (Result, error) {
	if err := s.Actions.Validate(r.Request.Action); err != nil {
		return Result{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	cfg := s.Live.Get()
	pol, err := cfg.Policies.Resolve(r.Request, r.Requester.Name)
	switch {
	case errors.Is(err, policy.ErrNoPolicy):
		return Result{}, fmt.Errorf("%w: %w: refused (deny by default)", ErrDenied, err)
	case err != nil:
		return Result{}, fmt.Errorf("%w: %w", ErrDenied, err)
	}
	if pol.RequireJustification && strings.TrimSpace(r.Justification) == "" {
		return Result{}, fmt.Errorf("%w: policy %q requires a justification", ErrInvalid, pol.Name)
	}
	id := NewID()
	if r.RequestID != "" {
		id = ApprovalID(r.Requester.Name, r.RequestID)
	}
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	in := workflows.Input{
		ID: id, Requester: r.Requester.Name, Request: r.Request, Policy: pol,
		CreatedAt: now().UTC().Truncate(time.Millisecond), Notifiers: cfg.Notifiers,
		Justification: r.Justification, SecurityNotifiers: cfg.SecurityNotifiers, Rules: approval.RulesProven,
	}
	st := approval.New(in.ID, in.Requester, in.Request, in.Policy, in.CreatedAt)
	st.Justification, st.Rules = r.Justification, in.Rules
	_, err = s.Temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                                       workflows.ApprovalWorkflowID(id),
		TaskQueue:                                cfg.Temporal.TaskQueue,
		WorkflowIDReusePolicy:                    enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		WorkflowIDConflictPolicy:                 enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
		WorkflowExecutionErrorWhenAlreadyStarted: true,
		Memo: map[string]any{
			workflows.MemoTitle:       r.Request.Title,
			workflows.MemoPolicy:      pol.Name,
			workflows.MemoDeadline:    st.Deadline,
			workflows.MemoRequestHash: st.RequestHash,
			workflows.MemoRego:        pol.Rego != "",
		},
		TypedSearchAttributes: temporal.NewSearchAttributes(
			searchAttributes(r, pol)...,
		),
		StaticSummary: fmt.Sprintf("%s (%s) requested by %s", r.Request.Title, r.Request.Environment, r.Requester.Name),
		StaticDetails: staticDetails(st),
	}, workflows.WorkflowName, in)
	var started *serviceerror.WorkflowExecutionAlreadyStarted
	switch {
	case errors.As(err, &started) && r.RequestID != "":
		return s.existing(ctx, id, st.RequestHash)
	case err != nil:
		return Result{}, fmt.Errorf("start approval workflow: %w", err)
	}
	return Result{ID: id, State: st}, nil
}

// searchAttributes index a new approval. Approvers scopes lists to the
// people an approval concerns (see gateway.ListApprovals).
func searchAttributes(r Request, pol approval.Policy) []temporal.SearchAttributeUpdate {
	attrs := []temporal.SearchAttributeUpdate{
		workflows.AttrStatus.ValueSet(string(approval.StatusPending)),
		workflows.AttrRequester.ValueSet(r.Requester.Name),
		workflows.AttrEnvironment.ValueSet(r.Request.Environment),
	}
	if approvers := pol.AllApprovers(); len(approvers) > 0 {
		attrs = append(attrs, workflows.AttrApprovers.ValueSet(approvers))
	}
	return attrs
}

// existing answers a repeated start: the same content is the approval it
// started; different content under the same request_id is a conflict.
func (s *Starter) existing(ctx context.Context, id, hash string) (Result, error) {
	desc, err := s.Temporal.DescribeWorkflowExecution(ctx, workflows.ApprovalWorkflowID(id), "")
	if err != nil {
		return Result{}, fmt.Errorf("describe approval: %w", err)
	}
	var prev string
	if p := desc.GetWorkflowExecutionInfo().GetMemo().GetFields()[workflows.MemoRequestHash]; p != nil {
		// The memo is encrypted when payload encryption is on.
		if dc, err := codec.EnvDataConverter(); err == nil {
			_ = dc.FromPayload(p, &prev)
		}
	}
	if prev != hash {
		return Result{}, ErrConflict
	}
	return Result{ID: id, Existing: true}, nil
}

// staticDetails is the Temporal UI's markdown summary of the request.
func staticDetails(st *approval.State) string {
	var b strings.Builder
	fmt.Fprintf(&b, "**%s**\n\n", st.Request.Title)
	if st.Request.Description != "" {
		fmt.Fprintf(&b, "%s\n\n", st.Request.Description)
	}
	fmt.Fprintf(&b, "- Environment: `%s`\n- Requester: %s\n- Policy: `%s` (%s), approvers %s\n- Action: `%s`\n",
		st.Request.Environment, st.Requester, st.Policy.Name, st.Policy.Version,
		strings.Join(st.Policy.AllApprovers(), ", "), st.Request.Action.Type)
	if st.Request.Resource != "" {
		fmt.Fprintf(&b, "- Resource: `%s`\n", st.Request.Resource)
	}
	if st.Justification != "" {
		fmt.Fprintf(&b, "- Justification: %s\n", st.Justification)
	}
	keys := make([]string, 0, len(st.Request.Fields))
	for k := range st.Request.Fields {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, "- %s: %s\n", k, st.Request.Fields[k])
	}
	return b.String()
}
