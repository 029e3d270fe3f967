package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"time"

	"go.temporal.io/api/workflowservice/v1"

	"github.com/signoff/signoff/bench"
	"github.com/signoff/signoff/workflows"
)

// VolumeResult is the volume phase: many approvals in Temporal on the
// production topology, then the reads people make.
type VolumeResult struct {
	Total   int `json:"total"`
	Pending int `json:"pending"`
	People  int `json:"people"`
	// Focus approvals wait for the person whose reads are timed.
	Focus           int     `json:"focus"`
	Clients         int     `json:"clients"`
	CreatePerSecond float64 `json:"create_per_second"`
	// CreateErrors counts creates and cancels that failed.
	CreateErrors int `json:"create_errors"`
	// CreateErrorKinds counts them by step and HTTP status.
	CreateErrorKinds map[string]int `json:"create_error_kinds,omitempty"`
	CreateSeconds    float64        `json:"create_seconds"`
	// Running is how many approvals Temporal counted open before the reads.
	Running     int64        `json:"running"`
	Reads       []bench.Read `json:"reads"`
	WorstP99    float64      `json:"worst_read_p99_ms"`
	DatabaseMiB float64      `json:"database_mib"`
	// Resident memory of each process at rest after the reads.
	GatewayRSSMiB  float64 `json:"gateway_rss_mib"`
	WorkerRSSMiB   float64 `json:"worker_rss_mib"`
	TemporalRSSMiB float64 `json:"temporal_rss_mib"`
}

// volumePhase fills the split with plan's approvals and times the reads.
func volumePhase(ctx context.Context, s *bench.Split, plan bench.VolumePlan, httpClient *http.Client) *VolumeResult {
	r := &VolumeResult{Total: plan.Total, Pending: plan.Pending, People: plan.People, Focus: plan.Focus, Clients: plan.Clients}
	api := &bench.API{Base: s.HTTPURL, Client: httpClient}
	step(fmt.Sprintf("volume: creating %d approvals (%d pending across %d people, %d of them for v00; the rest cancelled at once by their requester), %d clients",
		plan.Total, plan.Pending, plan.People, plan.Focus, plan.Clients))
	wall, kinds := bench.CreateVolume(ctx, api, plan, func(done int) { step(fmt.Sprintf("volume: %d created", done)) })
	errs := 0
	for _, n := range kinds {
		errs += n
	}
	r.CreateErrors, r.CreateErrorKinds, r.CreateSeconds = errs, kinds, float64(int(wall.Seconds()))
	r.CreatePerSecond = float64(int(float64(plan.Total-errs)/wall.Seconds()*10)) / 10

	step("volume: waiting until only the pending approvals run")
	r.Running = waitRunning(ctx, s, int64(plan.Pending), 15*time.Minute)
	if err := bench.WaitIdle(ctx, s.Client, "default", bench.SplitTaskQueue, 5*time.Minute); err != nil {
		fmt.Fprintln(os.Stderr, err)
	}

	step(fmt.Sprintf("volume: timing every list filter and the inbox's three views, %d reads each", plan.Reads))
	sessions, err := bench.BenchSessions(s.SessionKey)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return r
	}
	r.Reads = bench.TimeReads(ctx, api, sessions, plan)
	for _, rd := range r.Reads {
		r.WorstP99 = max(r.WorstP99, rd.P99)
	}
	if r.DatabaseMiB, err = s.DatabaseMiB(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
	step("volume: resident memory at rest")
	r.GatewayRSSMiB = bench.RSSAtRestMiB(s.Gateway)
	r.WorkerRSSMiB = bench.RSSAtRestMiB(s.Worker)
	r.TemporalRSSMiB = bench.RSSAtRestMiB(s.Temporal)
	return r
}

// waitRunning waits until Temporal counts want approvals open (the others
// been cancelled) and returns the last count.
func waitRunning(ctx context.Context, s *bench.Split, want int64, timeout time.Duration) int64 {
	query := fmt.Sprintf("WorkflowType = '%s' AND ExecutionStatus = 'Running'", workflows.WorkflowName)
	deadline := time.Now().Add(timeout)
	var n int64
	for {
		resp, err := s.Client.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{Namespace: "default", Query: query})
		if err == nil {
			n = resp.GetCount()
			if n <= want {
				return n
			}
		}
		if time.Now().After(deadline) {
			fmt.Fprintf(os.Stderr, "volume: %d approvals still running after %s (want %d; last count error: %v)\n", n, timeout, want, err)
			return n
		}
		time.Sleep(2 * time.Second)
	}
}

// volumeTargets are the volume phase's goals: no create fails, every read
// answers within 200 ms at p99, and the focus person's waiting list and
// inbox hold exactly what waits for them.
func (r *Results) volumeTargets() {
	v := r.Volume
	if v == nil {
		return
	}
	r.Targets["volume_create_errors"] = TargetOK{"= 0", float64(v.CreateErrors), v.CreateErrors == 0}
	r.Targets["volume_read_p99_ms"] = TargetOK{"<= 200", v.WorstP99, v.WorstP99 <= 200 && len(v.Reads) > 0}
	rowTargets := map[string]string{bench.ReadAwaitingMe: "volume_awaiting_rows", bench.ReadInboxWaiting: "volume_inbox_waiting_rows"}
	for _, rd := range v.Reads {
		if key, ok := rowTargets[rd.Name]; ok {
			r.Targets[key] = TargetOK{fmt.Sprintf("= %d", v.Focus), float64(rd.Rows), rd.Rows == v.Focus && rd.Errors == 0}
		}
	}
}

// reportVolume prints the volume phase.
func reportVolume(v *VolumeResult) {
	if v == nil {
		return
	}
	fmt.Printf("\nvolume (production topology): %d approvals (%d pending across %d people, %d for v00), created at %.1f/s from %d clients in %.0f s, %d errors; %d running before the reads\n",
		v.Total, v.Pending, v.People, v.Focus, v.CreatePerSecond, v.Clients, v.CreateSeconds, v.CreateErrors, v.Running)
	if len(v.CreateErrorKinds) > 0 {
		fmt.Printf("volume: errors by kind: %v\n", v.CreateErrorKinds)
	}
	fmt.Printf("volume: database %.0f MiB; RSS at rest: gateway %.0f MiB, worker %.0f MiB, temporal %.0f MiB\n",
		v.DatabaseMiB, v.GatewayRSSMiB, v.WorkerRSSMiB, v.TemporalRSSMiB)
	fmt.Printf("%-34s %6s %10s %10s %10s %s\n", "read", "rows", "p50 ms", "p95 ms", "p99 ms", "errors")
	for _, rd := range v.Reads {
		fmt.Printf("%-34s %6d %10.1f %10.1f %10.1f %d %s\n", rd.Name, rd.Rows, rd.P50, rd.P95, rd.P99, rd.Errors, rd.Error)
	}
}
