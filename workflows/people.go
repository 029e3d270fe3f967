package workflows

import (
	"errors"
	"fmt"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/signoff/signoff/people"
	"github.com/signoff/signoff/proof"
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

// PeopleWorkflow keeps people.State until its history is long, then
// continues as new with it.
func PeopleWorkflow(ctx workflow.Context, st people.State) error {
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
			if err := verifyChange(ctx, req); err != nil {
				return false, err
			}
			defer wake()
			return st.Observe(req.User, req.Groups, workflow.Now(ctx)), nil
		}},
		{UpdateDelegate, func(ctx workflow.Context, req DelegateRequest) (people.Delegation, error) {
			if err := verifyChange(ctx, req); err != nil {
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
			if err := verifyChange(ctx, req); err != nil {
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
	return workflow.NewContinueAsNewError(ctx, PeopleWorkflowName, st)
}

// verifyChange checks a people message's stamp (a local activity, as for
// approvals); the error refuses the change.
func verifyChange[M Provable[M]](ctx workflow.Context, m M) error {
	if _, ref := verify(ctx, PeopleSubject, m); !ref.OK() {
		return temporal.NewApplicationErrorWithOptions(ErrUnprovenChange.Error()+": "+ref.Message, "unproven",
			temporal.ApplicationErrorOptions{NonRetryable: true})
	}
	return nil
}
