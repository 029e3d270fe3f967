// Package grantlease keeps track of the Signoff grants that hold one piece
// of access (a role of one login, a group of one user). Approvals overlap:
// alice may be granted readonly for two hours by one approval and for a day
// by another. The access stays until the last grant ends, and access that
// was in place before any Signoff grant (given by hand, by another tool) is
// never revoked by Signoff. Pure rules; the worker keeps one State per
// resource in a Temporal workflow.
package grantlease

import (
	"errors"
	"slices"
	"strings"
	"time"
)

// Holder is one approval's grant of the resource.
type Holder struct {
	Approval string `json:"approval"`
	// Until is when the grant is due to end (its revoke time).
	Until time.Time `json:"until"`
	// ReleasingSince is set while the holder's revoke runs: nobody may
	// grant the resource meanwhile, or the revoke would take it away.
	ReleasingSince time.Time `json:"releasing_since,omitzero"`
}

// State is one resource's holders.
type State struct {
	Resource string   `json:"resource"`
	Holders  []Holder `json:"holders,omitempty"`
	// Outside: the access was in place when the first of the current
	// holders took it, so Signoff did not make it and leaves it in place.
	Outside bool `json:"outside,omitempty"`
	// Gen counts the holders that left (Released). A grant reads it before
	// it looks at the access, so its hold can tell whether a revoke may
	// have run between its look and its hold.
	Gen uint64 `json:"gen,omitempty"`
}

// View is what a holder learns from a change: whether the access is
// someone else's (Outside), and the other holders whose grants need it.
type View struct {
	Outside bool     `json:"outside,omitempty"`
	Others  []Holder `json:"others,omitempty"`
}

// StuckRelease is how long a release may run before others stop waiting
// for it: a revoke retried for longer is failing (alerted on its own), and
// must not keep new grants out.
const StuckRelease = 10 * time.Minute

// ErrBusy refuses a hold while another holder's revoke runs, or when one
// ended since the caller looked at the access; the caller looks again and
// tries again shortly.
var ErrBusy = errors.New("another grant of this access is being revoked; try again shortly")

// Hold adds approval as a holder until until (or moves its end: an
// extension). present is whether the access was in place just before: for
// the first holder it decides Outside. seenGen is Gen as the caller read it
// before it looked at the access.
func (s *State) Hold(approval string, until time.Time, present bool, seenGen uint64, now time.Time) (View, error) {
	for _, h := range s.Holders {
		if h.Approval != approval && !h.ReleasingSince.IsZero() && now.Sub(h.ReleasingSince) < StuckRelease {
			return View{}, ErrBusy
		}
	}
	if len(s.Holders) == 0 {
		if present && seenGen != s.Gen {
			// A holder left since the caller looked: what it saw may have
			// been that grant's access, now revoked. It looks again.
			return View{}, ErrBusy
		}
		s.Outside = present
	}
	i := s.find(approval)
	if i < 0 {
		s.Holders = append(s.Holders, Holder{Approval: approval})
		slices.SortFunc(s.Holders, func(a, b Holder) int { return strings.Compare(a.Approval, b.Approval) })
		i = s.find(approval)
	}
	s.Holders[i].Until, s.Holders[i].ReleasingSince = until, time.Time{}
	return s.view(approval, now), nil
}

// Release starts approval's release: the returned view says whether its
// revoke must leave the access (Outside, or others still need it). The
// holder stays, releasing, until Released. A release of a holder not
// known (the lease was lost, or it never held) is answered from the
// others alone.
func (s *State) Release(approval string, now time.Time) View {
	if i := s.find(approval); i >= 0 && s.Holders[i].ReleasingSince.IsZero() {
		s.Holders[i].ReleasingSince = now
	}
	return s.view(approval, now)
}

// Released removes approval once its revoke is done (or left the access).
// It counts a generation even for a holder not known: the lease may have
// been lost while the grant held the access.
func (s *State) Released(approval string) {
	s.Gen++
	if i := s.find(approval); i >= 0 {
		s.Holders = slices.Delete(s.Holders, i, i+1)
	}
	if len(s.Holders) == 0 {
		s.Outside = false
	}
}

// Empty reports whether no grant holds the resource.
func (s *State) Empty() bool { return len(s.Holders) == 0 }

// view lists the others still due: not releasing, not past their end (a
// grant past its end whose revoke has not come yet, say its worker is
// down, needs the access no longer).
func (s *State) view(approval string, now time.Time) View {
	v := View{Outside: s.Outside}
	for _, h := range s.Holders {
		if h.Approval != approval && h.ReleasingSince.IsZero() && h.Until.After(now) {
			v.Others = append(v.Others, h)
		}
	}
	return v
}

func (s *State) find(approval string) int {
	return slices.IndexFunc(s.Holders, func(h Holder) bool { return h.Approval == approval })
}
