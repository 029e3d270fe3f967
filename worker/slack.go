package worker

import (
	"log/slog"

	"github.com/signoff/signoff/activities"
	slacknotify "github.com/signoff/signoff/activities/slack"
	"github.com/signoff/signoff/config"
)

func init() { RegisterNotifier(slacknotify.Name, newSlackNotifier) }

// newSlackNotifier builds the Slack notifier; the bot token comes from
// SLACK_BOT_TOKEN, never from the config file.
func newSlackNotifier(cfg *config.Loaded, logger *slog.Logger) (activities.Notifier, error) {
	sec := config.SlackSecretsFromEnv()
	if err := cfg.Slack.ValidateNotifier(sec); err != nil {
		return nil, err
	}
	return slacknotify.New(slacknotify.Options{
		Config:    cfg.Slack,
		BotToken:  sec.BotToken,
		PublicURL: cfg.Gateway.PublicURL,
		Directory: cfg.Directory,
		Logger:    logger.With("notifier", slacknotify.Name),
	})
}
