package testenv

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"time"

	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/workflowservice/v1"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/signoff/signoff/workflows"
)

// RecordHistoryDirEnv names a folder: when set, every stack writes the
// history of each approval (closed or still open) into it at cleanup, so the replay test
// can be fed real histories of every feature the end-to-end tests drive.
const RecordHistoryDirEnv = "SIGNOFF_RECORD_HISTORY_DIR"

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9_.-]+`)

// recordHistories writes closed approvals' histories; best effort, it
// never fails a test.
func (s *Stack) recordHistories() {
	dir := os.Getenv(RecordHistoryDirEnv)
	if dir == "" || s.Client == nil {
		return
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		s.T.Logf("record histories: %v", err)
		return
	}
	prefix := "stack"
	if n, ok := s.T.(interface{ Name() string }); ok {
		prefix = unsafeName.ReplaceAllString(n.Name(), "_")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var token []byte
	for {
		resp, err := s.Client.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			Query:         "WorkflowType IN ('" + workflows.WorkflowName + "', '" + workflows.LeaseWorkflowName + "')",
			NextPageToken: token,
		})
		if err != nil {
			s.T.Logf("record histories: list: %v", err)
			return
		}
		for _, e := range resp.GetExecutions() {
			id := e.GetExecution().GetWorkflowId()
			iter := s.Client.GetWorkflowHistory(ctx, id, e.GetExecution().GetRunId(), false, 0)
			var h historypb.History
			for iter.HasNext() {
				ev, err := iter.Next()
				if err != nil {
					s.T.Logf("record histories: %s: %v", id, err)
					return
				}
				h.Events = append(h.Events, ev)
			}
			b, err := protojson.MarshalOptions{Indent: "  "}.Marshal(&h)
			if err == nil {
				// Runs of one ID (a copy started under it) each get a file.
				run := e.GetExecution().GetRunId()
				err = os.WriteFile(filepath.Join(dir, prefix+"__"+id+"__"+run[:min(8, len(run))]+".json"), b, 0o644)
			}
			if err != nil {
				s.T.Logf("record histories: %s: %v", id, err)
			}
		}
		if token = resp.GetNextPageToken(); len(token) == 0 {
			return
		}
	}
}
