package worker

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/signoff/signoff/activities"
	teamsnotify "github.com/signoff/signoff/channel/teams/notifier"
	"github.com/signoff/signoff/channel/teams/teamsmsg"
	"github.com/signoff/signoff/config"
)

// newTeamsNotifier builds the Teams notifier from the teams section; the
// bot's client secret comes from sec (the variable teams.app_password_env
// names), read at start, never from the config file.
func newTeamsNotifier(cfg *config.Loaded, sec Secrets, logger *slog.Logger) (activities.Notifier, error) {
	tc := cfg.Teams.WithDefaults()
	if !tc.Enabled() {
		return nil, errors.New("teams.app_id is not set: the notifier posts as a Teams bot")
	}
	if err := tc.Validate(); err != nil {
		return nil, err
	}
	password := sec.Env.Get(tc.AppPasswordEnv)
	if password == "" {
		return nil, fmt.Errorf("%s is not set: the bot's client secret gets its Bot Connector tokens", tc.AppPasswordEnv)
	}
	conn, err := teamsmsg.NewConnector(teamsmsg.ConnectorOptions{
		AppID: tc.AppID, AppPassword: password, TokenURL: tc.TokenURL, Scope: config.TeamsScope,
		ServiceURL: tc.ServiceURL, HTTPClient: &http.Client{Timeout: 15 * time.Second},
	})
	if err != nil {
		return nil, err
	}
	return teamsnotify.New(teamsnotify.Options{
		Config: tc, Connector: conn, Directory: cfg.Directory, PublicURL: cfg.Gateway.PublicURL,
		Logger: logger.With("notifier", teamsnotify.Name),
	})
}
