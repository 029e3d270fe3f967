package workflows

import (
	"errors"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/signoff/signoff/people"
)

// peopleEnv is a people workflow under test, started with start.
func peopleEnv(t *testing.T) *testsuite.TestWorkflowEnvironment {
	t.Helper()
	var ts testsuite.WorkflowTestSuite
	env := ts.NewTestWorkflowEnvironment()
	registerActivities(env)
	env.RegisterWorkflowWithOptions(PeopleWorkflow, workflow.RegisterOptions{Name: PeopleWorkflowName})
	return env
}

// peopleAfter queries the people state at the env's current time.
func peopleAfter(t *testing.T, env *testsuite.TestWorkflowEnvironment) people.State {
	t.Helper()
	v, err := env.QueryWorkflow(QueryPeople)
	if err != nil {
		t.Fatal(err)
	}
	var st people.State
	if err := v.Get(&st); err != nil {
		t.Fatal(err)
	}
	return st
}

// forgedPeople is what an attacker with Temporal access would start the
// people workflow with: mallory stands in for bob and is in prod.
func forgedPeople(now time.Time) people.State {
	st := people.State{}
	st.Observe("mallory", []string{"prod-approvers"}, now)
	st.Delegations = []people.Delegation{{ID: "x", From: "bob", To: "mallory", Start: now, End: now.Add(24 * time.Hour), CreatedBy: "bob", CreatedAt: now}}
	return st
}

// TestPeopleStartMustBeStampedAndFresh: a starting state is kept only when
// the worker stamped it just before the run began; unstamped, or stamped
// by an earlier run long ago (copied from history), it is dropped.
func TestPeopleStartMustBeStampedAndFresh(t *testing.T) {
	cases := []struct {
		name  string
		start func(now time.Time) PeopleStart
		kept  bool
	}{
		{"unstamped", func(now time.Time) PeopleStart { return PeopleStart{State: forgedPeople(now)} }, false},
		{"stamped an hour before the run", func(now time.Time) PeopleStart {
			return Stamp(testKeys, PeopleSubject, PeopleStart{State: forgedPeople(now)}, now.Add(-time.Hour))
		}, false},
		{"stamped for other content", func(now time.Time) PeopleStart {
			s := Stamp(testKeys, PeopleSubject, PeopleStart{State: people.State{}}, now)
			s.State = forgedPeople(now)
			return s
		}, false},
		{"stamped by the worker as it continued", func(now time.Time) PeopleStart {
			return Stamp(testKeys, PeopleSubject, PeopleStart{State: forgedPeople(now)}, now)
		}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			env := peopleEnv(t)
			var st people.State
			queried := false
			env.RegisterDelayedCallback(func() {
				st, queried = peopleAfter(t, env), true
				env.CancelWorkflow()
			}, time.Minute)
			env.ExecuteWorkflow(PeopleWorkflow, c.start(env.Now()))
			if !queried {
				t.Fatal("the workflow ended before it was queried")
			}
			_, delegated := st.DelegateOf("bob", env.Now())
			if delegated != c.kept || (len(st.Members("prod-approvers")) == 1) != c.kept {
				t.Fatalf("state kept = %v, want %v: %+v", delegated, c.kept, st)
			}
		})
	}
}

// TestPeopleChangeAppliesOnce: a stamped change copied from history and
// sent again (under another update ID) is refused, and so is one stamped
// longer ago than PeopleChangeMaxAge: leaving a group cannot be undone by
// replaying the sign-in that put someone in it.
func TestPeopleChangeAppliesOnce(t *testing.T) {
	env := peopleEnv(t)
	start := env.Now()
	joined := Stamp(testKeys, PeopleSubject, ObserveGroupsRequest{User: "mallory", Groups: []string{"prod"}}, start)
	var outcomes []error
	record := func() *testsuite.TestUpdateCallback {
		i := len(outcomes)
		outcomes = append(outcomes, errors.New("never answered"))
		return &testsuite.TestUpdateCallback{
			OnReject:   func(err error) { outcomes[i] = err },
			OnAccept:   func() {},
			OnComplete: func(_ any, err error) { outcomes[i] = err },
		}
	}
	env.RegisterDelayedCallback(func() {
		env.UpdateWorkflow(UpdateObserveGroups, "join", record(), joined)
	}, time.Second)
	env.RegisterDelayedCallback(func() {
		env.UpdateWorkflow(UpdateObserveGroups, "leave", record(),
			Stamp(testKeys, PeopleSubject, ObserveGroupsRequest{User: "mallory", Groups: nil}, env.Now()))
	}, time.Minute)
	env.RegisterDelayedCallback(func() {
		env.UpdateWorkflow(UpdateObserveGroups, "replayed", record(), joined) // within its age
	}, 2*time.Minute)
	env.RegisterDelayedCallback(func() {
		late := Stamp(testKeys, PeopleSubject, ObserveGroupsRequest{User: "mallory", Groups: []string{"prod", "x"}}, env.Now().Add(-PeopleChangeMaxAge-time.Minute))
		env.UpdateWorkflow(UpdateObserveGroups, "stale", record(), late)
	}, 3*time.Minute)
	var members []string
	env.RegisterDelayedCallback(func() {
		st := peopleAfter(t, env)
		members = st.Members("prod")
		env.CancelWorkflow()
	}, 4*time.Minute)
	env.ExecuteWorkflow(PeopleWorkflow, PeopleStart{})
	if len(outcomes) != 4 {
		t.Fatalf("%d updates answered, want 4", len(outcomes))
	}
	if outcomes[0] != nil || outcomes[1] != nil {
		t.Fatalf("join and leave: %v, %v", outcomes[0], outcomes[1])
	}
	for i, want := range map[int]string{2: "applied already", 3: "more than"} {
		var app *temporal.ApplicationError
		if !errors.As(outcomes[i], &app) || app.Type() != "unproven" || !strings.Contains(app.Message(), want) {
			t.Errorf("update %d: want refused (%s), got %v", i, want, outcomes[i])
		}
	}
	if len(members) != 0 {
		t.Fatalf("mallory is back in prod: %v", members)
	}
}
