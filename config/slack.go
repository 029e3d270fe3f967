package config

// Slack configures the Slack notifier and callbacks. Tokens and the signing
// secret come from the environment (SLACK_BOT_TOKEN, SLACK_SIGNING_SECRET,
// SLACK_APP_TOKEN), never from this file.
type Slack struct{}
