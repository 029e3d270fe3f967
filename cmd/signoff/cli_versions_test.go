package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/signoff/signoff/workflows"
)

func TestBranchQuery(t *testing.T) {
	for _, tc := range []struct {
		b    workflows.Branch
		want string
	}{
		{workflows.Branch{Clears: []string{"first-run-1"}},
			"WorkflowType = 'ApprovalWorkflow' AND ExecutionStatus = 'Running'" +
				" AND (TemporalChangeVersion IS NULL OR TemporalChangeVersion NOT IN ('first-run-1'))"},
		{workflows.Branch{Clears: []string{"first-run-1", "grant-period-v2-1"}, AfterOutcome: true},
			"WorkflowType = 'ApprovalWorkflow' AND ExecutionStatus = 'Running'" +
				" AND (TemporalChangeVersion IS NULL OR TemporalChangeVersion NOT IN ('first-run-1', 'grant-period-v2-1'))" +
				" AND (ApprovalStatus IS NULL OR ApprovalStatus != 'Pending')"},
		// Values are quoted: none ends its literal.
		{workflows.Branch{Clears: []string{`it's-1`}},
			"WorkflowType = 'ApprovalWorkflow' AND ExecutionStatus = 'Running'" +
				` AND (TemporalChangeVersion IS NULL OR TemporalChangeVersion NOT IN ('it\'s-1'))`},
		{workflows.Branch{}, "WorkflowType = 'ApprovalWorkflow' AND ExecutionStatus = 'Running'"},
	} {
		if got := branchQuery(runningRuns, tc.b); got != tc.want {
			t.Errorf("branchQuery(%+v)\n got %s\nwant %s", tc.b, got, tc.want)
		}
	}
	if want := "WorkflowType = 'ApprovalWorkflow' AND ExecutionStatus IN ('Canceled', 'Terminated', 'Failed', 'TimedOut')"; replayedRuns != want {
		t.Errorf("replayedRuns = %s, want %s", replayedRuns, want)
	}
}

func TestApprovalVersionsReport(t *testing.T) {
	branches := []workflows.Branch{
		{Kind: workflows.BranchChange, Name: "first-run", Since: "4dae5b9", Clears: []string{"first-run-1"}},
		{Kind: workflows.BranchChange, Name: "cancel-revokes-grant", Since: "2b6bea8",
			Clears: []string{"first-run-1", "cancel-revokes-grant-1"}, AfterOutcome: true, EndsRun: true},
		{Kind: workflows.BranchInput, Name: "0", Since: "91f8f72", Clears: []string{"first-run-1", "proven-start-1"}},
	}
	counts := map[string]int64{
		runningRuns:                            12,
		replayedRuns:                           1,
		branchQuery(runningRuns, branches[0]):  3,
		branchQuery(replayedRuns, branches[0]): 1,
		branchQuery(replayedRuns, branches[1]): 0,
		branchQuery(runningRuns, branches[2]):  0,
		branchQuery(replayedRuns, branches[2]): 0,
	}
	var asked []string
	count := func(_ context.Context, q string) (int64, error) {
		asked = append(asked, q)
		n, ok := counts[q]
		if !ok {
			t.Errorf("unexpected query %s", q)
		}
		return n, nil
	}
	r, err := countVersions(context.Background(), "signoff", branches, count)
	if err != nil {
		t.Fatal(err)
	}
	// No running approval can need a branch whose old side ends the run:
	// its running count is not asked for.
	if len(asked) != len(counts) {
		t.Errorf("asked %d queries, want %d: %q", len(asked), len(counts), asked)
	}
	var out bytes.Buffer
	r.write(&out)
	want := `namespace signoff: 12 approvals running, 1 closed without completing (reading one replays it)

BRANCH                           OLD SIDE SINCE  RUNNING  CLOSED  CAN GO
GetVersion first-run             4dae5b9         3        1       no
GetVersion cancel-revokes-grant  2b6bea8         -        0       yes
Input.Version 0                  91f8f72         0        0       yes
`
	if got := out.String(); !strings.HasPrefix(got, want) {
		t.Errorf("report starts\n%s\nwant\n%s", got, want)
	}
	for _, line := range []string{
		"  running: " + runningRuns,
		"  GetVersion cancel-revokes-grant: AND (TemporalChangeVersion IS NULL OR TemporalChangeVersion NOT IN ('first-run-1', 'cancel-revokes-grant-1')) AND (ApprovalStatus IS NULL OR ApprovalStatus != 'Pending')",
	} {
		if !strings.Contains(out.String(), line+"\n") {
			t.Errorf("report lacks the line %q:\n%s", line, out.String())
		}
	}
}

// Every branch of the workflow is counted with clauses: one without any
// would count every approval.
func TestEveryBranchHasClears(t *testing.T) {
	for _, b := range workflows.Branches {
		if len(b.Clears) == 0 && b.ClearedFrom == 0 {
			t.Errorf("%s %s clears on nothing", b.Kind, b.Name)
		}
	}
}
