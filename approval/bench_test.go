package approval

import (
	"fmt"
	"testing"
	"time"
)

// BenchmarkDecide is the state machine's cost per decision, with a history
// of earlier attempts to scan.
func BenchmarkDecide(b *testing.B) {
	approvers := make([]string, 50)
	for i := range approvers {
		approvers[i] = fmt.Sprintf("u%d", i)
	}
	for b.Loop() {
		st := New("a", "alice", Request{Title: "t"}, Policy{Approvers: approvers, RequiredApprovals: 50, Deadline: time.Hour}, t0)
		for i, u := range approvers {
			st.Decide(Attempt{ID: fmt.Sprint(i), User: u, Decision: DecisionApprove}, t0)
		}
	}
}

func BenchmarkRequestHash(b *testing.B) {
	r := Request{Title: "Deploy api", Environment: "production", Fields: map[string]string{"a": "1", "b": "2", "c": "3"}}
	for b.Loop() {
		_ = r.Hash()
	}
}
