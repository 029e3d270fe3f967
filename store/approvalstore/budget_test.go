package approvalstore

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/signoff/signoff/approval"
	"github.com/signoff/signoff/workflows"
)

// TestBudgetPerPersonAndApproval: a person's messages to one approval are
// counted against their own bucket: past the burst they are answered
// ErrTooMany with a wait and never reach the port; another person, or the
// same person on another approval, is unaffected; the bucket refills.
func TestBudgetPerPersonAndApproval(t *testing.T) {
	m, keys, _ := memoryFixture(t)
	now := time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
	b := NewBudget(m, 3, 10*time.Second)
	b.now = func() time.Time { return now }
	ctx := context.Background()
	send := func(user string) error {
		_, err := b.Cancel(ctx, "a1", workflows.Stamp(keys, "a1", workflows.CancelRequest{User: user, Reason: "x"}, now))
		return err
	}
	for i := range 3 {
		if err := send("dana"); errors.Is(err, ErrTooMany) {
			t.Fatalf("attempt %d refused by the budget: %v", i, err)
		}
	}
	err := send("dana")
	var tm *TooMany
	if !errors.As(err, &tm) || !errors.Is(err, ErrTooMany) || tm.RetryAfter <= 0 || tm.RetryAfter > 10*time.Second {
		t.Fatalf("fourth attempt: want TooMany with a wait, got %v", err)
	}
	st, _ := m.Get(ctx, "a1")
	dana := 0
	for _, e := range st.Events {
		if e.Kind == approval.EventCancelRefused && e.User == "dana" {
			dana++
		}
	}
	if dana != 3 {
		t.Fatalf("%d of dana's cancels reached the approval, want 3", dana)
	}
	if err := send("erin"); errors.Is(err, ErrTooMany) {
		t.Fatalf("another person is limited by dana's budget: %v", err)
	}
	now = now.Add(10 * time.Second)
	if err := send("dana"); errors.Is(err, ErrTooMany) {
		t.Fatalf("the bucket did not refill: %v", err)
	}
}
