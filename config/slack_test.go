package config

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

func TestSlackConfigKeys(t *testing.T) {
	var s Slack
	dec := yaml.NewDecoder(strings.NewReader(`
team_id: T0SIGNOFF
default_channel: "#approvals"
policy_channels: { production: "#production-approvals" }
dm_approvers: true
allowed_channels: [C0PROD]
require_2fa: true
socket_mode: false
api_url: http://127.0.0.1:9999/api
identity_cache_ttl: 2m
`))
	dec.KnownFields(true)
	require.NoError(t, dec.Decode(&s))
	assert.Equal(t, "#production-approvals", s.ChannelFor("production"))
	assert.Equal(t, "#approvals", s.ChannelFor("default"))
	assert.Equal(t, "2m0s", s.CacheTTL().String())

	assert.Equal(t, "http://127.0.0.1:9999/api/", s.ResolvedAPIURL())
	assert.Equal(t, "http://127.0.0.1:9999/api/", s.WithOverrides(SlackSecrets{}).ResolvedAPIURL())
	env := map[string]string{EnvSlackAPIURL: " http://127.0.0.1:1234/api/ ", EnvSlackBotToken: "xoxb-1 "}
	over := SlackSecretsFrom(func(k string) string { return env[k] })
	assert.Equal(t, "xoxb-1", over.BotToken)
	assert.Equal(t, "http://127.0.0.1:1234/api/", s.WithOverrides(over).ResolvedAPIURL(), "the environment wins")
	assert.Equal(t, "http://127.0.0.1:9999/api", s.APIURL, "WithOverrides leaves the config alone")
	assert.Equal(t, DefaultSlackAPIURL, Slack{}.ResolvedAPIURL())

	sec := SlackSecrets{BotToken: "xoxb-1", SigningSecret: "sig"}
	require.NoError(t, s.ValidateNotifier(sec))
	require.NoError(t, s.ValidateCallbacks(sec))
}

func TestSlackValidation(t *testing.T) {
	err := Slack{}.ValidateNotifier(SlackSecrets{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "SLACK_BOT_TOKEN is not set")
	assert.Contains(t, err.Error(), "prompts go nowhere")

	err = Slack{TeamID: "acme", AllowedChannels: []string{"#general"}}.ValidateCallbacks(SlackSecrets{BotToken: "x"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "team_id")
	assert.Contains(t, err.Error(), "SLACK_SIGNING_SECRET")
	assert.Contains(t, err.Error(), "must be a channel ID")

	err = Slack{TeamID: "T1X", SocketMode: true}.ValidateCallbacks(SlackSecrets{BotToken: "x", AppToken: "xoxb-not-app"})
	require.ErrorContains(t, err, "SLACK_APP_TOKEN")

	err = Slack{DefaultChannel: "#a", APIURL: "http://slack.example.com/api/"}.ValidateNotifier(SlackSecrets{BotToken: "x"})
	require.ErrorContains(t, err, "must use https")
	err = Slack{DefaultChannel: "#a"}.ValidateNotifier(SlackSecrets{BotToken: "x", APIURL: "http://slack.example.com/api/"})
	require.ErrorContains(t, err, "must use https", "SLACK_API_URL is checked too")
}

func TestSlackSecretsNeverPrint(t *testing.T) {
	sec := SlackSecrets{BotToken: "xoxb-very-secret", SigningSecret: "shh", AppToken: ""}
	for _, s := range []string{fmt.Sprint(sec), fmt.Sprintf("%+v", sec), fmt.Sprintf("%#v", sec)} {
		assert.NotContains(t, s, "xoxb-very-secret")
		assert.NotContains(t, s, "shh")
		assert.Contains(t, s, "bot_token:set")
		assert.Contains(t, s, "app_token:unset")
	}
}
