package gateway

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/signoff/signoff/auth/proof"
	"github.com/signoff/signoff/config"
	"github.com/signoff/signoff/store/approvalstore"
)

// fakePending counts pending approvals as the approvals port would: all of
// them, or those created before a time.
type fakePending struct {
	mu      sync.Mutex
	created []time.Time
	err     error
	asked   []time.Time
}

func (f *fakePending) CountPending(_ context.Context, before time.Time) (int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.asked = append(f.asked, before)
	if f.err != nil {
		return 0, f.err
	}
	var n int64
	for _, c := range f.created {
		if before.IsZero() || c.Before(before) {
			n++
		}
	}
	return n, nil
}

func pendingFixture(t *testing.T, port *fakePending) (*prometheus.Registry, *time.Time, *bytes.Buffer) {
	t.Helper()
	var logs bytes.Buffer
	c := newPendingCollector(port, slog.New(slog.NewTextHandler(&logs, nil)))
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	c.now = func() time.Time { return now }
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	return reg, &now, &logs
}

// TestPendingMetricsReportTheCounts: every pending approval, and those
// waiting more than a day, counted at scrape time and cached as the grant
// gauges are.
func TestPendingMetricsReportTheCounts(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	port := &fakePending{created: []time.Time{now.Add(-time.Hour), now.Add(-25 * time.Hour), now.Add(-72 * time.Hour)}}
	reg, clock, _ := pendingFixture(t, port)
	got := scrape(t, reg)
	if got["signoff_approvals_pending"] != 3 || got["signoff_approvals_pending_stale"] != 2 || len(got) != 2 {
		t.Errorf("scrape = %v, want pending 3 and stale 2", got)
	}
	if len(port.asked) != 2 || !port.asked[0].IsZero() || !port.asked[1].Equal(now.Add(-stalePending)) {
		t.Errorf("counts asked for %v, want all and before %v", port.asked, now.Add(-stalePending))
	}
	*clock = clock.Add(visibilityTTL / 2)
	scrape(t, reg)
	if len(port.asked) != 2 {
		t.Errorf("%d counts within the TTL, want the cached 2", len(port.asked))
	}
}

// TestPendingMetricsLeaveOutFailedCounts: a failed count is logged and
// its gauges missing, never 0.
func TestPendingMetricsLeaveOutFailedCounts(t *testing.T) {
	reg, _, logs := pendingFixture(t, &fakePending{err: errors.New("temporal unavailable")})
	if got := scrape(t, reg); len(got) != 0 {
		t.Errorf("scrape = %v, want nothing", got)
	}
	if !strings.Contains(logs.String(), "pending count failed") || !strings.Contains(logs.String(), "temporal unavailable") {
		t.Errorf("the failure is not logged: %s", logs.String())
	}
}

// TestMetricsServesTheSDKMetricsToo: /metrics has the gateway's own
// metrics, the visibility gauges and what Options.Metrics gathers (the
// Temporal SDK's), in one scrape.
func TestMetricsServesTheSDKMetricsToo(t *testing.T) {
	cfg, err := config.Parse([]byte("dev_only: true\nusers:\n  - {name: bob, token: dev-bob}\n"))
	if err != nil {
		t.Fatal(err)
	}
	sdk := prometheus.NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "temporal_request_total", Help: "SDK requests."})
	sdk.MustRegister(c)
	c.Inc()
	keys := proof.Generate()
	s, err := New(Options{Live: config.NewLive(cfg, nil), Approvals: approvalstore.NewMemory(keys, nil), Actions: knownActions,
		Proofs: keys, Ready: func(context.Context) error { return nil }, Logger: slog.New(slog.DiscardHandler), Metrics: sdk})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	s.http.Handler.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	body, _ := io.ReadAll(rec.Result().Body)
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /metrics = %d: %s", rec.Code, body)
	}
	for _, want := range []string{"temporal_request_total 1", "signoff_approvals_pending 0", "signoff_approvals_pending_stale 0",
		"signoff_grants_active 0", "signoff_grants_revoke_failing 0", "go_goroutines"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}
