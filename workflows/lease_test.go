package workflows

import (
	"errors"
	"testing"
	"time"

	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/signoff/signoff/grantlease"
)

const leaseResource = "postgres_role:orders:orders_read:alice"

func leaseEnv(t *testing.T) *testsuite.TestWorkflowEnvironment {
	t.Helper()
	var ts testsuite.WorkflowTestSuite
	env := ts.NewTestWorkflowEnvironment()
	registerActivities(env)
	env.RegisterWorkflowWithOptions(LeaseWorkflow, workflow.RegisterOptions{Name: LeaseWorkflowName})
	return env
}

// leaseUpdate sends a lease change (stamped unless forged) and hands its
// answer to check.
func leaseUpdate(env *testsuite.TestWorkflowEnvironment, id string, c LeaseChange, stamped bool, check func(grantlease.View, error)) {
	if stamped {
		c = Stamp(testKeys, LeaseSubject(c.Resource), c, env.Now())
	}
	env.UpdateWorkflow(c.Op, id, &testsuite.TestUpdateCallback{
		OnReject: func(err error) { check(grantlease.View{}, err) },
		OnComplete: func(v any, err error) {
			view, _ := v.(grantlease.View)
			check(view, err)
		},
	}, c)
}

// TestLeaseOverlappingGrants: two grants of one role to one person; the
// first to end is told the other still needs the access; a change sent
// straight to Temporal (unstamped) is refused and changes nothing; the
// lease ends an idle hour after its last holder.
func TestLeaseOverlappingGrants(t *testing.T) {
	env := leaseEnv(t)
	start := env.Now()
	at := func(d time.Duration, f func()) { env.RegisterDelayedCallback(f, d) }
	hold := func(approval string, until time.Duration, present bool) LeaseChange {
		return LeaseChange{Resource: leaseResource, Approval: approval, Until: start.Add(until), Present: present, Op: UpdateLeaseHold}
	}
	release := func(approval, op string) LeaseChange {
		return LeaseChange{Resource: leaseResource, Approval: approval, Op: op}
	}
	noErr := func(_ grantlease.View, err error) {
		if err != nil {
			t.Errorf("change refused: %v", err)
		}
	}
	at(time.Minute, func() { leaseUpdate(env, "a-hold", hold("a", time.Hour, false), true, noErr) })
	at(2*time.Minute, func() {
		leaseUpdate(env, "b-hold", hold("b", 3*time.Hour, true), true, func(v grantlease.View, err error) {
			if err != nil || v.Outside || len(v.Others) != 1 {
				t.Errorf("b holds: %+v %v", v, err)
			}
		})
		leaseUpdate(env, "forged", hold("mallory", 999*time.Hour, true), false, func(_ grantlease.View, err error) {
			var app *temporal.ApplicationError
			if !errors.As(err, &app) || app.Type() != "unproven" {
				t.Errorf("unstamped hold: want unproven, got %v", err)
			}
		})
	})
	at(time.Hour, func() {
		leaseUpdate(env, "a-release", release("a", UpdateLeaseRelease), true, func(v grantlease.View, err error) {
			if err != nil || len(v.Others) != 1 || v.Others[0].Approval != "b" {
				t.Errorf("a releases: want b still due, got %+v %v", v, err)
			}
		})
	})
	at(time.Hour+time.Minute, func() {
		leaseUpdate(env, "a-released", release("a", UpdateLeaseReleased), true, noErr)
	})
	// A hold that moves b's end (an extension) is one more change. It goes
	// in its own callback: the test environment does not keep the order of
	// updates sent together, and before a's revoke is done it is refused
	// as busy.
	at(time.Hour+2*time.Minute, func() {
		leaseUpdate(env, "b-hold-2", hold("b", 4*time.Hour, true), true, noErr)
	})
	at(4*time.Hour, func() {
		leaseUpdate(env, "b-release", release("b", UpdateLeaseRelease), true, func(v grantlease.View, err error) {
			if err != nil || v.Outside || len(v.Others) != 0 {
				t.Errorf("b releases last: want nobody else, got %+v %v", v, err)
			}
		})
	})
	at(4*time.Hour+time.Minute, func() {
		leaseUpdate(env, "b-released", release("b", UpdateLeaseReleased), true, noErr)
	})
	env.ExecuteWorkflow(LeaseWorkflow, LeaseStart{State: grantlease.State{Resource: leaseResource}})
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	if got := env.Now().Sub(start); got != 5*time.Hour+time.Minute {
		t.Errorf("ended %s after the start, want an idle hour after the last release", got)
	}
}

// TestLeaseStartedWithForgedHoldersDropsThem: holders written into the
// start input by hand (to keep access alive) are not believed.
func TestLeaseStartedWithForgedHoldersDropsThem(t *testing.T) {
	env := leaseEnv(t)
	forged := grantlease.State{Resource: leaseResource, Holders: []grantlease.Holder{{Approval: "mallory", Until: env.Now().Add(999 * time.Hour)}}}
	env.RegisterDelayedCallback(func() {
		leaseUpdate(env, "a-release", LeaseChange{Resource: leaseResource, Approval: "a", Op: UpdateLeaseRelease}, true, func(v grantlease.View, err error) {
			if err != nil || len(v.Others) != 0 {
				t.Errorf("want no other holder, got %+v %v", v, err)
			}
		})
	}, time.Minute)
	env.ExecuteWorkflow(LeaseWorkflow, LeaseStart{State: forged})
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
}

// TestLeaseContinuesAsNewWithItsStateStamped: past its change limit the
// lease starts over with its holders, stamped, and the next run believes
// them.
func TestLeaseContinuesAsNewWithItsStateStamped(t *testing.T) {
	env := leaseEnv(t)
	start := env.Now()
	env.RegisterDelayedCallback(func() {
		for i := range leaseChangeLimit {
			c := LeaseChange{Resource: leaseResource, Approval: "a", Until: start.Add(time.Hour + time.Duration(i)*time.Second), Op: UpdateLeaseHold}
			leaseUpdate(env, c.Until.String(), c, true, func(_ grantlease.View, err error) {
				if err != nil {
					t.Errorf("hold %d: %v", i, err)
				}
			})
		}
	}, time.Minute)
	env.ExecuteWorkflow(LeaseWorkflow, LeaseStart{State: grantlease.State{Resource: leaseResource}})
	var can *workflow.ContinueAsNewError
	if err := env.GetWorkflowError(); !errors.As(err, &can) {
		t.Fatalf("want continue-as-new, got %v", err)
	}
	var next LeaseStart
	if err := converter.GetDefaultDataConverter().FromPayloads(can.Input, &next); err != nil {
		t.Fatal(err)
	}
	if next.Proof == nil || len(next.State.Holders) != 1 {
		t.Fatalf("next run's input: %+v", next)
	}
	// The next run believes the stamped holder: a's hold keeps b's
	// release from revoking.
	env2 := leaseEnv(t)
	env2.SetStartTime(next.Proof.IssuedAt)
	env2.RegisterDelayedCallback(func() {
		leaseUpdate(env2, "b-release", LeaseChange{Resource: leaseResource, Approval: "b", Op: UpdateLeaseRelease}, true, func(v grantlease.View, err error) {
			if err != nil || len(v.Others) != 1 || v.Others[0].Approval != "a" {
				t.Errorf("want a still due, got %+v %v", v, err)
			}
		})
	}, time.Second)
	env2.ExecuteWorkflow(LeaseWorkflow, next)
}
