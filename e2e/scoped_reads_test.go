package e2e

import (
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	commonpb "go.temporal.io/api/common/v1"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/signoff/signoff/approval/evidence"
	"github.com/signoff/signoff/config"
	"github.com/signoff/signoff/config/identity"
	"github.com/signoff/signoff/internal/testenv"
	pb "github.com/signoff/signoff/proto/signoff/v1"
	"github.com/signoff/signoff/temporal/codec"
)

// TestScopedReads: through the real gateway, an approval is read only by
// those it concerns and by auditors and admins. walt, who has no part in
// it, is told it does not exist wherever he looks — the API, the evidence
// export, the audit trail page — exactly as for an unknown ID; his list is
// empty; and he may not decode payloads through /codec.
func TestScopedReads(t *testing.T) {
	random := func(n int) string {
		b := make([]byte, n)
		_, _ = rand.Read(b)
		return base64.StdEncoding.EncodeToString(b)
	}
	t.Parallel()
	s := testenv.Start(t, testenv.Options{Env: map[string]string{
		config.EnvEmailLinkKey: random(32), // mounts the audit trail page
		evidence.EnvKey:        random(32),
		codec.EnvKeys:          "e2e-scoped:" + random(32),
	}, Mutate: func(c *config.Loaded) {
		users := append(slices.Clone(c.Config.Users),
			identity.User{Name: "walt", Email: "walt@example.com", Token: "dev-walt"},
			identity.User{Name: "cody", Token: "dev-cody", Roles: []string{identity.RoleCodec}},
		)
		dir, err := identity.NewDirectory(users)
		require.NoError(t, err)
		c.Config.Users, c.Directory = users, dir
		c.Codec.UIOrigin = "http://127.0.0.1:8233"
	}})

	// alice asks; bob and carol (platform) may decide.
	code, body := s.Do(http.MethodPost, "/v1/approvals", "dev-alice", `{"title":"Rotate the scoped secret","environment":"staging"}`)
	require.Equal(t, http.StatusOK, code, string(body))
	id := decodeApproval(t, body).GetId()
	const unknown = "aaaaaaaaaaaaaaaaaaaaaaaaaa"

	// The reads of one approval, by kind.
	paths := map[string]func(id string) string{
		"get":        func(id string) string { return "/v1/approvals/" + id },
		"evidence":   func(id string) string { return "/v1/approvals/" + id + "/evidence" },
		"audit page": func(id string) string { return "/approvals/" + id },
	}
	path := func(kind, id string) string { return paths[kind](id) }

	t.Run("a user with no part is told the approval does not exist", func(t *testing.T) {
		for kind := range paths {
			code, body := s.Do(http.MethodGet, path(kind, id), "dev-walt", "")
			require.Equal(t, http.StatusNotFound, code, "%s: %s", kind, body)
			require.NotContains(t, string(body), "Rotate the scoped secret", kind)
			missingCode, missing := s.Do(http.MethodGet, path(kind, unknown), "dev-walt", "")
			require.Equal(t, http.StatusNotFound, missingCode, kind)
			require.Equal(t, string(missing), string(body), "%s: a stranger can tell an approval exists", kind)
		}
		// The codec role reads payloads, not approvals.
		code, _ := s.Do(http.MethodGet, path("get", id), "dev-cody", "")
		require.Equal(t, http.StatusNotFound, code)
	})

	t.Run("those it concerns, auditors and admins read it", func(t *testing.T) {
		for _, token := range []string{"dev-alice", "dev-bob", "dev-carol", "dev-audrey", "dev-dana"} {
			for kind := range paths {
				code, body := s.Do(http.MethodGet, path(kind, id), token, "")
				require.Equal(t, http.StatusOK, code, "%s %s: %s", token, kind, body)
			}
		}
	})

	list := func(token string) []string {
		code, body := s.Do(http.MethodGet, "/v1/approvals?page_size=200", token, "")
		require.Equal(t, http.StatusOK, code, string(body))
		var resp pb.ListApprovalsResponse
		require.NoError(t, protojson.Unmarshal(body, &resp), string(body))
		var ids []string
		for _, a := range resp.GetApprovals() {
			ids = append(ids, a.GetId())
		}
		return ids
	}

	t.Run("lists hold only what the caller may read", func(t *testing.T) {
		// Once visibility has it, everyone it concerns sees it...
		for _, token := range []string{"dev-alice", "dev-bob", "dev-carol", "dev-audrey", "dev-dana"} {
			testenv.Eventually(t, 30*time.Second, token+" to list the approval", func() bool {
				return slices.Contains(list(token), id)
			})
		}
		// ...and walt sees nothing, filters or not.
		require.Empty(t, list("dev-walt"))
		code, body := s.Do(http.MethodGet, "/v1/approvals?requester=alice&status=STATUS_PENDING", "dev-walt", "")
		require.Equal(t, http.StatusOK, code, string(body))
		require.NotContains(t, string(body), id)
	})

	t.Run("only the codec role and admins decode payloads", func(t *testing.T) {
		started := history(t, s, id)[0].GetWorkflowExecutionStartedEventAttributes()
		payloads, err := protojson.Marshal(started.GetInput())
		require.NoError(t, err)
		require.NotContains(t, string(payloads), "Rotate the scoped secret", "the input is stored encrypted")
		for _, token := range []string{"dev-walt", "dev-alice", "dev-bob", "dev-audrey"} {
			resp := codecRequest(t, s, token, payloads)
			require.Equal(t, http.StatusForbidden, resp.code, "%s: %s", token, resp.body)
			require.NotContains(t, resp.body, "Rotate the scoped secret")
		}
		require.Equal(t, http.StatusUnauthorized, codecRequest(t, s, "", payloads).code)
		for _, token := range []string{"dev-cody", "dev-dana"} {
			resp := codecRequest(t, s, token, payloads)
			require.Equal(t, http.StatusOK, resp.code, "%s: %s", token, resp.body)
			var out commonpb.Payloads
			require.NoError(t, protojson.Unmarshal([]byte(resp.body), &out))
			require.NotEmpty(t, out.GetPayloads())
			require.Contains(t, string(out.GetPayloads()[0].GetData()), "Rotate the scoped secret", token)
		}
	})
}
