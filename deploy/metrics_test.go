package deploy

import (
	"encoding/json"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

// The monitoring files. e2e's TestMetricsDashboardAndAlerts drives
// approvals through the whole stack and checks that every metric they use
// is on /metrics; these tests check their shape and that each metric is
// documented.
const (
	dashboardFile = "grafana/signoff-dashboard.json"
	alertsFile    = "prometheus/signoff-alerts.yaml"
)

type grafanaPanel struct {
	ID         int    `json:"id"`
	Type       string `json:"type"`
	Title      string `json:"title"`
	Datasource *struct {
		Type string `json:"type"`
		UID  string `json:"uid"`
	} `json:"datasource"`
	GridPos struct{ H, W, X, Y int } `json:"gridPos"`
	Targets []struct {
		RefID string `json:"refId"`
		Expr  string `json:"expr"`
	} `json:"targets"`
}

type grafanaDashboard struct {
	Title      string         `json:"title"`
	UID        string         `json:"uid"`
	Panels     []grafanaPanel `json:"panels"`
	Templating struct {
		List []struct {
			Name  string `json:"name"`
			Type  string `json:"type"`
			Query string `json:"query"`
		} `json:"list"`
	} `json:"templating"`
}

type alertRule struct {
	Alert       string            `yaml:"alert"`
	Record      string            `yaml:"record"`
	Expr        string            `yaml:"expr"`
	For         string            `yaml:"for"`
	Labels      map[string]string `yaml:"labels"`
	Annotations map[string]string `yaml:"annotations"`
}

type ruleFile struct {
	Groups []struct {
		Name  string      `yaml:"name"`
		Rules []alertRule `yaml:"rules"`
	} `yaml:"groups"`
}

func readDashboard(t *testing.T) grafanaDashboard {
	t.Helper()
	var d grafanaDashboard
	dec := json.NewDecoder(strings.NewReader(readFile(t, dashboardFile)))
	require.NoError(t, dec.Decode(&d), dashboardFile)
	return d
}

func readRules(t *testing.T) ruleFile {
	t.Helper()
	var f ruleFile
	dec := yaml.NewDecoder(strings.NewReader(readFile(t, alertsFile)))
	dec.KnownFields(true)
	require.NoError(t, dec.Decode(&f), alertsFile)
	return f
}

// metricRef finds the metric names of Signoff (signoff_*) and of the
// Temporal SDK (temporal_*) in a PromQL expression.
var metricRef = regexp.MustCompile(`\b(?:signoff|temporal)_[a-z0-9_]+\b`)

// metricFamily is the family a series name belongs to: a histogram's
// _bucket, _sum and _count are its family's.
func metricFamily(name string) string {
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if f, ok := strings.CutSuffix(name, suffix); ok {
			return f
		}
	}
	return name
}

// monitoringMetrics is every metric family the dashboard and the alert
// rules query, with where.
func monitoringMetrics(t *testing.T) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	add := func(where, expr string) {
		for _, m := range metricRef.FindAllString(expr, -1) {
			out[metricFamily(m)] = append(out[metricFamily(m)], where)
		}
	}
	for _, p := range readDashboard(t).Panels {
		for _, tg := range p.Targets {
			add("dashboard panel "+p.Title, tg.Expr)
		}
	}
	for _, g := range readRules(t).Groups {
		for _, r := range g.Rules {
			add("alert "+r.Alert, r.Expr)
		}
	}
	return out
}

// TestGrafanaDashboard: the dashboard imports as is: a title and a stable
// UID, a Prometheus datasource variable every panel uses, unique panel IDs
// on a 24-column grid, and a query in every panel.
func TestGrafanaDashboard(t *testing.T) {
	d := readDashboard(t)
	require.NotEmpty(t, d.Title)
	require.Equal(t, "signoff-overview", d.UID)
	require.Len(t, d.Templating.List, 1)
	v := d.Templating.List[0]
	require.Equal(t, []string{"datasource", "datasource", "prometheus"}, []string{v.Name, v.Type, v.Query})

	ids := map[int]bool{}
	for _, p := range d.Panels {
		require.False(t, ids[p.ID], "panel id %d twice", p.ID)
		ids[p.ID] = true
		require.LessOrEqual(t, p.GridPos.X+p.GridPos.W, 24, "panel %q is wider than the grid", p.Title)
		require.Positive(t, p.GridPos.H, "panel %q", p.Title)
		if p.Type == "row" {
			continue
		}
		require.NotEmpty(t, p.Title)
		require.NotNil(t, p.Datasource, "panel %q has no datasource", p.Title)
		require.Equal(t, "${datasource}", p.Datasource.UID, "panel %q", p.Title)
		require.NotEmpty(t, p.Targets, "panel %q has no query", p.Title)
		refs := map[string]bool{}
		for _, tg := range p.Targets {
			require.NotEmpty(t, strings.TrimSpace(tg.Expr), "panel %q", p.Title)
			require.False(t, refs[tg.RefID], "panel %q: refId %s twice", p.Title, tg.RefID)
			refs[tg.RefID] = true
			require.Equal(t, strings.Count(tg.Expr, "("), strings.Count(tg.Expr, ")"), "panel %q: unbalanced %s", p.Title, tg.Expr)
			require.NotEmpty(t, metricRef.FindAllString(tg.Expr, -1), "panel %q queries no Signoff or Temporal metric", p.Title)
		}
	}
	// What people graph, per the dashboard's purpose.
	used := monitoringMetrics(t)
	for _, m := range []string{
		"signoff_approvals_created_total", "signoff_approvals_decided_total", "signoff_approvals_pending",
		"signoff_approval_time_to_decision_seconds", "signoff_decisions_refused_total", "signoff_action_runs_total",
		"signoff_action_failures_total", "signoff_notify_failures_total", "signoff_slack_rate_limited_total",
		"signoff_break_glass_total", "signoff_grants_active", "signoff_grants_revoke_failing",
		"temporal_workflow_task_schedule_to_start_latency_seconds", "temporal_workflow_task_execution_latency_seconds",
	} {
		require.Contains(t, used, m)
	}
}

// TestAlertRules: the rule file loads as Prometheus reads it (no unknown
// keys), every rule is an alert with a severity, a summary and a
// duration Prometheus accepts, and the alerts people asked for are there.
func TestAlertRules(t *testing.T) {
	f := readRules(t)
	require.NotEmpty(t, f.Groups)
	names := map[string]alertRule{}
	for _, g := range f.Groups {
		require.NotEmpty(t, g.Name)
		for _, r := range g.Rules {
			require.NotEmpty(t, r.Alert, "recording rules are not expected here: %+v", r)
			require.NotContains(t, names, r.Alert, "alert %s twice", r.Alert)
			names[r.Alert] = r
			require.NotEmpty(t, strings.TrimSpace(r.Expr), r.Alert)
			require.Equal(t, strings.Count(r.Expr, "("), strings.Count(r.Expr, ")"), "%s: unbalanced %s", r.Alert, r.Expr)
			require.Contains(t, []string{"critical", "warning", "info"}, r.Labels["severity"], r.Alert)
			require.NotEmpty(t, r.Annotations["summary"], r.Alert)
			require.NotEmpty(t, r.Annotations["description"], r.Alert)
			if r.For != "" {
				d, err := time.ParseDuration(r.For)
				require.NoError(t, err, "%s: for %q", r.Alert, r.For)
				require.Positive(t, d, r.Alert)
			}
		}
	}
	revoke, ok := names["SignoffRevokeFailing"]
	require.True(t, ok)
	require.Equal(t, "max(signoff_grants_revoke_failing) > 0", revoke.Expr)
	require.Equal(t, "15m", revoke.For)
	for alert, metric := range map[string]string{
		"SignoffApprovalsPendingTooLong": "signoff_approvals_pending_stale",
		"SignoffActionFailures":          "signoff_action_failures_total",
		"SignoffNotificationsFailing":    "signoff_notify_failures_total",
		"SignoffWorkersShort":            "temporal_workflow_task_schedule_to_start_latency_seconds_bucket",
	} {
		require.Contains(t, names, alert)
		require.Contains(t, names[alert].Expr, metric, alert)
	}
}

// TestMonitoringMetricsAreDocumented: every metric the dashboard and the
// alerts use is in docs/operations.md, so an operator reading an alert
// finds what it means.
func TestMonitoringMetricsAreDocumented(t *testing.T) {
	doc := readFile(t, "../docs/operations.md")
	used := monitoringMetrics(t)
	var names []string
	for m := range used {
		names = append(names, m)
	}
	sort.Strings(names)
	require.NotEmpty(t, names)
	for _, m := range names {
		// Documented under the family name, or under the name the SDK
		// gives it before the Prometheus suffixes.
		base := strings.TrimSuffix(strings.TrimSuffix(m, "_total"), "_seconds")
		if !strings.Contains(doc, m) && !strings.Contains(doc, "`"+base+"`") {
			t.Errorf("%s (used by %s) is not in docs/operations.md", m, strings.Join(slices.Compact(used[m]), ", "))
		}
	}
}
