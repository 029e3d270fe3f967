package config

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestTemporalServerHistoryCacheSize(t *testing.T) {
	c := &Config{Temporal: Temporal{Address: "127.0.0.1:7233"}}

	ts, err := TemporalServer{}.Resolved(c)
	require.NoError(t, err)
	assert.Zero(t, ts.HistoryCacheSize, "0 leaves the server's default in force")

	ts, err = TemporalServer{HistoryCacheSize: 5000}.Resolved(c)
	require.NoError(t, err)
	assert.Equal(t, 5000, ts.HistoryCacheSize)

	_, err = TemporalServer{HistoryCacheSize: -1}.Resolved(c)
	require.ErrorContains(t, err, "temporal_server.history_cache_size -1")
}
