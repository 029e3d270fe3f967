package people

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)

func TestDelegationRules(t *testing.T) {
	day := 24 * time.Hour
	var s State
	base := Delegation{ID: "d1", From: "bob", To: "carol", Start: t0, End: t0.Add(7 * day), CreatedBy: "bob"}
	if err := s.Delegate(base, t0); err != nil {
		t.Fatal(err)
	}
	if err := s.Delegate(base, t0); err != nil {
		t.Fatalf("the same delegation again: %v", err)
	}
	for name, d := range map[string]Delegation{
		"to themselves": {ID: "x1", From: "bob", To: "bob", Start: t0, End: t0.Add(day)},
		"ends first":    {ID: "x2", From: "dana", To: "carol", Start: t0.Add(day), End: t0},
		"already over":  {ID: "x3", From: "dana", To: "carol", Start: t0.Add(-2 * day), End: t0.Add(-day)},
		"too long":      {ID: "x4", From: "dana", To: "carol", Start: t0, End: t0.Add(MaxDelegation + time.Second)},
		"overlaps":      {ID: "x5", From: "bob", To: "dana", Start: t0.Add(6 * day), End: t0.Add(8 * day)},
		"id reused":     {ID: "d1", From: "bob", To: "dana", Start: t0.Add(8 * day), End: t0.Add(9 * day)},
		"nobody named":  {ID: "x6", From: "", To: "carol", Start: t0, End: t0.Add(day)},
	} {
		if err := s.Delegate(d, t0); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v", name, err)
		}
	}
	// After the first window, bob may delegate again.
	if err := s.Delegate(Delegation{ID: "d2", From: "bob", To: "dana", Start: t0.Add(7 * day), End: t0.Add(8 * day)}, t0); err != nil {
		t.Fatal(err)
	}
	// Windows: start inclusive, end exclusive.
	for at, want := range map[time.Time]string{t0.Add(-time.Second): "", t0: "carol", t0.Add(7*day - time.Second): "carol", t0.Add(7 * day): "dana", t0.Add(8 * day): ""} {
		d, ok := s.DelegateOf("bob", at)
		if got := map[bool]string{true: d.To, false: ""}[ok]; got != want {
			t.Errorf("delegate of bob at %s: %q, want %q", at, got, want)
		}
	}
	if got := s.StandsInFor("carol", t0.Add(day)); len(got) != 1 || got[0].From != "bob" {
		t.Errorf("carol stands in for %v", got)
	}
	// Only bob or an admin revokes; revoked, it stops at once.
	if _, err := s.Revoke("d1", "carol", false, t0.Add(day)); !errors.Is(err, ErrNotYours) {
		t.Errorf("carol revokes bob's delegation: %v", err)
	}
	if _, err := s.Revoke("nope", "bob", false, t0); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown id: %v", err)
	}
	d, err := s.Revoke("d1", "bob", false, t0.Add(day))
	if err != nil || d.RevokedBy != "bob" {
		t.Fatalf("revoke: %+v %v", d, err)
	}
	if _, ok := s.DelegateOf("bob", t0.Add(day)); ok {
		t.Error("a revoked delegation still stands")
	}
	s.Prune(t0.Add(day + KeepEnded + time.Second))
	if _, ok := s.Find("d1"); ok {
		t.Error("an old revoked delegation was kept")
	}
	if _, ok := s.Find("d2"); !ok {
		t.Error("a delegation still ahead was pruned")
	}
}

func TestGroupsObserved(t *testing.T) {
	var s State
	if !s.Observe("bob", []string{"prod", "db", "prod"}, t0) || s.Observe("bob", []string{"db", "prod"}, t0) {
		t.Fatal("observe reports changes wrongly")
	}
	s.Observe("carol", []string{"prod"}, t0)
	if got := s.Members("prod"); !slices.Equal(got, []string{"bob", "carol"}) {
		t.Fatalf("members %v", got)
	}
	s.Observe("bob", nil, t0.Add(time.Hour)) // left every group
	if got := s.Members("prod"); !slices.Equal(got, []string{"carol"}) {
		t.Fatalf("after bob left: %v", got)
	}
}

// TestMakingAndRevokingDelegationsStaysBounded: one person making and
// revoking delegations with the longest reason, a thousand times, leaves at
// most MaxEndedPerPerson of them in the state (it grew to megabytes before).
func TestMakingAndRevokingDelegationsStaysBounded(t *testing.T) {
	var s State
	now := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	reason := strings.Repeat("r", MaxReasonBytes)
	for i := range 1000 {
		id := fmt.Sprintf("d%04d", i)
		if err := s.Delegate(Delegation{ID: id, From: "bob", To: "carol", Start: now, End: now.Add(time.Hour), Reason: reason, CreatedBy: "bob"}, now); err != nil {
			t.Fatalf("delegation %d: %v", i, err)
		}
		if _, err := s.Revoke(id, "bob", false, now); err != nil {
			t.Fatalf("revoke %d: %v", i, err)
		}
		now = now.Add(time.Second)
	}
	if n := len(s.Delegations); n > MaxEndedPerPerson {
		t.Fatalf("%d delegations kept, want at most %d", n, MaxEndedPerPerson)
	}
	if last := s.Delegations[len(s.Delegations)-1]; last.ID != "d0999" {
		t.Fatalf("the latest is not kept: %s", last.ID)
	}
	if err := s.Delegate(Delegation{ID: "long", From: "bob", To: "carol", Start: now, End: now.Add(time.Hour), Reason: reason + "r"}, now); !errors.Is(err, ErrInvalid) {
		t.Fatalf("a reason over %d bytes: %v", MaxReasonBytes, err)
	}
}
