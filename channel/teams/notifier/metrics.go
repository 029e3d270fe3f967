package notifier

import (
	"context"

	"github.com/signoff/signoff/activities"
)

// MetricRateLimited counts the 429s the Bot Connector answered the worker
// (exported as signoff_teams_rate_limited_total).
const MetricRateLimited = "signoff_teams_rate_limited"

func countRateLimited(ctx context.Context) {
	activities.MetricsHandler(ctx).Counter(MetricRateLimited).Inc(1)
}
