package activities

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/signoff/signoff/activities/action"
	"github.com/signoff/signoff/approval"
	"github.com/signoff/signoff/store/leasestore"
	"github.com/signoff/signoff/workflows"
)

// fakeAccess is a grant action over one set of memberships, counting the
// grants and revokes it made.
type fakeAccess struct {
	mu              sync.Mutex
	members         map[string]bool
	grants, revokes int
}

func (f *fakeAccess) key(st *approval.State) string  { return st.Request.Action.Params["user"] }
func (f *fakeAccess) Validate(approval.Action) error { return nil }
func (f *fakeAccess) Resource(a approval.Action) string {
	return "fake:" + a.Params["user"]
}
func (f *fakeAccess) Holds(_ context.Context, st *approval.State) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.members[f.key(st)], nil
}
func (f *fakeAccess) Run(_ context.Context, st *approval.State) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.members[f.key(st)] {
		f.members[f.key(st)] = true
		f.grants++
	}
	return "granted (verified)", nil
}
func (f *fakeAccess) Revoke(_ context.Context, st *approval.State) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.members[f.key(st)] {
		delete(f.members, f.key(st))
		f.revokes++
	}
	return "revoked (verified)", nil
}

func grantState(id, user string, until time.Time) *approval.State {
	return &approval.State{ID: id, Requester: user, Status: approval.StatusGranted,
		Request: approval.Request{Action: approval.Action{Type: "fake", Params: map[string]string{"user": user}}, Duration: time.Hour},
		Grant:   &approval.Grant{RevokeAt: until}}
}

func grantActivities(f *fakeAccess, now *time.Time) *Activities {
	reg := action.NewRegistry(nil)
	reg.Register("fake", f)
	return &Activities{Actions: reg, Leases: &leasestore.Memory{Now: func() time.Time { return *now }}}
}

func (a *Activities) phase(t *testing.T, st *approval.State, phase string) string {
	t.Helper()
	res, err := a.RunAction(context.Background(), workflows.ActionInput{Approval: *st, Phase: phase})
	if err != nil {
		t.Fatalf("%s %s: %v", phase, st.ID, err)
	}
	return res.Output
}

// TestOverlappingGrantsKeepTheAccessUntilTheLastEnds: two approvals grant
// alice the same access; the first to end leaves it for the other, the
// last revokes it, once.
func TestOverlappingGrantsKeepTheAccessUntilTheLastEnds(t *testing.T) {
	now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	f := &fakeAccess{members: map[string]bool{}}
	a := grantActivities(f, &now)
	first, second := grantState("a1", "alice", now.Add(time.Hour)), grantState("a2", "alice", now.Add(3*time.Hour))
	a.phase(t, first, "")
	if out := a.phase(t, second, ""); !strings.Contains(out, "also granted by approval a1") {
		t.Errorf("second grant's output %q names the first", out)
	}
	now = now.Add(time.Hour)
	if out := a.phase(t, first, workflows.PhaseRevoke); !strings.HasPrefix(out, "not revoked; also granted by approval a2") {
		t.Errorf("first revoke: %q", out)
	}
	if !f.members["alice"] {
		t.Fatal("the first revoke took access the second grant still needs")
	}
	now = now.Add(2 * time.Hour)
	if out := a.phase(t, second, workflows.PhaseRevoke); out != "revoked (verified)" {
		t.Errorf("last revoke: %q", out)
	}
	if f.members["alice"] || f.grants != 1 || f.revokes != 1 {
		t.Errorf("members %v, %d grants, %d revokes: want none left, one each", f.members, f.grants, f.revokes)
	}
}

// TestAccessInPlaceBeforeTheGrantIsLeft: Signoff did not make it, so its
// revoke leaves it; the next grant of absent access is Signoff's again.
func TestAccessInPlaceBeforeTheGrantIsLeft(t *testing.T) {
	now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	f := &fakeAccess{members: map[string]bool{"alice": true}}
	a := grantActivities(f, &now)
	st := grantState("a1", "alice", now.Add(time.Hour))
	a.phase(t, st, "")
	now = now.Add(time.Hour)
	if out := a.phase(t, st, workflows.PhaseRevoke); !strings.Contains(out, "in place before any Signoff grant") {
		t.Errorf("revoke: %q", out)
	}
	if !f.members["alice"] || f.revokes != 0 {
		t.Fatal("access from outside Signoff revoked")
	}
	delete(f.members, "alice")
	next := grantState("a2", "alice", now.Add(time.Hour))
	a.phase(t, next, "")
	now = now.Add(time.Hour)
	a.phase(t, next, workflows.PhaseRevoke)
	if f.members["alice"] || f.revokes != 1 {
		t.Errorf("the next grant's revoke: members %v, %d revokes", f.members, f.revokes)
	}
}

// fakeExtender records extensions and answers as the grant would.
type fakeExtender struct {
	got    []workflows.ExtendGrantRequest
	refuse bool
}

func (e *fakeExtender) ExtendGrant(_ context.Context, grant string, req workflows.ExtendGrantRequest) (*approval.State, error) {
	if e.refuse {
		return nil, ErrExtensionRefused
	}
	e.got = append(e.got, req)
	return &approval.State{ID: grant}, nil
}

// TestApprovedExtensionMovesTheGrantAndItsLease: the extension's time
// counts from its approval; the lease holds the grant to the new end, so
// an overlapping grant ending first leaves the access.
func TestApprovedExtensionMovesTheGrantAndItsLease(t *testing.T) {
	now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	f := &fakeAccess{members: map[string]bool{}}
	a := grantActivities(f, &now)
	ext := &fakeExtender{}
	a.Extender = ext
	grant := grantState("g1", "alice", now.Add(time.Hour))
	other := grantState("g2", "alice", now.Add(2*time.Hour))
	a.phase(t, grant, "")
	a.phase(t, other, "")

	now = now.Add(50 * time.Minute)
	extension := &approval.State{ID: "e1", Requester: "alice", Status: approval.StatusApproved, ClosedAt: now,
		Request: approval.Request{Action: grant.Request.Action, Duration: 4 * time.Hour, Extends: "g1"}}
	if out := a.phase(t, extension, workflows.PhaseExtend); !strings.Contains(out, "extended the grant of approval g1 until 2026-12-01T13:50:00Z") {
		t.Errorf("extension output %q", out)
	}
	if len(ext.got) != 1 || ext.got[0].Extension != "e1" || !ext.got[0].To.Equal(now.Add(4*time.Hour)) {
		t.Fatalf("extension sent: %+v", ext.got)
	}
	now = now.Add(70 * time.Minute) // g2 ends; g1 now runs to 13:50
	if out := a.phase(t, other, workflows.PhaseRevoke); !strings.Contains(out, "not revoked; also granted by approval g1 until 2026-12-01T13:50:00Z") {
		t.Errorf("g2's revoke: %q", out)
	}
	ext.refuse = true
	if _, err := a.RunAction(context.Background(), workflows.ActionInput{Approval: *extension, Phase: workflows.PhaseExtend}); err == nil {
		t.Error("a refused extension must fail its action")
	}
}
