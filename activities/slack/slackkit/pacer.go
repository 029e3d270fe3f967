package slackkit

import (
	"context"
	"sync"
	"time"

	"github.com/slack-go/slack"
)

// Pacer spaces messages to each channel at Slack's posting rate (about one
// per second per channel, with short bursts allowed), so that many
// approvals prompted to one channel queue in the worker, in order, rather
// than all retrying against 429s. A 429 pushes the channel's next slot past
// its Retry-After. Each worker paces on its own; Slack's 429s still cover
// several workers sharing a channel.
type Pacer struct {
	interval time.Duration
	burst    int
	now      func() time.Time

	mu   sync.Mutex
	next map[string]time.Time
}

// NewPacer allows burst messages at once per channel, then one per interval.
func NewPacer(interval time.Duration, burst int) *Pacer {
	return &Pacer{interval: interval, burst: max(burst, 1), now: time.Now, next: map[string]time.Time{}}
}

// maxChannels bounds the map: past it, channels whose slots are all in the
// past are forgotten.
const maxChannels = 10000

// reserve takes channel's next slot, unless it comes after deadline (zero:
// none): a slot not taken leaves the queue as it was.
func (p *Pacer) reserve(channel string, deadline time.Time) (time.Time, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	if len(p.next) >= maxChannels {
		for ch, t := range p.next {
			if t.Before(now) {
				delete(p.next, ch)
			}
		}
	}
	// Unused slots of the recent past make up the burst.
	slot := p.next[channel]
	if earliest := now.Add(-time.Duration(p.burst-1) * p.interval); slot.Before(earliest) {
		slot = earliest
	}
	at := slot
	if at.Before(now) {
		at = now
	}
	if !deadline.IsZero() && at.After(deadline) {
		return at, false
	}
	p.next[channel] = slot.Add(p.interval)
	return at, true
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

// Backoff keeps channel quiet for d (a 429's Retry-After).
func (p *Pacer) Backoff(channel string, d time.Duration) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if until := p.now().Add(d); p.next[channel].Before(until) {
		p.next[channel] = until
	}
}
