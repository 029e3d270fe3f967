package approvalstore

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/signoff/signoff/approval"
	"github.com/signoff/signoff/auth/proof"
	"github.com/signoff/signoff/workflows"
)

func TestVisibilityQueryQuotesEveryValue(t *testing.T) {
	got := visibilityQuery(Query{Status: approval.StatusPending, Environment: "prod", Requester: `o'brien`, ReadableBy: `x\' OR 1=1 --`, Open: true})
	want := `WorkflowType = 'ApprovalWorkflow' AND ExecutionStatus = 'Running' AND ApprovalStatus = 'Pending' AND ` +
		`Environment = 'prod' AND Requester = 'o\'brien' AND ` +
		`(Requester = 'x\\\' OR 1=1 --' OR Approvers = 'x\\\' OR 1=1 --')`
	if got != want {
		t.Errorf("query\n got %s\nwant %s", got, want)
	}
	if got := visibilityQuery(Query{}); got != "WorkflowType = 'ApprovalWorkflow'" {
		t.Errorf("empty query: %s", got)
	}
}

// memoryFixture is a pending approval "a1" by alice that needs bob and carol.
func memoryFixture(t *testing.T) (*Memory, *proof.Keyring, func() time.Time) {
	t.Helper()
	keys := proof.Generate()
	t0 := time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
	now := func() time.Time { return t0 }
	m := NewMemory(keys, now)
	in := workflows.Input{
		ID: "a1", Requester: "alice", CreatedAt: t0, Rules: approval.RulesProven,
		Request: approval.Request{Title: "deploy", Environment: "production", Action: approval.Action{Type: "noop"}},
		Policy:  approval.Policy{Name: "production", Approvers: []string{"bob", "carol"}, RequiredApprovals: 2, Deadline: time.Hour},
	}
	if err := m.Start(context.Background(), in); err != nil {
		t.Fatal(err)
	}
	return m, keys, now
}

func TestMemoryJudgesAsTheWorkflow(t *testing.T) {
	ctx := context.Background()
	m, keys, now := memoryFixture(t)
	st, err := m.Get(ctx, "a1")
	if err != nil {
		t.Fatal(err)
	}
	decide := func(id, user string, k *proof.Keyring) error {
		_, err := m.Decide(ctx, "a1", workflows.Stamp(k, "a1", workflows.DecisionRequest{
			AttemptID: id, User: user, Decision: approval.DecisionApprove, Channel: "api", SeenHash: st.RequestHash,
		}, now()))
		return err
	}
	if err := decide("x1", "alice", keys); approval.CodeOf(err) != approval.CodeSelfApproval {
		t.Errorf("self-approval: %v", err)
	}
	if err := decide("x2", "bob", nil); approval.CodeOf(err) != approval.CodeUnproven {
		t.Errorf("unstamped: %v", err)
	}
	if err := decide("x3", "bob", proof.Generate()); approval.CodeOf(err) != approval.CodeUnproven {
		t.Errorf("stamped with another key: %v", err)
	}
	if err := decide("x4", "bob", keys); err != nil {
		t.Fatalf("bob: %v", err)
	}
	if err := decide("x4", "bob", keys); err != nil {
		t.Errorf("a redelivery answers as the first time: %v", err)
	}
	if err := decide("x5", "carol", keys); err != nil {
		t.Fatalf("carol: %v", err)
	}
	st, _ = m.Get(ctx, "a1")
	if st.Status != approval.StatusApproved || len(st.Attempts) != 5 {
		t.Errorf("status %s with %d attempts, want approved with 5 (3 refused, 2 accepted)", st.Status, len(st.Attempts))
	}
	if err := decide("x6", "carol", keys); !errors.Is(err, ErrClosed) {
		t.Errorf("decision on a finished approval: %v", err)
	}
	if _, err := m.Get(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown approval: %v", err)
	}
}

func TestMemoryOperationsNeedProof(t *testing.T) {
	ctx := context.Background()
	m, keys, now := memoryFixture(t)
	// An admin flag without a stamp counts for nothing.
	_, err := m.Cancel(ctx, "a1", workflows.CancelRequest{AttemptID: "c1", User: "mallory", Admin: true})
	if approval.CodeOf(err) == "" {
		t.Fatalf("unstamped admin cancel: %v", err)
	}
	st, err := m.Cancel(ctx, "a1", workflows.Stamp(keys, "a1", workflows.CancelRequest{AttemptID: "c2", User: "alice", Reason: "not needed"}, now()))
	if err != nil || st.Status != approval.StatusCancelled {
		t.Fatalf("requester's cancel: %v, %v", st.Status, err)
	}
	if err := m.Start(ctx, workflows.Input{ID: "a1"}); err == nil {
		t.Error("a taken ID started again")
	} else if e := (*Exists)(nil); !errors.As(err, &e) || e.RequestHash != st.RequestHash {
		t.Errorf("start of a taken ID: %v", err)
	}
}

func TestMemoryListPagesAndScopes(t *testing.T) {
	ctx := context.Background()
	m, _, _ := memoryFixture(t)
	for _, id := range []string{"a2", "a3"} {
		in := workflows.Input{ID: id, Requester: "dave", Request: approval.Request{Environment: "staging"},
			Policy: approval.Policy{Approvers: []string{"erin"}, RequiredApprovals: 1, Deadline: time.Hour}}
		if err := m.Start(ctx, in); err != nil {
			t.Fatal(err)
		}
	}
	page, err := m.List(ctx, Query{ReadableBy: "erin", PageSize: 1})
	if err != nil || len(page.Approvals) != 1 || page.Approvals[0].ID != "a2" || len(page.NextPageToken) == 0 {
		t.Fatalf("first page: %+v, %v", page, err)
	}
	page, err = m.List(ctx, Query{ReadableBy: "erin", PageSize: 1, PageToken: page.NextPageToken})
	if err != nil || len(page.Approvals) != 1 || page.Approvals[0].ID != "a3" || len(page.NextPageToken) != 0 {
		t.Fatalf("second page: %+v, %v", page, err)
	}
	page, _ = m.List(ctx, Query{ReadableBy: "bob", Environment: "production"})
	if len(page.Approvals) != 1 || page.Approvals[0].ID != "a1" || page.Approvals[0].Requester != "alice" {
		t.Errorf("bob's list: %+v", page.Approvals)
	}
}
