package e2e

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	historypb "go.temporal.io/api/history/v1"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/signoff/signoff/internal/testenv"
	pb "github.com/signoff/signoff/proto/signoff/v1"
	"github.com/signoff/signoff/workflows"
)

// TestRecordHistories writes real histories into workflows/testdata for the
// replay test. Run it after a deliberate, versioned workflow change:
//
//	SIGNOFF_RECORD_HISTORY=1 go test ./e2e -run TestRecordHistories
func TestRecordHistories(t *testing.T) {
	if os.Getenv("SIGNOFF_RECORD_HISTORY") == "" {
		t.Skip("set SIGNOFF_RECORD_HISTORY=1 to record workflow histories")
	}
	s := testenv.Start(t, testenv.Options{})
	api := s.GRPC()
	create := func(env string) string {
		a, err := api.CreateApproval(testenv.Ctx("dev-alice"), &pb.CreateApprovalRequest{
			Title: "Deploy api", Environment: env, Fields: map[string]string{"version": "1.2.3"},
		})
		require.NoError(t, err)
		return a.GetId()
	}
	decide := func(id, token string, d pb.Decision) {
		_, _ = api.DecideApproval(testenv.Ctx(token), &pb.DecideApprovalRequest{Id: id, Decision: d})
	}
	ids := map[string]string{}

	ids["approved"] = create("production")
	decide(ids["approved"], "dev-alice", pb.Decision_DECISION_APPROVE) // refused: self
	decide(ids["approved"], "dev-bob", pb.Decision_DECISION_APPROVE)
	require.NoError(t, s.Client.SignalWorkflow(context.Background(), workflows.ApprovalWorkflowID(ids["approved"]), "",
		workflows.SignalDecision, workflows.DecisionRequest{AttemptID: "sig-1", User: "carol", Decision: "approve", Channel: "slack"}))

	ids["rejected"] = create("staging")
	decide(ids["rejected"], "dev-carol", pb.Decision_DECISION_REJECT)

	ids["cancelled"] = create("staging")
	_, err := api.CancelApproval(testenv.Ctx("dev-dana"), &pb.CancelApprovalRequest{Id: ids["cancelled"], Reason: "freeze"})
	require.NoError(t, err)

	for name, id := range ids {
		run := s.Client.GetWorkflow(context.Background(), workflows.ApprovalWorkflowID(id), "")
		require.NoError(t, run.Get(context.Background(), nil), name)
		iter := s.Client.GetWorkflowHistory(context.Background(), workflows.ApprovalWorkflowID(id), "", false, 0)
		var h historypb.History
		for iter.HasNext() {
			e, err := iter.Next()
			require.NoError(t, err)
			h.Events = append(h.Events, e)
		}
		b, err := protojson.MarshalOptions{Indent: "  "}.Marshal(&h)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join("..", "workflows", "testdata", "history_"+name+".json"), b, 0o644))
	}
}
