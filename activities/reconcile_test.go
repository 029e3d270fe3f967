package activities

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/converter"

	"github.com/signoff/signoff/approval"
	"github.com/signoff/signoff/workflows"
)

// fakeTemporal is the little of Temporal the reconciler reads: what
// visibility lists, each workflow ID's latest run, and closed runs' states.
type fakeTemporal struct {
	mu      sync.Mutex
	listed  []*commonpb.WorkflowExecution
	latest  map[string]*workflowpb.WorkflowExecutionInfo // workflow ID → latest run
	states  map[string]*approval.State                   // run ID → last state
	queries map[string]int                               // run ID → state queries
	runs    map[string]*workflowpb.WorkflowExecutionInfo // run ID → that run
	query   string
}

func newFakeTemporal() *fakeTemporal {
	return &fakeTemporal{latest: map[string]*workflowpb.WorkflowExecutionInfo{}, states: map[string]*approval.State{}, queries: map[string]int{},
		runs: map[string]*workflowpb.WorkflowExecutionInfo{}}
}

// closed adds a run of approval id that closed with status, listed by
// visibility, and the latest of its ID; st nil makes its query fail.
func (f *fakeTemporal) closed(id, runID string, status enumspb.WorkflowExecutionStatus, st *approval.State) {
	wid := workflows.ApprovalWorkflowID(id)
	f.listed = append(f.listed, &commonpb.WorkflowExecution{WorkflowId: wid, RunId: runID})
	f.run(wid, runID, status)
	f.states[runID] = st
}

// run makes runID the latest run of wid.
func (f *fakeTemporal) run(wid, runID string, status enumspb.WorkflowExecutionStatus) {
	f.latest[wid] = &workflowpb.WorkflowExecutionInfo{Execution: &commonpb.WorkflowExecution{WorkflowId: wid, RunId: runID}, Status: status}
	f.runs[runID] = f.latest[wid]
}

// ListWorkflow lists two runs a page, to go through the pages.
func (f *fakeTemporal) ListWorkflow(_ context.Context, req *workflowservice.ListWorkflowExecutionsRequest) (*workflowservice.ListWorkflowExecutionsResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.query = req.GetQuery()
	from := 0
	if len(req.GetNextPageToken()) > 0 {
		from, _ = strconv.Atoi(string(req.GetNextPageToken()))
	}
	to := min(from+2, len(f.listed))
	resp := &workflowservice.ListWorkflowExecutionsResponse{}
	for _, e := range f.listed[from:to] {
		resp.Executions = append(resp.Executions, &workflowpb.WorkflowExecutionInfo{Execution: e})
	}
	if to < len(f.listed) {
		resp.NextPageToken = []byte(strconv.Itoa(to))
	}
	return resp, nil
}

func (f *fakeTemporal) DescribeWorkflowExecution(_ context.Context, wid, runID string) (*workflowservice.DescribeWorkflowExecutionResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	info, ok := f.latest[wid]
	if runID != "" {
		info, ok = f.runs[runID]
	}
	if !ok {
		return nil, serviceerror.NewNotFound("workflow not found: " + wid)
	}
	return &workflowservice.DescribeWorkflowExecutionResponse{WorkflowExecutionInfo: info}, nil
}

func (f *fakeTemporal) QueryWorkflow(_ context.Context, wid, runID, queryType string, _ ...any) (converter.EncodedValue, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.queries[runID]++
	st := f.states[runID]
	if queryType != workflows.QueryState || st == nil {
		return nil, errors.New("query failed: workflow task failed")
	}
	return encoded{st}, nil
}

// encoded is a query answer, as the SDK decodes it (JSON).
type encoded struct{ v any }

func (e encoded) HasValue() bool { return e.v != nil }
func (e encoded) Get(ptr any) error {
	b, err := json.Marshal(e.v)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, ptr)
}

// logBuffer is a log the test reads.
func logBuffer() (*slog.Logger, *bytes.Buffer) {
	var b bytes.Buffer
	return slog.New(slog.NewTextHandler(&b, nil)), &b
}

func terminatedGrant(id string, now time.Time) *approval.State {
	st := grantState(id, "alice", now.Add(time.Hour))
	st.Grant.GrantedAt = now
	return st
}

// TestFindOrphanedGrants: of the closed approval runs visibility lists,
// the pass finds those whose last state holds access, once reconciled
// never again, and reads each settled run once per worker.
func TestFindOrphanedGrants(t *testing.T) {
	now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	f := newFakeTemporal()
	const term, failed = enumspb.WORKFLOW_EXECUTION_STATUS_TERMINATED, enumspb.WORKFLOW_EXECUTION_STATUS_FAILED
	f.closed("a1", "r1", term, terminatedGrant("a1", now))
	// a2 was reset: its new run holds the grant.
	f.closed("a2", "r2", term, terminatedGrant("a2", now))
	f.run(workflows.ApprovalWorkflowID("a2"), "r2b", enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING)
	// a3 granted nothing for a while (a deploy approval).
	f.closed("a3", "r3", term, &approval.State{ID: "a3", Status: approval.StatusApproved})
	// a4 was reconciled by an earlier pass; a5's reconciliation runs.
	f.closed("a4", "r4", term, terminatedGrant("a4", now))
	f.run(workflows.ReconcileGrantWorkflowID("a4", "r4"), "x4", enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED)
	f.closed("a5", "r5", term, terminatedGrant("a5", now))
	f.run(workflows.ReconcileGrantWorkflowID("a5", "r5"), "x5", enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING)
	// a6's run failed while granted; the last reconciliation failed too.
	f.closed("a6", "r6", failed, terminatedGrant("a6", now))
	f.run(workflows.ReconcileGrantWorkflowID("a6", "r6"), "x6", enumspb.WORKFLOW_EXECUTION_STATUS_FAILED)
	// a7's state cannot be read.
	f.closed("a7", "r7", term, nil)
	// a8 was terminated after its revoke, before it said so.
	revoked := terminatedGrant("a8", now)
	revoked.Grant.RevokedAt = now.Add(time.Hour)
	f.closed("a8", "r8", term, revoked)
	// a9 was terminated while its grant action ran: it may have landed.
	landing := terminatedGrant("a9", now)
	landing.Status, landing.Grant.GrantedAt = approval.StatusApproved, time.Time{}
	f.closed("a9", "r9", term, landing)

	logger, logs := logBuffer()
	r := &GrantReconciler{Client: f, TaskQueue: "signoff", Logger: logger}
	got, err := r.FindOrphanedGrants(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := workflows.Orphans{
		Grants: []workflows.OrphanedGrant{
			{ApprovalID: "a1", RunID: "r1", WorkflowStatus: "Terminated", ActionType: "fake"},
			{ApprovalID: "a6", RunID: "r6", WorkflowStatus: "Failed", ActionType: "fake"},
			{ApprovalID: "a9", RunID: "r9", WorkflowStatus: "Terminated", ActionType: "fake"},
		},
		InProgress: []string{"a5"},
		Unreadable: []workflows.UnreadableGrant{{ApprovalID: "a7", RunID: "r7", Error: "query the state of approval-a7: query failed: workflow task failed"}},
	}
	gotJSON, _ := json.Marshal(got)
	wantJSON, _ := json.Marshal(want)
	if string(gotJSON) != string(wantJSON) {
		t.Fatalf("found\n%s\nwant\n%s", gotJSON, wantJSON)
	}
	for _, part := range []string{"WorkflowType = 'ApprovalWorkflow'", "TaskQueue = 'signoff'",
		"ExecutionStatus IN ('Terminated', 'TimedOut', 'Failed', 'Canceled')", "ApprovalStatus IN ('Granted', 'Approved', 'Bypassed')"} {
		if !strings.Contains(f.query, part) {
			t.Errorf("visibility query %q lacks %q", f.query, part)
		}
	}
	if !strings.Contains(logs.String(), "level=WARN msg=\"granted access outlived its approval's workflow: revoking it\" approval_id=a1") {
		t.Errorf("no warning names a1:\n%s", logs)
	}

	// The next pass reads again only what may still need a revoke.
	if _, err := r.FindOrphanedGrants(context.Background()); err != nil {
		t.Fatal(err)
	}
	for run, want := range map[string]int{"r1": 2, "r6": 2, "r7": 2, "r9": 2, "r2": 0, "r3": 1, "r4": 0, "r5": 0, "r8": 1} {
		if f.queries[run] != want {
			t.Errorf("run %s queried %d times, want %d", run, f.queries[run], want)
		}
	}
}

// TestRevokeOrphanedGrant: the revoke is the approval workflow's own
// (RunAction): the access goes, the lease lets go of the approval, the
// state told to the notifiers says who revoked it and why, and a warning
// names the approval. Run again (a retry, a second pass), it changes
// nothing.
func TestRevokeOrphanedGrant(t *testing.T) {
	now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	access := &fakeAccess{members: map[string]bool{}}
	acts := grantActivities(access, &now)
	st := terminatedGrant("a1", now)
	acts.phase(t, st, "") // granted, under the lease
	f := newFakeTemporal()
	f.closed("a1", "r1", enumspb.WORKFLOW_EXECUTION_STATUS_TERMINATED, st)
	logger, logs := logBuffer()
	r := &GrantReconciler{Client: f, TaskQueue: "signoff", Activities: acts, Logger: logger, Now: func() time.Time { return now }}
	g := workflows.OrphanedGrant{ApprovalID: "a1", RunID: "r1", WorkflowStatus: "Terminated", ActionType: "fake"}

	got, err := r.RevokeOrphanedGrant(context.Background(), g)
	if err != nil {
		t.Fatal(err)
	}
	if access.members["alice"] || access.revokes != 1 {
		t.Fatalf("members %v after %d revokes: want alice's access gone, revoked once", access.members, access.revokes)
	}
	reason := "access revoked by the reconciler: the approval's workflow was terminated"
	told := got.Approval
	if got.Skipped != "" || got.Result.Output != "revoked (verified)" || told.Status != approval.StatusRevoked ||
		!told.Grant.RevokedAt.Equal(now) || told.Grant.RevokeRequestedBy != workflows.ReconcileActor || told.Grant.RevokeReason != reason {
		t.Errorf("answer %+v, grant %+v", got, told.Grant)
	}
	if !strings.Contains(logs.String(), "level=WARN msg=\""+reason+"\" approval_id=a1 run_id=r1 workflow_status=Terminated") {
		t.Errorf("no warning names a1:\n%s", logs)
	}
	// The lease let go: a new grant of the access is the only holder.
	if out := acts.phase(t, grantState("a2", "alice", now.Add(2*time.Hour)), ""); strings.Contains(out, "a1") {
		t.Errorf("the lease still holds a1: %q", out)
	}
	acts.phase(t, grantState("a2", "alice", now.Add(2*time.Hour)), workflows.PhaseRevoke)

	if _, err := r.RevokeOrphanedGrant(context.Background(), g); err != nil {
		t.Fatal(err)
	}
	if access.revokes != 2 || access.grants != 2 {
		t.Errorf("%d grants, %d revokes: the second reconcile revoked again", access.grants, access.revokes)
	}
}

// TestRevokeOrphanedGrantLeavesAResetRun: a run reset since the pass
// found it holds its own grant: nothing is revoked.
func TestRevokeOrphanedGrantLeavesAResetRun(t *testing.T) {
	now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	access := &fakeAccess{members: map[string]bool{}}
	acts := grantActivities(access, &now)
	st := terminatedGrant("a1", now)
	acts.phase(t, st, "")
	f := newFakeTemporal()
	f.closed("a1", "r1", enumspb.WORKFLOW_EXECUTION_STATUS_TERMINATED, st)
	f.run(workflows.ApprovalWorkflowID("a1"), "r2", enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING)
	logger, _ := logBuffer()
	r := &GrantReconciler{Client: f, Activities: acts, Logger: logger}
	got, err := r.RevokeOrphanedGrant(context.Background(), workflows.OrphanedGrant{ApprovalID: "a1", RunID: "r1", WorkflowStatus: "Terminated"})
	if err != nil {
		t.Fatal(err)
	}
	if got.Skipped == "" || !access.members["alice"] || access.revokes != 0 {
		t.Errorf("answer %+v, members %v, %d revokes: want skipped, access left", got, access.members, access.revokes)
	}
}

func TestHoldsAccess(t *testing.T) {
	now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	granted := terminatedGrant("a", now)
	revoked := terminatedGrant("a", now)
	revoked.Grant.RevokedAt = now
	takenOver := terminatedGrant("a", now)
	takenOver.Grant.AcknowledgedBy = "dana"
	rejected := terminatedGrant("a", now)
	rejected.Status = approval.StatusRejected
	for name, c := range map[string]struct {
		st   *approval.State
		want bool
	}{
		"granted":           {granted, true},
		"revoked":           {revoked, false},
		"taken over":        {takenOver, false},
		"not granted":       {rejected, false},
		"no grant (deploy)": {&approval.State{Status: approval.StatusApproved}, false},
	} {
		if got := HoldsAccess(c.st); got != c.want {
			t.Errorf("%s: HoldsAccess %v, want %v", name, got, c.want)
		}
	}
}

// TestRevokeOrphanedGrantAfterACopiedRun: someone terminates a granted
// approval's workflow and starts a copy under its ID, which is refused at
// start and ends at once. The copy is the latest run but holds nothing: the
// terminated run's grant is still revoked.
func TestRevokeOrphanedGrantAfterACopiedRun(t *testing.T) {
	now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	access := &fakeAccess{members: map[string]bool{}}
	acts := grantActivities(access, &now)
	st := terminatedGrant("a1", now)
	acts.phase(t, st, "")
	f := newFakeTemporal()
	f.closed("a1", "r1", enumspb.WORKFLOW_EXECUTION_STATUS_TERMINATED, st)
	f.run(workflows.ApprovalWorkflowID("a1"), "r2", enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED)
	logger, _ := logBuffer()
	r := &GrantReconciler{Client: f, Activities: acts, Logger: logger}
	got, err := r.RevokeOrphanedGrant(context.Background(), workflows.OrphanedGrant{ApprovalID: "a1", RunID: "r1", WorkflowStatus: "Terminated"})
	if err != nil {
		t.Fatal(err)
	}
	if got.Skipped != "" || access.members["alice"] || access.revokes != 1 {
		t.Errorf("answer %+v, members %v, %d revokes: want the access revoked", got, access.members, access.revokes)
	}
}
