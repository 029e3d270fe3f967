package approval

import (
	"testing"
	"time"
)

// TestGrantUsesTheNarrowestApprovedDuration: two approvers of a 2h grant,
// one approves 30m, the other as asked: the grant is 30 minutes from the
// approval. A voided (amended) approval's duration no longer counts, and a
// scheduled grant keeps its start with the narrowed end.
func TestGrantUsesTheNarrowestApprovedDuration(t *testing.T) {
	st := New("a1", "alice", Request{Title: "orders", Environment: "database", Duration: 2 * time.Hour},
		Policy{Name: "db", Approvers: []string{"bob", "carol"}, RequiredApprovals: 2, Deadline: time.Hour, MaxDuration: 8 * time.Hour}, t0)
	if got := st.GrantDuration(); got != 2*time.Hour {
		t.Fatalf("before any decision: %s", got)
	}
	st.Attempts = append(st.Attempts,
		Attempt{ID: "1", User: "bob", Decision: DecisionApprove, Accepted: true, Duration: 30 * time.Minute},
		Attempt{ID: "2", User: "carol", Decision: DecisionApprove, Accepted: true},
		Attempt{ID: "3", User: "mallory", Decision: DecisionApprove, Duration: time.Minute}, // refused: does not count
	)
	if got := st.GrantDuration(); got != 30*time.Minute {
		t.Fatalf("narrowest approved: %s", got)
	}
	st.StartGrant(t0.Add(time.Hour))
	if want := t0.Add(90 * time.Minute); !st.Grant.RevokeAt.Equal(want) {
		t.Fatalf("revoke at %s, want %s", st.Grant.RevokeAt, want)
	}

	st.Request.StartAt = t0.Add(5 * time.Hour)
	st.StartGrant(t0.Add(time.Hour))
	if !st.Grant.StartAt.Equal(t0.Add(5*time.Hour)) || !st.Grant.RevokeAt.Equal(t0.Add(5*time.Hour+30*time.Minute)) {
		t.Fatalf("scheduled: %+v", st.Grant)
	}

	st.Attempts[0].Voided = true
	if got := st.GrantDuration(); got != 2*time.Hour {
		t.Fatalf("a voided approval's duration still counts: %s", got)
	}
}

// TestScheduledGrantWindow: a scheduled grant waits only while approved
// and before its start; its window has passed once it ended.
func TestScheduledGrantWindow(t *testing.T) {
	st := New("a1", "alice", Request{Title: "orders", Environment: "database", Duration: time.Hour, StartAt: t0.Add(3 * time.Hour)},
		Policy{Name: "db", Approvers: []string{"bob"}, RequiredApprovals: 1, Deadline: time.Hour}, t0)
	st.Status = StatusApproved
	st.StartGrant(t0.Add(time.Hour))
	switch {
	case !st.Scheduled(t0.Add(2 * time.Hour)):
		t.Fatal("not scheduled before its start")
	case st.Scheduled(t0.Add(3 * time.Hour)):
		t.Fatal("still scheduled at its start")
	case st.WindowPassed(t0.Add(3*time.Hour + 59*time.Minute)):
		t.Fatal("window passed inside it")
	case !st.WindowPassed(t0.Add(4 * time.Hour)):
		t.Fatal("window not passed at its end")
	}
	// Cancelled before the start: nothing granted, closed when approved.
	closed := st.ClosedAt
	if err := st.Cancel(Actor{User: "alice", Proof: "stamp"}, "moved", t0.Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if st.Status != StatusCancelled || !st.ClosedAt.Equal(closed) || st.Scheduled(t0.Add(2*time.Hour)) {
		t.Fatalf("after cancel: %s closed %s", st.Status, st.ClosedAt)
	}
	// An approval that is granted (or pending) is not cancelled this way.
	st2 := New("a2", "alice", Request{Title: "x", Environment: "database", Duration: time.Hour},
		Policy{Name: "db", Approvers: []string{"bob"}, RequiredApprovals: 1, Deadline: time.Hour}, t0)
	st2.Status = StatusApproved
	st2.StartGrant(t0)
	if err := st2.Cancel(Actor{User: "alice", Proof: "stamp"}, "late", t0.Add(time.Minute)); err == nil {
		t.Fatal("cancelled an approved grant that was not scheduled")
	}
}

func TestParseStart(t *testing.T) {
	now := time.Date(2026, 12, 7, 10, 0, 0, 500, time.UTC)
	for in, want := range map[string]time.Time{
		"+2h":                       time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC),
		"2026-12-12T09:00:00Z":      time.Date(2026, 12, 12, 9, 0, 0, 0, time.UTC),
		"2026-12-12T10:00:00+01:00": time.Date(2026, 12, 12, 9, 0, 0, 0, time.UTC),
	} {
		got, err := ParseStart(in, now)
		if err != nil || !got.Equal(want) {
			t.Errorf("%s: %s, %v", in, got, err)
		}
	}
	for _, bad := range []string{"", "tomorrow", "+-1h", "+0s", "12/12/2026"} {
		if _, err := ParseStart(bad, now); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
