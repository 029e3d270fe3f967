package config

import (
	"fmt"
	"net"
	"net/url"
	"slices"
)

// OIDC accepts tokens issued by the company's identity provider (an OpenID
// Connect issuer) on the API, next to the users' static tokens, which stay
// for service accounts. A token names a person through one claim; that
// person must be a configured user: an identity provider vouches for who
// someone is, the config says what they may do.
type OIDC struct {
	// Issuer is the provider's issuer URL, exactly as its discovery
	// document (Issuer + /.well-known/openid-configuration) states it.
	// HTTPS, except on a loopback address.
	Issuer string `yaml:"issuer"`
	// Audience is what the token's aud must hold: the client ID Signoff is
	// registered under at the provider.
	Audience string `yaml:"audience"`
	// UserClaim names the person: "email" (default; matched to
	// users[].email, and the provider must say email_verified), or "sub"
	// or "preferred_username" (matched to users[].name).
	UserClaim string `yaml:"user_claim"`
	// ClientID is the client browsers sign in through (the
	// authorization-code flow with PKCE, redirecting to
	// <gateway.public_url>/auth/callback); default Audience. Its secret,
	// if the provider gave it one, is SIGNOFF_OIDC_CLIENT_SECRET.
	ClientID string `yaml:"client_id"`
	// GroupsClaim names the claim listing the person's groups at the
	// provider (default "groups"); policies name them in
	// approvers.oidc_groups.
	GroupsClaim string `yaml:"groups_claim"`
	// Scopes asked for at browser sign-in (default openid, email,
	// profile); add "groups" for providers that send the groups claim only
	// when asked (Dex).
	Scopes []string `yaml:"scopes"`
}

// EnvOIDCClientSecret holds the OIDC client's secret; empty for a public
// client (PKCE alone).
const EnvOIDCClientSecret = "SIGNOFF_OIDC_CLIENT_SECRET"

// The claims a person may be named by.
const (
	OIDCClaimEmail             = "email"
	OIDCClaimSubject           = "sub"
	OIDCClaimPreferredUsername = "preferred_username"
)

var oidcClaims = []string{OIDCClaimEmail, OIDCClaimSubject, OIDCClaimPreferredUsername}

// Enabled says whether OIDC tokens are accepted.
func (o OIDC) Enabled() bool { return o.Issuer != "" }

func (o OIDC) check() error {
	if !o.Enabled() {
		if o.Audience != "" || o.UserClaim != "" || o.ClientID != "" || o.GroupsClaim != "" {
			return fmt.Errorf("oidc: audience, user_claim, client_id and groups_claim need an issuer")
		}
		return nil
	}
	u, err := url.Parse(o.Issuer)
	if err != nil || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("oidc.issuer %q: want an absolute URL without query or fragment", o.Issuer)
	}
	if u.Scheme != "https" && !(u.Scheme == "http" && loopbackHost(u.Hostname())) {
		return fmt.Errorf("oidc.issuer %q: must be https (http only on a loopback address)", o.Issuer)
	}
	if o.Audience == "" {
		return fmt.Errorf("oidc.audience: required with an issuer (the client ID tokens are issued for)")
	}
	if !slices.Contains(o.Scopes, "openid") {
		return fmt.Errorf("oidc.scopes %v: must include openid", o.Scopes)
	}
	if !slices.Contains(oidcClaims, o.UserClaim) {
		return fmt.Errorf("oidc.user_claim %q: want one of %v", o.UserClaim, oidcClaims)
	}
	return nil
}

func loopbackHost(h string) bool {
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}
