package config

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const teamsYAML = `
dev_only: true
users:
  - name: bob
    groups: [platform]
    teams_id: 8d2f1c3e-0000-4000-8000-00000000b0b0
    token: dev-bob
policies:
  - name: default
    match: { environment: "*" }
    approvers: { groups: [platform] }
    required_approvals: 1
    deadline: 1h
notifiers: [log, teams]
teams:
  app_id: 6c0e0a4b-1111-2222-3333-444455556666
  tenant_id: 72f988bf-86f1-41af-91ab-2d7cd011db47
  default_conversation: "19:approvals@thread.tacv2"
  dm_approvers: true
`

func TestTeamsConfig(t *testing.T) {
	l, err := Parse([]byte(teamsYAML))
	require.NoError(t, err, "teams is a notifier a config may name")
	tc := l.Teams.WithDefaults()
	require.True(t, tc.Enabled())
	assert.Equal(t, DefaultTeamsServiceURL, tc.ServiceURL)
	assert.Equal(t, "https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/oauth2/v2.0/token", tc.TokenURL)
	assert.Equal(t, DefaultTeamsOpenIDMetadataURL, tc.OpenIDMetadataURL)
	assert.Equal(t, DefaultTeamsAppPasswordEnv, tc.AppPasswordEnv)
	assert.Equal(t, "19:approvals@thread.tacv2", tc.ConversationFor("production"))
	u, ok := l.Directory.ByTeamsID("8d2f1c3e-0000-4000-8000-00000000b0b0")
	require.True(t, ok)
	assert.Equal(t, "bob", u.Name)

	// Inbound activities must name the configured Bot Connector's host.
	assert.True(t, tc.SameTeamsService("https://smba.trafficmanager.net/amer/"))
	assert.False(t, tc.SameTeamsService("https://smba.trafficmanager.net.evil.example/teams/"))
	assert.False(t, tc.SameTeamsService("http://smba.trafficmanager.net/teams/"))
	assert.False(t, tc.SameTeamsService("https://user@smba.trafficmanager.net/teams/"))
}

func TestTeamsConfigRefused(t *testing.T) {
	for want, edit := range map[string]func(string) string{
		"teams.tenant_id": func(y string) string {
			return strings.Replace(y, "  tenant_id: 72f988bf-86f1-41af-91ab-2d7cd011db47\n", "", 1)
		},
		"must use https": func(y string) string {
			return strings.Replace(y, "  dm_approvers: true\n", "  dm_approvers: true\n  service_url: http://connector.example.com/\n", 1)
		},
		"Entra object ID": func(y string) string { return strings.Replace(y, "teams_id: 8d2f1c3e", "teams_id: 29:8d2f1c3e", 1) },
	} {
		_, err := Parse([]byte(edit(teamsYAML)))
		require.Error(t, err, want)
		assert.Contains(t, err.Error(), want)
	}
}
