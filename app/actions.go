package app

import (
	"errors"
	"sync"

	"github.com/signoff/signoff/activities/action"
	"github.com/signoff/signoff/intake"

	"github.com/signoff/signoff/approval"
	"github.com/signoff/signoff/config"
	"github.com/signoff/signoff/worker"
)

// LiveActions validates actions against the config in force: after a
// reload, the gateway checks new requests with the new action settings
// (a webhook allow-list, say), as the rebuilt worker runs them.
type LiveActions struct {
	live *config.Live
	env  func(string) (string, bool)
	mu   sync.Mutex
	cfg  *config.Loaded
	// validate is the registry built for cfg, or its build error.
	validate func(approval.Action) error
	grants   func(string) bool
	secrets  *action.SecretChange
	err      error
}

// NewLiveActions returns a validator following live; env is the
// environment read at start (Settings.Env), for the actions' secrets.
func NewLiveActions(live *config.Live, env func(string) (string, bool)) *LiveActions {
	return &LiveActions{live: live, env: env}
}

// Validate checks a with the registry of the config in force.
func (l *LiveActions) Validate(a approval.Action) error {
	validate, _ := l.current()
	return validate(a)
}

// Grants reports whether typ grants access for a while.
func (l *LiveActions) Grants(typ string) bool {
	_, grants := l.current()
	return grants(typ)
}

// SecretProposer is the secret_change action of the config in force.
func (l *LiveActions) SecretProposer() (intake.SecretProposer, error) {
	l.current()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.secrets == nil {
		if l.err != nil {
			return nil, l.err
		}
		return nil, errors.New("secret changes are not configured (actions.secrets)")
	}
	return l.secrets, nil
}

// current is the registry of the config in force, built once per config.
func (l *LiveActions) current() (func(approval.Action) error, func(string) bool) {
	cfg := l.live.Get()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cfg != cfg {
		reg, err := worker.NewActions(cfg, l.env)
		l.cfg, l.err, l.secrets = cfg, err, nil
		if err != nil {
			l.validate, l.grants = func(approval.Action) error { return err }, func(string) bool { return false }
		} else {
			l.validate, l.grants = reg.Validate, reg.Grants
			if run, ok := reg.Lookup(action.SecretChangeType); ok {
				l.secrets, _ = run.(*action.SecretChange)
			}
		}
	}
	return l.validate, l.grants
}
