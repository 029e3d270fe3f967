package workflows

import (
	"errors"
	"testing"
	"time"

	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/signoff/signoff/people"
)

// TestPeopleWorkflowTakesOnlyStampedChanges: groups and delegations change
// only with the gateway's stamp; a change sent straight to Temporal (no
// stamp, or a stamp for other content) is refused and changes nothing.
// Past its history limit the workflow continues as new with its state.
func TestPeopleWorkflowTakesOnlyStampedChanges(t *testing.T) {
	var ts testsuite.WorkflowTestSuite
	env := ts.NewTestWorkflowEnvironment()
	registerActivities(env)
	env.RegisterWorkflowWithOptions(PeopleWorkflow, workflow.RegisterOptions{Name: PeopleWorkflowName})
	start := env.Now()
	stamp := func(m any) any {
		switch r := m.(type) {
		case ObserveGroupsRequest:
			return Stamp(testKeys, PeopleSubject, r, env.Now())
		case DelegateRequest:
			return Stamp(testKeys, PeopleSubject, r, env.Now())
		case RevokeDelegationRequest:
			return Stamp(testKeys, PeopleSubject, r, env.Now())
		}
		return m
	}
	refusedAs := func(kind string) *testsuite.TestUpdateCallback {
		return &testsuite.TestUpdateCallback{
			OnReject: func(err error) { t.Errorf("%s: rejected: %v", kind, err) },
			OnComplete: func(_ any, err error) {
				var app *temporal.ApplicationError
				if !errors.As(err, &app) || app.Type() != kind {
					t.Errorf("want %s, got %v", kind, err)
				}
			},
		}
	}
	ok := &testsuite.TestUpdateCallback{
		OnReject: func(err error) { t.Errorf("rejected: %v", err) },
		OnComplete: func(_ any, err error) {
			if err != nil {
				t.Errorf("refused: %v", err)
			}
		},
	}
	d := people.Delegation{ID: "d1", From: "bob", To: "carol", Start: start, End: start.Add(48 * time.Hour), CreatedBy: "bob"}
	forged := Stamp(testKeys, PeopleSubject, DelegateRequest{Delegation: d}, start)
	forged.Delegation.To = "mallory" // the stamp covered carol
	env.RegisterDelayedCallback(func() {
		env.UpdateWorkflow(UpdateObserveGroups, "g0", refusedAs("unproven"), ObserveGroupsRequest{User: "mallory", Groups: []string{"prod"}})
		env.UpdateWorkflow(UpdateDelegate, "d0", refusedAs("unproven"), forged)
		env.UpdateWorkflow(UpdateObserveGroups, "g1", ok, stamp(ObserveGroupsRequest{User: "bob", Groups: []string{"prod"}}))
		env.UpdateWorkflow(UpdateDelegate, "d1", ok, stamp(DelegateRequest{Delegation: d}))
	}, 30*time.Second)
	// The test environment does not keep the order of updates sent in one
	// callback, so those that need d1 in force come later.
	env.RegisterDelayedCallback(func() {
		env.UpdateWorkflow(UpdateDelegate, "d2", refusedAs("invalid_delegation"),
			stamp(DelegateRequest{Delegation: people.Delegation{ID: "d2", From: "bob", To: "dana", Start: start, End: start.Add(time.Hour)}}))
		env.UpdateWorkflow(UpdateRevokeDelegation, "r1", refusedAs(ErrTypeDelegationNotYours), stamp(RevokeDelegationRequest{ID: "d1", By: "carol"}))
	}, time.Minute)
	env.RegisterDelayedCallback(func() {
		v, err := env.QueryWorkflow(QueryPeople)
		if err != nil {
			t.Fatal(err)
		}
		var st people.State
		if err := v.Get(&st); err != nil {
			t.Fatal(err)
		}
		if got := st.Members("prod"); len(got) != 1 || got[0] != "bob" {
			t.Errorf("prod members %v", got)
		}
		if len(st.Delegations) != 1 || st.Delegations[0].To != "carol" {
			t.Errorf("delegations %+v", st.Delegations)
		}
		// Enough changes to pass the history limit.
		for i := range peopleChangeLimit {
			g := []string{"prod", "g" + string(rune('a'+i%26)) + time.Duration(i).String()}
			env.UpdateWorkflow(UpdateObserveGroups, "many"+time.Duration(i).String(), ok, stamp(ObserveGroupsRequest{User: "carol", Groups: g}))
		}
	}, 2*time.Minute)
	env.ExecuteWorkflow(PeopleWorkflow, PeopleStart{})
	var can *workflow.ContinueAsNewError
	if err := env.GetWorkflowError(); !errors.As(err, &can) {
		t.Fatalf("want continue-as-new past the history limit, got %v", err)
	}
	var next PeopleStart
	if err := converter.GetDefaultDataConverter().FromPayloads(can.Input, &next); err != nil {
		t.Fatal(err)
	}
	if next.Proof == nil {
		t.Fatal("the state handed to the next run is not stamped")
	}
	if len(next.Delegations) != 1 || next.Members("prod")[0] != "bob" || len(next.Members("prod")) != 2 {
		t.Fatalf("state carried over: %+v", next)
	}
}
