package e2e

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/signoff/signoff/config"
	"github.com/signoff/signoff/internal/oidctest"
	"github.com/signoff/signoff/internal/testenv"
	pb "github.com/signoff/signoff/proto/signoff/v1"
)

// TestOIDCTokensThroughTheGateway: with an OpenID Connect issuer configured,
// people use their identity provider's tokens on REST and gRPC, next to the
// static tokens service accounts keep. alice creates with hers, bob decides
// with his and the decision counts for bob; a forged, expired or foreign
// token, or one naming nobody configured, is refused as unknown.
func TestOIDCTokensThroughTheGateway(t *testing.T) {
	t.Parallel()
	iss, err := oidctest.New()
	require.NoError(t, err)
	t.Cleanup(iss.Close)
	s := testenv.Start(t, testenv.Options{Mutate: func(c *config.Loaded) {
		c.OIDC = config.OIDC{Issuer: iss.URL, Audience: "signoff", UserClaim: config.OIDCClaimEmail}
	}})
	verified := true
	token := func(c oidctest.Claims) string {
		t.Helper()
		if c.Audience == "" {
			c.Audience = "signoff"
		}
		if c.EmailVerified == nil {
			c.EmailVerified = &verified
		}
		tok, err := iss.Token(c)
		require.NoError(t, err)
		return tok
	}
	alice := token(oidctest.Claims{Subject: "idp-alice", Email: "alice@example.com"})
	bob := token(oidctest.Claims{Subject: "idp-bob", Email: "bob@example.com"})

	code, body := s.Do(http.MethodPost, "/v1/approvals", alice, `{"title":"Deploy api 2.5.0","environment":"staging"}`)
	require.Equal(t, http.StatusOK, code, string(body))
	a := decodeApproval(t, body)
	require.Equal(t, "alice", a.GetRequester(), "the token's verified email named alice")

	decide := fmt.Sprintf(`{"decision":"DECISION_APPROVE","request_hash":%q}`, a.GetRequestHash())
	code, body = s.Do(http.MethodPost, "/v1/approvals/"+a.GetId()+":decide", bob, decide)
	require.Equal(t, http.StatusOK, code, string(body))
	require.Contains(t, string(body), `"user":"bob"`)
	require.Contains(t, string(body), "STATUS_APPROVED")

	// gRPC takes the same tokens.
	got, err := s.GRPC().GetApproval(testenv.Ctx(alice), &pb.GetApprovalRequest{Id: a.GetId()})
	require.NoError(t, err)
	require.Equal(t, pb.Status_STATUS_APPROVED, got.GetStatus())

	// Static tokens still work beside OIDC.
	code, body = s.Do(http.MethodGet, "/v1/approvals/"+a.GetId(), "dev-carol", "")
	require.Equal(t, http.StatusOK, code, string(body))

	forged, err := iss.ForeignToken(oidctest.Claims{Audience: "signoff", Subject: "idp-bob", Email: "bob@example.com", EmailVerified: &verified})
	require.NoError(t, err)
	refused := map[string]string{
		"forged":           forged,
		"expired":          token(oidctest.Claims{Email: "bob@example.com", Expiry: time.Now().Add(-time.Minute)}),
		"another audience": token(oidctest.Claims{Email: "bob@example.com", Audience: "another-app"}),
		"nobody we know":   token(oidctest.Claims{Email: "mallory@example.com"}),
	}
	for name, tok := range refused {
		code, body := s.Do(http.MethodGet, "/v1/approvals/"+a.GetId(), tok, "")
		require.Equal(t, http.StatusUnauthorized, code, "%s: %s", name, body)
		_, err := s.GRPC().GetApproval(testenv.Ctx(tok), &pb.GetApprovalRequest{Id: a.GetId()})
		require.Equal(t, codes.Unauthenticated, status.Code(err), name)
	}
}
