package approvalstore

import (
	"context"
	"testing"
	"time"

	"github.com/signoff/signoff/approval"
	"github.com/signoff/signoff/workflows"
)

// Pending approvals are counted among running approval workflows, as lists
// are scoped; the stale ones by their start time.
func TestPendingQuery(t *testing.T) {
	if got, want := pendingQuery(time.Time{}),
		"WorkflowType = 'ApprovalWorkflow' AND ExecutionStatus = 'Running' AND ApprovalStatus = 'Pending'"; got != want {
		t.Errorf("pending\n got %s\nwant %s", got, want)
	}
	before := time.Date(2026, 3, 1, 12, 0, 0, 0, time.FixedZone("CET", 3600))
	if got, want := pendingQuery(before),
		"WorkflowType = 'ApprovalWorkflow' AND ExecutionStatus = 'Running' AND ApprovalStatus = 'Pending' AND StartTime < '2026-03-01T11:00:00Z'"; got != want {
		t.Errorf("stale\n got %s\nwant %s", got, want)
	}
}

func TestMemoryCountsPending(t *testing.T) {
	ctx := context.Background()
	m, _, now := memoryFixture(t)
	start := func(id string, created time.Time) {
		t.Helper()
		if err := m.Start(ctx, workflows.Input{ID: id, Requester: "alice", CreatedAt: created,
			Request: approval.Request{Environment: "staging"},
			Policy:  approval.Policy{Approvers: []string{"bob"}, RequiredApprovals: 1, Deadline: 72 * time.Hour}}); err != nil {
			t.Fatal(err)
		}
	}
	start("p1", now())
	start("p2", now().Add(-48*time.Hour))
	start("d1", now().Add(-48*time.Hour))
	m.approvals["d1"].st.Decide(approval.Attempt{ID: "d", User: "bob", Decision: approval.DecisionApprove}, now())
	for _, c := range []struct {
		before time.Time
		want   int64
	}{{time.Time{}, 3}, {now().Add(-24 * time.Hour), 1}} { // the fixture's a1 is pending too
		if n, err := m.CountPending(ctx, c.before); err != nil || n != c.want {
			t.Errorf("CountPending(%v) = %d, %v; want %d", c.before, n, err, c.want)
		}
	}
}
