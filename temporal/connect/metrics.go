package connect

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.temporal.io/sdk/client"
	sdkotel "go.temporal.io/sdk/contrib/opentelemetry"
)

// TimeToDecisionMetric is the timer the approval workflow records from an
// approval's creation to its final status; its histogram has buckets of
// its own (seconds to weeks), where the SDK's latencies have sub-second
// ones.
const TimeToDecisionMetric = "signoff_approval_time_to_decision"

// Histogram buckets, in seconds.
var (
	// latencyBuckets suit the SDK's timers: task latencies, request
	// latencies, schedule-to-start.
	latencyBuckets = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300}
	// decisionBuckets suit the time people take: a minute to two weeks.
	decisionBuckets = []float64{60, 300, 900, 1800, 3600, 7200, 14400, 28800, 86400, 172800, 345600, 604800, 1209600}
)

// Metrics is what the Temporal SDK measures (client requests, worker
// polls, workflow and activity tasks, the sticky cache) and what Signoff's
// workflow and activity code emits through the SDK's metrics handler, as
// Prometheus metrics in a registry of their own. The names are Temporal's
// (temporal_*) and Signoff's (signoff_*): counters end in _total, timers
// are histograms in seconds (_seconds).
type Metrics struct {
	// Handler is the SDK's metrics handler: give it to the client.
	Handler client.MetricsHandler
	// Registry holds the metrics: serve it on /metrics.
	Registry *prometheus.Registry
	provider *sdkmetric.MeterProvider
}

// NewMetrics builds the SDK's metrics handler on an OpenTelemetry meter
// exported to a new Prometheus registry. Nothing is global: every call
// has its own registry. Errors from the meter are logged, never fatal.
func NewMetrics(logger *slog.Logger) (*Metrics, error) {
	if logger == nil {
		logger = slog.Default()
	}
	reg := prometheus.NewRegistry()
	exporter, err := otelprom.New(
		otelprom.WithRegisterer(reg),
		// Scope and target info would add labels and series that say
		// nothing about Signoff.
		otelprom.WithoutScopeInfo(),
		otelprom.WithoutTargetInfo(),
	)
	if err != nil {
		return nil, fmt.Errorf("metrics exporter: %w", err)
	}
	provider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exporter), sdkmetric.WithView(bucketsView))
	handler := sdkotel.NewMetricsHandler(sdkotel.MetricsHandlerOptions{
		Meter: provider.Meter("signoff"),
		// Counters only grow: exported as Prometheus counters (_total).
		UseMonotonicCounters: true,
		OnError: func(err error) {
			logger.Warn("metric not recorded", "error", err)
		},
	})
	return &Metrics{Handler: handler, Registry: reg, provider: provider}, nil
}

// Close flushes and stops the meter.
func (m *Metrics) Close(ctx context.Context) error {
	if m == nil {
		return nil
	}
	return m.provider.Shutdown(ctx)
}

// bucketsView gives every histogram buckets in seconds: the time to
// decision its own, every other timer latencyBuckets. (OpenTelemetry's
// default buckets are for milliseconds.)
func bucketsView(i sdkmetric.Instrument) (sdkmetric.Stream, bool) {
	if i.Kind != sdkmetric.InstrumentKindHistogram {
		return sdkmetric.Stream{}, false
	}
	buckets := latencyBuckets
	if i.Name == TimeToDecisionMetric {
		buckets = decisionBuckets
	}
	return sdkmetric.Stream{
		Name: i.Name, Description: i.Description, Unit: i.Unit,
		Aggregation: sdkmetric.AggregationExplicitBucketHistogram{Boundaries: buckets},
	}, true
}
