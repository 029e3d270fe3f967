package approval

import (
	"slices"
	"testing"
	"time"
)

// delegated is alice's request: bob and carol approve (two needed), dana
// approves the second stage; delegation rules.
func delegated() *State {
	st := New("a1", "alice", Request{Title: "Deploy", Environment: "production"},
		Policy{Name: "p", Stages: []Stage{
			{Name: "team", Approvers: []string{"bob", "carol"}, RequiredApprovals: 2},
			{Name: "security", Approvers: []string{"dana"}, RequiredApprovals: 1},
		}, Deadline: time.Hour}, t0)
	st.Rules = RulesDelegation
	return st
}

// decideAs records user's approval, standing in for standsIn (what the
// gateway verified), for explicit when set.
func decideAs(st *State, id, user string, standsIn []string, explicit string) Attempt {
	a := Attempt{ID: id, User: user, Decision: DecisionApprove, Proof: "stamp", SeenHash: st.RequestHash}
	return st.Decide(st.ForWhom(a, standsIn, explicit), t0.Add(time.Minute))
}

func TestDelegates(t *testing.T) {
	t.Run("a delegate decides for the approver who delegated", func(t *testing.T) {
		st := delegated()
		a := decideAs(st, "1", "erin", []string{"bob"}, "")
		if !a.Accepted || a.OnBehalfOf != "bob" || a.Who() != "erin for bob" {
			t.Fatalf("attempt %+v", a)
		}
		if !slices.Equal(st.ApprovedBy, []string{"erin for bob"}) || slices.Contains(st.Pending(), "bob") {
			t.Fatalf("approved by %v, pending %v", st.ApprovedBy, st.Pending())
		}
		// bob's say is used: neither he nor erin again.
		if a := decideAs(st, "2", "bob", nil, ""); a.Accepted || a.RefusalCode != CodeAlreadyDecided {
			t.Fatalf("bob after his delegate: %+v", a)
		}
		if a := decideAs(st, "3", "erin", []string{"bob"}, "bob"); a.Accepted || a.RefusalCode != CodeAlreadyDecided {
			t.Fatalf("erin again: %+v", a)
		}
		// carol completes the stage; the quorum counted two people.
		if a := decideAs(st, "4", "carol", nil, ""); !a.Accepted || st.Stage != 1 {
			t.Fatalf("carol: %+v, stage %d", a, st.Stage)
		}
	})
	t.Run("an approver in their own right decides as themselves first", func(t *testing.T) {
		st := delegated()
		a := decideAs(st, "1", "carol", []string{"bob"}, "")
		if !a.Accepted || a.OnBehalfOf != "" {
			t.Fatalf("carol: %+v", a)
		}
		// Then she has used her say: she cannot also cast bob's.
		if a := decideAs(st, "2", "carol", []string{"bob"}, "bob"); a.Accepted || a.RefusalCode != CodeAlreadyDecided {
			t.Fatalf("carol for bob after her own: %+v", a)
		}
	})
	t.Run("only for someone who delegated, as the gateway verified", func(t *testing.T) {
		st := delegated()
		if a := decideAs(st, "1", "erin", nil, "bob"); a.Accepted || a.RefusalCode != CodeNotDelegate {
			t.Fatalf("no delegation: %+v", a)
		}
		if a := decideAs(st, "2", "erin", nil, ""); a.Accepted || a.RefusalCode != CodeNotApprover {
			t.Fatalf("no delegation, no choice: %+v", a)
		}
		if a := decideAs(st, "3", "erin", []string{"bob"}, "erin"); a.Accepted || a.RefusalCode != CodeNotDelegate {
			t.Fatalf("for oneself: %+v", a)
		}
	})
	t.Run("a delegate never decides their own request", func(t *testing.T) {
		st := delegated()
		st.Policy.SelfApproval = true
		if a := decideAs(st, "1", "alice", []string{"bob"}, "bob"); a.Accepted || a.RefusalCode != CodeSelfApproval {
			t.Fatalf("alice for bob on her own request: %+v", a)
		}
	})
	t.Run("not for an approver of another stage, nor across stages", func(t *testing.T) {
		st := delegated()
		if a := decideAs(st, "1", "erin", []string{"dana"}, "dana"); a.Accepted || a.RefusalCode != CodeNotThisStage {
			t.Fatalf("for dana in the team stage: %+v", a)
		}
		decideAs(st, "2", "bob", nil, "")
		decideAs(st, "3", "carol", nil, "")
		// bob approved the team stage: as dana's delegate he may not
		// approve security too (distinct people across stages).
		if a := decideAs(st, "4", "bob", []string{"dana"}, "dana"); a.Accepted || a.RefusalCode != CodeEarlierStage {
			t.Fatalf("bob for dana after approving the team stage: %+v", a)
		}
	})
	t.Run("approvals judged before delegation existed ignore it", func(t *testing.T) {
		st := delegated()
		st.Rules = RulesProven
		if a := decideAs(st, "1", "erin", []string{"bob"}, ""); a.Accepted || a.OnBehalfOf != "" {
			t.Fatalf("under RulesProven: %+v", a)
		}
	})
	t.Run("delegates are prompted with their approver", func(t *testing.T) {
		st := delegated()
		st.Policy.Delegates = map[string]string{"bob": "erin", "dana": "alice"}
		if got := st.Prompted(); !slices.Equal(got, []string{"bob", "carol", "erin"}) {
			t.Fatalf("prompted %v", got)
		}
	})
}

// TestRecheckGroups: under a policy that rechecks groups, someone who is an
// approver only through an outside group counts only while the gateway
// still finds them in it; approvers through the config are not rechecked.
func TestRecheckGroups(t *testing.T) {
	st := New("a1", "alice", Request{Title: "Deploy", Environment: "production"},
		Policy{Name: "p", Approvers: []string{"bob", "carol", "dana"}, RequiredApprovals: 3, Deadline: time.Hour,
			RecheckGroups: true, Direct: []string{"dana"},
			OutsideGroups: map[string][]string{"slack:S0ONCALL": {"bob", "carol"}}}, t0)
	st.Rules = RulesDelegation
	decide := func(user string, memberships map[string][]string) Attempt {
		return st.Decide(Attempt{ID: user, User: user, Decision: DecisionApprove, Proof: "stamp", SeenHash: st.RequestHash,
			Memberships: memberships}, t0.Add(time.Minute))
	}
	if a := decide("bob", map[string][]string{"bob": {"slack:S0ONCALL"}}); !a.Accepted {
		t.Fatalf("bob, still in the group: %+v", a)
	}
	if a := decide("carol", map[string][]string{"carol": {"oidc:other"}}); a.Accepted || a.RefusalCode != CodeLeftGroup {
		t.Fatalf("carol, who left: %+v", a)
	}
	if a := decide("dana", nil); !a.Accepted {
		t.Fatalf("dana, named in the config: %+v", a)
	}
}

// TestInitiatorCountsAsRequester: the person an app asked on behalf of (a
// GitHub deployment's author) is not asked, may not approve, nor decide as
// a delegate nor through one; the others decide as usual.
func TestInitiatorCountsAsRequester(t *testing.T) {
	st := delegated()
	st.Initiator = "bob"
	if slices.Contains(st.Pending(), "bob") || !slices.Contains(st.Pending(), "carol") {
		t.Fatalf("pending %v", st.Pending())
	}
	if a := decideAs(st, "1", "bob", nil, ""); a.Accepted || a.RefusalCode != CodeSelfApproval {
		t.Fatalf("the initiator approves: %+v", a)
	}
	if a := decideAs(st, "2", "erin", []string{"bob"}, "bob"); a.Accepted || a.RefusalCode != CodeSelfApproval {
		t.Fatalf("the initiator's delegate approves for them: %+v", a)
	}
	if a := decideAs(st, "3", "bob", []string{"carol"}, "carol"); a.Accepted || a.RefusalCode != CodeSelfApproval {
		t.Fatalf("the initiator approves as carol's delegate: %+v", a)
	}
	if a := decideAs(st, "4", "carol", nil, ""); !a.Accepted {
		t.Fatalf("carol: %+v", a)
	}
	if !st.RequestedBy("bob") || !st.RequestedBy("alice") || st.RequestedBy("carol") {
		t.Fatal("RequestedBy")
	}
}

// TestAddDelegate: a delegation made after the approval was created
// reaches it only under the gateway's stamp, for an approver still to
// decide, once; never for the requester, nor when nothing would change.
func TestAddDelegate(t *testing.T) {
	stamped := Actor{User: "signoff", Proof: "stamp"}
	now := t0.Add(time.Minute)
	cases := []struct {
		name     string
		setup    func(*State)
		who      Actor
		from, to string
		added    bool
		refused  bool
	}{
		{"stamped, for an approver still awaited", nil, stamped, "bob", "erin", true, false},
		{"stamped, for a later stage's approver", nil, stamped, "dana", "erin", true, false},
		{"unstamped: refused", nil, Actor{User: "mallory"}, "bob", "erin", false, true},
		{"to is the requester", nil, stamped, "bob", "alice", false, false},
		{"from is no approver", nil, stamped, "mallory", "erin", false, false},
		{"to self", nil, stamped, "bob", "bob", false, false},
		{"from already decided", func(st *State) { decideAs(st, "1", "bob", nil, "") }, stamped, "bob", "erin", false, false},
		{"to already decided", func(st *State) { decideAs(st, "1", "carol", nil, "") }, stamped, "bob", "carol", false, false},
		{"from already has a delegate here", func(st *State) { st.Policy.Delegates = map[string]string{"bob": "frank"} }, stamped, "bob", "erin", false, false},
		{"closed", func(st *State) { st.Cancel(Actor{User: "alice", Proof: "stamp"}, "", now) }, stamped, "bob", "erin", false, false},
		{"rules without delegation", func(st *State) { st.Rules = RulesProven }, stamped, "bob", "erin", false, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st := delegated()
			if c.setup != nil {
				c.setup(st)
			}
			before := st.Policy.Delegates[c.from]
			added, err := st.AddDelegate(c.who, c.from, c.to, now)
			if added != c.added || (err != nil) != c.refused {
				t.Fatalf("added %v, err %v", added, err)
			}
			if c.added {
				if st.Policy.Delegates[c.from] != c.to {
					t.Fatalf("delegates %v", st.Policy.Delegates)
				}
				last := st.Events[len(st.Events)-1]
				if last.Kind != EventDelegated || last.User != c.to || last.Detail != "for "+c.from {
					t.Fatalf("event %+v", last)
				}
				if c.from == "bob" && !slices.Contains(st.Prompted(), c.to) {
					t.Fatalf("prompted %v", st.Prompted())
				}
				if again, _ := st.AddDelegate(c.who, c.from, c.to, now); again {
					t.Fatal("added twice")
				}
				return
			}
			if st.Policy.Delegates[c.from] != before {
				t.Fatalf("delegates changed: %v", st.Policy.Delegates)
			}
			if c.refused && st.Events[len(st.Events)-1].Kind != EventDelegateRefused {
				t.Fatalf("refusal not recorded: %+v", st.Events)
			}
		})
	}
}
