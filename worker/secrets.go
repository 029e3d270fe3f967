package worker

import (
	"github.com/signoff/signoff/channel/email/linktoken"
	"github.com/signoff/signoff/config"
)

// Secrets are what the worker needs from the environment. The composition
// root reads them once, at start, and hands them down: nothing in the
// worker reads the environment itself.
type Secrets struct {
	// Slack holds the Slack notifier's bot token and the API URL override.
	Slack config.SlackSecrets
	// Email is the SMTP relay (its port 0 when SMTP_PORT is unset: the
	// config's TLS mode picks it).
	Email config.EmailSecrets
	// EmailErr is why the relay settings could not be read (a malformed
	// SMTP_PORT); it fails the email notifier, and nothing else.
	EmailErr error
	// EmailLinks signs the links in emails; nil when
	// SIGNOFF_EMAIL_LINK_KEY is unset, which the email notifier refuses.
	EmailLinks *linktoken.Keys
	// Env looks up the variables the config names: the webhook secret,
	// the GitHub token, ${NAME} in trigger database URLs, and every secret
	// whose value is scrubbed from action outputs. nil finds nothing.
	Env config.Env
}
