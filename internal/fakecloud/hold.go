package fakecloud

import "sync"

// Hold is a call a fake has received and keeps waiting, unanswered and
// not yet applied, until Release: a test can stop or kill the caller
// mid-write. A held call is applied once released, whether its caller is
// still there or not, as a request a real service has received would be.
type Hold struct {
	reached, release, applied chan struct{}
	releaseOnce, appliedOnce  sync.Once
}

// NewHold returns a hold for a fake to queue.
func NewHold() *Hold {
	return &Hold{reached: make(chan struct{}), release: make(chan struct{}), applied: make(chan struct{})}
}

// Reached is closed when the held call arrives.
func (h *Hold) Reached() <-chan struct{} { return h.reached }

// Release lets the held call go on (once; later calls do nothing).
func (h *Hold) Release() { h.releaseOnce.Do(func() { close(h.release) }) }

// Applied is closed once the released call has been applied (or refused)
// by the fake: what a test waits for instead of polling.
func (h *Hold) Applied() <-chan struct{} { return h.applied }

// Wait is the fake's side: the call has arrived; it waits for Release.
func (h *Hold) Wait() {
	close(h.reached)
	<-h.release
}

// Done is the fake's side: the held call is applied.
func (h *Hold) Done() { h.appliedOnce.Do(func() { close(h.applied) }) }
