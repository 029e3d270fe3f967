package workflows

import (
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/signoff/signoff/approval"
	"github.com/signoff/signoff/auth/proof"
	"github.com/signoff/signoff/people"
)

// The people workflow: one per namespace and task queue, holding what
// Signoff learns about people outside its config (identity-provider groups,
// delegations). Every change is an update stamped by the gateway: with
// write access to Temporal alone nobody can put themselves in a group or
// make themselves someone's delegate.
const (
	PeopleWorkflowName = "PeopleWorkflow"
	// PeopleWorkflowID is the workflow's ID.
	PeopleWorkflowID = "signoff-people"
	// PeopleSubject is the "approval ID" the people messages' stamps cover.
	PeopleSubject = "people"

	UpdateObserveGroups    = "observe_groups"
	UpdateDelegate         = "delegate"
	UpdateRevokeDelegation = "revoke_delegation"
	// QueryPeople returns the people.State.
	QueryPeople = "people"

	ProofObserveGroups = "observe_groups"
	ProofDelegate      = "delegate"
	ProofRevoke        = "revoke_delegation"
	ProofPeopleStart   = "people_start"

	// ActivityStampPeople stamps the state the people workflow continues
	// as new with (a local activity on the worker, which holds the keys).
	ActivityStampPeople = "StampPeople"
)

// peopleChangeLimit continues the workflow as new well before Temporal's
// own history limits: its state is small, its history grows with every
// sign-in whose groups changed and every delegation (each change is an
// update, a local activity and a few events).
const peopleChangeLimit = 400

// ObserveGroupsRequest records the groups a verified token gave user.
type ObserveGroupsRequest struct {
	User   string       `json:"user"`
	Groups []string     `json:"groups"`
	Proof  *proof.Stamp `json:"proof,omitempty"`
}

// DelegateRequest adds a delegation, made by By (From, or an admin).
type DelegateRequest struct {
	Delegation people.Delegation `json:"delegation"`
	Proof      *proof.Stamp      `json:"proof,omitempty"`
}

// RevokeDelegationRequest ends a delegation early.
type RevokeDelegationRequest struct {
	ID    string       `json:"id"`
	By    string       `json:"by"`
	Admin bool         `json:"admin"`
	Proof *proof.Stamp `json:"proof,omitempty"`
}

func (ObserveGroupsRequest) proofKind() string     { return ProofObserveGroups }
func (r ObserveGroupsRequest) stamp() *proof.Stamp { return r.Proof }
func (r ObserveGroupsRequest) withStamp(s *proof.Stamp) ObserveGroupsRequest {
	r.Proof = s
	return r
}
func (DelegateRequest) proofKind() string     { return ProofDelegate }
func (r DelegateRequest) stamp() *proof.Stamp { return r.Proof }
func (r DelegateRequest) withStamp(s *proof.Stamp) DelegateRequest {
	r.Proof = s
	return r
}
func (RevokeDelegationRequest) proofKind() string     { return ProofRevoke }
func (r RevokeDelegationRequest) stamp() *proof.Stamp { return r.Proof }
func (r RevokeDelegationRequest) withStamp(s *proof.Stamp) RevokeDelegationRequest {
	r.Proof = s
	return r
}

// Application error types of refused delegation changes.
const (
	ErrTypeInvalidDelegation  = "invalid_delegation"
	ErrTypeDelegationNotFound = "delegation_not_found"
	ErrTypeDelegationNotYours = "delegation_not_yours"
)

// DelegationErrorType is the application error type of a people error.
func DelegationErrorType(err error) string {
	switch {
	case errors.Is(err, people.ErrNotFound):
		return ErrTypeDelegationNotFound
	case errors.Is(err, people.ErrNotYours):
		return ErrTypeDelegationNotYours
	}
	return ErrTypeInvalidDelegation
}

// ErrUnprovenChange is the answer to a change without a valid stamp.
var ErrUnprovenChange = errors.New("refused: not stamped by the gateway")

// PeopleStart is the people workflow's input: empty when it first starts,
// or the state it continues as new with, stamped by the worker. Its JSON is
// people.State's with a proof beside it, so a state from before stamps
// decodes as an unstamped one.
type PeopleStart struct {
	people.State
	// Applied are the stamps of changes applied lately, carried across
	// runs so that none is applied twice (see freshChange).
	Applied []AppliedChange `json:"applied,omitempty"`
	Proof   *proof.Stamp    `json:"proof,omitempty"`
}

// AppliedChange names one applied change by its stamp.
type AppliedChange struct {
	MAC      string    `json:"mac"`
	IssuedAt time.Time `json:"iat"`
}

func (PeopleStart) proofKind() string     { return ProofPeopleStart }
func (s PeopleStart) stamp() *proof.Stamp { return s.Proof }
func (s PeopleStart) withStamp(p *proof.Stamp) PeopleStart {
	s.Proof = p
	return s
}

// PeopleChangeMaxAge is how old a change's stamp may be when the people
// workflow applies it: the gateway sends each change as it stamps it, so
// minutes are plenty, and a stamp copied from history is stale soon after.
// Within that age each stamp is applied once (PeopleStart.Applied).
const PeopleChangeMaxAge = 5 * time.Minute

// peopleStartMaxAge bounds how long before a run starts its state may have
// been stamped: continue-as-new follows the stamp at once.
const peopleStartMaxAge = 10 * time.Minute

// changePeopleProven: since this change the people workflow drops a
// starting state that the worker did not stamp (anyone with Temporal
// access could otherwise start it with made-up groups and delegations),
// stamps the state it continues as new with, and applies each stamped
// change once and only while fresh.
const changePeopleProven = "people-proven"

// PeopleWorkflow keeps people.State until its history is long, then
// continues as new with it.
func PeopleWorkflow(ctx workflow.Context, start PeopleStart) error {
	st := start.State
	proven := workflow.GetVersion(ctx, changePeopleProven, workflow.DefaultVersion, 1) == 1
	applied := start.Applied
	if proven && (!st.Empty() || len(applied) > 0) {
		_, ref := verify(ctx, PeopleSubject, start)
		if ref.OK() && workflow.GetInfo(ctx).WorkflowStartTime.Sub(start.Proof.IssuedAt) > peopleStartMaxAge {
			// A state stamped long ago is an earlier run's, copied from
			// history to roll back groups or delegations.
			ref = approval.Refusal{Code: approval.CodeStaleProof, Message: "the state was stamped long before this run started"}
		}
		if !ref.OK() {
			workflow.GetLogger(ctx).Warn("people workflow started with an unproven state: dropped", "reason", ref.Message)
			st, applied = people.State{}, nil
		}
	}
	verifyChange := func(ctx workflow.Context, m peopleChange) error {
		if err := m.verify(ctx); err != nil {
			return err
		}
		if !proven {
			return nil
		}
		var err error
		applied, err = freshChange(applied, m.stampOf(), workflow.Now(ctx))
		return err
	}
	if err := workflow.SetQueryHandler(ctx, QueryPeople, func() (people.State, error) { return st, nil }); err != nil {
		return fmt.Errorf("set query handler: %w", err)
	}
	changes := 0
	wake := func() { changes++ }
	handlers := []struct {
		name string
		fn   any
	}{
		{UpdateObserveGroups, func(ctx workflow.Context, req ObserveGroupsRequest) (bool, error) {
			if err := verifyChange(ctx, changeOf(req)); err != nil {
				return false, err
			}
			defer wake()
			return st.Observe(req.User, req.Groups, workflow.Now(ctx)), nil
		}},
		{UpdateDelegate, func(ctx workflow.Context, req DelegateRequest) (people.Delegation, error) {
			if err := verifyChange(ctx, changeOf(req)); err != nil {
				return people.Delegation{}, err
			}
			defer wake()
			if err := st.Delegate(req.Delegation, workflow.Now(ctx)); err != nil {
				return people.Delegation{}, temporal.NewApplicationErrorWithOptions(err.Error(), DelegationErrorType(err),
					temporal.ApplicationErrorOptions{NonRetryable: true})
			}
			d, _ := st.Find(req.Delegation.ID)
			return d, nil
		}},
		{UpdateRevokeDelegation, func(ctx workflow.Context, req RevokeDelegationRequest) (people.Delegation, error) {
			if err := verifyChange(ctx, changeOf(req)); err != nil {
				return people.Delegation{}, err
			}
			defer wake()
			d, err := st.Revoke(req.ID, req.By, req.Admin, workflow.Now(ctx))
			if err != nil {
				return d, temporal.NewApplicationErrorWithOptions(err.Error(), DelegationErrorType(err),
					temporal.ApplicationErrorOptions{NonRetryable: true})
			}
			return d, nil
		}},
	}
	for _, h := range handlers {
		if err := workflow.SetUpdateHandler(ctx, h.name, h.fn); err != nil {
			return fmt.Errorf("set update handler %s: %w", h.name, err)
		}
	}
	long := func() bool {
		return changes >= peopleChangeLimit || workflow.GetInfo(ctx).GetContinueAsNewSuggested()
	}
	if err := workflow.Await(ctx, long); err != nil {
		return err
	}
	// Finish the changes under way, so none is lost, then start over with
	// the state alone.
	if err := workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) }); err != nil {
		return err
	}
	st.Prune(workflow.Now(ctx))
	next := PeopleStart{State: st, Applied: pruneApplied(applied, workflow.Now(ctx))}
	// Its own marker: a run from before stamps that reaches this point on
	// today's code stamps what it hands on, so the next run keeps it.
	if workflow.GetVersion(ctx, changePeopleStamped, workflow.DefaultVersion, 1) == 1 {
		lctx := workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
			StartToCloseTimeout: 10 * time.Second, RetryPolicy: &temporal.RetryPolicy{MaximumAttempts: 5}, Summary: "stamp people state",
		})
		if err := workflow.ExecuteLocalActivity(lctx, ActivityStampPeople, next).Get(ctx, &next); err != nil {
			return fmt.Errorf("stamp people state: %w", err)
		}
	}
	return workflow.NewContinueAsNewError(ctx, PeopleWorkflowName, next)
}

// changePeopleStamped: the state handed to the next run is stamped.
const changePeopleStamped = "people-stamped-continue"

// peopleChange is a stamped people message, type-erased for the handlers.
type peopleChange struct {
	verify  func(workflow.Context) error
	stampOf func() *proof.Stamp
}

func changeOf[M Provable[M]](m M) peopleChange {
	return peopleChange{verify: func(ctx workflow.Context) error { return verifyPeopleChange(ctx, m) }, stampOf: m.stamp}
}

// freshChange refuses a change whose stamp is older than
// PeopleChangeMaxAge or was applied already, and records it as applied.
func freshChange(applied []AppliedChange, s *proof.Stamp, now time.Time) ([]AppliedChange, error) {
	refuse := func(why string) error {
		return temporal.NewApplicationErrorWithOptions(ErrUnprovenChange.Error()+": "+why, "unproven",
			temporal.ApplicationErrorOptions{NonRetryable: true})
	}
	if now.Sub(s.IssuedAt) > PeopleChangeMaxAge {
		return applied, refuse(fmt.Sprintf("stamped %s ago, more than %s: a copy of an earlier change", now.Sub(s.IssuedAt).Round(time.Second), PeopleChangeMaxAge))
	}
	applied = pruneApplied(applied, now)
	for _, a := range applied {
		if a.MAC == s.MAC {
			return applied, refuse("this change was applied already: a copy of it")
		}
	}
	return append(applied, AppliedChange{MAC: s.MAC, IssuedAt: s.IssuedAt}), nil
}

// pruneApplied forgets changes too old to be applied again anyway (their
// age plus the clock skew stamps are allowed).
func pruneApplied(applied []AppliedChange, now time.Time) []AppliedChange {
	out := applied[:0:0]
	for _, a := range applied {
		if now.Sub(a.IssuedAt) <= 2*PeopleChangeMaxAge {
			out = append(out, a)
		}
	}
	return out
}

// verifyPeopleChange checks a people message's stamp (a local activity, as
// for approvals); the error refuses the change.
func verifyPeopleChange[M Provable[M]](ctx workflow.Context, m M) error {
	if _, ref := verify(ctx, PeopleSubject, m); !ref.OK() {
		return temporal.NewApplicationErrorWithOptions(ErrUnprovenChange.Error()+": "+ref.Message, "unproven",
			temporal.ApplicationErrorOptions{NonRetryable: true})
	}
	return nil
}
