//go:build !nodev

package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/signoff/signoff/approval"
	"github.com/signoff/signoff/config"
	"github.com/signoff/signoff/temporal/connect"
	"github.com/signoff/signoff/temporal/devserver"
	"github.com/signoff/signoff/workflows"
)

// markersOnly stands in for ApprovalWorkflow: it records the version
// markers it is given, as an approval of that age would have, and waits.
func markersOnly(ctx workflow.Context, changes []string) error {
	for _, c := range changes {
		workflow.GetVersion(ctx, c, workflow.DefaultVersion, 1)
	}
	return workflow.Await(ctx, func() bool { return false })
}

// TestApprovalVersionsOnTemporal runs the counts on the embedded server's
// SQLite visibility: its query language takes them, and they select the
// approvals they should from what the SDK recorded.
func TestApprovalVersionsOnTemporal(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an embedded Temporal")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ports, err := devserver.FreePorts("127.0.0.1", 1)
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", ports[0])
	srv, err := devserver.Start(ctx, devserver.Options{DataDir: t.TempDir(), FrontendAddress: addr, Namespace: "default",
		SearchAttributes: workflows.SearchAttributes, LogLevel: "off"})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = srv.Stop() }()
	c, err := connect.Dial(ctx, config.Temporal{Address: addr, Namespace: "default"}, nil, "", slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	const queue = "versions-test"
	w := worker.New(c, queue, worker.Options{})
	w.RegisterWorkflowWithOptions(markersOnly, workflow.RegisterOptions{Name: workflows.WorkflowName})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer w.Stop()

	startAt := func(id string, version int, status approval.Status, changes ...string) {
		t.Helper()
		attrs := []temporal.SearchAttributeUpdate{workflows.AttrStatus.ValueSet(string(status))}
		if version > 0 {
			attrs = append(attrs, workflows.AttrVersion.ValueSet(int64(version)))
		}
		_, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: queue,
			TypedSearchAttributes: temporal.NewSearchAttributes(attrs...)},
			workflows.WorkflowName, changes)
		if err != nil {
			t.Fatal(err)
		}
	}
	start := func(id string, status approval.Status, changes ...string) { startAt(id, 0, status, changes...) }
	start("old-pending", approval.StatusPending)
	start("new", approval.StatusPending, "first-run", "proven-start")
	start("granted-v2", approval.StatusGranted, "proven-start", "grant-period-v2")
	start("granted-v0", approval.StatusGranted, "proven-start")
	start("legacy-moved", approval.StatusPending, "proven-decisions")
	start("cancelled-granted", approval.StatusGranted)
	// Since Version3 an approval records no markers: its SignoffVersion
	// clears every branch.
	startAt("v3", workflows.Version3, approval.StatusGranted)
	if err := c.CancelWorkflow(ctx, "cancelled-granted", ""); err != nil {
		t.Fatal(err)
	}

	count := func(ctx context.Context, q string) (int64, error) {
		resp, err := c.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{Namespace: "default", Query: q})
		return resp.GetCount(), err
	}
	// Visibility follows the markers' upserts a moment later.
	var r versionReport
	for {
		if r, err = countVersions(ctx, "default", workflows.Branches, count); err != nil {
			t.Fatal(err)
		}
		if r.running == 6 && r.replayed == 1 && branch(r, "first-run").running == 4 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("visibility did not catch up: %+v", r)
		case <-time.After(200 * time.Millisecond):
		}
	}
	var out strings.Builder
	r.write(&out)
	t.Logf("signoff approvals versions:\n%s", out.String())
	want := map[string][2]int64{
		"3":                    {6, 1},  // every approval here began before Version 4
		"1":                    {5, 1},  // all but v3: no marker tells Version 1 from 2
		"first-run":            {4, 1},  // all but new and v3
		"cancel-revokes-grant": {-1, 1}, // cancelled-granted
		"grant-period-v2":      {1, 1},  // granted-v0; cancelled-granted
		"proven-start":         {2, 1},  // old-pending, legacy-moved; cancelled-granted
		"1 (RulesProven)":      {2, 1},
		"0":                    {2, 1},
		"approvers-attribute":  {2, 1},
		"proven-decisions":     {1, 1}, // old-pending; cancelled-granted
		"0 (RulesLegacy)":      {1, 1},
	}
	for _, b := range r.branches {
		w, ok := want[b.branch.Name]
		if !ok {
			t.Errorf("no expectation for %s %s", b.branch.Kind, b.branch.Name)
			continue
		}
		if got := [2]int64{b.running, b.replayed}; got != w {
			t.Errorf("%s %s: running, closed = %v, want %v", b.branch.Kind, b.branch.Name, got, w)
		}
	}
}

func branch(r versionReport, name string) versionCount {
	for _, b := range r.branches {
		if b.branch.Name == name {
			return b
		}
	}
	return versionCount{}
}
