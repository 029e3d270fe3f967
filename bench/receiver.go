package bench

import (
	"io"
	"net/http"
	"sync"
	"time"
)

// Arrivals notes when something for a key arrived (a webhook call, a Slack
// post) and lets a waiter block on it without polling.
type Arrivals struct {
	mu      sync.Mutex
	at      map[string]time.Time
	count   map[string]int
	waiters map[string][]chan time.Time
}

// NewArrivals returns an empty set.
func NewArrivals() *Arrivals {
	return &Arrivals{at: map[string]time.Time{}, count: map[string]int{}, waiters: map[string][]chan time.Time{}}
}

// Arrive records key now (the first arrival counts for timing).
func (a *Arrivals) Arrive(key string) {
	now := time.Now()
	a.mu.Lock()
	defer a.mu.Unlock()
	a.count[key]++
	if _, seen := a.at[key]; seen {
		return
	}
	a.at[key] = now
	for _, w := range a.waiters[key] {
		w <- now
	}
	delete(a.waiters, key)
}

// Wait returns a channel that yields when key has arrived.
func (a *Arrivals) Wait(key string) <-chan time.Time {
	ch := make(chan time.Time, 1)
	a.mu.Lock()
	defer a.mu.Unlock()
	if t, ok := a.at[key]; ok {
		ch <- t
		return ch
	}
	a.waiters[key] = append(a.waiters[key], ch)
	return ch
}

// Count is how many times key arrived.
func (a *Arrivals) Count(key string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.count[key]
}

// Distinct is how many keys arrived at least once.
func (a *Arrivals) Distinct() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.at)
}

// Duplicates is how many arrivals repeated a key.
func (a *Arrivals) Duplicates() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := 0
	for _, c := range a.count {
		n += c - 1
	}
	return n
}

// WebhookReceiver counts webhook calls by Idempotency-Key.
func WebhookReceiver(a *Arrivals) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		a.Arrive(r.Header.Get("Idempotency-Key"))
		_, _ = w.Write([]byte("ok"))
	})
}
