package callbacks

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"
)

// RunSocketMode receives interactions and slash commands over a Socket
// Mode connection until ctx ends, feeding them to the same logic as the
// HTTP endpoints. The connection is authenticated by the app-level token,
// which replaces the signature check; people are checked all the same.
func (h *Handler) RunSocketMode(ctx context.Context, appToken string) error {
	if appToken == "" {
		return errors.New("socket mode: no app-level token")
	}
	api := slack.New(h.token, slack.OptionAPIURL(h.apiURL), slack.OptionHTTPClient(h.hc),
		slack.OptionAppLevelToken(appToken))
	sm := socketmode.New(api, socketmode.OptionLog(slog.NewLogLogger(h.logger.Handler(), slog.LevelDebug)))
	errc := make(chan error, 1)
	go func() { errc <- sm.RunContext(ctx) }()
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-errc:
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("socket mode: %s", h.redact.Redact(fmt.Sprint(err)))
		case evt := <-sm.Events:
			h.socketEvent(ctx, sm, evt)
		}
	}
}

func (h *Handler) socketEvent(ctx context.Context, sm *socketmode.Client, evt socketmode.Event) {
	switch evt.Type {
	case socketmode.EventTypeConnected:
		h.logger.InfoContext(ctx, "slack socket mode connected")
	case socketmode.EventTypeInvalidAuth:
		h.logger.ErrorContext(ctx, "slack socket mode: invalid app token (SLACK_APP_TOKEN)")
	case socketmode.EventTypeConnectionError:
		h.logger.WarnContext(ctx, "slack socket mode connection error: reconnecting", "error", h.redact.Redact(fmt.Sprint(evt.Data)))
	case socketmode.EventTypeInteractive:
		ic, ok := evt.Data.(slack.InteractionCallback)
		if !ok || evt.Request == nil {
			return
		}
		req := *evt.Request
		if req.RetryAttempt > 0 {
			h.logger.InfoContext(ctx, "slack retry", "retry_num", req.RetryAttempt, "reason", req.RetryReason)
		}
		// Each envelope is handled on its own, so one slow click does
		// not hold up the others' 3 s deadline.
		go func() { h.ack(sm, req, h.Interaction(ctx, &ic)) }()
	case socketmode.EventTypeSlashCommand:
		cmd, ok := evt.Data.(slack.SlashCommand)
		if !ok || evt.Request == nil {
			return
		}
		req := *evt.Request
		go func() { h.ack(sm, req, h.Command(ctx, cmd)) }()
	}
}

func (h *Handler) ack(sm *socketmode.Client, req socketmode.Request, payload any) {
	var err error
	if payload == nil {
		err = sm.Ack(req)
	} else {
		err = sm.Ack(req, payload)
	}
	if err != nil {
		h.logger.Warn("slack socket mode ack failed", "envelope_id", req.EnvelopeID, "error", err)
	}
}
