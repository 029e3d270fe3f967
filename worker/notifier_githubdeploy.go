package worker

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/signoff/signoff/activities"
	ghdeploy "github.com/signoff/signoff/channel/github/notifier"
	"github.com/signoff/signoff/config"
)

// newGitHubDeployNotifier builds the github_deployments notifier from the
// github_app section; the app's private key comes from sec (the variable
// github_app.private_key_env names), read from the environment at start,
// never from the config file.
func newGitHubDeployNotifier(cfg *config.Loaded, sec Secrets, logger *slog.Logger) (activities.Notifier, error) {
	gc := cfg.GitHubApp.WithDefaults()
	if !gc.Enabled() {
		return nil, errors.New("github_app.app_id is not set: the notifier reports to a GitHub App's deployment protection rule")
	}
	if err := gc.Validate(cfg.Directory); err != nil {
		return nil, err
	}
	pem := sec.Env.Get(gc.PrivateKeyEnv)
	if pem == "" {
		return nil, fmt.Errorf("%s is not set: the GitHub App's private key signs its JWTs", gc.PrivateKeyEnv)
	}
	key, err := ghdeploy.ParsePrivateKey(pem)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", gc.PrivateKeyEnv, err)
	}
	return ghdeploy.New(ghdeploy.Options{
		BaseURL: gc.BaseURL, AppID: gc.AppID, PrivateKey: key, Requester: gc.Requester,
		PublicURL: cfg.Gateway.PublicURL, Client: &http.Client{Timeout: 30 * time.Second},
		Logger: logger.With("notifier", ghdeploy.Name),
	})
}
