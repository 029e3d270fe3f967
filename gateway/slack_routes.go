package gateway

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"time"

	slackcallbacks "github.com/signoff/signoff/channel/slack/callbacks"
	"github.com/signoff/signoff/config"
	"github.com/signoff/signoff/config/identity"
)

// mountSlack serves Slack's callbacks when the slack notifier is
// configured: the HTTP Request URLs, or a Socket Mode connection.
func mountSlack(mux *http.ServeMux, d Deps) error {
	if !slices.Contains(d.Config.Notifiers, "slack") {
		return nil
	}
	sec := d.Secrets.Slack
	if err := d.Config.Slack.ValidateCallbacks(sec); err != nil {
		return fmt.Errorf("slack callbacks: %w", err)
	}
	live := d.Live
	o := slackcallbacks.Options{
		Config:      func() config.Slack { return live.Get().Slack.WithOverrides(sec) },
		Secrets:     sec,
		Directory:   func() *identity.Directory { return live.Get().Directory },
		Approvals:   d.Approvals,
		Logger:      d.Logger,
		PublicURL:   d.Config.Gateway.PublicURL,
		Proofs:      d.Proofs,
		People:      d.People,
		Memberships: d.Memberships,
	}
	if d.Service != nil {
		// /signoff extend starts the extension as the API does.
		o.Extend = d.Service.Extend
	}
	h, err := slackcallbacks.New(o)
	if err != nil {
		return err
	}
	if sec.SigningSecret != "" {
		h.Mount(mux)
	}
	if d.Go == nil {
		return fmt.Errorf("slack callbacks: the gateway runs no background tasks")
	}
	d.Go(func(ctx context.Context) error {
		if d.Config.Slack.SocketMode {
			if err := h.RunSocketMode(ctx, sec.AppToken); err != nil {
				return err
			}
		}
		<-ctx.Done()
		// Let clicks already answered finish their delivery.
		drain, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		h.Close(drain)
		return nil
	})
	d.Logger.Info("slack callbacks ready", "http", sec.SigningSecret != "", "socket_mode", d.Config.Slack.SocketMode)
	return nil
}
