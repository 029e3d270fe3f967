package worker

import (
	"errors"
	"log/slog"

	"github.com/signoff/signoff/activities"
	emailnotify "github.com/signoff/signoff/channel/email/notifier"
	"github.com/signoff/signoff/config"
)

// errNoEmailLinkKey is why the email notifier is not built without a link
// key.
var errNoEmailLinkKey = errors.New(config.EnvEmailLinkKey + " is not set: email links cannot be signed")

// newEmailNotifier builds the email notifier; the relay's address and
// credentials (SMTP_*) and the link key (SIGNOFF_EMAIL_LINK_KEY) come from
// sec, read from the environment at start, never from the config file.
func newEmailNotifier(cfg *config.Loaded, sec Secrets, logger *slog.Logger) (activities.Notifier, error) {
	if sec.EmailErr != nil {
		return nil, sec.EmailErr
	}
	relay := cfg.Email.WithDefaultPort(sec.Email)
	if sec.EmailLinks == nil {
		// With the rest of what is wrong, so one start lists it all.
		return nil, errors.Join(cfg.Email.ValidateNotifier(relay), errNoEmailLinkKey)
	}
	return emailnotify.New(emailnotify.Options{
		Config:    cfg.Email,
		Secrets:   relay,
		Keys:      sec.EmailLinks,
		PublicURL: cfg.Gateway.PublicURL,
		Directory: cfg.Directory,
		Logger:    logger.With("notifier", emailnotify.Name),
	})
}
