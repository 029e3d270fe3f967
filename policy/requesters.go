package policy

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/signoff/signoff/approval"
)

// Requesters are the people a policy lets request what it governs: users
// and config groups. Outside groups are not offered here: who may ask is
// decided before anything outside Signoff is read.
type Requesters struct {
	Users  []string `yaml:"users" json:"users,omitempty"`
	Groups []string `yaml:"groups" json:"groups,omitempty"`
}

// IsZero reports that anyone may request (nothing is set).
func (r Requesters) IsZero() bool { return len(r.Users) == 0 && len(r.Groups) == 0 }

// ErrNotRequester means the policy that governs a request does not let the
// requester ask for it. A less specific policy is never tried instead: the
// most specific match decides, so adding requesters only ever narrows.
var ErrNotRequester = errors.New("not allowed to request this")

// mayRequest refuses requester when policy idx names its requesters and
// requester is not among them (directly or through a config group).
func (s *Set) mayRequest(idx int, requester string) error {
	r := s.policies[idx].Requesters
	if r.IsZero() || slices.Contains(s.expand(Approvers{Users: r.Users, Groups: r.Groups}, nil), requester) {
		return nil
	}
	who := append(slices.Clone(r.Users), prefixed("group ", r.Groups)...)
	return fmt.Errorf("%w: policy %q lets only %s request it", ErrNotRequester, s.policies[idx].Name, strings.Join(who, ", "))
}

func prefixed(prefix string, names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = prefix + n
	}
	return out
}

// Requestable is what governs req for requester, without reading anything
// outside the config: ErrNoPolicy when nothing matches, ErrNotRequester
// when the policy does not let requester ask, ErrUnreachable when it could
// never be approved for them. A policy whose approvers include outside
// groups is judged on them when an approval is created, not here.
func (s *Set) Requestable(req approval.Request, requester string) (Entry, error) {
	if req.Resource != "" && approval.CheckName(req.Resource) != nil {
		return Entry{}, ErrNoPolicy
	}
	idx, ok := s.match(req)
	if !ok {
		return Entry{}, ErrNoPolicy
	}
	if err := s.mayRequest(idx, requester); err != nil {
		return Entry{}, err
	}
	e := Entry{Policy: s.policies[idx], Version: s.versions[idx], Snapshot: s.snapshot(idx, nil)}
	if len(s.outsideGroups(idx)) == 0 {
		if err := satisfiable(e.Snapshot, requester); err != nil {
			return Entry{}, err
		}
	}
	return e, nil
}

// Environments are the environments the policies name, sorted; a policy
// for any environment ("*") names none.
func (s *Set) Environments() []string {
	var out []string
	for _, p := range s.policies {
		if p.Match.Environment != Wildcard && !slices.Contains(out, p.Match.Environment) {
			out = append(out, p.Match.Environment)
		}
	}
	slices.Sort(out)
	return out
}
