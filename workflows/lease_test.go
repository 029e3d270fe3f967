package workflows

import (
	"errors"
	"fmt"
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

// leaseRun drives one lease workflow and keeps track of what a test
// expects to happen in it: an update sent after the workflow ended, or a
// callback whose time never came, never calls its checks, which would then
// pass unseen. done requires every callback to have run and every update
// to have been accepted and answered.
type leaseRun struct {
	t         *testing.T
	env       *testsuite.TestWorkflowEnvironment
	scheduled []string
	ran       map[string]bool
	updates   map[string]*updateSeen
}

// updateSeen is what the test environment called back for one update.
type updateSeen struct {
	accepted, completed bool
	rejected            error
}

func newLeaseRun(t *testing.T, env *testsuite.TestWorkflowEnvironment) *leaseRun {
	return &leaseRun{t: t, env: env, ran: map[string]bool{}, updates: map[string]*updateSeen{}}
}

// at runs f d after the start.
func (r *leaseRun) at(d time.Duration, f func()) {
	name := fmt.Sprintf("callback %d at %s", len(r.scheduled), d)
	r.scheduled = append(r.scheduled, name)
	r.env.RegisterDelayedCallback(func() {
		r.ran[name] = true
		f()
	}, d)
}

// update sends a lease change (stamped unless forged) and hands its
// answer to check.
func (r *leaseRun) update(id string, c LeaseChange, stamped bool, check func(grantlease.View, error)) {
	if _, dup := r.updates[id]; dup {
		r.t.Fatalf("update ID %s used twice", id)
	}
	seen := &updateSeen{}
	r.updates[id] = seen
	if stamped {
		c = Stamp(testKeys, LeaseSubject(c.Resource), c, r.env.Now())
	}
	r.env.UpdateWorkflow(c.Op, id, &testsuite.TestUpdateCallback{
		OnAccept: func() { seen.accepted = true },
		OnReject: func(err error) { seen.rejected = err },
		OnComplete: func(v any, err error) {
			seen.completed = true
			var view grantlease.View
			switch v := v.(type) {
			case grantlease.View:
				view = v
			case bool, nil:
				// released answers true; a refusal, nothing.
			default:
				r.t.Errorf("update %s answered %T %v", id, v, v)
			}
			check(view, err)
		},
	}, c)
}

// done requires the workflow to have ended with want (nil: completed) and
// every callback and update to have run through.
func (r *leaseRun) done(want func(error) bool) {
	r.t.Helper()
	if !r.env.IsWorkflowCompleted() {
		r.t.Fatal("the lease workflow did not end")
	}
	err := r.env.GetWorkflowError()
	if (want == nil && err != nil) || (want != nil && !want(err)) {
		r.t.Fatalf("lease workflow ended with %v", err)
	}
	for _, name := range r.scheduled {
		if !r.ran[name] {
			r.t.Errorf("%s never ran: the workflow ended first", name)
		}
	}
	for id, seen := range r.updates {
		if seen.rejected != nil || !seen.accepted || !seen.completed {
			r.t.Errorf("update %s: accepted %v, answered %v, rejected %v", id, seen.accepted, seen.completed, seen.rejected)
		}
	}
}

// TestLeaseOverlappingGrants: two grants of one role to one person; the
// first to end is told the other still needs the access; a change sent
// straight to Temporal (unstamped) is refused and changes nothing; the
// lease ends an idle hour after its last holder.
func TestLeaseOverlappingGrants(t *testing.T) {
	env := leaseEnv(t)
	r := newLeaseRun(t, env)
	start := env.Now()
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
	r.at(time.Minute, func() { r.update("a-hold", hold("a", time.Hour, false), true, noErr) })
	r.at(2*time.Minute, func() {
		r.update("b-hold", hold("b", 3*time.Hour, true), true, func(v grantlease.View, err error) {
			if err != nil || v.Outside || len(v.Others) != 1 {
				t.Errorf("b holds: %+v %v", v, err)
			}
		})
		r.update("forged", hold("mallory", 999*time.Hour, true), false, func(_ grantlease.View, err error) {
			var app *temporal.ApplicationError
			if !errors.As(err, &app) || app.Type() != "unproven" {
				t.Errorf("unstamped hold: want unproven, got %v", err)
			}
		})
	})
	r.at(time.Hour, func() {
		r.update("a-release", release("a", UpdateLeaseRelease), true, func(v grantlease.View, err error) {
			if err != nil || len(v.Others) != 1 || v.Others[0].Approval != "b" {
				t.Errorf("a releases: want b still due, got %+v %v", v, err)
			}
		})
	})
	r.at(time.Hour+time.Minute, func() {
		r.update("a-released", release("a", UpdateLeaseReleased), true, noErr)
	})
	// A hold that moves b's end (an extension) is one more change. It goes
	// in its own callback: the test environment does not keep the order of
	// updates sent together, and before a's revoke is done it is refused
	// as busy.
	r.at(time.Hour+2*time.Minute, func() {
		r.update("b-hold-2", hold("b", 4*time.Hour, true), true, noErr)
	})
	r.at(4*time.Hour, func() {
		r.update("b-release", release("b", UpdateLeaseRelease), true, func(v grantlease.View, err error) {
			if err != nil || v.Outside || len(v.Others) != 0 {
				t.Errorf("b releases last: want nobody else, got %+v %v", v, err)
			}
		})
	})
	r.at(4*time.Hour+time.Minute, func() {
		r.update("b-released", release("b", UpdateLeaseReleased), true, noErr)
	})
	env.ExecuteWorkflow(LeaseWorkflow, LeaseStart{State: grantlease.State{Resource: leaseResource}})
	r.done(nil)
	if got := env.Now().Sub(start); got != 5*time.Hour+time.Minute {
		t.Errorf("ended %s after the start, want an idle hour after the last release", got)
	}
}

// TestLeaseStartedWithForgedHoldersDropsThem: holders written into the
// start input by hand (to keep access alive) are not believed.
func TestLeaseStartedWithForgedHoldersDropsThem(t *testing.T) {
	env := leaseEnv(t)
	r := newLeaseRun(t, env)
	start := env.Now()
	forged := grantlease.State{Resource: leaseResource, Holders: []grantlease.Holder{{Approval: "mallory", Until: env.Now().Add(999 * time.Hour)}}}
	r.at(time.Minute, func() {
		r.update("a-release", LeaseChange{Resource: leaseResource, Approval: "a", Op: UpdateLeaseRelease}, true, func(v grantlease.View, err error) {
			if err != nil || len(v.Others) != 0 {
				t.Errorf("want no other holder, got %+v %v", v, err)
			}
		})
	})
	env.ExecuteWorkflow(LeaseWorkflow, LeaseStart{State: forged})
	r.done(nil)
	// Believed, mallory's hold would have kept the lease going.
	if got := env.Now().Sub(start); got != time.Hour+time.Minute {
		t.Errorf("ended %s after the start, want an idle hour after the release", got)
	}
}

// TestLeaseContinuesAsNewWithItsStateStamped: past its change limit the
// lease starts over with its holders, stamped, and the next run believes
// them.
func TestLeaseContinuesAsNewWithItsStateStamped(t *testing.T) {
	env := leaseEnv(t)
	r := newLeaseRun(t, env)
	start := env.Now()
	r.at(time.Minute, func() {
		for i := range leaseChangeLimit {
			c := LeaseChange{Resource: leaseResource, Approval: "a", Until: start.Add(time.Hour + time.Duration(i)*time.Second), Op: UpdateLeaseHold}
			r.update(c.Until.String(), c, true, func(_ grantlease.View, err error) {
				if err != nil {
					t.Errorf("hold %d: %v", i, err)
				}
			})
		}
	})
	env.ExecuteWorkflow(LeaseWorkflow, LeaseStart{State: grantlease.State{Resource: leaseResource}})
	var can *workflow.ContinueAsNewError
	r.done(func(err error) bool { return errors.As(err, &can) })
	if len(r.updates) != leaseChangeLimit {
		t.Fatalf("%d holds sent, want %d", len(r.updates), leaseChangeLimit)
	}
	var next LeaseStart
	if err := converter.GetDefaultDataConverter().FromPayloads(can.Input, &next); err != nil {
		t.Fatal(err)
	}
	if next.Proof == nil || len(next.State.Holders) != 1 {
		t.Fatalf("next run's input: %+v", next)
	}
	// The next run believes the stamped holder: a's hold keeps b's
	// release from revoking. Then a releases, and the lease ends.
	env2 := leaseEnv(t)
	r2 := newLeaseRun(t, env2)
	env2.SetStartTime(next.Proof.IssuedAt)
	r2.at(time.Second, func() {
		r2.update("b-release", LeaseChange{Resource: leaseResource, Approval: "b", Op: UpdateLeaseRelease}, true, func(v grantlease.View, err error) {
			if err != nil || len(v.Others) != 1 || v.Others[0].Approval != "a" {
				t.Errorf("want a still due, got %+v %v", v, err)
			}
		})
	})
	r2.at(2*time.Second, func() {
		r2.update("a-release", LeaseChange{Resource: leaseResource, Approval: "a", Op: UpdateLeaseRelease}, true, func(v grantlease.View, err error) {
			if err != nil || len(v.Others) != 0 {
				t.Errorf("a releases last: want nobody else, got %+v %v", v, err)
			}
		})
	})
	r2.at(3*time.Second, func() {
		r2.update("a-released", LeaseChange{Resource: leaseResource, Approval: "a", Op: UpdateLeaseReleased}, true, func(_ grantlease.View, err error) {
			if err != nil {
				t.Errorf("a released: %v", err)
			}
		})
	})
	env2.ExecuteWorkflow(LeaseWorkflow, next)
	r2.done(nil)
}

// TestLeaseHoldOnAStaleLookIsBusy: b reads the lease's generation and
// looks while a holds the access (present); a's revoke runs to its end;
// b's hold then finds the lease empty. b saw a's access, not access from
// outside Signoff, so its hold is busy; b's retry, with the generation read
// again and the access absent, is Signoff's grant and its release revokes.
// A hold with no generation (an extension, an older worker) is not checked.
func TestLeaseHoldOnAStaleLookIsBusy(t *testing.T) {
	env := leaseEnv(t)
	r := newLeaseRun(t, env)
	start := env.Now()
	gen := func() uint64 {
		v, err := env.QueryWorkflow(QueryLease)
		var st grantlease.State
		if err == nil {
			err = v.Get(&st)
		}
		if err != nil {
			t.Fatalf("query lease: %v", err)
		}
		return st.Gen
	}
	hold := func(approval string, until time.Duration, present bool, seen *uint64) LeaseChange {
		return LeaseChange{Resource: leaseResource, Approval: approval, Until: start.Add(until), Present: present, SeenGen: seen, Op: UpdateLeaseHold}
	}
	change := func(approval, op string) LeaseChange {
		return LeaseChange{Resource: leaseResource, Approval: approval, Op: op}
	}
	noErr := func(_ grantlease.View, err error) {
		if err != nil {
			t.Errorf("change refused: %v", err)
		}
	}
	var bSeen uint64
	r.at(time.Minute, func() {
		g := gen()
		r.update("a-hold", hold("a", time.Hour, false, &g), true, noErr)
	})
	r.at(2*time.Minute, func() { bSeen = gen() }) // b reads, then looks: present (a's)
	r.at(time.Hour, func() { r.update("a-release", change("a", UpdateLeaseRelease), true, noErr) })
	r.at(time.Hour+time.Minute, func() { r.update("a-released", change("a", UpdateLeaseReleased), true, noErr) })
	r.at(time.Hour+2*time.Minute, func() {
		r.update("b-hold-stale", hold("b", 3*time.Hour, true, &bSeen), true, func(v grantlease.View, err error) {
			var app *temporal.ApplicationError
			if !errors.As(err, &app) || app.Type() != ErrTypeLeaseBusy {
				t.Errorf("hold on a look from before a's revoke: want busy, got %+v %v", v, err)
			}
		})
	})
	r.at(time.Hour+3*time.Minute, func() {
		g := gen()
		if g == bSeen {
			t.Errorf("a's released did not move the generation from %d", g)
		}
		r.update("b-hold-again", hold("b", 3*time.Hour, false, &g), true, func(v grantlease.View, err error) {
			if err != nil || v.Outside {
				t.Errorf("b's retry: %+v %v", v, err)
			}
		})
	})
	r.at(3*time.Hour, func() {
		r.update("b-release", change("b", UpdateLeaseRelease), true, func(v grantlease.View, err error) {
			if err != nil || v.Outside || len(v.Others) != 0 {
				t.Errorf("b releases: want its revoke to revoke, got %+v %v", v, err)
			}
		})
	})
	r.at(3*time.Hour+time.Minute, func() { r.update("b-released", change("b", UpdateLeaseReleased), true, noErr) })
	r.at(3*time.Hour+2*time.Minute, func() {
		r.update("c-hold-unchecked", hold("c", 4*time.Hour, true, nil), true, func(v grantlease.View, err error) {
			if err != nil || !v.Outside {
				t.Errorf("a hold with no generation decides as before: %+v %v", v, err)
			}
		})
	})
	r.at(4*time.Hour, func() { r.update("c-release", change("c", UpdateLeaseRelease), true, noErr) })
	r.at(4*time.Hour+time.Minute, func() { r.update("c-released", change("c", UpdateLeaseReleased), true, noErr) })
	env.ExecuteWorkflow(LeaseWorkflow, LeaseStart{State: grantlease.State{Resource: leaseResource}})
	r.done(nil)
}
