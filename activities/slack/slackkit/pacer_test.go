package slackkit

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/slack-go/slack"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPacerSpacesEachChannel(t *testing.T) {
	t0 := time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)
	now := t0
	p := NewPacer(time.Second, 2)
	p.now = func() time.Time { return now }

	var slots []time.Duration
	for range 4 {
		slot, ok := p.reserve("C1", time.Time{})
		require.True(t, ok)
		slots = append(slots, slot.Sub(t0))
	}
	assert.Equal(t, []time.Duration{0, 0, time.Second, 2 * time.Second}, slots, "a burst of 2, then one per second")
	assert.Equal(t, time.Duration(0), at(p, "C2").Sub(t0), "channels are paced apart")
	_, ok := p.reserve("C1", t0.Add(2*time.Second))
	assert.False(t, ok, "a slot past the deadline is not taken")
	assert.Equal(t, 3*time.Second, at(p, "C1").Sub(t0), "and does not push the queue back")

	now = t0.Add(time.Minute)
	assert.Equal(t, time.Minute, at(p, "C1").Sub(t0), "a quiet channel starts afresh")
	p.Backoff("C1", 30*time.Second)
	assert.Equal(t, time.Minute+30*time.Second, at(p, "C1").Sub(t0), "a 429 holds the channel for its Retry-After")
}

func at(p *Pacer, channel string) time.Time {
	slot, _ := p.reserve(channel, time.Time{})
	return slot
}

func TestPacerWaitPastTheDeadlineIsARateLimit(t *testing.T) {
	p := NewPacer(time.Hour, 1)
	require.NoError(t, p.Wait(context.Background(), "C1", nil))
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	err := p.Wait(ctx, "C1", nil)
	var rl *slack.RateLimitedError
	require.True(t, errors.As(err, &rl), "got %v", err)
	assert.Greater(t, rl.RetryAfter, 59*time.Minute)

	var nilPacer *Pacer
	require.NoError(t, nilPacer.Wait(ctx, "C1", nil), "no pacer, no waiting")
}
