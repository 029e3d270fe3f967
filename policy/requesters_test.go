package policy

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/signoff/signoff/approval"
)

const withRequesters = `
- name: db-prod
  match: {environment: production, action: postgres_role}
  requesters: {users: [alice], groups: [security]}
  approvers: {groups: [platform]}
  required_approvals: 1
  max_duration: 4h
  deadline: 1h
- name: production
  match: {environment: production}
  approvers: {groups: [platform]}
  required_approvals: 1
  deadline: 1h
- name: default
  match: {environment: "*"}
  approvers: {groups: [platform]}
  required_approvals: 1
  deadline: 1h
`

func TestRequestersNarrowWhoMayAsk(t *testing.T) {
	set, err := NewSet(parse(t, withRequesters), dir(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	db := approval.Request{Environment: "production", Action: approval.Action{Type: "postgres_role"}}
	for _, who := range []string{"alice", "dana"} { // alice by name, dana through group security
		if p, err := set.Resolve(db, who); err != nil || p.Name != "db-prod" {
			t.Errorf("%s: got %q, %v; want db-prod", who, p.Name, err)
		}
	}
	// bob is not a requester: refused, and never governed by the less
	// specific "production" policy instead.
	_, err = set.Resolve(db, "bob")
	if !errors.Is(err, ErrNotRequester) || !strings.Contains(err.Error(), `policy "db-prod" lets only alice, group security request it`) {
		t.Fatalf("bob: %v", err)
	}
	if _, err := set.Requestable(db, "bob"); !errors.Is(err, ErrNotRequester) {
		t.Fatalf("Requestable for bob: %v", err)
	}
	// Policies without requesters let anyone ask.
	if p, err := set.Resolve(approval.Request{Environment: "production", Action: approval.Action{Type: "webhook"}}, "bob"); err != nil || p.Name != "production" {
		t.Fatalf("bob's webhook: %q, %v", p.Name, err)
	}
}

func TestRequestersMustBeKnown(t *testing.T) {
	src := strings.Replace(withRequesters, "requesters: {users: [alice], groups: [security]}", "requesters: {users: [zed], groups: [nobody]}", 1)
	_, err := NewSet(parse(t, src), dir(t), nil)
	if err == nil || !strings.Contains(err.Error(), `requesters: unknown user "zed"`) || !strings.Contains(err.Error(), `requesters: unknown group "nobody"`) {
		t.Fatalf("want both refused, got %v", err)
	}
}

func TestRequesterlessPolicyKeepsItsVersion(t *testing.T) {
	// Versions are hashes of the policy: a field left out must not change
	// the version of policies written before it existed.
	p := parse(t, good)[0]
	before := version(p)
	p.Requesters = Requesters{}
	if version(p) != before {
		t.Fatal("an empty requesters changed the policy version")
	}
	p.Requesters = Requesters{Users: []string{"alice"}}
	if version(p) == before {
		t.Fatal("requesters are part of the policy version")
	}
}

func TestRequestableRefusesWhatCouldNeverBeApproved(t *testing.T) {
	set, err := NewSet(parse(t, `
- name: solo
  match: {environment: staging}
  approvers: {users: [bob]}
  required_approvals: 1
  deadline: 1h
`), dir(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	r := approval.Request{Environment: "staging"}
	if _, err := set.Requestable(r, "bob"); !errors.Is(err, ErrUnreachable) {
		t.Fatalf("bob is the only approver of his own request: %v", err)
	}
	if e, err := set.Requestable(r, "alice"); err != nil || e.Policy.Name != "solo" {
		t.Fatalf("alice: %+v, %v", e.Policy.Name, err)
	}
	if _, err := set.Requestable(approval.Request{Environment: "production"}, "alice"); !errors.Is(err, ErrNoPolicy) {
		t.Fatalf("nothing matches production: %v", err)
	}
	if got := set.Environments(); !slices.Equal(got, []string{"staging"}) {
		t.Fatalf("environments %v", got)
	}
}
