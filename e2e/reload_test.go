package e2e

import (
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/signoff/signoff/config"
	"github.com/signoff/signoff/internal/testenv"
)

// A config reload reaches both halves: the gateway validates new requests
// with the reloaded action settings, and the worker is rebuilt from them
// and runs the action (the old worker would refuse the same URL).
func TestReloadReachesGatewayAndWorker(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		calls.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(receiver.Close)

	var allowed atomic.Bool
	s := testenv.Start(t, testenv.Options{Mutate: func(c *config.Loaded) {
		c.Actions.Webhook.AllowedURLPrefixes = []string{"https://deploy.example.com/"}
		if allowed.Load() {
			c.Actions.Webhook.AllowedURLPrefixes = []string{receiver.URL + "/"}
		}
	}})
	create := createBody("deploy after reload", "staging", map[string]any{"type": "webhook", "url": receiver.URL + "/hook"})

	code, body := s.Do(http.MethodPost, "/v1/approvals", "dev-alice", create)
	require.Equal(t, http.StatusBadRequest, code, "a URL the config in force does not allow: %s", body)

	allowed.Store(true)
	s.Reload()

	got := approve(t, s, create, "dev-bob")
	require.True(t, got.GetActionResult().GetSuccess(), "the rebuilt worker ran the action: %v", got.GetActionResult())
	require.Equal(t, int32(1), calls.Load())
}
