package approvalstore

import (
	"context"
	"testing"
	"time"

	"github.com/signoff/signoff/approval"
	"github.com/signoff/signoff/auth/proof"
	"github.com/signoff/signoff/people"
	"github.com/signoff/signoff/workflows"
)

// TestAnnounceDelegation: a delegation in force reaches every open
// approval that awaits its maker, stamped, once; not the ones its maker
// only asked for, not closed ones, not under another key; a delegation
// that starts later reaches none yet.
func TestAnnounceDelegation(t *testing.T) {
	ctx := context.Background()
	keys := proof.Generate()
	t0 := time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
	m := NewMemory(keys, func() time.Time { return t0 })
	start := func(id, requester string, approvers ...string) {
		t.Helper()
		err := m.Start(ctx, workflows.Input{ID: id, Requester: requester, CreatedAt: t0, Rules: approval.RulesDelegation,
			Request: approval.Request{Title: id, Environment: "production"},
			Policy:  approval.Policy{Name: "p", Approvers: approvers, RequiredApprovals: 1, Deadline: time.Hour}})
		if err != nil {
			t.Fatal(err)
		}
	}
	start("awaits-bob", "alice", "bob", "carol")
	start("also-bob", "dana", "bob")
	start("bobs-own", "bob", "carol")
	start("not-bob", "alice", "carol")
	start("closed", "alice", "bob")
	if _, err := m.Cancel(ctx, "closed", workflows.Stamp(keys, "closed", workflows.CancelRequest{User: "alice"}, t0)); err != nil {
		t.Fatal(err)
	}
	d := people.Delegation{ID: "d1", From: "bob", To: "erin", Start: t0.Add(-time.Minute), End: t0.Add(time.Hour)}

	later := d
	later.ID, later.Start = "d0", t0.Add(time.Hour)
	if n, err := AnnounceDelegation(ctx, m, keys, later, t0); n != 0 || err != nil {
		t.Fatalf("a delegation that starts later: %d, %v", n, err)
	}
	if n, err := AnnounceDelegation(ctx, m, proof.Generate(), d, t0); n != 0 || err == nil {
		t.Fatalf("under another key: %d, %v", n, err)
	}
	n, err := AnnounceDelegation(ctx, m, keys, d, t0)
	if n != 2 || err != nil {
		t.Fatalf("announced to %d, %v", n, err)
	}
	for id, want := range map[string]string{"awaits-bob": "erin", "also-bob": "erin", "bobs-own": "", "not-bob": "", "closed": ""} {
		st, err := m.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if got := st.Policy.Delegates["bob"]; got != want {
			t.Errorf("%s: bob's delegate %q, want %q", id, got, want)
		}
	}
	if n, err := AnnounceDelegation(ctx, m, keys, d, t0); n != 0 || err != nil {
		t.Fatalf("again: %d, %v", n, err)
	}
}
