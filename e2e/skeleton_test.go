// Package e2e drives the whole stack — embedded Temporal, worker, gateway —
// through its public APIs, as a user would.
package e2e

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/signoff/signoff/internal/testenv"
	pb "github.com/signoff/signoff/proto/signoff/v1"
)

func decodeApproval(t *testing.T, body []byte) *pb.Approval {
	t.Helper()
	var raw map[string]any
	require.NoError(t, json.Unmarshal(body, &raw), string(body))
	a := &pb.Approval{}
	require.NoError(t, protojsonUnmarshal(body, a), string(body))
	return a
}

// TestWalkingSkeleton is the README walk-through: create over REST as alice,
// approve over gRPC as bob and carol, read back, survive a restart. It runs
// on the dev config `make run` uses, on purpose: the walk-through must work
// there (the other tests run on the stack's own config).
func TestWalkingSkeleton(t *testing.T) {
	t.Parallel()
	s := devStack(t)
	api := s.GRPC()

	create := `{"request_id":"deploy-42","title":"Deploy api v2.3.0","environment":"production",
		"resource":"api","fields":{"version":"2.3.0","commit":"abc123"}}`
	code, body := s.Do(http.MethodPost, "/v1/approvals", "dev-alice", create)
	require.Equal(t, http.StatusOK, code, string(body))
	created := decodeApproval(t, body)
	require.Equal(t, pb.Status_STATUS_PENDING, created.GetStatus())
	require.Equal(t, "alice", created.GetRequester())
	require.Equal(t, "production", created.GetPolicyName())
	require.Equal(t, []string{"bob", "carol"}, created.GetApprovers())
	require.EqualValues(t, 2, created.GetRequiredApprovals())
	id := created.GetId()

	t.Run("idempotent create returns the same approval", func(t *testing.T) {
		code, body := s.Do(http.MethodPost, "/v1/approvals", "dev-alice", create)
		require.Equal(t, http.StatusOK, code, string(body))
		require.Equal(t, id, decodeApproval(t, body).GetId())
		// The same key from another caller is another approval.
		code, body = s.Do(http.MethodPost, "/v1/approvals", "dev-dana", create)
		require.Equal(t, http.StatusOK, code, string(body))
		require.NotEqual(t, id, decodeApproval(t, body).GetId())
		// The same key with a different body is a conflict.
		code, body = s.Do(http.MethodPost, "/v1/approvals", "dev-alice", strings.Replace(create, "2.3.0", "2.4.0", 2))
		require.Equal(t, http.StatusConflict, code, string(body))
	})

	t.Run("pending approvals are listed from visibility", func(t *testing.T) {
		testenv.Eventually(t, 30e9, "the approval to be listed as pending", func() bool {
			resp, err := api.ListApprovals(testenv.Ctx("dev-bob"), &pb.ListApprovalsRequest{
				Status: pb.Status_STATUS_PENDING, Environment: "production", Requester: "alice",
			})
			require.NoError(t, err)
			for _, a := range resp.GetApprovals() {
				if a.GetId() == id {
					require.Equal(t, "Deploy api v2.3.0", a.GetTitle())
					return true
				}
			}
			return false
		})
	})

	t.Run("refusals are recorded and change nothing", func(t *testing.T) {
		_, err := api.DecideApproval(testenv.Ctx("dev-alice"), &pb.DecideApprovalRequest{Id: id, Decision: pb.Decision_DECISION_APPROVE, RequestHash: s.Seen("dev-alice", id)})
		require.Equal(t, codes.PermissionDenied, status.Code(err), "self-approval: %v", err)
		_, err = api.DecideApproval(testenv.Ctx("dev-dana"), &pb.DecideApprovalRequest{Id: id, Decision: pb.Decision_DECISION_APPROVE, RequestHash: s.Seen("dev-dana", id)})
		require.Equal(t, codes.PermissionDenied, status.Code(err), "non-approver: %v", err)
		_, err = api.CancelApproval(testenv.Ctx("dev-bob"), &pb.CancelApprovalRequest{Id: id, Reason: "not mine"})
		require.Equal(t, codes.PermissionDenied, status.Code(err), "cancel by an approver: %v", err)
	})

	resp, err := api.DecideApproval(testenv.Ctx("dev-bob"), &pb.DecideApprovalRequest{
		Id: id, Decision: pb.Decision_DECISION_APPROVE, Comment: "lgtm", RequestId: "bob-click-1", RequestHash: s.Seen("dev-bob", id),
	})
	require.NoError(t, err)
	require.True(t, resp.GetAttempt().GetAccepted())
	require.Equal(t, pb.Status_STATUS_PENDING, resp.GetApproval().GetStatus())

	t.Run("a retried decision counts once", func(t *testing.T) {
		again, err := api.DecideApproval(testenv.Ctx("dev-bob"), &pb.DecideApprovalRequest{
			Id: id, Decision: pb.Decision_DECISION_APPROVE, Comment: "lgtm", RequestId: "bob-click-1", RequestHash: s.Seen("dev-bob", id),
		})
		require.NoError(t, err)
		require.Equal(t, []string{"bob"}, again.GetApproval().GetApprovedBy())
		_, err = api.DecideApproval(testenv.Ctx("dev-bob"), &pb.DecideApprovalRequest{Id: id, Decision: pb.Decision_DECISION_APPROVE, RequestHash: s.Seen("dev-bob", id)})
		require.Equal(t, codes.FailedPrecondition, status.Code(err), "second decision by bob: %v", err)
	})

	// The approval survives a restart of the embedded Temporal on the same
	// data directory, half-approved.
	s.RestartTemporal()
	api = s.GRPC()
	got, err := api.GetApproval(testenv.Ctx("dev-carol"), &pb.GetApprovalRequest{Id: id})
	require.NoError(t, err)
	require.Equal(t, pb.Status_STATUS_PENDING, got.GetStatus())
	require.Equal(t, []string{"bob"}, got.GetApprovedBy())

	resp, err = api.DecideApproval(testenv.Ctx("dev-carol"), &pb.DecideApprovalRequest{Id: id, Decision: pb.Decision_DECISION_APPROVE, RequestHash: s.Seen("dev-carol", id)})
	require.NoError(t, err)
	require.Equal(t, pb.Status_STATUS_APPROVED, resp.GetApproval().GetStatus())

	// Read back over REST once the workflow has run the action and closed.
	var final *pb.Approval
	testenv.Eventually(t, 30e9, "the workflow to finish", func() bool {
		code, body := s.Do(http.MethodGet, "/v1/approvals/"+id, "dev-alice", "")
		require.Equal(t, http.StatusOK, code, string(body))
		final = decodeApproval(t, body)
		return final.GetActionResult() != nil && final.GetCloseTime() != nil
	})
	require.Equal(t, pb.Status_STATUS_APPROVED, final.GetStatus())
	require.Equal(t, []string{"bob", "carol"}, final.GetApprovedBy())
	require.True(t, final.GetActionResult().GetSuccess())
	var refused []string
	for _, d := range final.GetDecisions() {
		if !d.GetAccepted() {
			refused = append(refused, d.GetUser()+": "+d.GetRefusalReason())
		}
	}
	require.Equal(t, []string{
		"alice: the requester may not decide their own request",
		"dana: not an approver for this request",
		"bob: already decided on this request",
	}, refused)

	t.Run("a finished approval can no longer be decided or cancelled", func(t *testing.T) {
		code, body := s.Do(http.MethodPost, "/v1/approvals/"+id+":decide", "dev-bob", s.DecideBody("dev-bob", id, "DECISION_REJECT"))
		require.Equal(t, http.StatusConflict, code, string(body))
		code, body = s.Do(http.MethodPost, "/v1/approvals/"+id+":cancel", "dev-alice", `{"reason":"late"}`)
		require.Equal(t, http.StatusConflict, code, string(body))
	})
}

func TestRejectExpireCancel(t *testing.T) {
	t.Parallel()
	s := testenv.Start(t, testenv.Options{})
	api := s.GRPC()
	newApproval := func(env string) string {
		a, err := api.CreateApproval(testenv.Ctx("dev-alice"), &pb.CreateApprovalRequest{Title: "Rotate secret", Environment: env})
		require.NoError(t, err)
		return a.GetId()
	}

	rejected := newApproval("staging")
	resp, err := api.DecideApproval(testenv.Ctx("dev-carol"), &pb.DecideApprovalRequest{
		Id: rejected, Decision: pb.Decision_DECISION_REJECT, Comment: "not during the freeze", RequestHash: s.Seen("dev-carol", rejected),
	})
	require.NoError(t, err)
	require.Equal(t, pb.Status_STATUS_REJECTED, resp.GetApproval().GetStatus())
	require.Nil(t, resp.GetApproval().GetActionResult(), "no action after a rejection")

	byAdmin := newApproval("staging")
	got, err := api.CancelApproval(testenv.Ctx("dev-dana"), &pb.CancelApprovalRequest{Id: byAdmin, Reason: "freeze"})
	require.NoError(t, err)
	require.Equal(t, pb.Status_STATUS_CANCELLED, got.GetStatus())
	require.Equal(t, "dana", got.GetCancelledBy())

	byRequester := newApproval("staging")
	got, err = api.CancelApproval(testenv.Ctx("dev-alice"), &pb.CancelApprovalRequest{Id: byRequester})
	require.NoError(t, err)
	require.Equal(t, pb.Status_STATUS_CANCELLED, got.GetStatus())
}

// TestBadInput: every malformed call gets a clear error with the right
// status, and nothing starts.
func TestBadInput(t *testing.T) {
	t.Parallel()
	s := testenv.Start(t, testenv.Options{})
	a, err := s.GRPC().CreateApproval(testenv.Ctx("dev-alice"), &pb.CreateApprovalRequest{Title: "ok", Environment: "staging"})
	require.NoError(t, err)
	pending := a.GetId()

	cases := []struct {
		name, method, path, token, body string
		want                            int
		msg                             string
	}{
		{"no token", "POST", "/v1/approvals", "", `{"title":"x","environment":"staging"}`, 401, "bearer token"},
		{"unknown token", "POST", "/v1/approvals", "nope", `{"title":"x","environment":"staging"}`, 401, "unknown token"},
		{"malformed json", "POST", "/v1/approvals", "dev-alice", `{"title":`, 400, ""},
		{"wrong type", "POST", "/v1/approvals", "dev-alice", `{"title":42,"environment":"staging"}`, 400, ""},
		{"empty title", "POST", "/v1/approvals", "dev-alice", `{"title":"  ","environment":"staging"}`, 400, "title is required"},
		{"no environment", "POST", "/v1/approvals", "dev-alice", `{"title":"x"}`, 400, "environment"},
		{"unknown action", "POST", "/v1/approvals", "dev-alice", `{"title":"x","environment":"staging","action":{"type":"rm-rf"}}`, 400, "unknown type"},
		{"webhook off the allow-list", "POST", "/v1/approvals", "dev-alice", `{"title":"x","environment":"staging","action":{"type":"webhook","url":"http://169.254.169.254/"}}`, 400, "is not allowed"},
		{"bad input type", "POST", "/v1/approvals", "dev-alice", `{"title":"x","environment":"staging","input":{"type":"slider"}}`, 400, "input.type"},
		{"oversize body", "POST", "/v1/approvals", "dev-alice", `{"title":"` + strings.Repeat("x", 2<<20) + `"}`, 413, "too large"},
		{"unknown id", "GET", "/v1/approvals/aaaaaaaaaaaaaaaaaaaaaaaaaa", "dev-bob", "", 404, "not found"},
		{"malformed id", "GET", "/v1/approvals/NOT-AN-ID", "dev-bob", "", 400, "malformed"},
		{"path outside the api", "GET", "/v1/approvals/a/b", "dev-bob", "", 404, ""},
		{"unknown decision", "POST", "/v1/approvals/" + pending + ":decide", "dev-bob", `{"decision":"DECISION_MAYBE"}`, 400, ""},
		{"unspecified decision", "POST", "/v1/approvals/" + pending + ":decide", "dev-bob", `{}`, 400, "decision must be"},
		{"decide unknown id", "POST", "/v1/approvals/aaaaaaaaaaaaaaaaaaaaaaaaaa:decide", "dev-bob", `{"decision":"DECISION_APPROVE"}`, 404, "not found"},
		{"bad status filter", "GET", "/v1/approvals?status=STATUS_NOPE", "dev-bob", "", 400, ""},
		{"injection in filter", "GET", "/v1/approvals?environment=x'%20OR%20'1'='1", "dev-bob", "", 400, "malformed"},
		{"bad page token", "GET", "/v1/approvals?page_token=%%%", "dev-bob", "", 400, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, body := s.Do(c.method, c.path, c.token, c.body)
			require.Equal(t, c.want, code, string(body))
			require.Contains(t, string(body), c.msg)
		})
	}

	t.Run("a policy that can never be satisfied refuses up front", func(t *testing.T) {
		// bob is one of the two production approvers and may not approve
		// his own request: nobody could ever approve it.
		code, body := s.Do("POST", "/v1/approvals", "dev-bob", `{"title":"x","environment":"production"}`)
		require.Equal(t, http.StatusForbidden, code, string(body))
		require.Contains(t, string(body), "cannot be satisfied")
	})

	// The one pending approval is still the only one: nothing above started
	// a workflow.
	got, err := s.GRPC().GetApproval(testenv.Ctx("dev-bob"), &pb.GetApprovalRequest{Id: pending})
	require.NoError(t, err)
	require.Equal(t, pb.Status_STATUS_PENDING, got.GetStatus())
}
