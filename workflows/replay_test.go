package workflows

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/signoff/signoff/approval"
)

// TestReplayRecordedHistories replays histories recorded from the real
// server by the end-to-end tests: a change to ApprovalWorkflow that is not
// guarded by workflow.GetVersion fails here, not in production. Replay
// itself compares only the commands (activities, timers, markers), so for
// a workflow that completed, the result the code gives now is compared
// with the recorded one too: a change to who counts, a refusal code or the
// final state that schedules the same activities and timers fails here as
// well. The differences that deliberate changes made since a history was
// recorded are listed, value for value, in testdata/replay_drift.txt. To
// add histories of new behaviour, run the end-to-end tests that drive it
// with
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
	drift, update := readDrift(t), os.Getenv(updateDriftEnv) != ""
	var seen []string
	completed := 0
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			h := readHistory(t, f)
			want, done := recordedResult(t, h)
			got := replay(t, h, nil)
			if !done {
				return
			}
			completed++
			if !got.returned {
				t.Fatal("the recorded workflow completed; on replay it did not return")
			}
			if got.err != nil {
				t.Fatalf("the recorded workflow completed; on replay it failed: %v", got.err)
			}
			var unexpected []string
			for _, d := range resultDiff(t, h, want, got.result) {
				line := filepath.Base(f) + " " + d
				seen = append(seen, line)
				if !drift[line] {
					unexpected = append(unexpected, d)
				}
			}
			if len(unexpected) > 0 && !update {
				t.Errorf("replay gives another result than the recorded one:\n%s", indent(unexpected))
			}
		})
	}
	if completed == 0 {
		t.Error("no recorded history completed: results were compared for none")
	}
	if update {
		writeDrift(t, seen)
		return
	}
	var stale []string
	for line := range drift {
		if !slices.Contains(seen, line) {
			stale = append(stale, line)
		}
	}
	if len(stale) > 0 {
		slices.Sort(stale)
		t.Errorf("testdata/replay_drift.txt lists differences replay no longer gives (the result changed again):\n%s", indent(stale))
	}
}

// updateDriftEnv, set, rewrites testdata/replay_drift.txt with the
// differences replay gives now: for a deliberate change, each new line to
// be justified in review.
const updateDriftEnv = "SIGNOFF_UPDATE_REPLAY_DRIFT"

const driftFile = "testdata/replay_drift.txt"

const driftHeader = `# Differences between the results recorded in testdata/history_*.json and
# those today's workflow gives on replaying them, each from a deliberate
# change made after the history was recorded (see replay_test.go). One
# line per history and JSON path, with both values: a result that differs
# anywhere else, or here otherwise, fails TestReplayRecordedHistories.
#
#   refusal_code            refusal codes (b32a3af): replay gives the
#                           refusals recorded before them their code
#   attempts[].request_hash attempts bound to the request's hash, and
#   stage_approved events   stage events, came with staged policies
#                           (692e84a), after history_approved and
#                           history_rejected were recorded
#
# After a deliberate change to results, regenerate with
#   SIGNOFF_UPDATE_REPLAY_DRIFT=1 go test ./workflows -run TestReplayRecordedHistories
# and justify every new line in review.
`

func readDrift(t *testing.T) map[string]bool {
	t.Helper()
	b, err := os.ReadFile(driftFile)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, line := range strings.Split(string(b), "\n") {
		if line != "" && !strings.HasPrefix(line, "#") {
			out[line] = true
		}
	}
	return out
}

func writeDrift(t *testing.T, lines []string) {
	t.Helper()
	lines = slices.Clone(lines)
	slices.Sort(lines)
	body := driftHeader + "\n" + strings.Join(lines, "\n") + "\n"
	if err := os.WriteFile(driftFile, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %d differences to %s", len(lines), driftFile)
}

// TestReplayCatchesAnotherResult: a replayed result that differs from the
// recorded one in a single field, beyond the listed drift, fails the
// comparison.
func TestReplayCatchesAnotherResult(t *testing.T) {
	const file = "history_rejected.json"
	h := readHistory(t, "testdata/"+file)
	want, done := recordedResult(t, h)
	if !done {
		t.Fatal(file + " did not complete")
	}
	drift := readDrift(t)
	for name, mutate := range map[string]func(*approval.State){
		"none":   nil,
		"status": func(st *approval.State) { st.Status = approval.StatusApproved },
		"refusal code": func(st *approval.State) {
			for i := range st.Attempts {
				st.Attempts[i].RefusalCode = approval.CodeNotApprover
			}
		},
		"who counts": func(st *approval.State) { st.ApprovedBy = append(st.ApprovedBy, "mallory") },
	} {
		t.Run(name, func(t *testing.T) {
			got := replay(t, h, mutate)
			if got.err != nil || !got.returned {
				t.Fatalf("replay: returned %v, %v", got.returned, got.err)
			}
			var unexpected []string
			for _, d := range resultDiff(t, h, want, got.result) {
				if !drift[file+" "+d] {
					unexpected = append(unexpected, d)
				}
			}
			if mutate == nil && len(unexpected) > 0 {
				t.Errorf("unchanged, the result differs:\n%s", indent(unexpected))
			}
			if mutate != nil && len(unexpected) == 0 {
				t.Errorf("a %s changed on replay passed the comparison", name)
			}
		})
	}
}

func readHistory(t *testing.T, f string) *historypb.History {
	t.Helper()
	r, err := os.Open(f)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	h, err := client.HistoryFromJSON(r, client.HistoryJSONOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// recordedResult is the result the workflow completed with, as JSON, and
// whether it completed. Histories are recorded without a codec: a payload
// in another encoding is an error, not a comparison skipped.
func recordedResult(t *testing.T, h *historypb.History) (json.RawMessage, bool) {
	t.Helper()
	for _, e := range h.GetEvents() {
		if e.GetEventType() != enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED {
			continue
		}
		ps := e.GetWorkflowExecutionCompletedEventAttributes().GetResult().GetPayloads()
		if len(ps) == 0 {
			return json.RawMessage("null"), true
		}
		if len(ps) != 1 {
			t.Fatalf("completed with %d result payloads", len(ps))
		}
		if enc := string(ps[0].GetMetadata()[converter.MetadataEncoding]); enc != converter.MetadataEncodingJSON {
			t.Fatalf("result recorded as %q, not %s: record histories without codec keys", enc, converter.MetadataEncodingJSON)
		}
		return ps[0].GetData(), true
	}
	return nil, false
}

// replayed is what the workflow function returned on replay.
type replayed struct {
	returned bool
	result   any
	err      error
}

// replay replays h and captures what the workflow returns; mutate, when
// set, changes an approval's result first (to test the comparison).
func replay(t *testing.T, h *historypb.History, mutate func(*approval.State)) *replayed {
	t.Helper()
	got := &replayed{}
	r, err := worker.NewWorkflowReplayerWithOptions(worker.WorkflowReplayerOptions{
		Interceptors: []interceptor.WorkerInterceptor{&resultCapture{got: got, mutate: mutate}},
	})
	if err != nil {
		t.Fatal(err)
	}
	r.RegisterWorkflowWithOptions(ApprovalWorkflow, workflow.RegisterOptions{Name: WorkflowName})
	r.RegisterWorkflowWithOptions(LeaseWorkflow, workflow.RegisterOptions{Name: LeaseWorkflowName})
	if err := r.ReplayWorkflowHistory(nil, h); err != nil {
		t.Fatalf("replay: %v", err)
	}
	return got
}

// resultCapture records the workflow function's return value at the end
// of ExecuteWorkflow, which replay does not compare with history.
type resultCapture struct {
	interceptor.WorkerInterceptorBase
	got    *replayed
	mutate func(*approval.State)
}

func (c *resultCapture) InterceptWorkflow(_ workflow.Context, next interceptor.WorkflowInboundInterceptor) interceptor.WorkflowInboundInterceptor {
	return &resultInbound{WorkflowInboundInterceptorBase: interceptor.WorkflowInboundInterceptorBase{Next: next}, c: c}
}

type resultInbound struct {
	interceptor.WorkflowInboundInterceptorBase
	c *resultCapture
}

func (i *resultInbound) ExecuteWorkflow(ctx workflow.Context, in *interceptor.ExecuteWorkflowInput) (any, error) {
	res, err := i.Next.ExecuteWorkflow(ctx, in)
	if st, ok := res.(*approval.State); ok && st != nil && i.c.mutate != nil {
		i.c.mutate(st)
	}
	i.c.got.returned, i.c.got.result, i.c.got.err = true, res, err
	return res, err
}

// resultDiff compares the recorded result with the replayed one, both as
// the JSON the data converter writes. An approval's recorded state is read
// into today's approval.State first, so a field added since it was
// recorded (and left out when empty) is not a difference.
func resultDiff(t *testing.T, h *historypb.History, recorded json.RawMessage, got any) []string {
	t.Helper()
	if workflowType(h) == WorkflowName {
		var st approval.State
		if err := json.Unmarshal(recorded, &st); err != nil {
			t.Fatalf("recorded result is no approval.State: %v", err)
		}
		b, err := json.Marshal(&st)
		if err != nil {
			t.Fatal(err)
		}
		recorded = b
	}
	var want, have any
	if err := json.Unmarshal(recorded, &want); err != nil {
		t.Fatal(err)
	}
	if got != nil {
		p, err := converter.GetDefaultDataConverter().ToPayload(got)
		if err != nil {
			t.Fatalf("replayed result: %v", err)
		}
		if err := json.Unmarshal(p.GetData(), &have); err != nil {
			t.Fatal(err)
		}
	}
	return jsonDiff("result", want, have)
}

func workflowType(h *historypb.History) string {
	for _, e := range h.GetEvents() {
		if a := e.GetWorkflowExecutionStartedEventAttributes(); a != nil {
			return a.GetWorkflowType().GetName()
		}
	}
	return ""
}

// jsonDiff lists where two decoded JSON values differ, by path, with both
// values ("(none)": the value is not there). Lists of another length are
// aligned on their longest common subsequence, so one event added reads as
// one line.
func jsonDiff(path string, want, got any) []string {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			break
		}
		keys := make([]string, 0, len(w)+len(g))
		for k := range w {
			keys = append(keys, k)
		}
		for k := range g {
			if _, dup := w[k]; !dup {
				keys = append(keys, k)
			}
		}
		slices.Sort(keys)
		var out []string
		for _, k := range keys {
			wv, inW := w[k]
			gv, inG := g[k]
			if inW && inG {
				out = append(out, jsonDiff(path+"."+k, wv, gv)...)
				continue
			}
			out = append(out, diffLine(path+"."+k, wv, inW, gv, inG))
		}
		return out
	case []any:
		g, ok := got.([]any)
		if !ok {
			break
		}
		if len(g) == len(w) {
			var out []string
			for i := range w {
				out = append(out, jsonDiff(fmt.Sprintf("%s[%d]", path, i), w[i], g[i])...)
			}
			return out
		}
		return listDiff(path, w, g)
	}
	if reflect.DeepEqual(want, got) {
		return nil
	}
	return []string{diffLine(path, want, true, got, true)}
}

// listDiff reports what was removed from want and added in got, aligned on
// their longest common subsequence.
func listDiff(path string, want, got []any) []string {
	lcs := make([][]int, len(want)+1)
	for i := range lcs {
		lcs[i] = make([]int, len(got)+1)
	}
	for i := len(want) - 1; i >= 0; i-- {
		for j := len(got) - 1; j >= 0; j-- {
			if reflect.DeepEqual(want[i], got[j]) {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var out []string
	i, j := 0, 0
	for i < len(want) || j < len(got) {
		switch {
		case i < len(want) && j < len(got) && reflect.DeepEqual(want[i], got[j]):
			i, j = i+1, j+1
		case j < len(got) && (i == len(want) || lcs[i][j+1] >= lcs[i+1][j]):
			out = append(out, diffLine(fmt.Sprintf("%s[%d]", path, j), nil, false, got[j], true))
			j++
		default:
			out = append(out, diffLine(fmt.Sprintf("%s[%d]", path, i), want[i], true, nil, false))
			i++
		}
	}
	return out
}

func diffLine(path string, want any, inWant bool, got any, inGot bool) string {
	show := func(v any, in bool) string {
		if !in {
			return "(none)"
		}
		b, err := json.Marshal(v)
		if err != nil {
			return fmt.Sprint(v)
		}
		return string(b)
	}
	return fmt.Sprintf("%s: recorded %s, replayed %s", path, show(want, inWant), show(got, inGot))
}

func indent(lines []string) string {
	var b strings.Builder
	for _, l := range lines {
		b.WriteString("  " + l + "\n")
	}
	return b.String()
}
