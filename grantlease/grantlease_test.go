package grantlease

import (
	"errors"
	"testing"
	"time"
)

var t0 = time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)

func others(v View) []string {
	var out []string
	for _, h := range v.Others {
		out = append(out, h.Approval)
	}
	return out
}

func TestOverlappingGrantsRevokeOnlyAtTheLastEnd(t *testing.T) {
	var s State
	// a grants first (access absent), b overlaps and ends later.
	if v, err := s.Hold("a", t0.Add(time.Hour), false, s.Gen, t0); err != nil || v.Outside || len(v.Others) != 0 {
		t.Fatalf("a holds: %+v %v", v, err)
	}
	if v, err := s.Hold("b", t0.Add(3*time.Hour), true, s.Gen, t0.Add(time.Minute)); err != nil || v.Outside || len(v.Others) != 1 {
		t.Fatalf("b holds: %+v %v", v, err)
	}
	// a's end: b still needs the access, so a's revoke leaves it.
	if v := s.Release("a", t0.Add(time.Hour)); v.Outside || len(v.Others) != 1 || v.Others[0].Approval != "b" {
		t.Fatalf("a releases: %+v", v)
	}
	s.Released("a")
	// b's end: nobody else; revoke.
	if v := s.Release("b", t0.Add(3*time.Hour)); v.Outside || len(v.Others) != 0 {
		t.Fatalf("b releases: %+v", v)
	}
	s.Released("b")
	if !s.Empty() || s.Outside {
		t.Fatalf("left: %+v", s)
	}
}

func TestAccessInPlaceBeforeSignoffIsLeft(t *testing.T) {
	var s State
	if v, _ := s.Hold("a", t0.Add(time.Hour), true, s.Gen, t0); !v.Outside {
		t.Fatal("access present with no holder: outside")
	}
	// A second grant meanwhile does not make it Signoff's.
	if v, _ := s.Hold("b", t0.Add(2*time.Hour), true, s.Gen, t0); !v.Outside {
		t.Fatal("still outside")
	}
	s.Release("a", t0.Add(time.Hour))
	s.Released("a")
	if v := s.Release("b", t0.Add(2*time.Hour)); !v.Outside {
		t.Fatal("last holder of outside access must leave it")
	}
	s.Released("b")
	// Once nobody holds it, the next grant looks afresh.
	if v, _ := s.Hold("c", t0.Add(5*time.Hour), false, s.Gen, t0.Add(3*time.Hour)); v.Outside {
		t.Fatal("absent access granted by c is Signoff's")
	}
}

func TestNoGrantWhileARevokeRuns(t *testing.T) {
	var s State
	s.Hold("a", t0.Add(time.Hour), false, s.Gen, t0)
	s.Release("a", t0.Add(time.Hour))
	if _, err := s.Hold("b", t0.Add(2*time.Hour), true, s.Gen, t0.Add(time.Hour+time.Second)); !errors.Is(err, ErrBusy) {
		t.Fatalf("hold during a's revoke: %v", err)
	}
	// A revoke stuck past StuckRelease keeps nobody out.
	if _, err := s.Hold("b", t0.Add(2*time.Hour), false, s.Gen, t0.Add(time.Hour+StuckRelease)); err != nil {
		t.Fatal(err)
	}
	// a's late release does not count b out: b is due.
	if v := s.Release("a", t0.Add(time.Hour+StuckRelease)); len(v.Others) != 1 {
		t.Fatalf("%+v", v)
	}
}

func TestHolderPastItsEndNeedsNothing(t *testing.T) {
	var s State
	s.Hold("a", t0.Add(time.Hour), false, s.Gen, t0)
	s.Hold("b", t0.Add(30*time.Minute), true, s.Gen, t0)
	// b's worker was down: a's end comes first, b is past its end.
	if v := s.Release("a", t0.Add(time.Hour)); len(v.Others) != 0 {
		t.Fatalf("b is past its end: %v", others(v))
	}
}

func TestHoldAgainMovesTheEnd(t *testing.T) {
	var s State
	s.Hold("a", t0.Add(time.Hour), false, s.Gen, t0)
	s.Hold("b", t0.Add(time.Hour), true, s.Gen, t0)
	s.Hold("b", t0.Add(4*time.Hour), true, s.Gen, t0.Add(30*time.Minute)) // b extended
	if len(s.Holders) != 2 {
		t.Fatalf("holders %+v", s.Holders)
	}
	if v := s.Release("a", t0.Add(2*time.Hour)); len(v.Others) != 1 {
		t.Fatalf("extended b still due: %+v", v)
	}
	// A release of a holder the lease does not know is answered from the others.
	if v := s.Release("zzz", t0.Add(2*time.Hour)); len(v.Others) != 1 {
		t.Fatalf("%+v", v)
	}
}

// TestLookThatSawARevokedGrantIsNotOutside: b reads the generation, then
// looks while a holds the access (present), then a's revoke runs to its
// end, then b holds. The empty lease does not make b's look "in place
// before any Signoff grant": it saw a's access. b's hold is refused, b
// looks again (absent) and its grant is Signoff's.
func TestLookThatSawARevokedGrantIsNotOutside(t *testing.T) {
	var s State
	s.Hold("a", t0.Add(time.Hour), false, s.Gen, t0)
	seen := s.Gen // b reads, then looks: present, a's grant
	s.Release("a", t0.Add(time.Hour))
	s.Released("a")
	if _, err := s.Hold("b", t0.Add(3*time.Hour), true, seen, t0.Add(time.Hour+time.Second)); !errors.Is(err, ErrBusy) {
		t.Fatalf("hold on a look from before a's revoke: want busy, got %v (%+v)", err, s)
	}
	if !s.Empty() || s.Outside {
		t.Fatalf("a refused hold changed the lease: %+v", s)
	}
	// b's retry reads again, looks again: absent.
	if v, err := s.Hold("b", t0.Add(3*time.Hour), false, s.Gen, t0.Add(time.Hour+2*time.Second)); err != nil || v.Outside {
		t.Fatalf("b's retry: %+v %v", v, err)
	}
	if v := s.Release("b", t0.Add(3*time.Hour)); v.Outside || len(v.Others) != 0 {
		t.Fatalf("b's revoke must take back what b granted: %+v", v)
	}
}

// TestGenerationOnlyDoubtsAPresentLookOnAnEmptyLease: the honest cases
// keep their answers.
func TestGenerationOnlyDoubtsAPresentLookOnAnEmptyLease(t *testing.T) {
	// In place before any grant: Outside, even after earlier grants came
	// and went, as long as none left since the look.
	var s State
	s.Hold("x", t0.Add(time.Hour), false, s.Gen, t0)
	s.Release("x", t0.Add(time.Hour))
	s.Released("x")
	seen := s.Gen
	if v, err := s.Hold("a", t0.Add(3*time.Hour), true, seen, t0.Add(2*time.Hour)); err != nil || !v.Outside {
		t.Fatalf("access in place before any current grant: want outside, got %+v %v", v, err)
	}

	// Present because a still holds: b joins, not Outside, however stale
	// its generation (the lease is not empty: Outside is a's to decide).
	var l State
	l.Hold("z", t0.Add(time.Hour), false, l.Gen, t0)
	stale := l.Gen
	l.Released("z")
	l.Hold("a", t0.Add(2*time.Hour), false, l.Gen, t0.Add(time.Minute))
	if v, err := l.Hold("b", t0.Add(3*time.Hour), true, stale, t0.Add(2*time.Minute)); err != nil || v.Outside || len(v.Others) != 1 {
		t.Fatalf("b joins a: %+v %v", v, err)
	}

	// Absent: nothing to doubt, whatever left since.
	var e State
	stale = e.Gen
	e.Released("gone")
	if v, err := e.Hold("c", t0.Add(time.Hour), false, stale, t0); err != nil || v.Outside {
		t.Fatalf("absent access: %+v %v", v, err)
	}
}

// TestReleasedOfAnUnknownHolderCountsToo: a lease lost (its workflow ended
// and started again) does not know the grant whose revoke ends; that
// revoke may still be what a look saw.
func TestReleasedOfAnUnknownHolderCountsToo(t *testing.T) {
	var s State
	seen := s.Gen
	s.Release("lost", t0)
	s.Released("lost")
	if _, err := s.Hold("b", t0.Add(time.Hour), true, seen, t0); !errors.Is(err, ErrBusy) {
		t.Fatalf("want busy, got %v", err)
	}
}
