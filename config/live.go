package config

import (
	"fmt"
	"sync/atomic"
)

// Live is the config in force, swapped whole on reload (SIGHUP). Users and
// policies take effect for new requests; approvals in flight keep the policy
// snapshot they were created with. Listeners and secrets need a restart.
type Live struct {
	cur  atomic.Pointer[Loaded]
	path string
}

// NewLive holds l, reloadable from path (empty: not reloadable).
func NewLive(l *Loaded, path string) *Live {
	lv := &Live{path: path}
	lv.cur.Store(l)
	return lv
}

// Get returns the config in force.
func (l *Live) Get() *Loaded { return l.cur.Load() }

// Reload reads the file again; a config with mistakes is refused and the
// one in force stays.
func (l *Live) Reload() (*Loaded, error) {
	if l.path == "" {
		return nil, fmt.Errorf("config was not loaded from a file")
	}
	next, err := Load(l.path)
	if err != nil {
		return nil, err
	}
	l.cur.Store(next)
	return next, nil
}
