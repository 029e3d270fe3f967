package notifier

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/testsuite"

	"github.com/signoff/signoff/approval"
	"github.com/signoff/signoff/channel/slack/slackfake"
	"github.com/signoff/signoff/temporal/connect"
)

// TestRateLimitsAreCounted: each 429 Slack answers the worker counts in
// signoff_slack_rate_limited_total, by method.
func TestRateLimitsAreCounted(t *testing.T) {
	f := slackfake.New()
	defer f.Close()
	cfg := prodConfig
	cfg.DMApprovers = false
	n := newNotifier(t, f, cfg, f.Token())
	f.RateLimit(1)

	m, err := connect.NewMetrics(nil)
	require.NoError(t, err)
	var ts testsuite.WorkflowTestSuite
	ts.SetMetricsHandler(m.Handler)
	env := ts.NewTestActivityEnvironment()
	env.RegisterActivityWithOptions(func(ctx context.Context, id string) (approval.Delivery, error) {
		return n.Prompt(ctx, pending(id))
	}, activity.RegisterOptions{Name: "Prompt"})
	for _, id := range ids[:2] {
		_, err := env.ExecuteActivity("Prompt", id)
		require.NoError(t, err)
	}
	require.Positive(t, f.RateLimited(), "the limit must have been hit")

	families, err := m.Registry.Gather()
	require.NoError(t, err)
	var counted float64
	for _, fam := range families {
		if fam.GetName() != "signoff_slack_rate_limited_total" {
			continue
		}
		for _, s := range fam.GetMetric() {
			for _, l := range s.GetLabel() {
				if l.GetName() == "method" {
					require.Equal(t, "chat.postMessage", l.GetValue())
				}
			}
			counted += s.GetCounter().GetValue()
		}
	}
	require.Equal(t, float64(f.RateLimited()), counted, "every 429 counted once")
}
