// Package approvalstore is the one way the edges (the API, the Slack and email
// callbacks, the triggers) reach approvals: start, read, decide, cancel,
// break-glass, amend and list. Temporal implements it for the service;
// Memory implements it on the same state machine for unit tests. Nothing
// else talks to the Temporal client about approvals.
package approvalstore

import (
	"context"
	"errors"
	"time"

	"github.com/signoff/signoff/approval"
	"github.com/signoff/signoff/approval/evidence"
	"github.com/signoff/signoff/workflows"
)

// Errors every implementation returns, for callers to map to their answer
// (a gRPC status, an HTTP page, a Slack message). A refusal by the workflow
// is an approval.Refusal, whose Code says why.
var (
	// ErrNotFound: no approval has this ID.
	ErrNotFound = errors.New("approval not found")
	// ErrClosed: the approval has finished; nothing can be decided any more.
	ErrClosed = errors.New(approval.RefusedNotPending)
	// ErrUnavailable: no worker answered in time. What was sent may still
	// be applied when one does; resending it under the same attempt ID
	// counts once.
	ErrUnavailable = errors.New("no worker answered in time")
	// ErrBadPageToken: List was given a page token it did not issue.
	ErrBadPageToken = errors.New("malformed page_token")
)

// Exists is Start's error when an approval with this ID was already
// started; RequestHash is that approval's content hash ("" if its memo
// cannot be read).
type Exists struct{ RequestHash string }

func (e *Exists) Error() string { return "an approval with this ID was already started" }

// Approvals is what the edges need of approvals. Every message that carries
// a person's intent (decide, click, cancel, bypass, amend) must be stamped by
// the caller (workflows.Stamp): the workflow judges it, and records it
// whether it counts or not.
type Approvals interface {
	// Start starts an approval once; *Exists if its ID is taken.
	Start(ctx context.Context, in workflows.Input) error
	// Info says whether an approval is open, without a worker.
	Info(ctx context.Context, id string) (Info, error)
	// Get reads an approval, open or finished.
	Get(ctx context.Context, id string) (*approval.State, error)
	// Decide delivers a decision and waits for the workflow's judgement:
	// the accepted attempt, or an approval.Refusal.
	Decide(ctx context.Context, id string, req workflows.DecisionRequest) (*workflows.DecideResult, error)
	// Click delivers a decision durably without waiting for its judgement
	// (a Slack click): recorded in history before it returns.
	Click(ctx context.Context, id string, req workflows.DecisionRequest) error
	// Cancel, Bypass and Amend wait for the workflow's answer: the approval
	// as it stands after, or an approval.Refusal.
	Cancel(ctx context.Context, id string, req workflows.CancelRequest) (*approval.State, error)
	Bypass(ctx context.Context, id string, req workflows.BypassRequest) (*approval.State, error)
	// Revoke ends an approval's granted access now.
	Revoke(ctx context.Context, id string, req workflows.RevokeRequest) (*approval.State, error)
	// ExtendGrant moves a grant's revoke time (the worker, for an approved
	// extension); AcknowledgeRevoke stops a failing revoke's retries (an
	// admin took it over).
	ExtendGrant(ctx context.Context, id string, req workflows.ExtendGrantRequest) (*approval.State, error)
	AcknowledgeRevoke(ctx context.Context, id string, req workflows.AcknowledgeRevokeRequest) (*approval.State, error)
	Amend(ctx context.Context, id string, req workflows.AmendRequest) (*approval.State, error)
	// AddDelegate tells an approval of a delegation made after it began;
	// it answers whether the delegate was added (see
	// approval.State.AddDelegate).
	AddDelegate(ctx context.Context, id string, req workflows.AddDelegateRequest) (bool, error)
	// List pages through approvals as the index knows them, without a
	// worker. Callers check access per entry: the index may be stale.
	List(ctx context.Context, q Query) (Page, error)
	// Record reads what the approval's history adds to its state for the
	// audit record (evidence export, audit page).
	Record(ctx context.Context, id string) (Record, error)
	// CountGrants counts the approvals whose access is granted now, as the
	// index knows them, without a worker; with revokeFailing, only those
	// whose revoke has failed and not succeeded since (/metrics).
	CountGrants(ctx context.Context, revokeFailing bool) (int64, error)
	// CountPending counts the approvals waiting for decisions now, as the
	// index knows them, without a worker; with startedBefore not zero,
	// only those created before it (/metrics).
	CountPending(ctx context.Context, startedBefore time.Time) (int64, error)
}

// Record is what an approval's history adds to its state.
type Record struct {
	// RunID names the workflow run, to find it in the Temporal UI.
	RunID string
	// Timers are the timers that fired (deadline, reminders, escalations).
	Timers []evidence.Timer
}

// Info is what is known of an approval without its state.
type Info struct {
	Open      bool
	StartTime time.Time
}

// Query selects approvals to list; zero fields match everything.
type Query struct {
	Status      approval.Status
	Environment string
	Requester   string
	// ReadableBy limits the list to approvals this person requested or may
	// decide.
	ReadableBy string
	// Open limits the list to approvals still running.
	Open bool
	// AwaitedBy limits the list to approvals waiting for this person's
	// decision now, as the workflow keeps it (workflows.AttrAwaitedBy):
	// approvals started since workflows.Version2.
	AwaitedBy string
	// Untracked limits the list to approvals that do not keep who is
	// awaited (started before workflows.Version2), or keep nobody.
	Untracked bool
	PageSize  int
	PageToken []byte
}

// Page is one page of a list.
type Page struct {
	Approvals []Summary
	// NextPageToken is empty on the last page.
	NextPageToken []byte
}

// Summary is an approval as the index knows it.
type Summary struct {
	ID          string
	Status      approval.Status
	Environment string
	Requester   string
	Approvers   []string
	Title       string
	Policy      string
	Deadline    time.Time
	StartTime   time.Time
	CloseTime   time.Time
}

// Known is what a summary says of who the approval concerns, for
// access.CanRead.
func (s Summary) Known() *approval.State {
	return &approval.State{ID: s.ID, Requester: s.Requester, Policy: approval.Policy{Approvers: s.Approvers}}
}
