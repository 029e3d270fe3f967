package catalog_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/signoff/signoff/config/identity"
	"github.com/signoff/signoff/policy"
	"github.com/signoff/signoff/policy/catalog"
)

const policies = `
- name: db-prod
  match: {environment: production, action: postgres_role}
  requesters: {groups: [data]}
  approvers: {users: [bob, carol]}
  required_approvals: 1
  max_duration: 4h
  deadline: 1h
- name: iam-prod
  match: {environment: production, action: aws_iam_group}
  approvers: {users: [carol]}
  required_approvals: 1
  max_duration: 1h
  deadline: 1h
- name: staging
  match: {environment: staging}
  approvers: {users: [bob]}
  required_approvals: 1
  max_duration: 8h
  deadline: 1h
- name: no-grants
  match: {environment: sandbox}
  approvers: {users: [bob]}
  required_approvals: 1
  deadline: 1h
`

var grantables = []catalog.Grantable{
	{ActionType: "postgres_role", Title: "orders_read on orders", Params: map[string]string{"target": "orders", "role": "orders_read"},
		Ask: []catalog.Field{{Param: "user", Hint: "login"}}},
	{ActionType: "aws_iam_group", Title: "IAM group auditors", Params: map[string]string{"group": "auditors"},
		Ask: []catalog.Field{{Param: "user", Hint: "IAM user"}}},
}

func set(t *testing.T) *policy.Set {
	t.Helper()
	d, err := identity.NewDirectory([]identity.User{
		{Name: "alice", Groups: []string{"data"}}, {Name: "bob"}, {Name: "carol"}, {Name: "erin"},
	})
	if err != nil {
		t.Fatal(err)
	}
	var ps []policy.Policy
	if err := yaml.Unmarshal([]byte(policies), &ps); err != nil {
		t.Fatal(err)
	}
	s, err := policy.NewSet(ps, d, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func ids(items []catalog.Item) []string {
	var out []string
	for _, it := range items {
		out = append(out, it.ID+" "+it.Policy.Policy.Name)
	}
	return out
}

func TestCatalogDiffersAsTheConfigSays(t *testing.T) {
	s := set(t)
	alice := ids(catalog.List(s, grantables, "alice", catalog.Filter{}))
	want := []string{
		"aws_iam_group:group=auditors@production iam-prod",
		"postgres_role:role=orders_read,target=orders@production db-prod",
		"aws_iam_group:group=auditors@staging staging",
		"postgres_role:role=orders_read,target=orders@staging staging",
	}
	if !slices.Equal(alice, want) {
		t.Errorf("alice:\n%s\nwant\n%s", strings.Join(alice, "\n"), strings.Join(want, "\n"))
	}
	// erin is not in group data (no production database) ...
	erin := ids(catalog.List(s, grantables, "erin", catalog.Filter{}))
	if slices.Contains(erin, want[1]) || !slices.Contains(erin, want[0]) {
		t.Errorf("erin: %v", erin)
	}
	// ... and bob could never get staging approved (he is its only
	// approver) nor the database (not a requester). Sandbox grants nothing.
	bob := ids(catalog.List(s, grantables, "bob", catalog.Filter{}))
	if !slices.Equal(bob, []string{want[0]}) {
		t.Errorf("bob: %v", bob)
	}
	staging := ids(catalog.List(s, grantables, "alice", catalog.Filter{Environment: "staging", ActionType: "postgres_role"}))
	if !slices.Equal(staging, []string{want[3]}) {
		t.Errorf("filtered: %v", staging)
	}
}

func TestFillKeepsTheItemsTerms(t *testing.T) {
	items := catalog.List(set(t), grantables, "alice", catalog.Filter{Environment: "production", ActionType: "postgres_role"})
	it, err := catalog.Find(items, "postgres_role:role=orders_read,target=orders@production")
	if err != nil {
		t.Fatal(err)
	}
	if it.MaxDuration() != 4*time.Hour || len(it.Stages()) != 1 || !slices.Equal(it.Stages()[0].Approvers, []string{"bob", "carol"}) {
		t.Fatalf("item %+v", it)
	}
	r, err := it.Fill(map[string]string{"user": " alice_login "}, 2*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if r.Environment != "production" || r.Action.Type != "postgres_role" || r.Duration != 2*time.Hour ||
		r.Action.Params["user"] != "alice_login" || r.Action.Params["role"] != "orders_read" || r.Title == "" {
		t.Fatalf("request %+v", r)
	}
	// The fixed params cannot be overridden, and nothing else is taken.
	if _, err := it.Fill(map[string]string{"user": "a", "role": "orders_write"}, time.Hour); err == nil {
		t.Fatal("overrode the role")
	}
	if _, err := it.Fill(map[string]string{}, time.Hour); !errors.Is(err, catalog.ErrMissingField) {
		t.Fatalf("missing user: %v", err)
	}
	if _, err := catalog.Find(items, "postgres_role:role=orders_write,target=orders@production"); !errors.Is(err, catalog.ErrNotInCatalog) {
		t.Fatalf("unknown item: %v", err)
	}
	// The item's params are its own: filling one does not change the catalog.
	if _, ok := it.Params["user"]; ok {
		t.Fatal("Fill wrote into the item")
	}
}
