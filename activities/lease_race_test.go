package activities

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/signoff/signoff/activities/action"
	"github.com/signoff/signoff/approval"
	"github.com/signoff/signoff/grantlease"
	"github.com/signoff/signoff/store/leasestore"
	"github.com/signoff/signoff/workflows"
)

// racyAccess is fakeAccess with a hook run right after a look (Holds), to
// put another grant's whole revoke between a grant's look and its hold.
type racyAccess struct {
	*fakeAccess
	afterHolds func()
}

func (r *racyAccess) Holds(ctx context.Context, st *approval.State) (bool, error) {
	held, err := r.fakeAccess.Holds(ctx, st)
	if hook := r.afterHolds; hook != nil {
		r.afterHolds = nil
		hook()
	}
	return held, err
}

// TestGrantLookingAtARevokedGrantIsNotOutside: grant b looks while grant a
// holds the access (present), then a's revoke runs to its end (the lease is
// empty), then b holds. b saw a's access, not access from outside Signoff:
// its hold is refused as busy, its retry looks again and finds the access
// absent, and b's revoke takes back what b granted.
func TestGrantLookingAtARevokedGrantIsNotOutside(t *testing.T) {
	now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	f := &racyAccess{fakeAccess: &fakeAccess{members: map[string]bool{}}}
	reg := action.NewRegistry(nil)
	reg.Register("fake", f)
	a := &Activities{Actions: reg, Leases: &leasestore.Memory{Now: func() time.Time { return now }}}

	first, second := grantState("a1", "alice", now.Add(time.Hour)), grantState("a2", "alice", now.Add(3*time.Hour))
	a.phase(t, first, "")
	now = now.Add(time.Hour)
	f.afterHolds = func() {
		if out := a.phase(t, first, workflows.PhaseRevoke); out != "revoked (verified)" {
			t.Errorf("a1's revoke: %q", out)
		}
	}
	_, err := a.RunAction(context.Background(), workflows.ActionInput{Approval: *second})
	if !errors.Is(err, grantlease.ErrBusy) {
		t.Errorf("a2's grant after looking at a1's access, then a1's revoke: want busy, got %v", err)
	}
	if f.afterHolds != nil {
		t.Fatal("a1's revoke did not run between a2's look and its hold")
	}
	if err != nil {
		// The activity's retry looks again: absent, so the access is Signoff's.
		if out := a.phase(t, second, ""); strings.Contains(out, "in place before") {
			t.Errorf("a2's retried grant: %q", out)
		}
	}
	now = now.Add(2 * time.Hour)
	if out := a.phase(t, second, workflows.PhaseRevoke); out != "revoked (verified)" {
		t.Errorf("a2's revoke: %q", out)
	}
	if f.members["alice"] || f.grants != 2 || f.revokes != 2 {
		t.Errorf("members %v, %d grants, %d revokes: want none left, two each", f.members, f.grants, f.revokes)
	}
}
