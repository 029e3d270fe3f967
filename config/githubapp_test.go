package config

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const githubAppYAML = `
dev_only: true
users:
  - name: github
  - name: bob
    groups: [platform]
    token: dev-bob
policies:
  - name: default
    match: { environment: "*" }
    approvers: { groups: [platform] }
    required_approvals: 1
    deadline: 1h
notifiers: [log, github_deployments]
github_app:
  app_id: 4242
  requester: github
  allowed_repos: ["acme/*", "Octo-Org/API"]
  environments:
    Production (EU): production-eu
`

func TestGitHubAppConfig(t *testing.T) {
	l, err := Parse([]byte(githubAppYAML))
	require.NoError(t, err, "github_deployments is a notifier a config may name")
	g := l.GitHubApp.WithDefaults()
	require.True(t, g.Enabled())
	assert.Equal(t, DefaultGitHubAPIURL, g.BaseURL)
	assert.Equal(t, DefaultGitHubAppWebhookSecretEnv, g.WebhookSecretEnv)
	assert.Equal(t, DefaultGitHubAppPrivateKeyEnv, g.PrivateKeyEnv)
	require.NoError(t, g.Validate(l.Directory))

	assert.True(t, g.RepoAllowed("acme/api"))
	assert.True(t, g.RepoAllowed("octo-org/api"), "repository names are not case sensitive")
	assert.False(t, g.RepoAllowed("octo-org/web"))
	assert.False(t, g.RepoAllowed("acme/api/x"))
	assert.False(t, GitHubApp{}.RepoAllowed("acme/api"), "none allowed: deny by default")

	assert.Equal(t, "production-eu", g.ApprovalEnvironment("Production (EU)"))
	assert.Equal(t, "staging", g.ApprovalEnvironment("staging"), "unmapped keeps its name")

	assert.False(t, (&Config{}).GitHubApp.Enabled(), "off without app_id")
	assert.Equal(t, "https://ghe.example.com/api/v3", GitHubApp{BaseURL: "https://ghe.example.com/api/v3/"}.WithDefaults().BaseURL)
}

func TestGitHubAppValidate(t *testing.T) {
	l, err := Parse([]byte(githubAppYAML))
	require.NoError(t, err)
	good := l.GitHubApp.WithDefaults()
	for name, tc := range map[string]struct {
		edit func(g *GitHubApp)
		want string
	}{
		"no app id":        {func(g *GitHubApp) { g.AppID = 0 }, "github_app.app_id"},
		"no requester":     {func(g *GitHubApp) { g.Requester = "" }, "github_app.requester: name"},
		"unknown user":     {func(g *GitHubApp) { g.Requester = "nobody" }, `"nobody" is not a configured user`},
		"plain http":       {func(g *GitHubApp) { g.BaseURL = "http://api.github.com" }, "must use https"},
		"credentials":      {func(g *GitHubApp) { g.BaseURL = "https://x:y@api.github.com" }, "without credentials"},
		"a query":          {func(g *GitHubApp) { g.BaseURL = "https://api.github.com?x=1" }, "without credentials, query"},
		"not a repo":       {func(g *GitHubApp) { g.AllowedRepos = []string{"acme"} }, `"acme" is not an owner/repo pattern`},
		"bad pattern":      {func(g *GitHubApp) { g.AllowedRepos = []string{"acme/[api"} }, "not an owner/repo pattern"},
		"bad mapping":      {func(g *GitHubApp) { g.Environments = map[string]string{"prod": "prod env"} }, "github_app.environments"},
		"empty github env": {func(g *GitHubApp) { g.Environments = map[string]string{" ": "prod"} }, "github_app.environments"},
	} {
		t.Run(name, func(t *testing.T) {
			g := good
			g.Environments = map[string]string{}
			tc.edit(&g)
			err := g.Validate(l.Directory)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
	loop := good
	loop.BaseURL = "http://127.0.0.1:8081"
	require.NoError(t, loop.Validate(l.Directory), "plain http on loopback, for tests")
	_, err = Parse([]byte(strings.Replace(githubAppYAML, "github_deployments", "github_deploymentz", 1)))
	require.ErrorContains(t, err, `unknown notifier "github_deploymentz"`)
}
