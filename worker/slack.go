package worker

import (
	"log/slog"

	"github.com/signoff/signoff/activities"
	slacknotify "github.com/signoff/signoff/channel/slack/notifier"
	"github.com/signoff/signoff/config"
)

// newSlackNotifier builds the Slack notifier; the bot token (and the
// SLACK_API_URL override) come from sec, read from the environment at
// start, never from the config file.
func newSlackNotifier(cfg *config.Loaded, sec Secrets, logger *slog.Logger) (activities.Notifier, error) {
	if err := cfg.Slack.ValidateNotifier(sec.Slack); err != nil {
		return nil, err
	}
	return slacknotify.New(slacknotify.Options{
		Config:    cfg.Slack.WithOverrides(sec.Slack),
		BotToken:  sec.Slack.BotToken,
		PublicURL: cfg.Gateway.PublicURL,
		Directory: cfg.Directory,
		Logger:    logger.With("notifier", slacknotify.Name),
	})
}
