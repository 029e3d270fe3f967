package callbacks

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signoff/signoff/approval"
	"github.com/signoff/signoff/channel/slack/slackfake"
)

// TestSocketMode: clicks and commands over a Socket Mode connection go
// through the same checks and delivery as the Request URLs, and each
// envelope is acknowledged.
func TestSocketMode(t *testing.T) {
	hs := newHarness(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- hs.h.RunSocketMode(ctx, hs.fake.AppToken()) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})
	require.True(t, hs.fake.Wait(10*time.Second, hs.fake.SocketConnected), "socket mode never connected")

	acked := func(id string) *slackfake.Ack {
		var got *slackfake.Ack
		require.True(t, hs.fake.Wait(10*time.Second, func() bool {
			i := slices.IndexFunc(hs.fake.SocketAcks(), func(a slackfake.Ack) bool { return a.EnvelopeID == id })
			if i >= 0 {
				got = &hs.fake.SocketAcks()[i]
			}
			return got != nil
		}), "envelope %s not acknowledged", id)
		return got
	}

	st := testApproval(approvalA, approval.Input{})
	c := hs.click(st, "U0BOB", "Approve", prodCh)
	id, err := hs.fake.SocketSend("interactive", slackfake.BlockActions(c), 0)
	require.NoError(t, err)
	acked(id)
	assert.Contains(t, hs.responseTo(c.ResponseURL).Text, "✅ Counted")

	stranger := hs.click(st, "U0EVE", "Approve", prodCh)
	id, err = hs.fake.SocketSend("interactive", slackfake.BlockActions(stranger), 0)
	require.NoError(t, err)
	acked(id)
	assert.Contains(t, hs.responseTo(stranger.ResponseURL).Text, RefusedUnknownUser)

	id, err = hs.fake.SocketSend("slash_commands", slackfake.Command{TeamID: team, UserID: "U0BOB", ChannelID: prodCh, Text: "help"}.JSON(), 0)
	require.NoError(t, err)
	var reply struct {
		Text         string `json:"text"`
		ResponseType string `json:"response_type"`
	}
	require.NoError(t, json.Unmarshal(acked(id).Payload, &reply))
	assert.Contains(t, reply.Text, "/signoff list")
	assert.Equal(t, "ephemeral", reply.ResponseType)

	hs.h.Idle()
	as := hs.attempts(approvalA)
	require.Len(t, as, 2)
	assert.True(t, as[0].Accepted)
	assert.Equal(t, "slack:U0EVE", as[1].User)
	assert.Equal(t, RefusedUnknownUser, as[1].RefusalReason)
}
