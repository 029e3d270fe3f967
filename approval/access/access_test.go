package access

import (
	"testing"
	"time"

	"github.com/signoff/signoff/approval"
	"github.com/signoff/signoff/config/identity"
)

func TestCanRead(t *testing.T) {
	single := approval.New("a1", "alice", approval.Request{Title: "t", Environment: "staging"},
		approval.Policy{Name: "default", Approvers: []string{"bob", "carol"}, RequiredApprovals: 1, Deadline: time.Hour}, time.Now())
	staged := approval.New("a2", "alice", approval.Request{Title: "t", Environment: "production"},
		approval.Policy{Name: "prod", Stages: []approval.Stage{
			{Name: "team", Approvers: []string{"bob"}, RequiredApprovals: 1},
			{Name: "security", Approvers: []string{"erin"}, RequiredApprovals: 1},
		}, Deadline: time.Hour}, time.Now())
	escalated := approval.New("a3", "alice", approval.Request{Title: "t", Environment: "sandbox"},
		approval.Policy{Name: "esc", Approvers: []string{"bob"}, RequiredApprovals: 1, Deadline: time.Hour,
			Escalations: []approval.Escalation{{After: time.Minute, AddApprovers: []string{"dana"}, Notify: approval.Targets{Users: []string{"gus"}}}}},
		time.Now())
	escalated.ExtraApprovers = []string{"dana"}
	notYet := approval.New("a4", "alice", approval.Request{Title: "t", Environment: "sandbox"}, escalated.Policy, time.Now())
	// What a list entry knows: requester and approvers.
	listed := &approval.State{Requester: "alice", Policy: approval.Policy{Approvers: []string{"bob"}}}

	user := func(name string) *identity.User { return &identity.User{Name: name} }
	cases := []struct {
		name string
		st   *approval.State
		u    *identity.User
		want bool
	}{
		{"requester", single, user("alice"), true},
		{"approver", single, user("carol"), true},
		{"stranger", single, user("mallory"), false},
		{"same name, other case", single, user("Bob"), false},
		{"approver of a later stage", staged, user("erin"), true},
		{"approver of the first stage", staged, user("bob"), true},
		{"stranger to a staged policy", staged, user("carol"), false},
		{"added by escalation", escalated, user("dana"), true},
		{"to be added by an escalation that has not fired", notYet, user("dana"), false},
		{"only notified by escalation", escalated, user("gus"), false},
		{"admin", single, &identity.User{Name: "root", Admin: true}, true},
		{"auditor", single, &identity.User{Name: "audrey", Roles: []string{identity.RoleAuditor}}, true},
		{"codec role only", single, &identity.User{Name: "cody", Roles: []string{identity.RoleCodec}}, false},
		{"unknown role", single, &identity.User{Name: "x", Roles: []string{"superuser"}}, false},
		{"list entry, approver", listed, user("bob"), true},
		{"list entry, requester", listed, user("alice"), true},
		{"list entry, stranger", listed, user("carol"), false},
		{"no requester known, nameless user", &approval.State{}, user(""), false},
		{"nil user", single, nil, false},
		{"nil state", nil, user("alice"), false},
		{"nil state, admin", nil, &identity.User{Name: "root", Admin: true}, false},
	}
	for _, c := range cases {
		if got := CanRead(c.st, c.u); got != c.want {
			t.Errorf("%s: CanRead = %v, want %v", c.name, got, c.want)
		}
	}
}

func TestRoleChecks(t *testing.T) {
	cases := []struct {
		name            string
		u               *identity.User
		readAll, decode bool
	}{
		{"plain", &identity.User{Name: "bob"}, false, false},
		{"auditor", &identity.User{Name: "audrey", Roles: []string{identity.RoleAuditor}}, true, false},
		{"codec", &identity.User{Name: "cody", Roles: []string{identity.RoleCodec}}, false, true},
		{"both", &identity.User{Name: "both", Roles: []string{identity.RoleAuditor, identity.RoleCodec}}, true, true},
		{"admin", &identity.User{Name: "root", Admin: true}, true, true},
		{"nil", nil, false, false},
	}
	for _, c := range cases {
		if got := CanReadAll(c.u); got != c.readAll {
			t.Errorf("%s: CanReadAll = %v", c.name, got)
		}
		if got := CanDecodePayloads(c.u); got != c.decode {
			t.Errorf("%s: CanDecodePayloads = %v", c.name, got)
		}
	}
}

// TestDelegatesRead: a delegate reads an approval of someone they stand in
// for, one they were prompted for (snapshotted at creation), and one they
// decided as a delegate; nothing else.
func TestDelegatesRead(t *testing.T) {
	st := approval.New("a1", "alice", approval.Request{Title: "t", Environment: "staging"},
		approval.Policy{Name: "default", Approvers: []string{"bob"}, RequiredApprovals: 1, Deadline: time.Hour}, time.Now())
	erin := &identity.User{Name: "erin"}
	if CanRead(st, erin) || CanReadFor(st, erin, []string{"carol"}) {
		t.Fatal("erin reads without standing in for an approver")
	}
	if !CanReadFor(st, erin, []string{"bob"}) {
		t.Fatal("erin does not read what she may decide for bob")
	}
	st.Policy.Delegates = map[string]string{"bob": "erin"}
	if !CanRead(st, erin) {
		t.Fatal("erin, prompted for bob, does not read")
	}
	st.Policy.Delegates = nil
	st.Attempts = []approval.Attempt{{User: "erin", OnBehalfOf: "bob", Accepted: true}}
	if !CanRead(st, erin) {
		t.Fatal("erin does not read what she decided for bob")
	}
}
