package workflows

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/mock"

	"github.com/signoff/signoff/approval"
	"github.com/signoff/signoff/temporal/connect"
)

// metricsSuite is an ApprovalSuite whose environment emits to a real
// Prometheus-backed SDK metrics handler.
func metricsSuite(t *testing.T) (*ApprovalSuite, *prometheus.Registry) {
	t.Helper()
	m, err := connect.NewMetrics(nil)
	if err != nil {
		t.Fatal(err)
	}
	s := &ApprovalSuite{}
	s.SetT(t)
	s.SetMetricsHandler(m.Handler)
	s.SetupTest()
	t.Cleanup(func() { s.env.AssertExpectations(t) })
	return s, m.Registry
}

// sample is one exported series: its labels and value (a histogram's
// count and sum).
type sample struct {
	labels map[string]string
	value  float64
	count  uint64
	sum    float64
}

// samples gathers reg: the series of each metric family, by name.
func samples(t *testing.T, reg prometheus.Gatherer) map[string][]sample {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]sample{}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			s := sample{labels: map[string]string{}}
			for _, l := range m.GetLabel() {
				s.labels[l.GetName()] = l.GetValue()
			}
			switch {
			case m.GetCounter() != nil:
				s.value = m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				s.value = m.GetGauge().GetValue()
			case m.GetHistogram() != nil:
				s.count, s.sum = m.GetHistogram().GetSampleCount(), m.GetHistogram().GetSampleSum()
			}
			out[f.GetName()] = append(out[f.GetName()], s)
		}
	}
	return out
}

// find is the series of name whose labels include want; ok false when
// there is none.
func find(all map[string][]sample, name string, want map[string]string) (sample, bool) {
next:
	for _, s := range all[name] {
		for k, v := range want {
			if s.labels[k] != v {
				continue next
			}
		}
		return s, true
	}
	return sample{}, false
}

// TestMetricsOfAnApprovedApproval: created once by policy, one refused
// attempt by its code, decided approved through the API, and the time from
// creation to the decision.
func TestMetricsOfAnApprovedApproval(t *testing.T) {
	s, reg := metricsSuite(t)
	s.expectNotify()
	s.env.OnActivity(ActivityRunAction, mock.Anything, mock.Anything).
		Return(approval.ActionResult{Type: "noop", Success: true}, nil).Once()
	s.signal(time.Minute, "alice", approval.DecisionApprove) // self-approval: refused
	s.signal(time.Hour, "bob", approval.DecisionApprove)
	s.signal(2*time.Hour, "carol", approval.DecisionApprove)
	s.env.ExecuteWorkflow(ApprovalWorkflow, startStamped(input(2)))
	s.Equal(approval.StatusApproved, s.result().Status)

	got := samples(t, reg)
	if c, ok := find(got, "signoff_approvals_created_total", map[string]string{"policy": "production"}); !ok || c.value != 1 {
		t.Errorf("created = %+v (%v), want 1 for production; got %v", c, ok, got["signoff_approvals_created_total"])
	}
	if r, ok := find(got, "signoff_decisions_refused_total", map[string]string{"reason": string(approval.CodeSelfApproval)}); !ok || r.value != 1 {
		t.Errorf("refused = %v, want 1 self_approval", got["signoff_decisions_refused_total"])
	}
	if n := len(got["signoff_decisions_refused_total"]); n != 1 {
		t.Errorf("%d refusal series, want 1: %v", n, got["signoff_decisions_refused_total"])
	}
	if d, ok := find(got, "signoff_approvals_decided_total", map[string]string{"outcome": "approved", "channel": "api", "policy": "production"}); !ok || d.value != 1 {
		t.Errorf("decided = %v, want 1 approved through api", got["signoff_approvals_decided_total"])
	}
	if h, ok := find(got, "signoff_approval_time_to_decision_seconds", map[string]string{"outcome": "approved", "policy": "production"}); !ok || h.count != 1 || h.sum != 2*3600 {
		t.Errorf("time to decision = %+v, want one of 7200 s", got["signoff_approval_time_to_decision_seconds"])
	}
	// The policy's break-glass series exists, at 0.
	if b, ok := find(got, "signoff_break_glass_total", map[string]string{"policy": "production"}); !ok || b.value != 0 {
		t.Errorf("break-glass = %v, want a series at 0", got["signoff_break_glass_total"])
	}
}

// TestMetricsOfAnExpiredApproval: an approval nobody finished is decided
// "expired" through no channel, at its deadline.
func TestMetricsOfAnExpiredApproval(t *testing.T) {
	s, reg := metricsSuite(t)
	s.expectNotify()
	s.signal(23*time.Hour, "bob", approval.DecisionApprove)
	s.env.ExecuteWorkflow(ApprovalWorkflow, startStamped(input(2)))
	s.Equal(approval.StatusExpired, s.result().Status)

	got := samples(t, reg)
	if d, ok := find(got, "signoff_approvals_decided_total", map[string]string{"outcome": "expired", "channel": "none"}); !ok || d.value != 1 {
		t.Errorf("decided = %v, want 1 expired through none", got["signoff_approvals_decided_total"])
	}
	if h, ok := find(got, "signoff_approval_time_to_decision_seconds", map[string]string{"outcome": "expired"}); !ok || h.sum != 24*3600 {
		t.Errorf("time to decision = %v, want the 24 h deadline", got["signoff_approval_time_to_decision_seconds"])
	}
	if _, ok := got["signoff_decisions_refused_total"]; ok {
		t.Errorf("refusals counted: %v", got["signoff_decisions_refused_total"])
	}
}

// TestMetricsOfBreakGlass: break-glass is counted, and the approval is
// decided "bypassed".
func TestMetricsOfBreakGlass(t *testing.T) {
	s, reg := metricsSuite(t)
	s.expectNotify()
	s.env.OnActivity(ActivityRunAction, mock.Anything, mock.Anything).Return(approval.ActionResult{Success: true}, nil).Once()
	in := input(2)
	in.Policy.Enforcement = approval.EnforcementSoft
	s.update(3*time.Minute, UpdateBypass, BypassRequest{User: "alice", Reason: "prod is down"}, func(err error) { s.NoError(err) })
	s.env.ExecuteWorkflow(ApprovalWorkflow, startStamped(in))
	s.Equal(approval.StatusBypassed, s.result().Status)

	got := samples(t, reg)
	if b, ok := find(got, "signoff_break_glass_total", map[string]string{"policy": "production"}); !ok || b.value != 1 {
		t.Errorf("break-glass = %v, want 1", got["signoff_break_glass_total"])
	}
	if d, ok := find(got, "signoff_approvals_decided_total", map[string]string{"outcome": "bypassed", "channel": "none"}); !ok || d.value != 1 {
		t.Errorf("decided = %v, want 1 bypassed", got["signoff_approvals_decided_total"])
	}
}

// TestMetricsIgnoreARefusedStart: an input not started through Signoff is
// neither created nor decided.
func TestMetricsIgnoreARefusedStart(t *testing.T) {
	s, reg := metricsSuite(t)
	s.env.ExecuteWorkflow(ApprovalWorkflow, input(1)) // not stamped
	s.Equal(approval.StatusCancelled, s.result().Status)
	got := samples(t, reg)
	for _, name := range []string{"signoff_approvals_created_total", "signoff_approvals_decided_total", "signoff_approval_time_to_decision_seconds"} {
		if _, ok := got[name]; ok {
			t.Errorf("%s counted for a refused start: %v", name, got[name])
		}
	}
}

// TestDecidedThroughNamesTheChannelOnly: a Slack decision's channel label
// is "slack", not the Slack channel's ID.
func TestDecidedThroughNamesTheChannelOnly(t *testing.T) {
	at := t0.Add(time.Hour)
	st := &approval.State{Status: approval.StatusApproved, ClosedAt: at, Attempts: []approval.Attempt{
		{Accepted: true, Channel: "api", Time: t0},
		{Accepted: false, Channel: "web", Time: at},
		{Accepted: true, Channel: "slack:C0123", Time: at},
	}}
	if got := decidedThrough(st); got != "slack" {
		t.Errorf("decidedThrough = %q, want slack", got)
	}
	st.Status = approval.StatusCancelled
	if got := decidedThrough(st); got != noChannel {
		t.Errorf("decidedThrough(cancelled) = %q, want %q", got, noChannel)
	}
}

// TestTimeToDecisionHasItsBuckets: the exporter gives the workflow's timer
// its hour-scale buckets by name.
func TestTimeToDecisionHasItsBuckets(t *testing.T) {
	if MetricTimeToDecision != connect.TimeToDecisionMetric {
		t.Errorf("the workflow records %q, the exporter buckets %q", MetricTimeToDecision, connect.TimeToDecisionMetric)
	}
}
