package notifier

import (
	"context"

	"github.com/signoff/signoff/activities"
	"github.com/signoff/signoff/channel/slack/slackmsg"
)

// MetricRateLimited counts the 429s Slack's API answered the worker, by
// method (exported as signoff_slack_rate_limited_total). The waits the
// pacer imposes before a call are not counted: only Slack's answers.
const MetricRateLimited = "signoff_slack_rate_limited"

// countRateLimited counts err when it is Slack's 429 to method.
func countRateLimited(ctx context.Context, method string, err error) {
	if _, ok := slackmsg.RetryAfter(err); !ok {
		return
	}
	activities.MetricsHandler(ctx).WithTags(map[string]string{"method": method}).Counter(MetricRateLimited).Inc(1)
}
