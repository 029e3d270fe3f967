package e2e

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/signoff/signoff/config"
	"github.com/signoff/signoff/internal/testenv"
	pb "github.com/signoff/signoff/proto/signoff/v1"
)

func examplesStack(t *testing.T, mutate func(*config.Loaded)) *testenv.Stack {
	t.Helper()
	raw, err := os.ReadFile("../docs/examples/policies.yaml")
	require.NoError(t, err)
	return testenv.Start(t, testenv.Options{ConfigYAML: string(raw), Mutate: mutate})
}

// TestPolicyExamplesEndToEnd drives the README's example policies through
// the gateway: staged approval with its webhook, break-glass on the soft
// policy and its refusal on a hard one, Rego denial, amendment, and the
// policies API.
func TestPolicyExamplesEndToEnd(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	keys := map[string]int{}
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		mu.Lock()
		keys[r.Header.Get("Idempotency-Key")]++
		mu.Unlock()
		_, _ = w.Write([]byte("deployed"))
	}))
	defer hook.Close()
	s := examplesStack(t, nil)
	api := s.GRPC()

	t.Run("policies API", func(t *testing.T) {
		code, body := s.Do("GET", "/v1/policies", "dev-carol", "")
		require.Equal(t, http.StatusOK, code, string(body))
		var list pb.ListPoliciesResponse
		require.NoError(t, protojsonUnmarshal(body, &list))
		require.Len(t, list.GetPolicies(), 4)
		code, body = s.Do("GET", "/v1/policies/nope", "dev-carol", "")
		require.Equal(t, http.StatusNotFound, code, string(body))
		code, body = s.Do("POST", "/v1/policies:evaluate", "dev-alice",
			`{"environment":"production","action":{"type":"webhook","url":"`+hook.URL+`"}}`)
		require.Equal(t, http.StatusOK, code, string(body))
		var ev pb.EvaluatePolicyResponse
		require.NoError(t, protojsonUnmarshal(body, &ev))
		require.Equal(t, "production-deploy", ev.GetPolicy().GetName())
		require.Equal(t, []string{"bob"}, ev.GetStages()[0].GetApprovers())
		require.Equal(t, []string{"dana", "erin"}, ev.GetStages()[1].GetApprovers())
		require.Empty(t, ev.GetRefusal())
	})

	t.Run("two stages, distinct people, then the webhook once", func(t *testing.T) {
		a, err := api.CreateApproval(testenv.Ctx("dev-alice"), &pb.CreateApprovalRequest{
			Title: "Deploy api v3", Environment: "production", Action: &pb.Action{Type: "webhook", Url: hook.URL},
		})
		require.NoError(t, err)
		require.Equal(t, "team lead", a.GetCurrentStage())
		_, err = api.DecideApproval(testenv.Ctx("dev-dana"), &pb.DecideApprovalRequest{Id: a.GetId(), Decision: pb.Decision_DECISION_APPROVE, RequestHash: s.Seen("dev-dana", a.GetId())})
		require.Equal(t, codes.PermissionDenied, status.Code(err), "security before the lead: %v", err)
		r, err := api.DecideApproval(testenv.Ctx("dev-bob"), &pb.DecideApprovalRequest{Id: a.GetId(), Decision: pb.Decision_DECISION_APPROVE, RequestHash: s.Seen("dev-bob", a.GetId())})
		require.NoError(t, err)
		require.Equal(t, "security", r.GetApproval().GetCurrentStage())
		require.Equal(t, []string{"dana", "erin"}, r.GetApproval().GetPendingApprovers())
		_, err = api.DecideApproval(testenv.Ctx("dev-erin"), &pb.DecideApprovalRequest{Id: a.GetId(), Decision: pb.Decision_DECISION_REJECT, RequestHash: s.Seen("dev-erin", a.GetId())})
		require.Equal(t, codes.InvalidArgument, status.Code(err), "reject without comment: %v", err)
		r, err = api.DecideApproval(testenv.Ctx("dev-erin"), &pb.DecideApprovalRequest{Id: a.GetId(), Decision: pb.Decision_DECISION_APPROVE, RequestHash: s.Seen("dev-erin", a.GetId())})
		require.NoError(t, err)
		require.Equal(t, pb.Status_STATUS_APPROVED, r.GetApproval().GetStatus())
		final := waitClosed(t, s, a.GetId())
		require.True(t, final.GetActionResult().GetSuccess(), final.GetActionResult().GetError())
		mu.Lock()
		defer mu.Unlock()
		require.Equal(t, map[string]int{a.GetId(): 1}, keys)
	})

	t.Run("soft policy: justification, Rego denial, break-glass", func(t *testing.T) {
		req := &pb.CreateApprovalRequest{Title: "Allow CVE-2026-1 for a week", Environment: "production", Resource: "exception/cve-2026-1"}
		_, err := api.CreateApproval(testenv.Ctx("dev-alice"), req)
		require.Equal(t, codes.InvalidArgument, status.Code(err), "justification required: %v", err)
		req.Justification = "vendor patch due Friday"
		a, err := api.CreateApproval(testenv.Ctx("dev-alice"), req)
		require.NoError(t, err)
		require.Equal(t, "vendor patch due Friday", a.GetJustification())

		_, err = api.BypassApproval(testenv.Ctx("dev-alice"), &pb.BypassApprovalRequest{Id: a.GetId()})
		require.Equal(t, codes.InvalidArgument, status.Code(err), "break-glass needs a reason: %v", err)
		code, body := s.Do("POST", "/v1/approvals/"+a.GetId()+":bypass", "dev-alice", `{"reason":"exploit in the wild, patching now"}`)
		require.Equal(t, http.StatusOK, code, string(body))
		got := decodeApproval(t, body)
		require.Equal(t, pb.Status_STATUS_BYPASSED, got.GetStatus())
		require.Equal(t, "alice", got.GetBypassedBy())
		final := waitClosed(t, s, a.GetId())
		var kinds []string
		for _, e := range final.GetEvents() {
			kinds = append(kinds, e.GetKind()+":"+strings.SplitN(e.GetDetail(), ":", 2)[0])
		}
		require.Contains(t, kinds, "break_glass:exploit in the wild, patching now")
		require.Contains(t, kinds, "notified:log break_glass", "security hears about break-glass")
	})

	t.Run("rego denies, and the denial is recorded with its verdict", func(t *testing.T) {
		a, err := api.CreateApproval(testenv.Ctx("dev-alice"), &pb.CreateApprovalRequest{
			Title: "Exception", Environment: "production", Resource: "exception/x", Justification: "because",
		})
		require.NoError(t, err)
		_, err = api.DecideApproval(testenv.Ctx("dev-dana"), &pb.DecideApprovalRequest{Id: a.GetId(), Decision: pb.Decision_DECISION_APPROVE, RequestHash: s.Seen("dev-dana", a.GetId())})
		require.Equal(t, codes.PermissionDenied, status.Code(err), "dana is security but not on call: %v", err)
		require.Contains(t, err.Error(), "need an approver who is on call")
		_, err = api.DecideApproval(testenv.Ctx("dev-erin"), &pb.DecideApprovalRequest{Id: a.GetId(), Decision: pb.Decision_DECISION_APPROVE, RequestHash: s.Seen("dev-erin", a.GetId())})
		require.NoError(t, err, "erin is security and on call: allowed")
		final := waitClosed(t, s, a.GetId())
		require.Equal(t, pb.Status_STATUS_APPROVED, final.GetStatus())
		d := final.GetDecisions()
		require.Len(t, d, 2)
		require.False(t, d[0].GetAccepted())
		require.Contains(t, d[0].GetVerdict(), "rego: deny")
		require.Equal(t, "rego: allow", d[1].GetVerdict())
	})

	t.Run("hard policy refuses break-glass; amendment voids approvals", func(t *testing.T) {
		a, err := api.CreateApproval(testenv.Ctx("dev-alice"), &pb.CreateApprovalRequest{
			Title: "Rotate key", Environment: "aws", Action: &pb.Action{Type: "noop"},
		})
		require.NoError(t, err)
		_, err = api.BypassApproval(testenv.Ctx("dev-alice"), &pb.BypassApprovalRequest{Id: a.GetId(), Reason: "hurry"})
		require.Equal(t, codes.PermissionDenied, status.Code(err), "hard enforcement: %v", err)

		code, body := s.Do("POST", "/v1/approvals/"+a.GetId()+":amend", "dev-bob", `{"title":"Rotate key now"}`)
		require.Equal(t, http.StatusForbidden, code, "only the requester amends: %s", body)
		code, body = s.Do("POST", "/v1/approvals/"+a.GetId()+":amend", "dev-alice", `{"title":"Rotate key now","fields":{"why":"leaked"}}`)
		require.Equal(t, http.StatusOK, code, string(body))
		amended := decodeApproval(t, body)
		require.EqualValues(t, 1, amended.GetRevision())
		require.Equal(t, "Rotate key now", amended.GetTitle())
		require.NotEqual(t, a.GetRequestHash(), amended.GetRequestHash())
		code, body = s.Do("POST", "/v1/approvals/"+a.GetId()+":amend", "dev-alice", `{"title":"x","resource":"exception/now"}`)
		require.Equal(t, http.StatusConflict, code, "moving under another policy: %s", body)
	})
}

func waitClosed(t *testing.T, s *testenv.Stack, id string) *pb.Approval {
	t.Helper()
	var got *pb.Approval
	testenv.Eventually(t, 30e9, "approval "+id+" to close", func() bool {
		code, body := s.Do("GET", "/v1/approvals/"+id, "dev-alice", "")
		require.Equal(t, http.StatusOK, code, string(body))
		got = decodeApproval(t, body)
		return got.GetCloseTime() != nil && (got.GetActionResult() != nil || !strings.Contains("APPROVED BYPASSED", strings.TrimPrefix(got.GetStatus().String(), "STATUS_")))
	})
	return got
}
