package gateway

import (
	"fmt"
	"net/http"
	"time"

	"github.com/signoff/signoff/channel/teams/botauth"
	teamscallbacks "github.com/signoff/signoff/channel/teams/callbacks"
	"github.com/signoff/signoff/channel/teams/teamsmsg"
	"github.com/signoff/signoff/config"
	"github.com/signoff/signoff/config/identity"
)

// mountTeams serves the Teams bot's messaging endpoint (POST
// /teams/messages) when teams is configured. The bot's client secret, for
// the members API (people mapped by email), is looked up in the
// environment read at start (Secrets.Env); without it, people are mapped
// by Entra object ID only.
func mountTeams(mux *http.ServeMux, d Deps) error {
	tc := d.Config.Teams.WithDefaults()
	if !tc.Enabled() {
		return nil
	}
	if err := tc.Validate(); err != nil {
		return fmt.Errorf("teams endpoint: %w", err)
	}
	verifier, err := botauth.New(botauth.Options{AppID: tc.AppID, OpenIDMetadataURL: tc.OpenIDMetadataURL, Logger: d.Logger})
	if err != nil {
		return fmt.Errorf("teams endpoint: %w", err)
	}
	var conn *teamsmsg.Connector
	if password := d.Secrets.Env.Get(tc.AppPasswordEnv); password != "" {
		conn, err = teamsmsg.NewConnector(teamsmsg.ConnectorOptions{
			AppID: tc.AppID, AppPassword: password, TokenURL: tc.TokenURL, Scope: config.TeamsScope,
			ServiceURL: tc.ServiceURL, HTTPClient: &http.Client{Timeout: 5 * time.Second},
		})
		if err != nil {
			return fmt.Errorf("teams endpoint: %w", err)
		}
	}
	live := d.Live
	h, err := teamscallbacks.New(teamscallbacks.Options{
		// The service URL, token URL and app ID are read once, with the
		// verifier and connector built from them.
		Config: func() config.Teams {
			t := live.Get().Teams.WithDefaults()
			t.AppID, t.ServiceURL, t.TokenURL, t.OpenIDMetadataURL = tc.AppID, tc.ServiceURL, tc.TokenURL, tc.OpenIDMetadataURL
			return t
		},
		Directory:   func() *identity.Directory { return live.Get().Directory },
		Verifier:    verifier,
		Connector:   conn,
		Approvals:   d.Approvals,
		Proofs:      d.Proofs,
		People:      d.People,
		Memberships: d.Memberships,
		PublicURL:   d.Config.Gateway.PublicURL,
		Logger:      d.Logger,
	})
	if err != nil {
		return err
	}
	mux.Handle("POST "+teamscallbacks.PathMessages, h)
	d.Logger.Info("teams endpoint ready", "path", teamscallbacks.PathMessages, "members_api", conn != nil)
	return nil
}
