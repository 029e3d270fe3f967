package policy

import (
	"errors"
	"strings"
	"testing"

	"github.com/signoff/signoff/approval"
)

// TestResourceNotCanonicalMatchesNoPolicy: "apps/../prod-db" matches
// "apps/*/*" as written but names prod-db; no pattern matches a resource
// that is not canonical, not even the catch-all, so it is refused (deny
// by default) rather than governed by a policy chosen for another name.
func TestResourceNotCanonicalMatchesNoPolicy(t *testing.T) {
	set, err := NewSet(parse(t, `
- name: apps
  match: {environment: production, resource: "apps/*/*"}
  approvers: {users: [bob]}
  required_approvals: 1
  deadline: 1h
- name: any-resource
  match: {environment: production, resource: "*"}
  approvers: {users: [bob]}
  required_approvals: 1
  deadline: 1h
- name: default
  match: {environment: "*"}
  approvers: {users: [bob]}
  required_approvals: 1
  deadline: 1h
`), dir(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	m := Match{Environment: "production", Resource: "apps/*/*"}
	for _, res := range []string{
		"apps/../prod-db", "apps/./prod-db", "apps//prod-db", `apps/..\prod-db`, "apps/%2e%2e/prod-db", "apps/x/prod-db\x00",
	} {
		req := approval.Request{Environment: "production", Resource: res}
		if matches(m, req) {
			t.Errorf("match.resource apps/*/* matches %q", res)
		}
		for _, p := range set.policies {
			if matches(p.Match, req) {
				t.Errorf("policy %s matches %q", p.Name, res)
			}
		}
		_, err := set.Resolve(req, "alice")
		if !errors.Is(err, ErrNoPolicy) || !errors.Is(err, approval.ErrNotCanonical) || !strings.Contains(err.Error(), "not a canonical name") {
			t.Errorf("Resolve %q: want ErrNoPolicy saying the resource is not canonical, got %v", res, err)
		}
	}

	// Canonical resources, and none at all, match as before.
	for res, want := range map[string]string{"apps/api/db": "apps", "prod-db": "any-resource", "": "any-resource"} {
		p, err := set.Resolve(approval.Request{Environment: "production", Resource: res}, "alice")
		if err != nil || p.Name != want {
			t.Errorf("Resolve %q: %v, %v; want %s", res, p.Name, err, want)
		}
	}
}
