package config

import (
	"errors"
	"fmt"
	"net/url"
	"path"
	"strings"

	"github.com/signoff/signoff/approval"
	"github.com/signoff/signoff/config/identity"
)

// NotifierGitHubDeployments is the notifier that reports the outcome of
// approvals started by GitHub's deployment_protection_rule webhook back to
// GitHub (package channel/github/notifier).
const NotifierGitHubDeployments = "github_deployments"

// Default environment variables of the GitHub App's secrets, read at start
// by the gateway (the webhook secret) and the worker (the private key).
const (
	DefaultGitHubAppWebhookSecretEnv = "GITHUB_APP_WEBHOOK_SECRET"
	DefaultGitHubAppPrivateKeyEnv    = "GITHUB_APP_PRIVATE_KEY"
)

// DefaultGitHubAPIURL is GitHub's REST API root.
const DefaultGitHubAPIURL = "https://api.github.com"

// GitHubApp makes Signoff a GitHub App custom deployment protection rule:
// GitHub's deployment_protection_rule webhook (POST /github/webhook on the
// gateway) starts an approval, and the github_deployments notifier
// approves or rejects the waiting deployment when the approval ends. The
// webhook secret and the private key come from the environment, never
// from this file. Off while app_id is 0.
type GitHubApp struct {
	// AppID is the GitHub App's ID: the issuer of the JWTs the worker signs
	// to get installation tokens.
	AppID int64 `yaml:"app_id"`
	// BaseURL is the REST API root: https://api.github.com (default), or
	// https://<host>/api/v3 for GitHub Enterprise Server. The worker calls
	// nothing else: a callback URL outside it is refused.
	BaseURL string `yaml:"base_url"`
	// WebhookSecretEnv names the variable with the webhook secret the
	// gateway verifies X-Hub-Signature-256 with (default
	// GITHUB_APP_WEBHOOK_SECRET).
	WebhookSecretEnv string `yaml:"webhook_secret_env"`
	// PrivateKeyEnv names the variable with the app's private key, PEM
	// (default GITHUB_APP_PRIVATE_KEY); the worker signs its JWTs with it.
	PrivateKeyEnv string `yaml:"private_key_env"`
	// Requester is the configured user GitHub's approvals are requested
	// as: a service identity, best without a token, for only approvals it
	// requested are reported to GitHub.
	Requester string `yaml:"requester"`
	// AllowedRepos are the repositories (owner/repo, path.Match patterns:
	// "acme/*") whose deployments may ask for approval; none means none.
	AllowedRepos []string `yaml:"allowed_repos"`
	// Environments maps a GitHub environment to the environment of its
	// approvals (which picks the policy); one not listed keeps its name.
	Environments map[string]string `yaml:"environments"`
}

// Enabled reports whether the GitHub App is configured.
func (g GitHubApp) Enabled() bool { return g.AppID != 0 }

// WithDefaults fills what the file leaves out.
func (g GitHubApp) WithDefaults() GitHubApp {
	if g.BaseURL == "" {
		g.BaseURL = DefaultGitHubAPIURL
	}
	g.BaseURL = strings.TrimRight(g.BaseURL, "/")
	if g.WebhookSecretEnv == "" {
		g.WebhookSecretEnv = DefaultGitHubAppWebhookSecretEnv
	}
	if g.PrivateKeyEnv == "" {
		g.PrivateKeyEnv = DefaultGitHubAppPrivateKeyEnv
	}
	return g
}

// Validate checks the section (after WithDefaults) against the users of
// dir: an app ID, a usable API URL, a requester who is a configured user,
// well-formed repository patterns and environment names.
func (g GitHubApp) Validate(dir *identity.Directory) error {
	var errs []error
	if g.AppID <= 0 {
		errs = append(errs, errors.New("github_app.app_id: want the GitHub App's ID (a positive number)"))
	}
	if err := CheckGitHubBaseURL(g.BaseURL); err != nil {
		errs = append(errs, err)
	}
	switch {
	case g.Requester == "":
		errs = append(errs, errors.New("github_app.requester: name the configured user GitHub's approvals are requested as"))
	case !known(dir, g.Requester):
		errs = append(errs, fmt.Errorf("github_app.requester %q is not a configured user", g.Requester))
	}
	for _, p := range g.AllowedRepos {
		if _, err := path.Match(p, ""); err != nil || strings.Count(p, "/") != 1 {
			errs = append(errs, fmt.Errorf("github_app.allowed_repos: %q is not an owner/repo pattern", p))
		}
	}
	for from, to := range g.Environments {
		if strings.TrimSpace(from) == "" || !approval.IsName(to) {
			errs = append(errs, fmt.Errorf("github_app.environments: %q → %q: want a GitHub environment and an approval environment (1-64 letters, digits, '_', '.', ':', '/' or '-')", from, to))
		}
	}
	if g.WebhookSecretEnv == "" || g.PrivateKeyEnv == "" {
		errs = append(errs, errors.New("github_app: webhook_secret_env and private_key_env name environment variables (see WithDefaults)"))
	}
	return errors.Join(errs...)
}

func known(dir *identity.Directory, name string) bool {
	if dir == nil {
		return false
	}
	_, ok := dir.Lookup(name)
	return ok
}

// CheckGitHubBaseURL accepts an absolute https URL without credentials,
// query or fragment (plain http only on loopback, for tests).
func CheckGitHubBaseURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("github_app.base_url %q: want an absolute https URL without credentials, query or fragment", raw)
	}
	if u.Scheme == "http" && !isLoopback(u.Hostname()) {
		return fmt.Errorf("github_app.base_url %q must use https (plain http only on loopback, for tests)", raw)
	}
	return nil
}

// RepoAllowed reports whether owner/repo matches one of AllowedRepos (case
// does not matter, as on GitHub); none allows nothing.
func (g GitHubApp) RepoAllowed(fullName string) bool {
	full := strings.ToLower(fullName)
	for _, p := range g.AllowedRepos {
		if ok, _ := path.Match(strings.ToLower(p), full); ok {
			return true
		}
	}
	return false
}

// ApprovalEnvironment is the approval environment of GitHub environment
// env: its mapping, else its own name.
func (g GitHubApp) ApprovalEnvironment(env string) string {
	if to, ok := g.Environments[env]; ok {
		return to
	}
	return env
}
