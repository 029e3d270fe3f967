// Package people holds what Signoff learns about configured people outside
// its config file: the groups their identity provider puts them in (from
// the groups claim of their verified tokens) and the delegations they
// make ("carol decides for me until the 24th"). The state lives in a
// Temporal workflow (workflows.PeopleWorkflow); this package is its pure
// rules, so they are tested without Temporal.
package people

import (
	"errors"
	"fmt"
	"slices"
	"time"
)

// Limits that keep the state small and the rules simple.
const (
	// MaxDelegation is the longest window a delegation may span.
	MaxDelegation = 90 * 24 * time.Hour
	// MaxGroups are kept per person; more are cut (sorted first).
	MaxGroups = 100
	// MaxDelegationsPerPerson active or future at once.
	MaxDelegationsPerPerson = 10
	// KeepEnded is how long ended delegations stay for the record.
	KeepEnded = 30 * 24 * time.Hour
	// MaxEndedPerPerson ended delegations are kept per person (the latest):
	// making and revoking delegations in a loop must not grow the state
	// toward Temporal's payload limit.
	MaxEndedPerPerson = 20
	// MaxReasonBytes bounds a delegation's reason.
	MaxReasonBytes = 2000
)

// State is everything the people workflow keeps.
type State struct {
	// Groups are each person's identity-provider groups, as their last
	// verified token said.
	Groups map[string]Groups `json:"groups,omitempty"`
	// Delegations, in the order they were made.
	Delegations []Delegation `json:"delegations,omitempty"`
}

// Groups are one person's groups and when the provider last said so.
type Groups struct {
	Names []string  `json:"names"`
	Seen  time.Time `json:"seen"`
}

// Delegation lets To decide in From's place between Start and End.
type Delegation struct {
	ID        string    `json:"id"`
	From      string    `json:"from"`
	To        string    `json:"to"`
	Start     time.Time `json:"start"`
	End       time.Time `json:"end"`
	Reason    string    `json:"reason,omitempty"`
	CreatedBy string    `json:"created_by"`
	CreatedAt time.Time `json:"created_at"`
	// RevokedAt ends it early.
	RevokedAt time.Time `json:"revoked_at,omitzero"`
	RevokedBy string    `json:"revoked_by,omitempty"`
}

// Active reports whether d lets its delegate decide at t.
func (d Delegation) Active(t time.Time) bool {
	return !t.Before(d.Start) && t.Before(d.End) && (d.RevokedAt.IsZero() || t.Before(d.RevokedAt))
}

// ended reports whether d can no longer become active after t.
func (d Delegation) ended(t time.Time) bool {
	return !t.Before(d.End) || (!d.RevokedAt.IsZero() && !t.Before(d.RevokedAt))
}

// Observe records user's groups as of now; it reports whether they
// changed.
func (s *State) Observe(user string, groups []string, now time.Time) bool {
	g := slices.Clone(groups)
	slices.Sort(g)
	g = slices.Compact(g)
	if len(g) > MaxGroups {
		g = g[:MaxGroups]
	}
	if prev, ok := s.Groups[user]; ok && slices.Equal(prev.Names, g) {
		return false
	}
	if s.Groups == nil {
		s.Groups = map[string]Groups{}
	}
	s.Groups[user] = Groups{Names: g, Seen: now}
	return true
}

// Empty reports whether s holds nothing.
func (s *State) Empty() bool { return len(s.Groups) == 0 && len(s.Delegations) == 0 }

// Members are the people whose provider last put them in group.
func (s *State) Members(group string) []string {
	var out []string
	for user, g := range s.Groups {
		if slices.Contains(g.Names, group) {
			out = append(out, user)
		}
	}
	slices.Sort(out)
	return out
}

// Errors of delegations; all are the caller's mistakes.
var (
	ErrInvalid  = errors.New("invalid delegation")
	ErrNotFound = errors.New("no such delegation")
	ErrNotYours = errors.New("only the person who delegated, or an admin, may revoke a delegation")
)

// Delegate adds d. The window must be ahead (or under way), at most
// MaxDelegation long, to someone else, and not overlap another of From's:
// one person stands in at a time. A delegate's own delegations are not
// followed: carol deciding for bob never passes on to bob's delegate.
func (s *State) Delegate(d Delegation, now time.Time) error {
	switch {
	case d.ID == "" || d.From == "" || d.To == "":
		return fmt.Errorf("%w: id, from and to are required", ErrInvalid)
	case d.From == d.To:
		return fmt.Errorf("%w: nobody delegates to themselves", ErrInvalid)
	case !d.End.After(d.Start):
		return fmt.Errorf("%w: the window must end after it starts", ErrInvalid)
	case !d.End.After(now):
		return fmt.Errorf("%w: the window has already ended", ErrInvalid)
	case d.End.Sub(d.Start) > MaxDelegation:
		return fmt.Errorf("%w: a delegation lasts at most %d days", ErrInvalid, int(MaxDelegation.Hours()/24))
	}
	if len(d.Reason) > MaxReasonBytes {
		return fmt.Errorf("%w: the reason is longer than %d bytes", ErrInvalid, MaxReasonBytes)
	}
	if prev, ok := s.Find(d.ID); ok {
		// The same request again (a start of "now" moves between tries).
		if prev.From == d.From && prev.To == d.To && prev.End.Equal(d.End) && prev.Reason == d.Reason {
			return nil
		}
		return fmt.Errorf("%w: id %s is taken", ErrInvalid, d.ID)
	}
	n := 0
	for _, o := range s.Delegations {
		if o.From != d.From || o.ended(now) {
			continue
		}
		n++
		if o.Start.Before(d.End) && d.Start.Before(o.End) {
			return fmt.Errorf("%w: %s already delegates to %s from %s to %s; revoke it first", ErrInvalid,
				o.From, o.To, o.Start.UTC().Format(time.RFC3339), o.End.UTC().Format(time.RFC3339))
		}
	}
	if n >= MaxDelegationsPerPerson {
		return fmt.Errorf("%w: %s has %d delegations ahead already", ErrInvalid, d.From, n)
	}
	d.CreatedAt = now
	s.Delegations = append(s.Delegations, d)
	s.keepEndedOf(d.From, now)
	return nil
}

// keepEndedOf forgets from's oldest ended delegations beyond
// MaxEndedPerPerson.
func (s *State) keepEndedOf(from string, now time.Time) {
	ended := 0
	for _, d := range s.Delegations {
		if d.From == from && d.ended(now) {
			ended++
		}
	}
	for i := 0; ended > MaxEndedPerPerson && i < len(s.Delegations); {
		if d := s.Delegations[i]; d.From == from && d.ended(now) {
			s.Delegations = slices.Delete(s.Delegations, i, i+1)
			ended--
			continue
		}
		i++
	}
}

// Revoke ends delegation id now: by its maker (From) or an admin.
func (s *State) Revoke(id, by string, admin bool, now time.Time) (Delegation, error) {
	for i, d := range s.Delegations {
		if d.ID != id {
			continue
		}
		if d.From != by && !admin {
			return d, ErrNotYours
		}
		if d.RevokedAt.IsZero() && !d.ended(now) {
			s.Delegations[i].RevokedAt, s.Delegations[i].RevokedBy = now, by
		}
		out := s.Delegations[i]
		s.keepEndedOf(d.From, now)
		return out, nil
	}
	return Delegation{}, ErrNotFound
}

// Find returns delegation id.
func (s *State) Find(id string) (Delegation, bool) {
	for _, d := range s.Delegations {
		if d.ID == id {
			return d, true
		}
	}
	return Delegation{}, false
}

// StandsInFor are the people delegate may decide for at t.
func (s *State) StandsInFor(delegate string, t time.Time) []Delegation {
	var out []Delegation
	for _, d := range s.Delegations {
		if d.To == delegate && d.Active(t) {
			out = append(out, d)
		}
	}
	return out
}

// DelegateOf is who stands in for from at t, if anyone.
func (s *State) DelegateOf(from string, t time.Time) (Delegation, bool) {
	for _, d := range s.Delegations {
		if d.From == from && d.Active(t) {
			return d, true
		}
	}
	return Delegation{}, false
}

// Involving are the delegations from or to user, newest first.
func (s *State) Involving(user string) []Delegation {
	var out []Delegation
	for i := len(s.Delegations) - 1; i >= 0; i-- {
		if d := s.Delegations[i]; d.From == user || d.To == user {
			out = append(out, d)
		}
	}
	return out
}

// Prune drops delegations ended more than KeepEnded before now.
func (s *State) Prune(now time.Time) {
	s.Delegations = slices.DeleteFunc(s.Delegations, func(d Delegation) bool {
		end := d.End
		if !d.RevokedAt.IsZero() && d.RevokedAt.Before(end) {
			end = d.RevokedAt
		}
		return now.Sub(end) > KeepEnded
	})
}
