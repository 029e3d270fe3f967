package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// serveWorkerHealth gives `signoff worker`, which has no listener of its
// own, the endpoints orchestrators probe: /healthz (the process serves),
// /readyz (Temporal answers) and /metrics (the process's, and sdk: the
// Temporal SDK's and the workflows' and activities' own, when not nil).
// The returned func stops it.
func serveWorkerHealth(addr string, ready func(context.Context) error, sdk prometheus.Gatherer, logger *slog.Logger) (func(), error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen worker health %s: %w", addr, err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	var gather prometheus.Gatherer = reg
	if sdk != nil {
		gather = prometheus.Gatherers{reg, sdk}
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := ready(ctx); err != nil {
			http.Error(w, "temporal unavailable", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ready\n"))
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(gather, promhttp.HandlerOpts{Registry: reg,
		ErrorHandling: promhttp.ContinueOnError, ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn)}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, WriteTimeout: 30 * time.Second}
	go func() {
		if err := srv.Serve(l); !errors.Is(err, http.ErrServerClosed) {
			logger.Error("worker health listener stopped", "err", err)
		}
	}()
	logger.Info("worker health listening", "address", l.Addr().String())
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}, nil
}

// probe is `signoff probe URL`: exit 0 when a GET answers 2xx. Container
// health checks use it, as the image has no shell or curl.
func probe(args []string) int {
	if len(args) != 1 || !strings.HasPrefix(args[0], "http://") {
		fmt.Fprintln(os.Stderr, "usage: signoff probe http://HOST:PORT/PATH")
		return 2
	}
	c := &http.Client{Timeout: 3 * time.Second}
	resp, err := c.Get(args[0])
	if err != nil {
		fmt.Fprintf(os.Stderr, "probe: %v\n", err)
		return 1
	}
	_ = resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		fmt.Fprintf(os.Stderr, "probe: %s: %s\n", args[0], resp.Status)
		return 1
	}
	return 0
}
