package main

// `signoff approvals versions` counts, in Temporal visibility, the
// approvals that may still need each old path of ApprovalWorkflow
// (workflows.Branches), so an operator knows when one may be deleted
// (docs/versions.md). It only reads: one CountWorkflowExecutions per
// branch and kind of run, no query to any workflow.

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"go.temporal.io/api/workflowservice/v1"

	"github.com/signoff/signoff/approval"
	"github.com/signoff/signoff/temporal/connect"
	"github.com/signoff/signoff/workflows"
)

// changeVersionAttr is the search attribute the Temporal SDK upserts with
// every version marker it records ("<change ID>-<version>").
const changeVersionAttr = "TemporalChangeVersion"

// Runs that may replay ApprovalWorkflow: the running ones, and those that
// closed without completing, which a read of the approval replays (a
// completed one is read from its result).
var (
	runningRuns  = "WorkflowType = " + connect.Quote(workflows.WorkflowName) + " AND ExecutionStatus = 'Running'"
	replayedRuns = "WorkflowType = " + connect.Quote(workflows.WorkflowName) +
		" AND ExecutionStatus IN ('Canceled', 'Terminated', 'Failed', 'TimedOut')"
)

// branchQuery selects, among runs, the approvals that may still need b's
// old side (branchClause).
func branchQuery(runs string, b workflows.Branch) string { return runs + branchClause(b) }

// branchClause narrows a query to the approvals whose TemporalChangeVersion
// holds none of b's Clears (or that have none), and that are not pending
// when only a decided approval can reach b's old side.
func branchClause(b workflows.Branch) string {
	var q string
	if len(b.Clears) > 0 {
		quoted := make([]string, len(b.Clears))
		for i, c := range b.Clears {
			quoted[i] = connect.Quote(c)
		}
		q += fmt.Sprintf(" AND (%s IS NULL OR %s NOT IN (%s))", changeVersionAttr, changeVersionAttr, strings.Join(quoted, ", "))
	}
	if b.ClearedFrom > 0 {
		v := workflows.AttrVersion.GetName()
		q += fmt.Sprintf(" AND (%s IS NULL OR %s < %d)", v, v, b.ClearedFrom)
	}
	if b.AfterOutcome {
		status := workflows.AttrStatus.GetName()
		q += fmt.Sprintf(" AND (%s IS NULL OR %s != %s)", status, status, connect.Quote(string(approval.StatusPending)))
	}
	return q
}

// versionCount is one branch's counts; running is -1 where no running
// approval can need the branch (Branch.EndsRun).
type versionCount struct {
	branch            workflows.Branch
	running, replayed int64
}

// versionReport is what the command prints.
type versionReport struct {
	namespace         string
	running, replayed int64
	branches          []versionCount
}

// countVersions asks count for every total and branch.
func countVersions(ctx context.Context, namespace string, branches []workflows.Branch, count func(context.Context, string) (int64, error)) (versionReport, error) {
	r := versionReport{namespace: namespace}
	var err error
	if r.running, err = count(ctx, runningRuns); err != nil {
		return r, err
	}
	if r.replayed, err = count(ctx, replayedRuns); err != nil {
		return r, err
	}
	for _, b := range branches {
		c := versionCount{branch: b, running: -1}
		if !b.EndsRun {
			if c.running, err = count(ctx, branchQuery(runningRuns, b)); err != nil {
				return r, err
			}
		}
		if c.replayed, err = count(ctx, branchQuery(replayedRuns, b)); err != nil {
			return r, err
		}
		r.branches = append(r.branches, c)
	}
	return r, nil
}

// write prints the report: a table, how to read it, and the queries.
func (r versionReport) write(w io.Writer) {
	fmt.Fprintf(w, "namespace %s: %d approvals running, %d closed without completing (reading one replays it)\n\n",
		r.namespace, r.running, r.replayed)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "BRANCH\tOLD SIDE SINCE\tRUNNING\tCLOSED\tCAN GO")
	for _, c := range r.branches {
		running, can := "-", "yes"
		if c.running >= 0 {
			running = fmt.Sprint(c.running)
		}
		if c.running > 0 || c.replayed > 0 {
			can = "no"
		}
		fmt.Fprintf(tw, "%s %s\t%s\t%s\t%d\t%s\n", c.branch.Kind, c.branch.Name, c.branch.Since, running, c.replayed, can)
	}
	_ = tw.Flush()
	fmt.Fprint(w, `
RUNNING and CLOSED count the approvals that may still take the branch's old
side on replay: an upper bound read from TemporalChangeVersion (an approval
that began after the branch, or recorded its new side, is not counted).
"-": taking the old side ends the run, so no running approval needs it.
A branch can go when both are 0 in every namespace Signoff workers serve
(docs/versions.md). Each count is one visibility query:
`)
	fmt.Fprintf(w, "  running: %s\n  closed:  %s\n  and for each branch:\n", runningRuns, replayedRuns)
	for _, c := range r.branches {
		fmt.Fprintf(w, "  %s %s:%s\n", c.branch.Kind, c.branch.Name, branchClause(c.branch))
	}
}

// runApprovalVersions is `signoff approvals versions`.
func runApprovalVersions(ctx context.Context, p *process) error {
	cfg := p.live.Get()
	c, err := connect.Dial(ctx, cfg.Temporal, p.set.Codec, p.set.TemporalAPIKey, p.logger)
	if err != nil {
		return err
	}
	defer c.Close()
	count := func(ctx context.Context, q string) (int64, error) {
		resp, err := c.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{Namespace: cfg.Temporal.Namespace, Query: q})
		if err != nil {
			return 0, fmt.Errorf("count approvals (%s): %w", q, err)
		}
		return resp.GetCount(), nil
	}
	r, err := countVersions(ctx, cfg.Temporal.Namespace, workflows.Branches, count)
	if err != nil {
		return err
	}
	r.write(os.Stdout)
	return nil
}
