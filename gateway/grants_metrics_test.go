package gateway

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// fakeGrants counts as the approvals port would, and counts the counts.
type fakeGrants struct {
	mu      sync.Mutex
	active  int64
	failing int64
	err     map[bool]error // by revokeFailing
	calls   int
}

func (f *fakeGrants) CountGrants(_ context.Context, revokeFailing bool) (int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if err := f.err[revokeFailing]; err != nil {
		return 0, err
	}
	if revokeFailing {
		return f.failing, nil
	}
	return f.active, nil
}

// scrape gathers reg as /metrics does: the gauges present, by name.
func scrape(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			out[mf.GetName()] = m.GetGauge().GetValue()
		}
	}
	return out
}

func grantsFixture(t *testing.T, port *fakeGrants) (*prometheus.Registry, *time.Time, *bytes.Buffer) {
	t.Helper()
	var logs bytes.Buffer
	c := newGrantsCollector(port, slog.New(slog.NewTextHandler(&logs, nil)))
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	c.now = func() time.Time { return now }
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	return reg, &now, &logs
}

// TestGrantMetricsReportTheCounts: both gauges carry what the port counts.
func TestGrantMetricsReportTheCounts(t *testing.T) {
	reg, _, _ := grantsFixture(t, &fakeGrants{active: 3, failing: 1})
	got := scrape(t, reg)
	if got["signoff_grants_active"] != 3 || got["signoff_grants_revoke_failing"] != 1 || len(got) != 2 {
		t.Errorf("scrape = %v, want active 3 and revoke_failing 1", got)
	}
}

// TestGrantMetricsAreCached: scrapes within 15 s share one count; the
// next one after counts again.
func TestGrantMetricsAreCached(t *testing.T) {
	port := &fakeGrants{active: 3, failing: 1}
	reg, now, _ := grantsFixture(t, port)
	scrape(t, reg)
	port.mu.Lock()
	port.active = 5
	port.mu.Unlock()
	for range 10 {
		*now = now.Add(time.Second)
		if got := scrape(t, reg); got["signoff_grants_active"] != 3 {
			t.Fatalf("cached scrape = %v, want the first count", got)
		}
	}
	if port.calls != 2 {
		t.Errorf("%d counts for 11 scrapes within 15 s, want 2 (one per gauge)", port.calls)
	}
	*now = now.Add(5 * time.Second)
	if got := scrape(t, reg); got["signoff_grants_active"] != 5 {
		t.Errorf("scrape after 15 s = %v, want the new count", got)
	}
	if port.calls != 4 {
		t.Errorf("%d counts, want 4", port.calls)
	}
}

// TestGrantMetricsLeaveOutFailedCounts: a count that fails is logged and
// its gauge is missing from the scrape — never reported as 0 — while the
// other gauge is still reported; it is counted again after the TTL.
func TestGrantMetricsLeaveOutFailedCounts(t *testing.T) {
	port := &fakeGrants{active: 3, failing: 1, err: map[bool]error{true: errors.New("unknown search attribute RevokeFailing")}}
	reg, now, logs := grantsFixture(t, port)
	got := scrape(t, reg)
	if _, ok := got["signoff_grants_revoke_failing"]; ok || got["signoff_grants_active"] != 3 {
		t.Errorf("scrape = %v, want active 3 and no revoke_failing", got)
	}
	if !bytes.Contains(logs.Bytes(), []byte("grant count failed")) || !bytes.Contains(logs.Bytes(), []byte("unknown search attribute RevokeFailing")) {
		t.Errorf("the failure is not logged: %s", logs.String())
	}

	port.mu.Lock()
	port.err = map[bool]error{false: errors.New("temporal unavailable")}
	port.mu.Unlock()
	*now = now.Add(grantsTTL)
	got = scrape(t, reg)
	if _, ok := got["signoff_grants_active"]; ok || got["signoff_grants_revoke_failing"] != 1 {
		t.Errorf("scrape = %v, want revoke_failing 1 and no active", got)
	}
}
