package bench

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"time"

	"github.com/signoff/signoff/internal/procs"
)

// ScaleResult is the many-pending phase.
type ScaleResult struct {
	Pending         int     `json:"pending"`
	CreatePerSecond float64 `json:"create_per_second"`
	CreateErrors    int     `json:"create_errors"`
	// RSSMiB is resident memory at rest: after a GC that returns freed
	// pages to the OS (which Go's scavenger otherwise does over minutes).
	RSSMiB float64 `json:"rss_mib"`
	// PeakRSSMiB is the high-water mark, reached while creating.
	PeakRSSMiB float64 `json:"peak_rss_mib"`
	// HeapMiB is the Go heap in use at rest.
	HeapMiB     float64 `json:"heap_mib"`
	DatabaseMiB float64 `json:"database_mib"`
	// DecideAtLow and DecideAtHigh are the rounds with the median p99 of
	// three at each level, so one noisy round does not decide the ratio.
	DecideAtLow  Summary   `json:"decide_at_low_pending"`
	LowRounds    []Summary `json:"decide_rounds_at_low_pending"`
	LowPending   int       `json:"low_pending"`
	DecideAtHigh Summary   `json:"decide_at_high_pending"`
	HighRounds   []Summary `json:"decide_rounds_at_high_pending"`
	Ratio        float64   `json:"p99_ratio"`
}

// MedianP99 is the round whose p99 is the median of the rounds'.
func MedianP99(rounds []Summary) Summary {
	if len(rounds) == 0 {
		return Summary{}
	}
	sorted := append([]Summary(nil), rounds...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].P99 < sorted[j].P99 })
	return sorted[len(sorted)/2]
}

// CreateMany starts n approvals in env from conc clients.
func CreateMany(ctx context.Context, api *API, env string, n, conc int) ([]string, time.Duration, int) {
	ids := make([]string, n)
	wall, errs := runConcurrently(n, conc, func(i int) error {
		id, err := api.Create(ctx, env, "pending "+strconv.Itoa(i), "")
		ids[i] = id
		return err
	})
	return ids, wall, len(errs)
}

// DecideAll approves ids as token's owner and returns the latencies.
func DecideAll(ctx context.Context, api *API, ids []string, token string, conc int) Summary {
	var lat Latencies
	runConcurrently(len(ids), conc, func(i int) error {
		if ids[i] == "" {
			return nil
		}
		start := time.Now()
		if err := api.Decide(ctx, ids[i], token, "DECISION_APPROVE"); err != nil {
			return err
		}
		lat.Add(time.Since(start))
		return nil
	})
	return lat.Summary()
}

// heapMiB is the Go heap in use.
func heapMiB() float64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return float64(ms.HeapInuse >> 20)
}

// RSSMiB is this process's resident memory.
func RSSMiB() float64 { return procs.MemoryMiB(os.Getpid(), "VmRSS") }

// PeakRSSMiB is this process's highest resident memory so far.
func PeakRSSMiB() float64 { return procs.MemoryMiB(os.Getpid(), "VmHWM") }

// DirMiB is the size of the files under dir.
func DirMiB(dir string) float64 {
	var total int64
	_ = filepath.Walk(dir, func(_ string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			total += info.Size()
		}
		return nil
	})
	return float64(int(float64(total)/(1<<20)*10)) / 10
}
