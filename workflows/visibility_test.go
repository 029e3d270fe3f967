package workflows

import (
	"fmt"
	"testing"
	"time"

	"github.com/signoff/signoff/approval"
)

// TestAwaitedStaysUnderTheAttributeLimit: who is awaited is kept while it
// fits a search attribute value; past MaxAwaitedBytes the approval keeps
// nobody (and inboxes read its state), rather than fail its workflow task
// on an upsert Temporal refuses.
func TestAwaitedStaysUnderTheAttributeLimit(t *testing.T) {
	awaited := func(n int) []string {
		approvers := make([]string, n)
		for i := range approvers {
			approvers[i] = fmt.Sprintf("approver-with-a-long-name-%04d", i)
		}
		st := approval.New("a", "alice", approval.Request{Title: "t"},
			approval.Policy{Approvers: approvers, RequiredApprovals: 1, Deadline: time.Hour}, time.Unix(0, 0))
		return Awaited(st)
	}
	if got := awaited(3); len(got) != 3 {
		t.Fatalf("3 approvers: awaited %v", got)
	}
	if got := awaited(40); len(got) != 40 {
		t.Fatalf("40 approvers (about 1.4 KB): awaited %d", len(got))
	}
	if got := awaited(200); got != nil {
		t.Fatalf("200 approvers (about 7 KB): awaited %d, want none kept", len(got))
	}
}
