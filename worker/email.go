package worker

import (
	"errors"
	"log/slog"

	"github.com/signoff/signoff/activities"
	emailnotify "github.com/signoff/signoff/activities/email"
	"github.com/signoff/signoff/config"
	"github.com/signoff/signoff/emailtoken"
)

func init() { RegisterNotifier(emailnotify.Name, newEmailNotifier) }

// newEmailNotifier builds the email notifier; the relay's address and
// credentials (SMTP_*) and the link key (SIGNOFF_EMAIL_LINK_KEY) come from
// the environment, never from the config file.
func newEmailNotifier(cfg *config.Loaded, logger *slog.Logger) (activities.Notifier, error) {
	sec, err := cfg.Email.EmailSecretsFromEnv()
	if err != nil {
		return nil, err
	}
	keys, ok, err := emailtoken.FromEnv()
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, errors.New(config.EnvEmailLinkKey + " is not set: email links cannot be signed")
	}
	return emailnotify.New(emailnotify.Options{
		Config:    cfg.Email,
		Secrets:   sec,
		Keys:      keys,
		PublicURL: cfg.Gateway.PublicURL,
		Directory: cfg.Directory,
		Logger:    logger.With("notifier", emailnotify.Name),
	})
}
