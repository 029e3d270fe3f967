package slackmsg

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/slack-go/slack"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPacerPacesAChannelAfterA429(t *testing.T) {
	t0 := time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)
	now := t0
	p := NewPacer(time.Second, 30*time.Second)
	p.now = func() time.Time { return now }
	after := func(channel string) time.Duration {
		slot, ok := p.reserve(channel, time.Time{})
		require.True(t, ok)
		return slot.Sub(t0)
	}

	for range 5 {
		assert.Equal(t, time.Duration(0), after("C1"), "no 429 yet: nothing waits")
	}
	p.Backoff("C1", 2*time.Second)
	assert.Equal(t, []time.Duration{2 * time.Second, 3 * time.Second, 4 * time.Second},
		[]time.Duration{after("C1"), after("C1"), after("C1")}, "quiet for Retry-After, then one per second")
	assert.Equal(t, time.Duration(0), after("C2"), "other channels are not held")

	_, ok := p.reserve("C1", t0.Add(4*time.Second))
	assert.False(t, ok, "a slot past the deadline is not taken")
	assert.Equal(t, 5*time.Second, after("C1"), "and does not push the queue back")

	now = t0.Add(10 * time.Second)
	assert.Equal(t, 10*time.Second, after("C1"), "still paced while the hold lasts")
	assert.Equal(t, 11*time.Second, after("C1"))
	now = t0.Add(time.Minute)
	assert.Equal(t, time.Minute, after("C1"), "calm again after the hold")
	assert.Equal(t, time.Minute, after("C1"))
}

func TestPacerWaitPastTheDeadlineIsARateLimit(t *testing.T) {
	p := NewPacer(time.Second, time.Minute)
	require.NoError(t, p.Wait(context.Background(), "C1", nil))
	p.Backoff("C1", time.Hour)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	err := p.Wait(ctx, "C1", nil)
	var rl *slack.RateLimitedError
	require.True(t, errors.As(err, &rl), "got %v", err)
	assert.Greater(t, rl.RetryAfter, 59*time.Minute)

	var nilPacer *Pacer
	require.NoError(t, nilPacer.Wait(ctx, "C1", nil), "no pacer, no waiting")
}
