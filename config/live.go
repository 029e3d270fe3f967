package config

import (
	"errors"
	"sync"
)

// Live is the config in force, swapped whole on reload (SIGHUP). The
// gateway reads it per request: users and policies take effect for new
// requests, while approvals in flight keep the policy snapshot they were
// created with. The worker is rebuilt from it on every change (see
// Changed). Listeners, the Temporal connection and secrets need a restart.
type Live struct {
	mu      sync.Mutex
	cur     *Loaded
	load    func() (*Loaded, error)
	changed chan struct{}
}

// NewLive holds l; load reads the config again on Reload (nil: not
// reloadable).
func NewLive(l *Loaded, load func() (*Loaded, error)) *Live {
	return &Live{cur: l, load: load, changed: make(chan struct{})}
}

// Get returns the config in force.
func (l *Live) Get() *Loaded {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.cur
}

// Changed is closed when the config in force is next replaced; call it
// again after that for the following change.
func (l *Live) Changed() <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.changed
}

// Reload reads the config again; a config with mistakes is refused and the
// one in force stays.
func (l *Live) Reload() (*Loaded, error) {
	if l.load == nil {
		return nil, errors.New("config was not loaded from a file")
	}
	next, err := l.load()
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.cur = next
	close(l.changed)
	l.changed = make(chan struct{})
	return next, nil
}
