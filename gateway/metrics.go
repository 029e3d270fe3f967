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

// Grant gauges: counted in Temporal's visibility at scrape time, at most
// once per grantsTTL whatever the number of scrapes (and gateways), each
// count within grantsTimeout.
const (
	grantsTTL     = 15 * time.Second
	grantsTimeout = 5 * time.Second
)

var (
	grantsActiveDesc = prometheus.NewDesc("signoff_grants_active",
		"Approvals whose access is granted now (running, ApprovalStatus Granted), as Temporal visibility counts them.", nil, nil)
	grantsRevokeFailingDesc = prometheus.NewDesc("signoff_grants_revoke_failing",
		"Granted approvals whose revoke has failed and is being retried (RevokeFailing), as Temporal visibility counts them.", nil, nil)
)

// grantCounter counts grants: the approvals port.
type grantCounter interface {
	CountGrants(ctx context.Context, revokeFailing bool) (int64, error)
}

// grantsCollector reports the grant gauges. A count that fails is logged
// and its gauge left out until the next count: a missing series, never a
// 0 that would read as "nothing to revoke".
type grantsCollector struct {
	port    grantCounter
	logger  *slog.Logger
	now     func() time.Time
	ttl     time.Duration
	timeout time.Duration

	mu sync.Mutex
	// counted is when the cached metrics were counted; zero: never.
	counted time.Time
	metrics []prometheus.Metric
}

func newGrantsCollector(port grantCounter, logger *slog.Logger) *grantsCollector {
	if logger == nil {
		logger = slog.Default()
	}
	return &grantsCollector{port: port, logger: logger, now: time.Now, ttl: grantsTTL, timeout: grantsTimeout}
}

func (c *grantsCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- grantsActiveDesc
	ch <- grantsRevokeFailingDesc
}

// Collect reports the cached counts, counting again once they are older
// than the TTL. Scrapes that arrive meanwhile wait for that count and
// share it.
func (c *grantsCollector) Collect(ch chan<- prometheus.Metric) {
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

func (c *grantsCollector) count() []prometheus.Metric {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	var out []prometheus.Metric
	for _, g := range []struct {
		desc          *prometheus.Desc
		name          string
		revokeFailing bool
	}{
		{grantsActiveDesc, "signoff_grants_active", false},
		{grantsRevokeFailingDesc, "signoff_grants_revoke_failing", true},
	} {
		n, err := c.port.CountGrants(ctx, g.revokeFailing)
		if err != nil {
			c.logger.Warn("grant count failed: the metric is left out until the next count", "metric", g.name, "error", err)
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
