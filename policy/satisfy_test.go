package policy

import (
	"errors"
	"strings"
	"testing"

	"github.com/signoff/signoff/approval"
	"github.com/signoff/signoff/config/identity"
)

func satisfyDir(t *testing.T) *identity.Directory {
	t.Helper()
	d, err := identity.NewDirectory([]identity.User{
		{Name: "alice"}, {Name: "bob", Groups: []string{"platform"}}, {Name: "carol", Groups: []string{"platform"}},
		{Name: "dana"}, {Name: "erin"},
	})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestStagesSatisfiedExactly: whether a request can ever be approved is
// decided on the best assignment of people to stages, not the first one.
func TestStagesSatisfiedExactly(t *testing.T) {
	cases := []struct {
		name      string
		rules     string // stages or approvers, plus flags
		requester string
		ok        bool
		msg       string // part of the refusal
	}{
		{name: "overlap: carol then bob", requester: "alice", ok: true, rules: `
  stages:
    - {name: lead, approvers: {users: [bob, carol]}, required_approvals: 1}
    - {name: owner, approvers: {users: [bob]}, required_approvals: 1}`},
		{name: "overlap through a group", requester: "alice", ok: true, rules: `
  stages:
    - {name: lead, approvers: {groups: [platform]}, required_approvals: 1}
    - {name: owner, approvers: {users: [bob]}, required_approvals: 1}`},
		{name: "augmenting path two deep", requester: "alice", ok: true, rules: `
  stages:
    - {name: peers, approvers: {users: [bob, carol, dana, erin]}, required_approvals: 2}
    - {name: lead, approvers: {users: [bob, carol]}, required_approvals: 1}
    - {name: owner, approvers: {users: [bob]}, required_approvals: 1}`},
		{name: "three stages, two people", requester: "alice", msg: `stage "third"`, rules: `
  stages:
    - {name: first, approvers: {users: [bob, carol]}, required_approvals: 1}
    - {name: second, approvers: {users: [bob, carol]}, required_approvals: 1}
    - {name: third, approvers: {users: [bob, carol]}, required_approvals: 1}`},
		{name: "three stages, two people, repeats allowed", requester: "alice", ok: true, rules: `
  distinct_across_stages: false
  stages:
    - {name: first, approvers: {users: [bob, carol]}, required_approvals: 1}
    - {name: second, approvers: {users: [bob, carol]}, required_approvals: 1}
    - {name: third, approvers: {users: [bob, carol]}, required_approvals: 1}`},
		{name: "both needed in the first stage leave nobody for the second", requester: "alice", msg: "3 approvals from different people", rules: `
  stages:
    - {name: lead, approvers: {users: [bob, carol]}, required_approvals: 2}
    - {name: owner, approvers: {users: [bob]}, required_approvals: 1}`},
		{name: "requester excluded from the overlap", requester: "carol", msg: "from different people", rules: `
  stages:
    - {name: lead, approvers: {users: [bob, carol]}, required_approvals: 1}
    - {name: owner, approvers: {users: [bob]}, required_approvals: 1}`},
		{name: "requester excluded, self approval on", requester: "carol", ok: true, rules: `
  self_approval: true
  stages:
    - {name: lead, approvers: {users: [bob, carol]}, required_approvals: 1}
    - {name: owner, approvers: {users: [bob]}, required_approvals: 1}`},
		{name: "requester is a stage's only approver", requester: "bob", msg: `(stage "owner") needs 1 approvals but has 0 approvers other than bob`, rules: `
  distinct_across_stages: false
  stages:
    - {name: lead, approvers: {users: [bob, carol]}, required_approvals: 1}
    - {name: owner, approvers: {users: [bob]}, required_approvals: 1}`},
		{name: "requester is every stage's only approver, self approval, repeats allowed", requester: "bob", ok: true, rules: `
  self_approval: true
  distinct_across_stages: false
  stages:
    - {name: lead, approvers: {users: [bob]}, required_approvals: 1}
    - {name: owner, approvers: {users: [bob]}, required_approvals: 1}`},
		{name: "self approval does not make one person two", requester: "bob", msg: "self approval allowed", rules: `
  self_approval: true
  stages:
    - {name: lead, approvers: {users: [bob]}, required_approvals: 1}
    - {name: owner, approvers: {users: [bob, carol]}, required_approvals: 2}`},
		{name: "single stage, requester among two of two", requester: "bob", msg: "has 1 approvers other than bob", rules: `
  approvers: {users: [bob, carol]}
  required_approvals: 2`},
		{name: "single stage, someone else asks", requester: "alice", ok: true, rules: `
  approvers: {users: [bob, carol]}
  required_approvals: 2`},
		{name: "single stage, self approval", requester: "bob", ok: true, rules: `
  self_approval: true
  approvers: {users: [bob, carol]}
  required_approvals: 2`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			set, err := NewSet(parse(t, `
- name: p
  match: {environment: production}
  deadline: 1h`+c.rules), satisfyDir(t), nil)
			if err != nil {
				t.Fatal(err)
			}
			snap, err := set.Resolve(approval.Request{Environment: "production"}, c.requester)
			if c.ok {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if snap.Name != "p" {
					t.Fatalf("snapshot %+v", snap)
				}
				return
			}
			if !errors.Is(err, ErrUnreachable) || !strings.Contains(err.Error(), "cannot be satisfied") || !strings.Contains(err.Error(), c.msg) {
				t.Fatalf("want ErrUnreachable containing %q, got %v", c.msg, err)
			}
		})
	}
}

// TestSatisfiableMatchesBruteForce compares the matching with trying every
// assignment, over three-stage policies whose approver sets are drawn from
// the subsets of four people.
func TestSatisfiableMatchesBruteForce(t *testing.T) {
	people := []string{"alice", "bob", "carol", "dana"}
	subsets := [][]string{}
	for mask := 1; mask < 1<<len(people); mask++ {
		var s []string
		for i, p := range people {
			if mask&(1<<i) != 0 {
				s = append(s, p)
			}
		}
		subsets = append(subsets, s)
	}
	n := 0
	for i, a := range subsets {
		for j, b := range subsets {
			if (i*7+j*3)%5 != 0 { // a spread-out fifth keeps it quick
				continue
			}
			for _, c := range [][]string{{"bob"}, {"carol", "dana"}, people} {
				for _, req := range []int{1, 2} {
					st := []approval.Stage{
						{Name: "a", Approvers: a, RequiredApprovals: min(req, len(a))},
						{Name: "b", Approvers: b, RequiredApprovals: 1},
						{Name: "c", Approvers: c, RequiredApprovals: min(req, len(c))},
					}
					for _, self := range []bool{false, true} {
						p := approval.Policy{Name: "p", Stages: st, SelfApproval: self}
						got := satisfiable(p, "alice") == nil
						if want := bruteForce(st, "alice", self); got != want {
							t.Fatalf("stages %+v self=%v: matching says %v, brute force %v", st, self, got, want)
						}
						n++
					}
				}
			}
		}
	}
	if n < 100 {
		t.Fatalf("only %d cases", n)
	}
}

// bruteForce tries every way of giving each stage's slots to distinct
// eligible people.
func bruteForce(stages []approval.Stage, requester string, self bool) bool {
	used := map[string]bool{}
	var fill func(stage, need, from int) bool
	fill = func(stage, need, from int) bool {
		if stage == len(stages) {
			return true
		}
		if need == 0 {
			next := stage + 1
			if next == len(stages) {
				return true
			}
			return fill(next, stages[next].RequiredApprovals, 0)
		}
		ap := stages[stage].Approvers
		for i := from; i < len(ap); i++ {
			a := ap[i]
			if used[a] || (a == requester && !self) {
				continue
			}
			used[a] = true
			ok := fill(stage, need-1, i+1)
			used[a] = false
			if ok {
				return true
			}
		}
		return false
	}
	return fill(0, stages[0].RequiredApprovals, 0)
}
