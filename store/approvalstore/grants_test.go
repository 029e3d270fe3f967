package approvalstore

import (
	"context"
	"testing"
	"time"

	"github.com/signoff/signoff/approval"
	"github.com/signoff/signoff/workflows"
)

// Grants are counted among running approval workflows, as lists are
// scoped, by the attributes the workflow keeps.
func TestGrantsQuery(t *testing.T) {
	if got, want := grantsQuery(false),
		"WorkflowType = 'ApprovalWorkflow' AND ExecutionStatus = 'Running' AND ApprovalStatus = 'Granted'"; got != want {
		t.Errorf("active grants\n got %s\nwant %s", got, want)
	}
	if got, want := grantsQuery(true),
		"WorkflowType = 'ApprovalWorkflow' AND ExecutionStatus = 'Running' AND ApprovalStatus = 'Granted' AND RevokeFailing = true"; got != want {
		t.Errorf("failing revokes\n got %s\nwant %s", got, want)
	}
	if _, ok := workflows.SearchAttributes[workflows.AttrRevokeFailing.GetName()]; !ok {
		t.Error("RevokeFailing is not registered with the namespace")
	}
}

func TestMemoryCountsGrants(t *testing.T) {
	ctx := context.Background()
	m, _, now := memoryFixture(t)
	grant := func(id string, failures int, revoked bool) {
		t.Helper()
		if err := m.Start(ctx, workflows.Input{ID: id, Requester: "alice", CreatedAt: now(),
			Request: approval.Request{Environment: "database", Duration: time.Hour},
			Policy:  approval.Policy{Approvers: []string{"bob"}, RequiredApprovals: 1, Deadline: time.Hour}}); err != nil {
			t.Fatal(err)
		}
		st := m.approvals[id].st
		st.Decide(approval.Attempt{ID: "d", User: "bob", Decision: approval.DecisionApprove}, now())
		st.StartGrant(st.ClosedAt)
		st.MarkGranted(now(), "granted")
		for range failures {
			st.RevokeFailed(now(), "unreachable")
		}
		if revoked {
			st.MarkRevoked(now(), "verified")
		}
	}
	grant("g1", 0, false)
	grant("g2", 2, false)
	grant("g3", 1, true) // failed, then revoked: neither granted nor failing
	for _, c := range []struct {
		failing bool
		want    int64
	}{{false, 2}, {true, 1}} {
		if n, err := m.CountGrants(ctx, c.failing); err != nil || n != c.want {
			t.Errorf("CountGrants(revokeFailing=%v) = %d, %v; want %d", c.failing, n, err, c.want)
		}
	}
}
