// Package progress keeps what a notification activity has done (messages
// posted, updates made) in its heartbeat details, so that a retry of the
// activity skips it: chat APIs take no idempotency key for a new message.
package progress

import (
	"context"
	"log/slog"

	"go.temporal.io/sdk/activity"

	"github.com/signoff/signoff/approval"
)

// Progress is what an attempt did.
type Progress struct {
	// Posted are the messages posted, by target key.
	Posted map[string]approval.MessageRef `json:"posted,omitempty"`
	// Done are the other steps done (updates, replies), by key.
	Done map[string]bool `json:"done,omitempty"`
}

// Load is what earlier attempts of the activity recorded; empty outside an
// activity, on a first attempt, or when the details cannot be read (then
// the attempt starts over, which logger is told).
func Load(ctx context.Context, logger *slog.Logger) *Progress {
	p := &Progress{Posted: map[string]approval.MessageRef{}, Done: map[string]bool{}}
	if !activity.IsActivity(ctx) || !activity.HasHeartbeatDetails(ctx) {
		return p
	}
	var prev Progress
	if err := activity.GetHeartbeatDetails(ctx, &prev); err != nil {
		logger.WarnContext(ctx, "unreadable heartbeat details: starting over", "error", err)
		return p
	}
	for k, v := range prev.Posted {
		p.Posted[k] = v
	}
	for k, v := range prev.Done {
		p.Done[k] = v
	}
	return p
}

// Record sends p as the activity's heartbeat (batched by the SDK, flushed
// when the attempt fails); nothing outside an activity.
func (p *Progress) Record(ctx context.Context) {
	if activity.IsActivity(ctx) {
		activity.RecordHeartbeat(ctx, *p)
	}
}
