package main

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// TestWorkerHealthServesTheSDKMetrics: a worker-only process's /metrics
// (worker.health_address) has the process's metrics and the Temporal
// SDK's, with what the workflows and activities emit through it.
func TestWorkerHealthServesTheSDKMetrics(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	sdk := prometheus.NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "signoff_action_runs_total", Help: "Action attempts."})
	sdk.MustRegister(c)
	c.Add(3)
	stop, err := serveWorkerHealth(addr, func(context.Context) error { return nil }, sdk, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics = %d: %s", resp.StatusCode, body)
	}
	for _, want := range []string{"signoff_action_runs_total 3", "go_goroutines", "process_"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}
