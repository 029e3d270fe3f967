package policy

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/signoff/signoff/approval"
)

// groupsOf is an Outside answering from a map; a missing group fails.
type groupsOf map[string][]string

func (g groupsOf) Members(_ context.Context, group string) ([]string, error) {
	m, ok := g[group]
	if !ok {
		return nil, errors.New("slack is down")
	}
	return m, nil
}

// TestSlackUsergroupsResolvedAtCreation: a policy's Slack user groups
// count their members who are configured users, read when the approval is
// created and kept in its snapshot with the group they came through; a
// group too small for the quorum refuses the request; a group that cannot
// be read creates nothing.
func TestSlackUsergroupsResolvedAtCreation(t *testing.T) {
	set, err := NewSet(parse(t, `
- name: production
  match: {environment: production}
  approvers: {users: [dana], slack_usergroups: [S0PLATFORM]}
  required_approvals: 3
  deadline: 1d
- name: oncall
  match: {environment: staging}
  stages:
    - {name: oncall, approvers: {slack_usergroups: [S0ONCALL]}, required_approvals: 2}
  deadline: 1d
`), dir(t), nil)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	ctx := context.Background()
	slack := groupsOf{"slack:S0PLATFORM": {"bob", "carol", "stranger"}, "slack:S0ONCALL": {"bob"}}
	p, err := set.ResolveWith(ctx, approval.Request{Environment: "production"}, "alice", slack)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(p.Approvers, []string{"bob", "carol", "dana"}) {
		t.Fatalf("approvers %v", p.Approvers)
	}
	if got := p.OutsideGroups["slack:S0PLATFORM"]; !slices.Equal(got, []string{"bob", "carol"}) {
		t.Fatalf("outside groups %v", p.OutsideGroups)
	}
	// Bob alone cannot give the on-call stage its two approvals.
	_, err = set.ResolveWith(ctx, approval.Request{Environment: "staging"}, "alice", slack)
	if !errors.Is(err, ErrUnreachable) {
		t.Fatalf("on-call with one member: %v", err)
	}
	_, err = set.ResolveWith(ctx, approval.Request{Environment: "production"}, "alice", groupsOf{})
	if !errors.Is(err, ErrGroupsUnavailable) {
		t.Fatalf("slack down: %v", err)
	}
	// Without a way to read them (no bot token), the groups count no one.
	_, err = set.Resolve(approval.Request{Environment: "production"}, "alice")
	if !errors.Is(err, ErrUnreachable) {
		t.Fatalf("no Slack: %v", err)
	}
}

func TestSlackUsergroupIDsAreChecked(t *testing.T) {
	_, err := NewSet(parse(t, `[{name: p, match: {environment: x}, deadline: 1h, approvers: {slack_usergroups: ["#platform"]}, required_approvals: 1}]`), dir(t), nil)
	if err == nil || !strings.Contains(err.Error(), "must be a user group ID") {
		t.Fatalf("got %v", err)
	}
}

// TestMembershipsForRecheck: memberships are read only for the groups of
// policies that recheck them, for the people asked about.
func TestMembershipsForRecheck(t *testing.T) {
	set, err := NewSet(parse(t, `
- name: rechecked
  match: {environment: production}
  approvers: {slack_usergroups: [S0ONCALL], oidc_groups: [db]}
  required_approvals: 1
  recheck_groups: true
  deadline: 1d
- name: snapshot-only
  match: {environment: staging}
  approvers: {slack_usergroups: [S0OTHER]}
  required_approvals: 1
  deadline: 1d
`), dir(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	src := groupsOf{"slack:S0ONCALL": {"bob"}, "oidc:db": {"bob", "carol"}} // S0OTHER would fail: not read
	got, err := set.Memberships(context.Background(), src, []string{"bob", "carol", "dana"})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got["bob"], []string{"oidc:db", "slack:S0ONCALL"}) || !slices.Equal(got["carol"], []string{"oidc:db"}) || got["dana"] != nil {
		t.Fatalf("memberships %v", got)
	}
	p, err := set.ResolveWith(context.Background(), approval.Request{Environment: "production"}, "alice", src)
	if err != nil || !p.RecheckGroups || len(p.Direct) != 0 {
		t.Fatalf("snapshot %+v, %v", p, err)
	}
}
