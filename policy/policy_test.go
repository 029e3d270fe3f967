package policy

import (
	"errors"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/signoff/signoff/approval"
	"github.com/signoff/signoff/config/identity"
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
	set, err := NewSet(parse(t, good), dir(t), nil)
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
	set, err := NewSet(parse(t, good)[:1], dir(t), nil)
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
`), dir(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := set.Resolve(approval.Request{Environment: "production"}, "bob"); !errors.Is(err, ErrUnreachable) {
		t.Fatalf("want ErrUnreachable, got %v", err)
	}
}

func TestMistakesAreRefusedAtLoad(t *testing.T) {
	cases := map[string]string{
		"unknown group \"nope\"":     `[{name: p, match: {environment: x}, approvers: {groups: [nope]}, required_approvals: 1, deadline: 1h}]`,
		"unknown user \"zed\"":       `[{name: p, match: {environment: x}, approvers: {users: [zed]}, required_approvals: 1, deadline: 1h}]`,
		"more than":                  `[{name: p, match: {environment: x}, approvers: {groups: [platform]}, required_approvals: 3, deadline: 1h}]`,
		"at least 1":                 `[{name: p, match: {environment: x}, approvers: {groups: [platform]}, required_approvals: 0, deadline: 1h}]`,
		"positive duration":          `[{name: p, match: {environment: x}, approvers: {groups: [platform]}, required_approvals: 1}]`,
		"name is required":           `[{match: {environment: x}, approvers: {groups: [platform]}, required_approvals: 1, deadline: 1h}]`,
		"same match is already used": `[{name: a, match: {environment: x}, approvers: {groups: [platform]}, required_approvals: 1, deadline: 1h}, {name: b, match: {environment: x}, approvers: {groups: [platform]}, required_approvals: 1, deadline: 1h}]`,
		"environment is req":         `[{name: p, approvers: {groups: [platform]}, required_approvals: 1, deadline: 1h}]`,
	}
	for want, src := range cases {
		t.Run(want, func(t *testing.T) {
			_, err := NewSet(parse(t, src), dir(t), nil)
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

func TestMoreMistakesAreRefusedAtLoad(t *testing.T) {
	base := "name: p, match: {environment: x}, deadline: 10h, "
	cases := map[string]string{
		"not both":                 base + "approvers: {users: [bob]}, required_approvals: 1, stages: [{name: s, approvers: {users: [carol]}, required_approvals: 1}]",
		"(or stages) are required": base + "self_approval: true",
		"stages[0].name":           base + "stages: [{approvers: {users: [carol]}, required_approvals: 1}]",
		"stages[1] (sec): required_approvals 2 is more than its 1": base + "stages: [{name: lead, approvers: {users: [bob]}, required_approvals: 1}, {name: sec, approvers: {groups: [security]}, required_approvals: 2}]",
		"not a valid glob":                          "name: p, match: {environment: x, resource: \"[\"}, deadline: 1h, approvers: {users: [bob]}, required_approvals: 1",
		"later than the level":                      base + "approvers: {users: [bob]}, required_approvals: 1, escalation: [{after: 2h}, {after: 1h}]",
		"not before the deadline":                   base + "approvers: {users: [bob]}, required_approvals: 1, escalation: [{after: 11h}]",
		"escalation[0].add_approvers: unknown user": base + "approvers: {users: [bob]}, required_approvals: 1, escalation: [{after: 1h, add_approvers: {users: [zed]}}]",
		"on_deadline must be":                       base + "approvers: {users: [bob]}, required_approvals: 1, on_deadline: explode",
		"enforcement must be":                       base + "approvers: {users: [bob]}, required_approvals: 1, enforcement: lax",
	}
	for want, src := range cases {
		t.Run(want, func(t *testing.T) {
			_, err := NewSet(parse(t, "[{"+src+"}]"), dir(t), nil)
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("want error containing %q, got %v", want, err)
			}
		})
	}
	_, err := NewSet(parse(t, "[{"+base+"approvers: {users: [bob]}, required_approvals: 1, rego: \"nonsense\"}]"), dir(t),
		func(string) error { return errors.New("rego_parse_error") })
	if err == nil || !strings.Contains(err.Error(), "rego: rego_parse_error") {
		t.Fatalf("rego compile error not reported: %v", err)
	}
}

func TestMostSpecificMatchWins(t *testing.T) {
	set, err := NewSet(parse(t, `
- {name: any, match: {environment: "*"}, approvers: {users: [bob]}, required_approvals: 1, deadline: 1h}
- {name: prod, match: {environment: production}, approvers: {users: [bob]}, required_approvals: 1, deadline: 1h}
- {name: prod-webhook, match: {environment: production, action: webhook}, approvers: {users: [bob]}, required_approvals: 1, deadline: 1h}
- {name: prod-api, match: {environment: production, action: webhook, resource: "api/*"}, approvers: {users: [bob]}, required_approvals: 1, deadline: 1h}
- {name: prod-api-db, match: {environment: production, action: webhook, resource: "api/db*"}, approvers: {users: [bob]}, required_approvals: 1, deadline: 1h}
`), dir(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct{ env, action, resource, want string }{
		{"staging", "webhook", "api/x", "any"},
		{"production", "noop", "api/x", "prod"},
		{"production", "webhook", "web/x", "prod-webhook"},
		{"production", "webhook", "api/x", "prod-api"},
		{"production", "webhook", "api/dbmain", "prod-api-db"},
	}
	for _, c := range cases {
		p, err := set.Resolve(approval.Request{Environment: c.env, Resource: c.resource, Action: approval.Action{Type: c.action}}, "alice")
		if err != nil || p.Name != c.want {
			t.Errorf("%+v: got %s %v", c, p.Name, err)
		}
	}
}

func TestStagedSnapshotAndReachability(t *testing.T) {
	set, err := NewSet(parse(t, `
- name: two-stage
  match: {environment: production}
  stages:
    - {name: lead, approvers: {users: [bob]}, required_approvals: 1}
    - {name: security, approvers: {users: [bob, dana]}, required_approvals: 2}
  distinct_across_stages: false
  reminder: 2h
  escalation:
    - after: 4h
      notify: {channels: ["#oncall"], groups: [security]}
      add_approvers: {users: [carol]}
  deadline: 1d
  on_deadline: reject
  enforcement: soft
  reject: {required: 2}
  require_comment: {reject: true}
`), dir(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	p, err := set.Resolve(approval.Request{Environment: "production"}, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Stages) != 2 || p.Stages[1].Name != "security" || !p.SameApproverAcrossStages || p.Reminder != 2*time.Hour ||
		p.OnDeadline != "reject" || !p.Soft() || p.RejectionsRequired != 2 || !p.RequireComment.Reject {
		t.Fatalf("snapshot %+v", p)
	}
	if e := p.Escalations[0]; e.After != 4*time.Hour || e.Notify.Users[0] != "dana" || e.AddApprovers[0] != "carol" {
		t.Fatalf("escalation %+v", e)
	}
	// bob requesting: he cannot approve his own, so "lead" has nobody.
	if _, err := set.Resolve(approval.Request{Environment: "production"}, "bob"); !errors.Is(err, ErrUnreachable) {
		t.Fatalf("want unreachable for bob, got %v", err)
	}
	distinct, err := NewSet(parse(t, `
- name: distinct
  match: {environment: production}
  stages:
    - {name: lead, approvers: {users: [bob]}, required_approvals: 1}
    - {name: security, approvers: {users: [bob, dana]}, required_approvals: 2}
  deadline: 1d
`), dir(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	// With distinct people per stage, bob spent on "lead" leaves one for two.
	if _, err := distinct.Resolve(approval.Request{Environment: "production"}, "alice"); !errors.Is(err, ErrUnreachable) {
		t.Fatalf("want unreachable with distinct stages, got %v", err)
	}
}

// A policy may match on the action type: it governs that type only, so
// key deactivations go to security whatever the environment, and other
// actions never fall under it.
func TestMatchOnActionType(t *testing.T) {
	set, err := NewSet(parse(t, `
- {name: key-kill, match: {environment: "*", action: aws_iam_deactivate_key}, approvers: {groups: [security]}, required_approvals: 1, deadline: 15m}
- {name: prod, match: {environment: production}, approvers: {groups: [platform]}, required_approvals: 1, deadline: 1h}
`), dir(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	req := func(env, typ string) approval.Request {
		return approval.Request{Environment: env, Action: approval.Action{Type: typ}}
	}
	p, err := set.Resolve(req("staging", "aws_iam_deactivate_key"), "alice")
	if err != nil || p.Name != "key-kill" || strings.Join(p.Approvers, ",") != "dana" {
		t.Fatalf("key deactivation in staging: %+v %v", p, err)
	}
	if _, err := set.Resolve(req("staging", "webhook"), "alice"); !errors.Is(err, ErrNoPolicy) {
		t.Fatalf("a webhook must not fall under the key policy: %v", err)
	}
	if p, err := set.Resolve(req("production", "webhook"), "alice"); err != nil || p.Name != "prod" {
		t.Fatalf("webhook in production: %+v %v", p, err)
	}
}
