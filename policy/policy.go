// Package policy decides which rules govern a request: who may approve it,
// how many approvals it needs and how long it may wait. Nothing matching
// means the request is refused (deny by default).
package policy

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/signoff/signoff/approval"
	"github.com/signoff/signoff/identity"
)

// Wildcard matches any environment.
const Wildcard = "*"

// Policy is one rule as written in the config file.
type Policy struct {
	Name              string    `yaml:"name" json:"name"`
	Match             Match     `yaml:"match" json:"match"`
	Approvers         Approvers `yaml:"approvers" json:"approvers"`
	RequiredApprovals int       `yaml:"required_approvals" json:"required_approvals"`
	Deadline          Duration  `yaml:"deadline" json:"deadline"`
}

// Match selects the requests a policy governs.
type Match struct {
	// Environment is an exact name or "*".
	Environment string `yaml:"environment" json:"environment"`
}

// Approvers are named users and groups; groups expand through the user
// directory when an approval is created.
type Approvers struct {
	Users  []string `yaml:"users" json:"users,omitempty"`
	Groups []string `yaml:"groups" json:"groups,omitempty"`
}

// Duration reads "24h", "90m" and "7d" from YAML.
type Duration time.Duration

// UnmarshalText accepts Go durations plus a days suffix.
func (d *Duration) UnmarshalText(b []byte) error {
	s := string(b)
	if n := len(s); n > 1 && s[n-1] == 'd' {
		var days int
		if _, err := fmt.Sscanf(s[:n-1], "%d", &days); err != nil || fmt.Sprint(days) != s[:n-1] {
			return fmt.Errorf("bad duration %q", s)
		}
		*d = Duration(time.Duration(days) * 24 * time.Hour)
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("bad duration %q: %w", s, err)
	}
	*d = Duration(v)
	return nil
}

// MarshalText writes the Go form.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// ErrNoPolicy means no policy matches: the request is refused.
var ErrNoPolicy = errors.New("no policy matches this request")

// ErrUnreachable means the policy could never be satisfied for this requester.
var ErrUnreachable = errors.New("policy cannot be satisfied")

// Set is a validated list of policies with the directory they refer to.
type Set struct {
	policies []Policy
	versions []string
	dir      *identity.Directory
}

// NewSet validates policies against the directory: unknown users or groups,
// impossible quorums and missing deadlines are refused at load.
func NewSet(policies []Policy, dir *identity.Directory) (*Set, error) {
	s := &Set{dir: dir}
	names := map[string]bool{}
	envs := map[string]string{}
	var errs []error
	for i, p := range policies {
		where := fmt.Sprintf("policies[%d] (%s)", i, p.Name)
		if p.Name == "" {
			errs = append(errs, fmt.Errorf("policies[%d]: name is required", i))
		}
		if names[p.Name] {
			errs = append(errs, fmt.Errorf("%s: duplicate policy name", where))
		}
		names[p.Name] = true
		if p.Match.Environment == "" {
			errs = append(errs, fmt.Errorf("%s: match.environment is required (use %q for any)", where, Wildcard))
		} else if other, dup := envs[p.Match.Environment]; dup {
			errs = append(errs, fmt.Errorf("%s: environment %q is already matched by policy %q", where, p.Match.Environment, other))
		}
		envs[p.Match.Environment] = p.Name
		for _, u := range p.Approvers.Users {
			if _, ok := dir.Lookup(u); !ok {
				errs = append(errs, fmt.Errorf("%s: unknown approver user %q", where, u))
			}
		}
		for _, g := range p.Approvers.Groups {
			if !dir.HasGroup(g) {
				errs = append(errs, fmt.Errorf("%s: unknown approver group %q", where, g))
			}
		}
		n := len(s.expand(p))
		switch {
		case p.RequiredApprovals < 1:
			errs = append(errs, fmt.Errorf("%s: required_approvals must be at least 1", where))
		case p.RequiredApprovals > n:
			errs = append(errs, fmt.Errorf("%s: required_approvals %d is more than its %d approvers", where, p.RequiredApprovals, n))
		}
		if p.Deadline <= 0 {
			errs = append(errs, fmt.Errorf("%s: deadline must be a positive duration", where))
		}
		s.policies = append(s.policies, p)
		s.versions = append(s.versions, version(p))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return s, nil
}

// version is a short content hash so an approval records exactly which rule
// text governed it.
func version(p Policy) string {
	b, _ := json.Marshal(p)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:6])
}

func (s *Set) expand(p Policy) []string {
	var out []string
	out = append(out, p.Approvers.Users...)
	for _, g := range p.Approvers.Groups {
		out = append(out, s.dir.Members(g)...)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// Resolve picks the policy for a request (an exact environment beats the
// wildcard) and snapshots it with its approvers expanded. It refuses a
// request the requester could never get approved.
func (s *Set) Resolve(req approval.Request, requester string) (approval.Policy, error) {
	idx := -1
	for i, p := range s.policies {
		if p.Match.Environment == req.Environment {
			idx = i
			break
		}
		if p.Match.Environment == Wildcard && idx < 0 {
			idx = i
		}
	}
	if idx < 0 {
		return approval.Policy{}, fmt.Errorf("%w (environment %q)", ErrNoPolicy, req.Environment)
	}
	p := s.policies[idx]
	approvers := s.expand(p)
	eligible := 0
	for _, a := range approvers {
		if a != requester {
			eligible++
		}
	}
	if eligible < p.RequiredApprovals {
		return approval.Policy{}, fmt.Errorf("%w: policy %q needs %d approvals but has %d approvers other than %s",
			ErrUnreachable, p.Name, p.RequiredApprovals, eligible, requester)
	}
	return approval.Policy{
		Name:              p.Name,
		Version:           s.versions[idx],
		Approvers:         approvers,
		RequiredApprovals: p.RequiredApprovals,
		Deadline:          time.Duration(p.Deadline),
	}, nil
}

// Std returns the time.Duration.
func (d Duration) Std() time.Duration { return time.Duration(d) }
