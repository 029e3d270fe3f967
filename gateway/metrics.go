package gateway

import (
	"context"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

type metrics struct {
	rpcs     *prometheus.CounterVec
	rpcTime  *prometheus.HistogramVec
	httpReqs *prometheus.CounterVec
	httpTime *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		rpcs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "signoff_grpc_requests_total", Help: "gRPC calls by method and code.",
		}, []string{"method", "code"}),
		rpcTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "signoff_grpc_request_duration_seconds", Help: "gRPC call latency.", Buckets: prometheus.DefBuckets,
		}, []string{"method"}),
		httpReqs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "signoff_http_requests_total", Help: "HTTP requests by route prefix and status.",
		}, []string{"route", "code"}),
		httpTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "signoff_http_request_duration_seconds", Help: "HTTP request latency.", Buckets: prometheus.DefBuckets,
		}, []string{"route"}),
	}
	reg.MustRegister(m.rpcs, m.rpcTime, m.httpReqs, m.httpTime)
	return m
}

func (m *metrics) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	start := time.Now()
	resp, err := handler(ctx, req)
	method := info.FullMethod[strings.LastIndex(info.FullMethod, "/")+1:]
	m.rpcs.WithLabelValues(method, status.Code(err).String()).Inc()
	m.rpcTime.WithLabelValues(method).Observe(time.Since(start).Seconds())
	return resp, err
}

// route keeps label cardinality bounded: the first path segment only.
func route(path string) string {
	parts := strings.SplitN(strings.TrimPrefix(path, "/"), "/", 3)
	switch parts[0] {
	case "v1", "healthz", "readyz", "metrics":
		return "/" + parts[0]
	}
	return "other"
}

func (m *metrics) http(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, code: http.StatusOK}
		next.ServeHTTP(rec, r)
		rt := route(r.URL.Path)
		m.httpReqs.WithLabelValues(rt, strconv.Itoa(rec.code)).Inc()
		m.httpTime.WithLabelValues(rt).Observe(time.Since(start).Seconds())
	})
}

type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (s *statusRecorder) WriteHeader(code int) { s.code = code; s.ResponseWriter.WriteHeader(code) }

// Visibility gauges (grants, pending approvals): counted in Temporal's
// visibility at scrape time, at most once per visibilityTTL whatever the
// number of scrapes (and gateways), each count within visibilityTimeout.
const (
	visibilityTTL     = 15 * time.Second
	visibilityTimeout = 5 * time.Second
	// grantsTTL is the grant gauges' TTL.
	grantsTTL = visibilityTTL
	// stalePending is how long an approval waits before it counts as
	// signoff_approvals_pending_stale.
	stalePending = 24 * time.Hour
)

var (
	grantsActiveDesc = prometheus.NewDesc("signoff_grants_active",
		"Approvals whose access is granted now (running, ApprovalStatus Granted), as Temporal visibility counts them.", nil, nil)
	grantsRevokeFailingDesc = prometheus.NewDesc("signoff_grants_revoke_failing",
		"Granted approvals whose revoke has failed and is being retried (RevokeFailing), as Temporal visibility counts them.", nil, nil)
	pendingDesc = prometheus.NewDesc("signoff_approvals_pending",
		"Approvals waiting for decisions now (running, ApprovalStatus Pending), as Temporal visibility counts them.", nil, nil)
	pendingStaleDesc = prometheus.NewDesc("signoff_approvals_pending_stale",
		"Approvals waiting for decisions for more than 24 hours, as Temporal visibility counts them.", nil, nil)
)

// grantCounter counts grants: the approvals port.
type grantCounter interface {
	CountGrants(ctx context.Context, revokeFailing bool) (int64, error)
}

// pendingCounter counts pending approvals: the approvals port.
type pendingCounter interface {
	CountPending(ctx context.Context, startedBefore time.Time) (int64, error)
}

// visibilityGauge is one gauge of a visibilityCollector and how to count
// it.
type visibilityGauge struct {
	desc  *prometheus.Desc
	name  string
	count func(ctx context.Context, now time.Time) (int64, error)
}

// visibilityCollector reports gauges counted in Temporal's visibility. A
// count that fails is logged and its gauge left out until the next count:
// a missing series, never a 0 that would read as "nothing to revoke" or
// "nothing waiting".
type visibilityCollector struct {
	// what names the counts in logs ("grant", "pending").
	what    string
	gauges  []visibilityGauge
	logger  *slog.Logger
	now     func() time.Time
	ttl     time.Duration
	timeout time.Duration

	mu sync.Mutex
	// counted is when the cached metrics were counted; zero: never.
	counted time.Time
	metrics []prometheus.Metric
}

func newVisibilityCollector(what string, gauges []visibilityGauge, logger *slog.Logger) *visibilityCollector {
	if logger == nil {
		logger = slog.Default()
	}
	return &visibilityCollector{what: what, gauges: gauges, logger: logger, now: time.Now, ttl: visibilityTTL, timeout: visibilityTimeout}
}

// newGrantsCollector reports signoff_grants_active and
// signoff_grants_revoke_failing.
func newGrantsCollector(port grantCounter, logger *slog.Logger) *visibilityCollector {
	grants := func(revokeFailing bool) func(context.Context, time.Time) (int64, error) {
		return func(ctx context.Context, _ time.Time) (int64, error) { return port.CountGrants(ctx, revokeFailing) }
	}
	return newVisibilityCollector("grant", []visibilityGauge{
		{grantsActiveDesc, "signoff_grants_active", grants(false)},
		{grantsRevokeFailingDesc, "signoff_grants_revoke_failing", grants(true)},
	}, logger)
}

// newPendingCollector reports signoff_approvals_pending and
// signoff_approvals_pending_stale.
func newPendingCollector(port pendingCounter, logger *slog.Logger) *visibilityCollector {
	return newVisibilityCollector("pending", []visibilityGauge{
		{pendingDesc, "signoff_approvals_pending", func(ctx context.Context, _ time.Time) (int64, error) {
			return port.CountPending(ctx, time.Time{})
		}},
		{pendingStaleDesc, "signoff_approvals_pending_stale", func(ctx context.Context, now time.Time) (int64, error) {
			return port.CountPending(ctx, now.Add(-stalePending))
		}},
	}, logger)
}

func (c *visibilityCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, g := range c.gauges {
		ch <- g.desc
	}
}

// Collect reports the cached counts, counting again once they are older
// than the TTL. Scrapes that arrive meanwhile wait for that count and
// share it.
func (c *visibilityCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.counted.IsZero() || c.now().Sub(c.counted) >= c.ttl {
		c.metrics = c.count()
		c.counted = c.now()
	}
	for _, m := range c.metrics {
		ch <- m
	}
}

func (c *visibilityCollector) count() []prometheus.Metric {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	now := c.now()
	var out []prometheus.Metric
	for _, g := range c.gauges {
		n, err := g.count(ctx, now)
		if err != nil {
			c.logger.Warn(c.what+" count failed: the metric is left out until the next count", "metric", g.name, "error", err)
			continue
		}
		out = append(out, prometheus.MustNewConstMetric(g.desc, prometheus.GaugeValue, float64(n)))
	}
	return out
}

// recoverUnary turns a panic into Internal instead of killing the gateway.
func recoverUnary(logger *slog.Logger) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
		defer func() {
			if p := recover(); p != nil {
				logger.ErrorContext(ctx, "panic in handler", "method", info.FullMethod, "panic", p, "stack", string(debug.Stack()))
				err = status.Error(codes.Internal, "internal error")
			}
		}()
		return handler(ctx, req)
	}
}
