package config

import (
	"strings"
	"testing"
	"time"
)

func TestReconcileInterval(t *testing.T) {
	c, err := Parse(nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Worker.ReconcileInterval.Std(); got != 2*time.Minute {
		t.Errorf("default reconcile_interval %s, want 2m", got)
	}
	c, err = Parse([]byte("worker: {reconcile_interval: 10s}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Worker.ReconcileInterval.Std(); got != 10*time.Second {
		t.Errorf("reconcile_interval %s, want 10s", got)
	}
	for _, src := range []string{"worker: {reconcile_interval: 9s}\n", "worker: {reconcile_interval: -1m}\n"} {
		_, err := Parse([]byte(src))
		if err == nil || !strings.Contains(err.Error(), "worker.reconcile_interval") {
			t.Errorf("%q: want a reconcile_interval error, got %v", src, err)
		}
	}
}
