package approval

import (
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)

func newState(required int, input Input) *State {
	return New("a1", "alice", Request{Title: "t", Environment: "production", Input: input},
		Policy{Name: "p", Approvers: []string{"alice", "bob", "carol", "erin"}, RequiredApprovals: required, Deadline: time.Hour}, t0)
}

func TestDecideRules(t *testing.T) {
	buttons := Input{Type: InputButton, Options: []Option{
		{Label: "Deactivate", Value: "deactivate", Decision: DecisionApprove},
		{Label: "Keep", Value: "keep", Decision: DecisionReject},
	}}
	multi := Input{Type: InputMultiselect, Options: []Option{{Label: "a", Value: "a"}, {Label: "b", Value: "b"}}}
	cases := []struct {
		name     string
		input    Input
		required int
		attempts []Attempt
		refusals []string
		status   Status
	}{
		{"quorum of two", Input{}, 2, []Attempt{
			{ID: "1", User: "bob", Decision: DecisionApprove}, {ID: "2", User: "carol", Decision: DecisionApprove},
		}, []string{"", ""}, StatusApproved},
		{"one rejection rejects", Input{}, 2, []Attempt{
			{ID: "1", User: "bob", Decision: DecisionApprove}, {ID: "2", User: "carol", Decision: DecisionReject},
		}, []string{"", ""}, StatusRejected},
		{"self, stranger, twice, unknown", Input{}, 2, []Attempt{
			{ID: "1", User: "alice", Decision: DecisionApprove},
			{ID: "2", User: "mallory", Decision: DecisionApprove},
			{ID: "3", User: "bob", Decision: DecisionApprove},
			{ID: "4", User: "bob", Decision: DecisionReject},
			{ID: "5", User: "carol", Decision: "maybe"},
		}, []string{RefusedSelfApproval, RefusedNotApprover, "", RefusedAlreadyDecided, RefusedUnknownDecision}, StatusPending},
		{"after the end", Input{}, 1, []Attempt{
			{ID: "1", User: "bob", Decision: DecisionApprove}, {ID: "2", User: "carol", Decision: DecisionReject},
		}, []string{"", RefusedNotPending}, StatusApproved},
		{"a refusal set by the gateway is kept", Input{}, 1, []Attempt{
			{ID: "1", User: "bob", Decision: DecisionApprove, RefusalReason: "slack guest accounts may not decide"},
		}, []string{"slack guest accounts may not decide"}, StatusPending},
		{"option decides", buttons, 1, []Attempt{
			{ID: "1", User: "bob", Decision: DecisionApprove, Values: []string{"keep"}},
			{ID: "2", User: "bob", Decision: DecisionApprove, Values: []string{"nuke"}},
			{ID: "3", User: "bob", Decision: DecisionApprove},
			{ID: "4", User: "bob", Decision: DecisionReject, Values: []string{"keep"}},
		}, []string{RefusedInvalidChoice, RefusedInvalidChoice, RefusedInvalidChoice, ""}, StatusRejected},
		{"multiselect needs a choice to approve", multi, 1, []Attempt{
			{ID: "1", User: "bob", Decision: DecisionApprove},
			{ID: "2", User: "bob", Decision: DecisionApprove, Values: []string{"a", "b"}},
		}, []string{RefusedInvalidChoice, ""}, StatusApproved},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st := newState(c.required, c.input)
			for i, a := range c.attempts {
				got := st.Decide(a, t0.Add(time.Duration(i)*time.Minute))
				if got.RefusalReason != c.refusals[i] {
					t.Errorf("attempt %d (%s): refusal %q, want %q", i, a.User, got.RefusalReason, c.refusals[i])
				}
				if got.Accepted != (c.refusals[i] == "") {
					t.Errorf("attempt %d: accepted=%v", i, got.Accepted)
				}
			}
			if st.Status != c.status {
				t.Errorf("status %s, want %s", st.Status, c.status)
			}
			if len(st.Attempts) != len(c.attempts) {
				t.Errorf("%d attempts recorded, want %d", len(st.Attempts), len(c.attempts))
			}
		})
	}
}

func TestDecideIsIdempotentByID(t *testing.T) {
	st := newState(2, Input{})
	first := st.Decide(Attempt{ID: "x", User: "bob", Decision: DecisionApprove}, t0)
	again := st.Decide(Attempt{ID: "x", User: "bob", Decision: DecisionApprove}, t0.Add(time.Minute))
	if again.Time != first.Time || !again.Accepted || len(st.Attempts) != 1 || len(st.ApprovedBy) != 1 {
		t.Fatalf("redelivery changed state: %+v, attempts %d", again, len(st.Attempts))
	}
}

func TestCancelAndExpire(t *testing.T) {
	st := newState(1, Input{})
	if err := st.Cancel(Actor{User: "bob", Admin: false}, "", t0); CodeOf(err) != CodeNotAllowedToCancel {
		t.Fatalf("cancel by approver: %v", err)
	}
	if err := st.Cancel(Actor{User: "dana", Admin: true}, "freeze", t0); err != nil {
		t.Fatalf("cancel by admin: %v", err)
	}
	if st.Status != StatusCancelled || st.CancelledBy != "dana" {
		t.Fatalf("status %s by %s", st.Status, st.CancelledBy)
	}
	if err := st.Cancel(Actor{User: "alice", Admin: false}, "", t0); CodeOf(err) != CodeNotPending {
		t.Fatalf("cancel twice: %v", err)
	}
	st.Expire(t0.Add(2 * time.Hour))
	if st.Status != StatusCancelled {
		t.Fatal("expire overwrote a final status")
	}
	kinds := []string{}
	for _, e := range st.Events {
		kinds = append(kinds, string(e.Kind))
	}
	if want := "cancel_refused cancelled cancel_refused"; join(kinds) != want {
		t.Fatalf("events %v, want %s", kinds, want)
	}
}

func TestPendingAndHash(t *testing.T) {
	st := newState(2, Input{})
	st.Decide(Attempt{ID: "1", User: "bob", Decision: DecisionApprove}, t0)
	if got := join(st.Pending()); got != "carol erin" {
		t.Fatalf("pending %q", got)
	}
	a := Request{Title: "t", Fields: map[string]string{"b": "2", "a": "1"}}
	b := Request{Title: "t", Fields: map[string]string{"a": "1", "b": "2"}}
	if a.Hash() != b.Hash() {
		t.Fatal("hash depends on map order")
	}
	b.Fields["a"] = "x"
	if a.Hash() == b.Hash() {
		t.Fatal("hash ignores field values")
	}
}

func join(xs []string) string {
	out := ""
	for i, x := range xs {
		if i > 0 {
			out += " "
		}
		out += x
	}
	return out
}
