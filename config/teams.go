package config

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// NotifierTeams is the Microsoft Teams notifier (package
// channel/teams/notifier).
const NotifierTeams = "teams"

// Defaults of the Teams section.
const (
	// DefaultTeamsAppPasswordEnv names the variable with the bot's client
	// secret (the Entra app registration's), read at start.
	DefaultTeamsAppPasswordEnv = "TEAMS_APP_PASSWORD"
	// DefaultTeamsServiceURL is the Bot Connector of Microsoft Teams for
	// messages the bot starts.
	DefaultTeamsServiceURL = "https://smba.trafficmanager.net/teams/"
	// DefaultTeamsOpenIDMetadataURL lists the keys the Bot Framework signs
	// inbound activities with.
	DefaultTeamsOpenIDMetadataURL = "https://login.botframework.com/v1/.well-known/openidconfiguration"
	// TeamsScope is what the bot's token is for: the Bot Connector.
	TeamsScope = "https://api.botframework.com/.default"
)

// Teams configures the Microsoft Teams notifier and the gateway's Teams
// endpoint (POST /teams/messages, the bot's messaging endpoint). The bot's
// client secret comes from the environment (app_password_env), never from
// this file. Off while app_id is empty.
type Teams struct {
	// AppID is the bot's Microsoft App ID (its Entra app registration's
	// client ID): the audience inbound tokens must name, and who the bot's
	// own tokens are for.
	AppID string `yaml:"app_id"`
	// TenantID is the organisation's Entra tenant: activities from any
	// other tenant are refused, and the bot's tokens are issued by it.
	TenantID string `yaml:"tenant_id"`
	// ServiceURL is the Bot Connector the bot posts through (default
	// DefaultTeamsServiceURL). Inbound activities whose serviceUrl is on
	// another host are refused, so the bot's token never goes elsewhere.
	ServiceURL string `yaml:"service_url"`
	// TokenURL issues the bot's tokens (default: the tenant's Entra
	// v2.0 token endpoint).
	TokenURL string `yaml:"token_url"`
	// OpenIDMetadataURL lists the Bot Framework's signing keys (default
	// DefaultTeamsOpenIDMetadataURL).
	OpenIDMetadataURL string `yaml:"openid_metadata_url"`
	// DefaultConversation receives prompts of policies without one of
	// their own: a channel's conversation ID (19:…@thread.tacv2), where
	// the bot is installed.
	DefaultConversation string `yaml:"default_conversation"`
	// PolicyConversations maps a policy name to its conversation.
	PolicyConversations map[string]string `yaml:"policy_conversations"`
	// DMApprovers also sends each pending approver with a teams_id a
	// personal message.
	DMApprovers bool `yaml:"dm_approvers"`
	// AppPasswordEnv names the variable with the bot's client secret
	// (default TEAMS_APP_PASSWORD).
	AppPasswordEnv string `yaml:"app_password_env"`
}

// Enabled reports whether Teams is configured.
func (t Teams) Enabled() bool { return t.AppID != "" }

// WithDefaults fills what the file leaves out.
func (t Teams) WithDefaults() Teams {
	if t.ServiceURL == "" {
		t.ServiceURL = DefaultTeamsServiceURL
	}
	if !strings.HasSuffix(t.ServiceURL, "/") {
		t.ServiceURL += "/"
	}
	if t.TokenURL == "" && t.TenantID != "" {
		t.TokenURL = "https://login.microsoftonline.com/" + url.PathEscape(t.TenantID) + "/oauth2/v2.0/token"
	}
	if t.OpenIDMetadataURL == "" {
		t.OpenIDMetadataURL = DefaultTeamsOpenIDMetadataURL
	}
	if t.AppPasswordEnv == "" {
		t.AppPasswordEnv = DefaultTeamsAppPasswordEnv
	}
	return t
}

// ConversationFor is where a policy's prompts go: its own conversation,
// else the default ("" for none).
func (t Teams) ConversationFor(policyName string) string {
	if c, ok := t.PolicyConversations[policyName]; ok {
		return c
	}
	return t.DefaultConversation
}

// Validate checks the section after WithDefaults.
func (t Teams) Validate() error {
	var errs []error
	if t.AppID == "" {
		errs = append(errs, errors.New("teams.app_id: want the bot's Microsoft App ID"))
	}
	if t.TenantID == "" {
		errs = append(errs, errors.New("teams.tenant_id: want the organisation's Entra tenant ID: activities from other tenants are refused"))
	}
	for name, raw := range map[string]string{"service_url": t.ServiceURL, "token_url": t.TokenURL, "openid_metadata_url": t.OpenIDMetadataURL} {
		if err := checkTeamsURL(raw); err != nil {
			errs = append(errs, fmt.Errorf("teams.%s: %w", name, err))
		}
	}
	for p, c := range t.PolicyConversations {
		if strings.TrimSpace(c) == "" {
			errs = append(errs, fmt.Errorf("teams.policy_conversations[%s]: empty conversation ID", p))
		}
	}
	if t.AppPasswordEnv == "" {
		errs = append(errs, errors.New("teams.app_password_env names the variable with the bot's client secret"))
	}
	return errors.Join(errs...)
}

// checkTeamsURL accepts an absolute https URL without credentials or
// fragment (plain http only on loopback, for tests).
func checkTeamsURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") || u.User != nil || u.Fragment != "" {
		return fmt.Errorf("%q: want an absolute https URL without credentials or fragment", raw)
	}
	if u.Scheme == "http" && !isLoopback(u.Hostname()) {
		return fmt.Errorf("%q must use https (plain http only on loopback, for tests)", raw)
	}
	return nil
}

// SameTeamsService reports whether serviceURL (an inbound activity's) is on
// the configured Bot Connector's scheme and host: Teams gives regional
// paths under one host.
func (t Teams) SameTeamsService(serviceURL string) bool {
	a, err1 := url.Parse(t.ServiceURL)
	b, err2 := url.Parse(serviceURL)
	return err1 == nil && err2 == nil && b.User == nil &&
		strings.EqualFold(a.Scheme, b.Scheme) && strings.EqualFold(a.Host, b.Host)
}
