package connect

import (
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
)

// TestMetricsExportTemporalNaming: what the SDK handler records comes out
// of the registry under Temporal's Prometheus names: counters with _total,
// timers as histograms in seconds, gauges as they are; no scope or target
// info.
func TestMetricsExportTemporalNaming(t *testing.T) {
	m, err := NewMetrics(nil)
	if err != nil {
		t.Fatal(err)
	}
	h := m.Handler.WithTags(map[string]string{"task_queue": "signoff"})
	h.Counter("temporal_workflow_task_execution_failed").Inc(2)
	h.Timer("temporal_workflow_task_schedule_to_start_latency").Record(30 * time.Millisecond)
	h.Gauge("temporal_sticky_cache_size").Update(7)
	h.WithTags(map[string]string{"outcome": "approved"}).Timer(TimeToDecisionMetric).Record(3 * time.Hour)

	families, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]*dto.MetricFamily{}
	for _, f := range families {
		got[f.GetName()] = f
	}
	for name, typ := range map[string]dto.MetricType{
		"temporal_workflow_task_execution_failed_total":            dto.MetricType_COUNTER,
		"temporal_workflow_task_schedule_to_start_latency_seconds": dto.MetricType_HISTOGRAM,
		"temporal_sticky_cache_size":                               dto.MetricType_GAUGE,
		"signoff_approval_time_to_decision_seconds":                dto.MetricType_HISTOGRAM,
	} {
		f, ok := got[name]
		if !ok {
			t.Errorf("%s not exported; got %v", name, keys2(got))
			continue
		}
		if f.GetType() != typ {
			t.Errorf("%s is a %s, want %s", name, f.GetType(), typ)
		}
		for _, l := range f.GetMetric()[0].GetLabel() {
			if strings.HasPrefix(l.GetName(), "otel_") {
				t.Errorf("%s has label %s", name, l.GetName())
			}
		}
	}
	for name := range got {
		if name == "target_info" || strings.HasPrefix(name, "otel_") {
			t.Errorf("exported %s", name)
		}
	}
	if v := got["temporal_workflow_task_execution_failed_total"].GetMetric()[0].GetCounter().GetValue(); v != 2 {
		t.Errorf("counter = %v, want 2", v)
	}

	// Latencies get sub-second buckets; the time to decision, hours.
	lat := got["temporal_workflow_task_schedule_to_start_latency_seconds"].GetMetric()[0].GetHistogram()
	if b := lat.GetBucket()[0].GetUpperBound(); b != 0.001 {
		t.Errorf("latency's first bucket = %v, want 0.001", b)
	}
	if s := lat.GetSampleSum(); s < 0.029 || s > 0.031 {
		t.Errorf("latency sum = %v s, want 0.03", s)
	}
	dec := got["signoff_approval_time_to_decision_seconds"].GetMetric()[0].GetHistogram()
	bounds := dec.GetBucket()
	if last := bounds[len(bounds)-1].GetUpperBound(); last < 7*24*3600 {
		t.Errorf("time to decision's last bucket = %v s, want a week or more", last)
	}
	if s := dec.GetSampleSum(); s != 3*3600 {
		t.Errorf("time to decision sum = %v, want 10800", s)
	}

	// A second handler has a registry of its own.
	other, err := NewMetrics(nil)
	if err != nil {
		t.Fatal(err)
	}
	if fs, err := other.Registry.Gather(); err != nil || len(fs) != 0 {
		t.Errorf("a new registry has %d metrics (%v), want none", len(fs), err)
	}
	if err := m.Close(t.Context()); err != nil {
		t.Error(err)
	}
}

func keys2(m map[string]*dto.MetricFamily) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
