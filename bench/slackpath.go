package bench

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/signoff/signoff/channel/slack/slackfake"
)

// SlackWatch follows a fake Slack: which approval each prompt belongs to,
// when it was posted, and when it was updated with the outcome.
type SlackWatch struct {
	F        *slackfake.Server
	Prompted *Arrivals
	Updated  *Arrivals
	mu       sync.Mutex
	byID     map[string]slackfake.Message
	byTS     map[string]string
}

// WatchSlack starts following f until ctx ends.
func WatchSlack(ctx context.Context, f *slackfake.Server) *SlackWatch {
	w := &SlackWatch{F: f, Prompted: NewArrivals(), Updated: NewArrivals(), byID: map[string]slackfake.Message{}, byTS: map[string]string{}}
	go w.run(ctx)
	return w
}

func (w *SlackWatch) run(ctx context.Context) {
	seenM, seenU := 0, 0
	for ctx.Err() == nil {
		w.F.Wait(time.Second, func() bool { return len(w.F.Messages()) > seenM || len(w.F.Updates()) > seenU })
		msgs := w.F.Messages()
		for _, m := range msgs[seenM:] {
			if m.ThreadTS != "" {
				continue
			}
			c, ok := slackfake.Find(m.Blocks, "Approve")
			if !ok {
				continue
			}
			parts := strings.Split(c.ActionID, ":")
			if len(parts) < 3 {
				continue
			}
			id := parts[2]
			w.mu.Lock()
			w.byID[id] = m
			w.byTS[m.TS] = id
			w.mu.Unlock()
			w.Prompted.Arrive(id)
		}
		seenM = len(msgs)
		ups := w.F.Updates()
		for _, u := range ups[seenU:] {
			w.mu.Lock()
			id := w.byTS[u.TS]
			w.mu.Unlock()
			if id != "" {
				w.Updated.Arrive(id)
			}
		}
		seenU = len(ups)
	}
}

// Clicker returns a Clicker that posts a signed block_actions payload, as
// Slack does, for user on the approval's prompt.
func (w *SlackWatch) Clicker(gatewayURL, secret, user string, client *http.Client) Clicker {
	return func(ctx context.Context, id string) (time.Duration, error) {
		w.mu.Lock()
		m, ok := w.byID[id]
		w.mu.Unlock()
		if !ok {
			return 0, fmt.Errorf("no prompt for %s", id)
		}
		approve, ok := slackfake.Find(m.Blocks, "Approve")
		if !ok {
			return 0, fmt.Errorf("no Approve button for %s", id)
		}
		click := slackfake.Click{TeamID: w.F.TeamID(), UserID: user, ChannelID: m.Channel, MessageTS: m.TS,
			Blocks: m.Blocks, ResponseURL: w.F.ResponseURL(), Control: approve}
		req, err := slackfake.Request(gatewayURL+"/slack/interactions", secret, slackfake.InteractionBody(slackfake.BlockActions(click)))
		if err != nil {
			return 0, err
		}
		req = req.WithContext(ctx)
		start := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			return 0, err
		}
		ack := time.Since(start)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return ack, fmt.Errorf("click on %s: HTTP %d", id, resp.StatusCode)
		}
		return ack, nil
	}
}

// ChannelPosts counts prompts posted to a channel ID.
func (w *SlackWatch) ChannelPosts(channelID string) int {
	n := 0
	for _, m := range w.F.Messages() {
		if m.Channel == channelID && m.ThreadTS == "" {
			n++
		}
	}
	return n
}
