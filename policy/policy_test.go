package policy

import (
	"errors"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/signoff/signoff/approval"
	"github.com/signoff/signoff/identity"
)

func dir(t *testing.T) *identity.Directory {
	t.Helper()
	d, err := identity.NewDirectory([]identity.User{
		{Name: "alice"}, {Name: "bob", Groups: []string{"platform"}}, {Name: "carol", Groups: []string{"platform"}},
		{Name: "dana", Groups: []string{"security"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func parse(t *testing.T, src string) []Policy {
	t.Helper()
	var ps []Policy
	if err := yaml.Unmarshal([]byte(src), &ps); err != nil {
		t.Fatal(err)
	}
	return ps
}

const good = `
- name: production
  match: {environment: production}
  approvers: {groups: [platform], users: [dana]}
  required_approvals: 2
  deadline: 2d
- name: default
  match: {environment: "*"}
  approvers: {groups: [platform]}
  required_approvals: 1
  deadline: 90m
`

func TestResolve(t *testing.T) {
	set, err := NewSet(parse(t, good), dir(t))
	if err != nil {
		t.Fatal(err)
	}
	p, err := set.Resolve(approval.Request{Environment: "production"}, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if p.Name != "production" || strings.Join(p.Approvers, ",") != "bob,carol,dana" || p.Deadline != 48*time.Hour || p.Version == "" {
		t.Fatalf("resolved %+v", p)
	}
	p, err = set.Resolve(approval.Request{Environment: "staging"}, "alice")
	if err != nil || p.Name != "default" || p.Deadline != 90*time.Minute {
		t.Fatalf("wildcard: %+v %v", p, err)
	}
	// bob plus one of the two others could still make two of three.
	if _, err := set.Resolve(approval.Request{Environment: "production"}, "bob"); err != nil {
		t.Fatalf("bob: %v", err)
	}
	// bob alone approves staging; for his own request only carol remains.
	if _, err := set.Resolve(approval.Request{Environment: "staging"}, "bob"); err != nil {
		t.Fatalf("bob staging: %v", err)
	}
}

func TestNothingMatchesIsRefused(t *testing.T) {
	set, err := NewSet(parse(t, good)[:1], dir(t))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := set.Resolve(approval.Request{Environment: "staging"}, "alice"); !errors.Is(err, ErrNoPolicy) {
		t.Fatalf("want ErrNoPolicy, got %v", err)
	}
}

func TestUnreachableIsRefused(t *testing.T) {
	set, err := NewSet(parse(t, `
- name: two-of-two
  match: {environment: production}
  approvers: {groups: [platform]}
  required_approvals: 2
  deadline: 1h
`), dir(t))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := set.Resolve(approval.Request{Environment: "production"}, "bob"); !errors.Is(err, ErrUnreachable) {
		t.Fatalf("want ErrUnreachable, got %v", err)
	}
}

func TestMistakesAreRefusedAtLoad(t *testing.T) {
	cases := map[string]string{
		"unknown approver group": `[{name: p, match: {environment: x}, approvers: {groups: [nope]}, required_approvals: 1, deadline: 1h}]`,
		"unknown approver user":  `[{name: p, match: {environment: x}, approvers: {users: [zed]}, required_approvals: 1, deadline: 1h}]`,
		"more than":              `[{name: p, match: {environment: x}, approvers: {groups: [platform]}, required_approvals: 3, deadline: 1h}]`,
		"at least 1":             `[{name: p, match: {environment: x}, approvers: {groups: [platform]}, required_approvals: 0, deadline: 1h}]`,
		"positive duration":      `[{name: p, match: {environment: x}, approvers: {groups: [platform]}, required_approvals: 1}]`,
		"name is required":       `[{match: {environment: x}, approvers: {groups: [platform]}, required_approvals: 1, deadline: 1h}]`,
		"already matched":        `[{name: a, match: {environment: x}, approvers: {groups: [platform]}, required_approvals: 1, deadline: 1h}, {name: b, match: {environment: x}, approvers: {groups: [platform]}, required_approvals: 1, deadline: 1h}]`,
		"environment is req":     `[{name: p, approvers: {groups: [platform]}, required_approvals: 1, deadline: 1h}]`,
	}
	for want, src := range cases {
		t.Run(want, func(t *testing.T) {
			_, err := NewSet(parse(t, src), dir(t))
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("want error containing %q, got %v", want, err)
			}
		})
	}
	var d Duration
	for _, bad := range []string{"1x", "d", "1.5d", "-"} {
		if err := d.UnmarshalText([]byte(bad)); err == nil {
			t.Errorf("duration %q accepted", bad)
		}
	}
}
