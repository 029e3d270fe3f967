package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/signoff/signoff/config"
	"github.com/signoff/signoff/internal/testenv"
	pb "github.com/signoff/signoff/proto/signoff/v1"
)

// metricsStackConfig is the stack's config with a soft policy for the
// sandbox environment, where break-glass is allowed.
var metricsStackConfig = strings.Replace(testenv.StackConfig, "  - name: default\n", `  - name: sandbox
    match: { environment: sandbox }
    approvers: { groups: [platform] }
    required_approvals: 1
    deadline: 1h
    enforcement: soft
  - name: default
`, 1)

// TestMetricsDashboardAndAlerts drives approvals through the whole stack so
// that every kind of metric is emitted (created, refused, decided, time to
// decision, action runs and failures, a notification failure, a Slack 429,
// break-glass, pending), then reads the gateway's /metrics — the gateway's
// own metrics, the visibility gauges, and the Temporal SDK's with the
// workflows' and activities' (one process: worker and gateway share the
// client, as in `signoff dev`) — and checks that every metric the Grafana
// dashboard and the Prometheus alerts in deploy/ use is exported, with the
// labels they select and group by.
func TestMetricsDashboardAndAlerts(t *testing.T) {
	t.Parallel()
	f, env := startSlackFake(t)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		http.Error(w, "no such service", http.StatusBadRequest) // a permanent failure: no retries
	}))
	defer hook.Close()
	env["SIGNOFF_WEBHOOK_SECRET"] = e2eWebhookSecret
	s := testenv.Start(t, testenv.Options{ConfigYAML: metricsStackConfig, Env: env, Mutate: func(c *config.Loaded) {
		c.Notifiers = []string{"log", "slack"}
		c.Slack = config.Slack{TeamID: f.TeamID(), DefaultChannel: "#approvals"}
	}})
	api := s.GRPC()
	create := func(body string) string {
		t.Helper()
		code, out := s.Do(http.MethodPost, "/v1/approvals", "dev-alice", body)
		require.Equal(t, http.StatusOK, code, string(out))
		return decodeApproval(t, out).GetId()
	}
	decide := func(token, id string) (int, []byte) {
		return s.Do(http.MethodPost, "/v1/approvals/"+id+":decide", token, s.DecideBody(token, id, "DECISION_APPROVE"))
	}

	// Slack answers 429 to the first prompt (waited out, then posted).
	f.RateLimitNext(1)
	failing := create(createBody("Deploy api (hook refuses)", "staging", map[string]any{"type": "webhook", "url": hook.URL + "/deploy"}))
	plain := create(createBody("Deploy worker", "staging", map[string]any{"type": "noop"}))
	create(createBody("Deploy web", "staging", map[string]any{"type": "noop"})) // left pending
	require.True(t, f.Wait(60*time.Second, func() bool { return f.RateLimited() > 0 && len(f.Messages()) >= 3 }), "no 429, or prompts not posted")

	// A refused attempt, then the decisions: one action fails, one runs.
	code, body := decide("dev-alice", failing)
	require.Equal(t, http.StatusForbidden, code, "self-approval: %s", body)
	for _, id := range []string{failing, plain} {
		code, body := decide("dev-bob", id)
		require.Equal(t, http.StatusOK, code, string(body))
	}
	require.False(t, waitAction(t, s, failing, 60*time.Second).GetActionResult().GetSuccess())
	require.True(t, waitAction(t, s, plain, 60*time.Second).GetActionResult().GetSuccess())

	// Break-glass on the soft policy.
	glass := create(createBody("Hotfix sandbox", "sandbox", map[string]any{"type": "noop"}))
	_, err := api.BypassApproval(testenv.Ctx("dev-alice"), &pb.BypassApprovalRequest{Id: glass, Reason: "sandbox is down"})
	require.NoError(t, err)
	waitAction(t, s, glass, 60*time.Second)

	// A prompt Slack refuses everywhere: the notification fails (and the
	// approval stays pending).
	f.FailChannel("#approvals", "channel_not_found")
	create(createBody("Deploy api again", "staging", map[string]any{"type": "noop"}))

	used := monitoringQueries(t)
	var scraped map[string][]map[string]string
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(500 * time.Millisecond) {
		scraped = scrapeMetrics(t, s.HTTPURL+"/metrics")
		var missing []string
		for m := range used {
			if _, ok := scraped[m]; !ok {
				missing = append(missing, m)
			}
		}
		if len(missing) == 0 {
			break
		}
		if time.Now().After(deadline) {
			sort.Strings(missing)
			var have []string
			for m := range scraped {
				have = append(have, m)
			}
			sort.Strings(have)
			t.Fatalf("not on /metrics after 60 s: %v\n/metrics has: %v", missing, have)
		}
	}
	for m, q := range used {
		for _, l := range q.labels {
			require.True(t, hasLabel(scraped[m], l), "%s has no label %q, which %s selects", m, l, strings.Join(q.where, ", "))
		}
	}
	for _, g := range groupings(t) {
		found := false
		for _, m := range g.metrics {
			found = found || hasLabel(scraped[m], g.label)
		}
		require.True(t, found, "%s groups by %q, which none of %v has", g.where, g.label, g.metrics)
	}
	// The counts that matter most are right.
	require.True(t, hasSeries(scraped["signoff_decisions_refused_total"], map[string]string{"reason": "self_approval"}))
	require.True(t, hasSeries(scraped["signoff_approvals_decided_total"], map[string]string{"outcome": "approved", "channel": "api"}))
	require.True(t, hasSeries(scraped["signoff_approvals_decided_total"], map[string]string{"outcome": "bypassed"}))
	require.True(t, hasSeries(scraped["signoff_action_failures_total"], map[string]string{"action": "webhook", "phase": "run"}))
	require.True(t, hasSeries(scraped["signoff_notify_failures_total"], map[string]string{"notifier": "slack"}))
}

// query is what the monitoring files ask of one metric family: the labels
// their selectors match on, and where.
type query struct {
	labels []string
	where  []string
}

// grouping is a `by (label)` clause and the metric families of its
// expression: one of them must have the label.
type grouping struct {
	label   string
	metrics []string
	where   string
}

var (
	metricRef = regexp.MustCompile(`\b(?:signoff|temporal)_[a-z0-9_]+\b`)
	selector  = regexp.MustCompile(`\b((?:signoff|temporal)_[a-z0-9_]+)\{([^}]*)\}`)
	matcher   = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)\s*"`)
	byClause  = regexp.MustCompile(`\bby\s*\(([^)]*)\)`)
)

// monitoringExprs are the PromQL expressions of the dashboard's panels and
// the alert rules, by where they are.
func monitoringExprs(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	raw, err := os.ReadFile("../deploy/grafana/signoff-dashboard.json")
	require.NoError(t, err)
	var dash struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				RefID string `json:"refId"`
				Expr  string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	require.NoError(t, json.Unmarshal(raw, &dash))
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			out["panel "+p.Title+" "+tg.RefID] = tg.Expr
		}
	}
	raw, err = os.ReadFile("../deploy/prometheus/signoff-alerts.yaml")
	require.NoError(t, err)
	var rules struct {
		Groups []struct {
			Rules []struct {
				Alert string `yaml:"alert"`
				Expr  string `yaml:"expr"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	require.NoError(t, yaml.Unmarshal(raw, &rules))
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			out["alert "+r.Alert] = r.Expr
		}
	}
	require.NotEmpty(t, out)
	return out
}

// family is the family of a series name: a histogram's _bucket, _sum and
// _count are its family's.
func family(name string) string {
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if f, ok := strings.CutSuffix(name, suffix); ok {
			return f
		}
	}
	return name
}

// monitoringQueries is every metric family the monitoring files use.
func monitoringQueries(t *testing.T) map[string]*query {
	out := map[string]*query{}
	for where, expr := range monitoringExprs(t) {
		for _, m := range metricRef.FindAllString(expr, -1) {
			q := out[family(m)]
			if q == nil {
				q = &query{}
				out[family(m)] = q
			}
			q.where = append(q.where, where)
		}
		for _, sel := range selector.FindAllStringSubmatch(expr, -1) {
			for _, l := range matcher.FindAllStringSubmatch(sel[2], -1) {
				out[family(sel[1])].labels = append(out[family(sel[1])].labels, l[1])
			}
		}
	}
	return out
}

// groupings are the `by` labels of every expression. Prometheus's own
// target labels and le are not on /metrics.
func groupings(t *testing.T) []grouping {
	var out []grouping
	for where, expr := range monitoringExprs(t) {
		var metrics []string
		for _, m := range metricRef.FindAllString(expr, -1) {
			metrics = append(metrics, family(m))
		}
		for _, by := range byClause.FindAllStringSubmatch(expr, -1) {
			for _, l := range strings.Split(by[1], ",") {
				l = strings.TrimSpace(l)
				if l == "" || l == "le" || l == "instance" || l == "job" {
					continue
				}
				out = append(out, grouping{label: l, metrics: metrics, where: where})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].where < out[j].where })
	return out
}

var seriesLine = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+\S+`)
var labelPair = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"`)

// scrapeMetrics reads a /metrics page: each family's series, by their
// labels.
func scrapeMetrics(t *testing.T, url string) map[string][]map[string]string {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	out := map[string][]map[string]string{}
	for _, line := range strings.Split(string(body), "\n") {
		m := seriesLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		labels := map[string]string{}
		for _, p := range labelPair.FindAllStringSubmatch(m[2], -1) {
			labels[p[1]] = p[2]
		}
		out[family(m[1])] = append(out[family(m[1])], labels)
	}
	return out
}

func hasLabel(series []map[string]string, label string) bool {
	for _, s := range series {
		if _, ok := s[label]; ok {
			return true
		}
	}
	return false
}

func hasSeries(series []map[string]string, want map[string]string) bool {
next:
	for _, s := range series {
		for k, v := range want {
			if s[k] != v {
				continue next
			}
		}
		return true
	}
	return false
}
