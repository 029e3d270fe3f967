package config

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/signoff/signoff/policy"
)

// Environment variables holding Slack secrets and the API override. Secrets
// are never read from the config file.
const (
	EnvSlackBotToken      = "SLACK_BOT_TOKEN"
	EnvSlackSigningSecret = "SLACK_SIGNING_SECRET"
	EnvSlackAppToken      = "SLACK_APP_TOKEN"
	EnvSlackAPIURL        = "SLACK_API_URL"
)

// DefaultSlackAPIURL is Slack's Web API base URL.
const DefaultSlackAPIURL = "https://slack.com/api/"

// Slack configures the Slack notifier and callbacks. Tokens and the signing
// secret come from the environment (SLACK_BOT_TOKEN, SLACK_SIGNING_SECRET,
// SLACK_APP_TOKEN), never from this file: see SlackSecrets.
type Slack struct {
	// TeamID is the workspace (T…) whose people may decide; clicks and
	// commands from any other team are refused.
	TeamID string `yaml:"team_id"`
	// DefaultChannel receives prompts of policies without a channel of their
	// own: a channel ID (C…) or a name (#approvals).
	DefaultChannel string `yaml:"default_channel"`
	// PolicyChannels maps a policy name to the channel its prompts go to,
	// instead of the default channel.
	PolicyChannels map[string]string `yaml:"policy_channels"`
	// DMApprovers also sends each pending approver a direct message.
	DMApprovers bool `yaml:"dm_approvers"`
	// AllowedChannels are the channel IDs decisions may come from. Empty
	// means any channel where this approval's prompt was posted. A direct
	// message the bot sent to an approver is always allowed for that
	// approver.
	AllowedChannels []string `yaml:"allowed_channels"`
	// Require2FA refuses decisions from people without two-factor
	// authentication (users.info has_2fa, visible to admin-installed apps).
	Require2FA bool `yaml:"require_2fa"`
	// SocketMode receives clicks and commands over a Socket Mode connection
	// (SLACK_APP_TOKEN) instead of the HTTP Request URLs.
	SocketMode bool `yaml:"socket_mode"`
	// APIURL overrides the Web API base URL; SLACK_API_URL overrides both
	// (WithOverrides).
	APIURL string `yaml:"api_url"`
	// IdentityCacheTTL is how long a users.info answer is trusted (default 5m).
	IdentityCacheTTL policy.Duration `yaml:"identity_cache_ttl"`
}

// SlackSecrets are read from the environment at start-up, by the
// composition root (SlackSecretsFrom).
type SlackSecrets struct {
	BotToken      string
	SigningSecret string
	AppToken      string
	// APIURL (SLACK_API_URL, not a secret) overrides the config's api_url.
	APIURL string
}

// String never prints a secret, so a logged struct leaks nothing.
func (s SlackSecrets) String() string {
	set := func(v string) string {
		if v == "" {
			return "unset"
		}
		return "set"
	}
	return fmt.Sprintf("SlackSecrets{bot_token:%s signing_secret:%s app_token:%s}",
		set(s.BotToken), set(s.SigningSecret), set(s.AppToken))
}

// GoString keeps %#v as quiet as %v.
func (s SlackSecrets) GoString() string { return s.String() }

// SlackSecretsFrom reads the Slack secrets and the API URL override
// through getenv (the process environment, or a snapshot of it).
func SlackSecretsFrom(getenv func(string) string) SlackSecrets {
	return SlackSecrets{
		BotToken:      strings.TrimSpace(getenv(EnvSlackBotToken)),
		SigningSecret: strings.TrimSpace(getenv(EnvSlackSigningSecret)),
		AppToken:      strings.TrimSpace(getenv(EnvSlackAppToken)),
		APIURL:        strings.TrimSpace(getenv(EnvSlackAPIURL)),
	}
}

// WithOverrides is s with what the environment overrides: SLACK_API_URL,
// when set, in place of api_url.
func (s Slack) WithOverrides(sec SlackSecrets) Slack {
	if sec.APIURL != "" {
		s.APIURL = sec.APIURL
	}
	return s
}

// ResolvedAPIURL is the Web API base URL, always ending in "/": api_url
// (after WithOverrides: SLACK_API_URL first), else Slack's.
func (s Slack) ResolvedAPIURL() string {
	u := strings.TrimSpace(s.APIURL)
	if u == "" {
		u = DefaultSlackAPIURL
	}
	if !strings.HasSuffix(u, "/") {
		u += "/"
	}
	return u
}

// CacheTTL is the identity cache's lifetime.
func (s Slack) CacheTTL() time.Duration {
	if s.IdentityCacheTTL > 0 {
		return time.Duration(s.IdentityCacheTTL)
	}
	return 5 * time.Minute
}

// ChannelFor is where a policy's prompts go: its own channel, else the
// default one, else none.
func (s Slack) ChannelFor(policyName string) string {
	if c := s.PolicyChannels[policyName]; c != "" {
		return c
	}
	return s.DefaultChannel
}

var (
	slackTeamID    = regexp.MustCompile(`^[TE][A-Z0-9]{2,20}$`)
	slackChannelID = regexp.MustCompile(`^[CGD][A-Z0-9]{2,20}$`)
	slackChannel   = regexp.MustCompile(`^(#?[a-z0-9][a-z0-9._-]{0,79}|[CG][A-Z0-9]{2,20})$`)
)

// ValidateNotifier checks what the notifier needs: a bot token, somewhere to
// post and a usable API URL.
func (s Slack) ValidateNotifier(sec SlackSecrets) error {
	var errs []error
	if sec.BotToken == "" {
		errs = append(errs, fmt.Errorf("%s is not set", EnvSlackBotToken))
	}
	if s.DefaultChannel == "" && len(s.PolicyChannels) == 0 && !s.DMApprovers {
		errs = append(errs, errors.New("slack: set default_channel, policy_channels or dm_approvers, or prompts go nowhere"))
	}
	for _, c := range append([]string{s.DefaultChannel}, mapValues(s.PolicyChannels)...) {
		if c != "" && !slackChannel.MatchString(c) {
			errs = append(errs, fmt.Errorf("slack: channel %q must be a channel ID (C…) or a name like #approvals", c))
		}
	}
	if err := s.WithOverrides(sec).validateAPIURL(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// ValidateCallbacks checks what the gateway's Slack endpoints need: the
// workspace to accept, the signing secret (HTTP) or the app token (Socket
// Mode), and channel IDs.
func (s Slack) ValidateCallbacks(sec SlackSecrets) error {
	var errs []error
	if !slackTeamID.MatchString(s.TeamID) {
		errs = append(errs, fmt.Errorf("slack: team_id %q must be the workspace ID (T…): clicks from other workspaces are refused", s.TeamID))
	}
	if sec.BotToken == "" {
		errs = append(errs, fmt.Errorf("%s is not set (needed for users.info and modals)", EnvSlackBotToken))
	}
	if s.SocketMode {
		if !strings.HasPrefix(sec.AppToken, "xapp-") {
			errs = append(errs, fmt.Errorf("slack: socket_mode needs %s (an app-level xapp- token)", EnvSlackAppToken))
		}
	} else if sec.SigningSecret == "" {
		errs = append(errs, fmt.Errorf("%s is not set: Slack requests cannot be verified", EnvSlackSigningSecret))
	}
	for _, c := range s.AllowedChannels {
		if !slackChannelID.MatchString(c) {
			errs = append(errs, fmt.Errorf("slack: allowed_channels entry %q must be a channel ID (C…, G… or D…)", c))
		}
	}
	if err := s.WithOverrides(sec).validateAPIURL(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func (s Slack) validateAPIURL() error {
	raw := s.ResolvedAPIURL()
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return fmt.Errorf("slack: API URL %q must be an absolute http(s) URL", raw)
	}
	if u.Scheme == "http" && !isLoopback(u.Hostname()) {
		return fmt.Errorf("slack: API URL %q must use https (plain http only on loopback, for tests)", raw)
	}
	return nil
}

func isLoopback(host string) bool {
	return host == "localhost" || host == "::1" || strings.HasPrefix(host, "127.")
}

func mapValues(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	return out
}
