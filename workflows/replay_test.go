package workflows

import (
	"os"
	"path/filepath"
	"testing"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
)

// TestReplayRecordedHistories replays histories recorded from the real
// server by the end-to-end tests: a change to ApprovalWorkflow that is not
// guarded by workflow.GetVersion fails here, not in production. To add
// histories of new behaviour, run the end-to-end tests that drive it with
//
//	SIGNOFF_RECORD_HISTORY_DIR=/tmp/histories go test ./e2e -run 'TestName'
//
// and copy the files worth keeping to testdata/history_<what>.json.
func TestReplayRecordedHistories(t *testing.T) {
	files, err := filepath.Glob("testdata/history_*.json")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no recorded histories in testdata/")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			r, err := os.Open(f)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			h, err := client.HistoryFromJSON(r, client.HistoryJSONOptions{})
			if err != nil {
				t.Fatal(err)
			}
			replayer := worker.NewWorkflowReplayer()
			replayer.RegisterWorkflowWithOptions(ApprovalWorkflow, workflow.RegisterOptions{Name: WorkflowName})
			replayer.RegisterWorkflowWithOptions(LeaseWorkflow, workflow.RegisterOptions{Name: LeaseWorkflowName})
			if err := replayer.ReplayWorkflowHistory(nil, h); err != nil {
				t.Fatalf("replay %s: %v", f, err)
			}
		})
	}
}
