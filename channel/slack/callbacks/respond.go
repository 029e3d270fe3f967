package callbacks

import (
	"context"
	"net/url"
	"strings"
	"time"

	"github.com/slack-go/slack"

	"github.com/signoff/signoff/channel/slack/slackmsg"
)

// responseURLAllowed accepts Slack's own https hosts, or the configured
// API URL's host (a test fake): a response_url is taken from a signed
// payload, but the gateway still never posts to an arbitrary address.
func responseURLAllowed(raw, apiURL string) bool {
	u, err := url.Parse(raw)
	if err != nil || u.User != nil {
		return false
	}
	host := strings.ToLower(u.Hostname())
	if u.Scheme == "https" && (host == "slack.com" || strings.HasSuffix(host, ".slack.com")) {
		return true
	}
	api, err := url.Parse(apiURL)
	return err == nil && api.Host != "" && u.Scheme == api.Scheme && strings.EqualFold(u.Host, api.Host)
}

// tell shows text to the clicker only: through the interaction's
// response_url when there is one, else as an ephemeral message in the
// channel of the click. Failures are logged; nothing else can be done.
func (h *Handler) tell(ctx context.Context, c click, text string) {
	h.reply(ctx, c.ResponseURL, c.Channel, c.SlackUser, &slack.WebhookMessage{Text: text})
}

// reply sends msg ephemerally to user, by response_url or postEphemeral.
func (h *Handler) reply(ctx context.Context, responseURL, channel, user string, msg *slack.WebhookMessage) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	var err error
	switch {
	case responseURL != "" && responseURLAllowed(responseURL, h.apiURL):
		msg.ResponseType = slack.ResponseTypeEphemeral
		msg.ReplaceOriginal = false
		err = slackmsg.Call(ctx, nil, func(ctx context.Context) error {
			return slack.PostWebhookCustomHTTPContext(ctx, responseURL, h.hc, msg)
		})
	case channel != "" && user != "":
		opts := []slack.MsgOption{slack.MsgOptionText(msg.Text, false)}
		if msg.Blocks != nil {
			opts = append(opts, slack.MsgOptionBlocks(msg.Blocks.BlockSet...))
		}
		err = slackmsg.Call(ctx, nil, func(ctx context.Context) error {
			_, err := h.api.PostEphemeralContext(ctx, channel, user, opts...)
			return err
		})
	default:
		h.logger.WarnContext(ctx, "slack reply dropped: no response_url and no channel", "user", user)
		return
	}
	if err != nil {
		_, why := slackmsg.Classify(err)
		h.logger.WarnContext(ctx, "slack reply failed", "user", user, "error", h.redact.Redact(why))
	}
}
