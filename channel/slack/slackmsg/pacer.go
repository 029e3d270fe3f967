package slackmsg

import (
	"context"
	"sync"
	"time"

	"github.com/slack-go/slack"
)

// Pacer spaces messages to a channel once Slack has rate-limited it: after
// a 429, the channel is quiet for the Retry-After, then its messages go one
// per interval, in order, for a while. Without it, every activity posting to
// a busy channel retries on its own and the herd keeps the channel limited.
// Until a 429, nothing waits: Slack, not a guess, says when the rate is too
// high. Each worker paces on its own; Slack's 429s cover several workers.
type Pacer struct {
	interval time.Duration
	hold     time.Duration
	now      func() time.Time

	mu       sync.Mutex
	channels map[string]*pace
}

type pace struct {
	next  time.Time // the channel's next free slot
	until time.Time // paced until then
}

// NewPacer spaces a rate-limited channel's messages by interval, for hold
// after its last 429.
func NewPacer(interval, hold time.Duration) *Pacer {
	return &Pacer{interval: interval, hold: hold, now: time.Now, channels: map[string]*pace{}}
}

// reserve takes channel's next slot, unless it comes after deadline (zero:
// none): a slot not taken leaves the queue as it was.
func (p *Pacer) reserve(channel string, deadline time.Time) (time.Time, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	c, ok := p.channels[channel]
	if !ok || (now.After(c.until) && !c.next.After(now)) {
		if ok {
			delete(p.channels, channel) // calm again
		}
		return now, true
	}
	slot := c.next
	if slot.Before(now) {
		slot = now
	}
	if !deadline.IsZero() && slot.After(deadline) {
		return slot, false
	}
	c.next = slot.Add(p.interval)
	return slot, true
}

// Wait blocks until channel may be posted to. A slot beyond ctx's deadline
// is not taken and is returned as a rate limit, to retry after it.
func (p *Pacer) Wait(ctx context.Context, channel string, hb Heartbeat) error {
	if p == nil {
		return nil
	}
	deadline, _ := ctx.Deadline()
	slot, ok := p.reserve(channel, deadline)
	d := slot.Sub(p.now())
	if !ok {
		return &slack.RateLimitedError{RetryAfter: d}
	}
	if d <= 0 {
		return nil
	}
	return sleep(ctx, d, hb)
}

// Backoff records a 429 on channel: quiet for retryAfter, then paced.
func (p *Pacer) Backoff(channel string, retryAfter time.Duration) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	c, ok := p.channels[channel]
	if !ok {
		c = &pace{}
		p.channels[channel] = c
	}
	if quiet := now.Add(retryAfter); c.next.Before(quiet) {
		c.next = quiet
	}
	c.until = c.next.Add(p.hold)
}
