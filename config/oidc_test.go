package config

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestOIDCConfig(t *testing.T) {
	scopes := []string{"openid", "email"}
	ok := []OIDC{
		{},
		{Issuer: "https://login.example.com/realms/acme", Audience: "signoff", UserClaim: OIDCClaimEmail, Scopes: scopes},
		{Issuer: "http://127.0.0.1:5556", Audience: "signoff", UserClaim: OIDCClaimSubject, Scopes: scopes},
		{Issuer: "http://localhost:5556/dex", Audience: "signoff", UserClaim: OIDCClaimPreferredUsername, Scopes: append(scopes, "groups")},
	}
	for _, o := range ok {
		require.NoError(t, o.check(), "%+v", o)
	}
	bad := map[string]OIDC{
		"must be https":   {Issuer: "http://login.example.com", Audience: "signoff", UserClaim: OIDCClaimEmail},
		"oidc.audience":   {Issuer: "https://login.example.com", UserClaim: OIDCClaimEmail},
		"oidc.user_claim": {Issuer: "https://login.example.com", Audience: "signoff", UserClaim: "name", Scopes: scopes},
		"include openid":  {Issuer: "https://login.example.com", Audience: "signoff", UserClaim: OIDCClaimEmail, Scopes: []string{"email"}},
		"need an issuer":  {Audience: "signoff"},
		"absolute URL":    {Issuer: "login.example.com", Audience: "signoff", UserClaim: OIDCClaimEmail},
	}
	for want, o := range bad {
		require.ErrorContains(t, o.check(), want, "%+v", o)
	}

	l, err := Parse([]byte("oidc: {issuer: https://login.example.com, audience: signoff}\n"))
	require.NoError(t, err)
	require.Equal(t, OIDCClaimEmail, l.OIDC.UserClaim, "email names the person by default")
	require.Equal(t, "signoff", l.OIDC.ClientID, "browsers sign in as the audience's client by default")
	require.Equal(t, "groups", l.OIDC.GroupsClaim)
	require.Equal(t, []string{"openid", "email", "profile"}, l.OIDC.Scopes)
}
