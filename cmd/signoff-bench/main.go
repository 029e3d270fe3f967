// Command signoff-bench measures Signoff against bare Temporal on the same
// embedded server in one run and prints a table; `make bench` runs it. The
// same figures go to <out>/latest.json and a plot to <out>/latency.png.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/slack-go/slack"
	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"

	"github.com/signoff/signoff/bench"
	"github.com/signoff/signoff/channel/slack/slackfake"
	"github.com/signoff/signoff/config"
	"github.com/signoff/signoff/internal/procs"
	"github.com/signoff/signoff/internal/testenv"
	"github.com/signoff/signoff/policy"
	"github.com/signoff/signoff/workflows"
)

// Results is the JSON document.
type Results struct {
	Machine      string             `json:"machine"`
	Started      time.Time          `json:"started"`
	Seconds      float64            `json:"seconds"`
	Baseline     bench.Throughput   `json:"baseline"`
	Signoff      bench.PathResult   `json:"signoff"`
	Ratio        float64            `json:"throughput_ratio"`
	PerApprov    map[string]int     `json:"per_approval_history"`
	PerBase      map[string]int     `json:"per_baseline_history"`
	Sweep        []bench.PathResult `json:"sweep"`
	BaseSweep    []bench.Throughput `json:"baseline_sweep"`
	Burst        BurstResult        `json:"burst"`
	AckAt100     AckResult          `json:"click_ack_at_100_per_second"`
	ChannelBurst ChannelBurst       `json:"slack_channel_burst"`
	Scale        *bench.ScaleResult `json:"scale,omitempty"`
	// BarePending is as many bare signal-and-timer workflows pending, in
	// a fresh stack of the same harness, for the scale phase's memory.
	BarePending *bench.BarePending `json:"bare_pending,omitempty"`
	// APIShape is REST create, one REST decision, no-op action, closed
	// (log notifier), against bare Temporal on the same stack.
	APIShape []ShapeResult `json:"api_shape,omitempty"`
	// PerAPIShape is one API-shape approval's history.
	PerAPIShape map[string]int `json:"per_api_shape_history,omitempty"`
	// APIShapeEvents is its events over a bare workflow's, same stack.
	APIShapeEvents float64 `json:"api_shape_events_vs_baseline,omitempty"`
	// Split is the API shape and the baseline on the production topology:
	// PostgreSQL, server, worker and gateway as separate processes.
	Split *SplitResult `json:"production_topology,omitempty"`
	// Judge is the pure judge's cost of one decision as approvals grow.
	Judge []bench.JudgeResult `json:"judge,omitempty"`
	// Volume is many approvals on the production topology and the reads
	// people make of them.
	Volume  *VolumeResult       `json:"volume,omitempty"`
	Targets map[string]TargetOK `json:"targets"`
}

// SplitResult is the production topology's phase.
type SplitResult struct {
	Shapes []ShapeResult `json:"api_shape"`
	// PerAPIShape is one API-shape approval's history there.
	PerAPIShape map[string]int `json:"per_api_shape_history,omitempty"`
	// Resident memory of each process at rest after the run.
	GatewayRSSMiB  float64 `json:"gateway_rss_mib"`
	WorkerRSSMiB   float64 `json:"worker_rss_mib"`
	TemporalRSSMiB float64 `json:"temporal_rss_mib"`
	// Skipped says why the phase did not run.
	Skipped string `json:"skipped,omitempty"`
}

// BurstResult is many creates at once.
type BurstResult struct {
	N         int     `json:"n"`
	Clients   int     `json:"clients"`
	Errors    int     `json:"errors"`
	PerSecond float64 `json:"per_second"`
	Created   int     `json:"created"`
}

// AckResult is clicks at a fixed rate.
type AckResult struct {
	Clicks    int           `json:"clicks"`
	PerSecond float64       `json:"per_second"`
	Errors    int           `json:"errors"`
	Ack       bench.Summary `json:"ack"`
}

// ChannelBurst is many prompts to one rate-limited channel.
type ChannelBurst struct {
	N                 int     `json:"n"`
	CreateErrors      int     `json:"create_errors"`
	Posted            int     `json:"posted"`
	Lost              int     `json:"lost"`
	RateLimited       int     `json:"answered_429"`
	SecondsToLastPost float64 `json:"seconds_to_last_post"`
}

// ShapeResult is one concurrency of the API shape beside the baseline.
type ShapeResult struct {
	Signoff  bench.Throughput `json:"signoff"`
	Baseline bench.Throughput `json:"baseline"`
	Ratio    float64          `json:"ratio"`
}

// TargetOK is one target against its measurement.
type TargetOK struct {
	Target   string  `json:"target"`
	Measured float64 `json:"measured"`
	Met      bool    `json:"met"`
}

type runner struct{ tmp string }

func (r *runner) Helper() {}
func (r *runner) Fatalf(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "FATAL: "+format+"\n", a...)
	os.Exit(1)
}
func (r *runner) Logf(string, ...any) {}
func (r *runner) Cleanup(func())      {}
func (r *runner) TempDir() string     { d, _ := os.MkdirTemp(r.tmp, "bench"); return d }

const slackSecret = "bench-signing-secret"

func benchPolicies(c *config.Loaded, hookURL string) {
	c.Actions.Webhook.AllowedURLPrefixes = []string{hookURL}
	for _, env := range []string{"bench", "burst"} {
		c.Config.Policies = append(c.Config.Policies, policy.Policy{Name: env, Match: policy.Match{Environment: env},
			Approvers: policy.Approvers{Users: []string{"bob"}}, RequiredApprovals: 1, Deadline: policy.Duration(time.Hour)})
	}
	c.Config.Policies = append(c.Config.Policies, policy.Policy{Name: "scale", Match: policy.Match{Environment: "scale"},
		Approvers: policy.Approvers{Users: []string{"bob"}}, RequiredApprovals: 1,
		Reminder: policy.Duration(time.Hour), Deadline: policy.Duration(7 * 24 * time.Hour)})
	set, err := policy.NewSet(c.Config.Policies, c.Directory, nil)
	if err != nil {
		panic(err)
	}
	c.Policies = set
}

func main() {
	out := flag.String("out", "bench/results", "where latest.json and latency.png go")
	n := flag.Int("n", 200, "approvals per throughput phase")
	conc := flag.Int("c", 8, "concurrency of the baseline and Signoff phases")
	pending := flag.Int("pending", 10000, "approvals pending in the scale phase (0 skips it)")
	memProfile := flag.String("memprofile", "", "write a heap profile here at the end of the scale phase")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the phases after the scale phase here")
	scaleOnly := flag.Bool("scale-only", false, "run only the scale phase and print it (writes no results)")
	channelBurst := flag.Int("channel-burst", 120, "approvals prompted to one rate-limited Slack channel (1 message/s: this many seconds at least)")
	shapeN := flag.Int("api-shape", 200, "approvals per concurrency in the API-shape phase (0 skips it)")
	splitPG := flag.String("split-postgres", firstEnv("SIGNOFF_BENCH_POSTGRES_URL", "SIGNOFF_TEST_POSTGRES_URL"),
		"postgres:// URL of a role that may create databases: runs the API shape on the production topology "+
			"(server on PostgreSQL, worker and gateway as separate processes); empty skips it")
	splitOnly := flag.Bool("split-only", false, "run only the production-topology phase and print it (writes no results)")
	volume := flag.Int("volume", 100000, "approvals in Temporal in the volume phase, on the production topology (0 skips it)")
	volumePending := flag.Int("volume-pending", 10000, "of which pending")
	volumeOnly := flag.Bool("volume-only", false, "run only the volume phase and print it (writes no results)")
	flag.Parse()
	start := time.Now()
	// One sticky cache serves every worker in a process and is sized when
	// the first one starts: give the bare workers and Signoff's the size a
	// Signoff worker runs with, whichever starts first.
	sdkworker.SetStickyWorkflowCacheSize(config.DefaultStickyCacheSize)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	tmp, err := os.MkdirTemp("", "signoff-bench")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(tmp)
	actions := bench.NewArrivals()
	hook := httptest.NewServer(bench.WebhookReceiver(actions))
	defer hook.Close()
	httpClient := &http.Client{Timeout: time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	res := Results{Machine: machine(), Started: start, Targets: map[string]TargetOK{}}
	step("judge: one decision on approvals of 1, 100 and 1,000 earlier attempts, amended 25 times")
	res.Judge = bench.Judge()

	plan := bench.VolumePlan{Total: *volume, Pending: min(*volumePending, *volume), People: 50, Focus: 20, Clients: 32, Reads: 100}
	if *volumeOnly {
		*shapeN = 0
	}
	split := func() {
		if *splitPG == "" {
			res.Split = &SplitResult{Skipped: "no PostgreSQL: set SIGNOFF_BENCH_POSTGRES_URL or -split-postgres"}
		} else if *shapeN > 0 || plan.Total > 0 {
			res.Split, res.Volume = splitPhase(ctx, tmp, *splitPG, *shapeN, plan, httpClient)
		}
	}
	if *splitOnly || *volumeOnly {
		split()
		res.targets()
		report(res)
		return
	}

	// The bare counterpart of the scale phase first, in a fresh stack, then
	// the scale phase in another: each measured at rest after the previous
	// stack is gone, neither inflated by the other phases.
	if *pending > 0 {
		s := testenv.Start(&runner{tmp: tmp}, testenv.Options{LogLevel: slog.LevelError, NoWorker: true})
		w, err := bench.StartBaselineWorker(s.Client)
		if err != nil {
			panic(err)
		}
		step(fmt.Sprintf("scale: %d bare workflows pending with a timer each", *pending+100))
		bp := bench.StartPending(ctx, s.Client, s.Config.Temporal.Namespace, *pending+100, 32)
		res.BarePending = &bp
		w.Stop()
		s.StopGateway()
		s.StopTemporal()
		debug.FreeOSMemory()
	}
	if *pending > 0 {
		s := testenv.Start(&runner{tmp: tmp}, testenv.Options{LogLevel: slog.LevelError, Mutate: func(c *config.Loaded) { benchPolicies(c, hook.URL) }})
		res.Scale = scale(ctx, s, &bench.API{Base: s.HTTPURL, Client: httpClient}, *pending)
		if *memProfile != "" {
			writeHeapProfile(*memProfile)
		}
		s.StopGateway()
		s.StopWorker()
		s.StopTemporal()
		debug.FreeOSMemory()
		if *scaleOnly {
			res.targets()
			report(res)
			return
		}
	}

	if *cpuProfile != "" {
		stop := startCPUProfile(*cpuProfile)
		defer stop()
	}

	// The API shape on a stack of its own with the log notifier: what an
	// approval costs beside a bare workflow, with nothing but Temporal and
	// Signoff in the way.
	if *shapeN > 0 {
		s := testenv.Start(&runner{tmp: tmp}, testenv.Options{LogLevel: slog.LevelError, Mutate: func(c *config.Loaded) { benchPolicies(c, hook.URL) }})
		if _, err := bench.StartBaselineWorker(s.Client); err != nil {
			panic(err)
		}
		api := &bench.API{Base: s.HTTPURL, Client: httpClient}
		res.APIShape, res.PerAPIShape, res.APIShapeEvents = shapePhase(ctx, api, s.Client, "api shape", "shape", *shapeN)
		s.StopGateway()
		s.StopWorker()
		s.StopTemporal()
		debug.FreeOSMemory()
	}

	// Everything else on one stack with Slack: prompts go to a fake Slack
	// Web API, clicks come back signed as Slack signs them.
	f := slackfake.New()
	defer f.Close()
	has2FA := true
	f.SetUser(slack.User{ID: "U0BOB", Profile: slack.UserProfile{Email: "bob@example.com"}, Has2FA: &has2FA})
	os.Setenv(config.EnvSlackBotToken, f.Token())
	os.Setenv(config.EnvSlackSigningSecret, slackSecret)
	os.Setenv(config.EnvSlackAPIURL, f.APIURL())
	s := testenv.Start(&runner{tmp: tmp}, testenv.Options{LogLevel: slog.LevelError, Mutate: func(c *config.Loaded) {
		benchPolicies(c, hook.URL)
		c.Notifiers = []string{"slack"}
		c.Slack = config.Slack{TeamID: f.TeamID(), DefaultChannel: "#approvals",
			PolicyChannels: map[string]string{"bench": "#bench", "burst": "#burst"}}
	}})
	if _, err := bench.StartBaselineWorker(s.Client); err != nil {
		panic(err)
	}
	watch := bench.WatchSlack(ctx, f)
	api := &bench.API{Base: s.HTTPURL, Client: httpClient}
	click := watch.Clicker(s.HTTPURL, slackSecret, "U0BOB", httpClient)
	path := func(n, c int) bench.PathResult {
		return bench.Path(ctx, api, "bench", hook.URL, n, c, watch.Prompted.Wait, click, actions, watch.Updated.Wait)
	}

	step("warm-up")
	bench.Baseline(ctx, s.Client, "warm", 20, 4)
	path(20, 4)

	step(fmt.Sprintf("baseline: bare Temporal, %d workflows, %d clients", *n, *conc))
	res.Baseline = bench.Baseline(ctx, s.Client, "main", *n, *conc)
	step(fmt.Sprintf("signoff: full path (REST create, Slack prompt, signed click, webhook, chat.update), %d approvals, %d clients", *n, *conc))
	res.Signoff = path(*n, *conc)
	if res.Baseline.PerSecond > 0 {
		res.Ratio = float64(int(res.Signoff.PerSecond/res.Baseline.PerSecond*100)) / 100
	}
	res.PerBase = historyOf(ctx, s.Client, "slack path", bench.BaselineID("main", 0))
	if id, err := api.Create(ctx, "bench", "history sample", hook.URL); err == nil {
		<-watch.Prompted.Wait(id)
		if _, err := click(ctx, id); err == nil {
			<-watch.Updated.Wait(id)
			res.PerApprov = historyOf(ctx, s.Client, "slack path", workflows.ApprovalWorkflowID(id))
		} else {
			fmt.Fprintf(os.Stderr, "slack path: history sample %s: click: %v\n", id, err)
		}
	} else {
		fmt.Fprintf(os.Stderr, "slack path: history sample: create: %v\n", err)
	}

	for _, c := range []int{1, 4, 8, 16} {
		step(fmt.Sprintf("sweep: %d clients", c))
		res.Sweep = append(res.Sweep, path(max(40, c*10), c))
		res.BaseSweep = append(res.BaseSweep, bench.Baseline(ctx, s.Client, fmt.Sprintf("sweep%d", c), max(40, c*10), c))
	}

	step("click acknowledgement at 100 clicks/s")
	res.AckAt100 = ackAt(ctx, api, s.Client, watch, click, 300, 100)

	idle(ctx, s)
	step("burst: 500 creates from 32 clients")
	ids, wall, errs := bench.CreateMany(ctx, api, "bench", 500, 32)
	res.Burst = BurstResult{N: 500, Clients: 32, Errors: errs, PerSecond: float64(int(float64(500-errs)/wall.Seconds()*10)) / 10, Created: countNonEmpty(ids)}
	idle(ctx, s)

	if *channelBurst > 0 {
		step(fmt.Sprintf("slack: %d approvals to one channel at 1 message/s", *channelBurst))
		res.ChannelBurst = channelBurstPhase(ctx, api, watch, f, *channelBurst)
	}

	// Last: its processes are separate, but its baseline worker is not.
	s.StopGateway()
	s.StopWorker()
	s.StopTemporal()
	split()

	res.Seconds = time.Since(start).Seconds()
	res.targets()
	report(res)
	if err := os.MkdirAll(*out, 0o755); err == nil {
		b, _ := json.MarshalIndent(res, "", "  ")
		_ = os.WriteFile(filepath.Join(*out, "latest.json"), b, 0o644)
		if err := bench.PlotSweep(filepath.Join(*out, "latency.png"), res.Sweep, res.BaseSweep); err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
	}
}

// ackAt clicks on n prompted approvals at a fixed rate and reports how long
// the gateway took to answer each click (what Slack's 3 s deadline counts).
func ackAt(ctx context.Context, api *bench.API, c client.Client, watch *bench.SlackWatch, click bench.Clicker, n, perSecond int) AckResult {
	ids, _, _ := bench.CreateMany(ctx, api, "bench", n, 16)
	prompted := time.NewTimer(2 * time.Minute)
	defer prompted.Stop()
	for i, id := range ids {
		if id == "" {
			continue
		}
		select {
		case <-watch.Prompted.Wait(id):
		case <-prompted.C:
			fmt.Fprintf(os.Stderr, "click acknowledgement: no prompt for %s after 2 minutes: %s\n", id, bench.Pending(ctx, c, workflows.ApprovalWorkflowID(id)))
			ids[i] = ""
			prompted.Reset(time.Second)
		}
	}
	var lat bench.Latencies
	var errs atomic.Int32
	var wg sync.WaitGroup
	tick := time.NewTicker(time.Second / time.Duration(perSecond))
	defer tick.Stop()
	start := time.Now()
	for _, id := range ids {
		if id == "" {
			continue
		}
		<-tick.C
		wg.Add(1)
		go func() {
			defer wg.Done()
			d, err := click(ctx, id)
			if err != nil {
				errs.Add(1)
				return
			}
			lat.Add(d)
		}()
	}
	wg.Wait()
	return AckResult{Clicks: n, PerSecond: float64(int(float64(n)/time.Since(start).Seconds()*10)) / 10, Errors: int(errs.Load()), Ack: lat.Summary()}
}

func channelBurstPhase(ctx context.Context, api *bench.API, watch *bench.SlackWatch, f *slackfake.Server, n int) ChannelBurst {
	f.RateLimit(1)
	defer f.RateLimit(0)
	before := f.RateLimited()
	start := time.Now()
	ids, _, errs := bench.CreateMany(ctx, api, "burst", n, 32)
	posted := 0
	for _, id := range ids {
		if id == "" {
			continue
		}
		select {
		case <-watch.Prompted.Wait(id):
			posted++
		case <-time.After(time.Duration(n)*time.Second + 2*time.Minute):
		}
	}
	return ChannelBurst{N: n, CreateErrors: errs, Posted: posted, Lost: n - errs - posted,
		RateLimited: f.RateLimited() - before, SecondsToLastPost: time.Since(start).Seconds()}
}

func scale(ctx context.Context, s *testenv.Stack, api *bench.API, pending int) *bench.ScaleResult {
	r := &bench.ScaleResult{LowPending: 100}
	// Each round creates 100 approvals, lets the worker settle, and decides
	// them: the pending count stays at its level plus at most 100.
	rounds := func() []bench.Summary {
		var out []bench.Summary
		for range 3 {
			ids, _, _ := bench.CreateMany(ctx, api, "scale", 100, 16)
			idle(ctx, s)
			out = append(out, bench.DecideAll(ctx, api, ids, "dev-bob", 4))
		}
		return out
	}
	step("scale: decide latency at 100 pending, three rounds")
	bench.CreateMany(ctx, api, "scale", 100, 16)
	r.LowRounds = rounds()
	r.DecideAtLow = bench.MedianP99(r.LowRounds)
	step(fmt.Sprintf("scale: %d approvals pending with reminder timers", pending))
	_, wall, errs := bench.CreateMany(ctx, api, "scale", pending, 32)
	r.CreatePerSecond = float64(int(float64(pending-errs)/wall.Seconds()*10)) / 10
	r.CreateErrors = errs
	r.Pending = pending + 100 - errs
	step("scale: decide latency at full load, three rounds")
	r.HighRounds = rounds()
	r.DecideAtHigh = bench.MedianP99(r.HighRounds)
	// At rest: the visibility queue has recorded every start, as in the
	// bare counterpart.
	if err := bench.WaitVisible(ctx, s.Client, fmt.Sprintf(`WorkflowType = %q AND ExecutionStatus = "Running"`, workflows.WorkflowName), int64(r.Pending), 10*time.Minute); err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
	r.PeakRSSMiB = bench.PeakRSSMiB()
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	r.HeapMiB = float64(ms.HeapInuse >> 20)
	r.RSSMiB = bench.RSSMiB()
	r.DatabaseMiB = bench.DirMiB(s.DataDir)
	if r.DecideAtLow.P99 > 0 {
		r.Ratio = float64(int(r.DecideAtHigh.P99/r.DecideAtLow.P99*100)) / 100
	}
	return r
}

// idle waits for the worker to catch up, so decisions are measured at rest.
func idle(ctx context.Context, s *testenv.Stack) {
	if err := bench.WaitIdle(ctx, s.Client, s.Config.Temporal.Namespace, s.Config.Temporal.TaskQueue, 10*time.Minute); err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
}

// splitPhase runs the API shape and the bare baseline (n approvals per
// concurrency; 0 skips them) on the production topology: `signoff
// temporal` on PostgreSQL, and worker and gateway built as the production
// image builds them (-tags nodev), each its own process. Then, on the same
// processes, the volume phase (plan.Total 0 skips it).
func splitPhase(ctx context.Context, tmp, postgresURL string, n int, plan bench.VolumePlan, httpClient *http.Client) (*SplitResult, *VolumeResult) {
	step("production topology: building signoff (server) and signoff -tags nodev (worker, gateway)")
	serverBin, err := procs.Build(ctx, ".", tmp, "")
	if err != nil {
		return &SplitResult{Skipped: err.Error()}, nil
	}
	edgeBin, err := procs.Build(ctx, ".", tmp, "nodev")
	if err != nil {
		return &SplitResult{Skipped: err.Error()}, nil
	}
	step("production topology: migrate, start signoff temporal, worker, gateway")
	s, err := bench.StartSplit(ctx, bench.SplitOptions{PostgresURL: postgresURL, ServerBin: serverBin, EdgeBin: edgeBin, Dir: tmp, VolumePeople: plan.People})
	if err != nil {
		return &SplitResult{Skipped: err.Error()}, nil
	}
	defer s.Stop()
	if _, err := bench.StartBaselineWorker(s.Client); err != nil {
		return &SplitResult{Skipped: err.Error()}, nil
	}
	r := &SplitResult{}
	if n > 0 {
		api := &bench.API{Base: s.HTTPURL, Client: httpClient}
		r.Shapes, r.PerAPIShape, _ = shapePhase(ctx, api, s.Client, "production topology", "split", n)
		if err := bench.WaitIdle(ctx, s.Client, "default", bench.SplitTaskQueue, 5*time.Minute); err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
		step("production topology: resident memory at rest")
		r.GatewayRSSMiB = bench.RSSAtRestMiB(s.Gateway)
		r.WorkerRSSMiB = bench.RSSAtRestMiB(s.Worker)
		r.TemporalRSSMiB = bench.RSSAtRestMiB(s.Temporal)
	}
	if plan.Total == 0 {
		return r, nil
	}
	return r, volumePhase(ctx, s, plan, httpClient)
}

// shapePhase warms up, then runs the bare baseline and the API shape at 4
// and 8 clients on one stack, and samples one approval's history against a
// bare workflow's.
func shapePhase(ctx context.Context, api *bench.API, c client.Client, label, run string, n int) (shapes []ShapeResult, history map[string]int, eventsRatio float64) {
	step(label + ": warm-up")
	bench.Baseline(ctx, c, run+"-warm", 20, 4)
	bench.APIShape(ctx, api, c, "bench", 20, 4)
	for _, conc := range []int{4, 8} {
		step(fmt.Sprintf("%s: baseline and REST create → REST decide → no-op → closed, %d approvals, %d clients", label, n, conc))
		sh := ShapeResult{Baseline: bench.Baseline(ctx, c, fmt.Sprintf("%s%d", run, conc), n, conc)}
		sh.Signoff = bench.APIShape(ctx, api, c, "bench", n, conc)
		if sh.Baseline.PerSecond > 0 {
			sh.Ratio = float64(int(sh.Signoff.PerSecond/sh.Baseline.PerSecond*100)) / 100
		}
		shapes = append(shapes, sh)
	}
	id, err := api.Create(ctx, "bench", "history sample", "")
	if err == nil {
		err = api.Decide(ctx, id, "dev-bob", "DECISION_APPROVE")
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: history sample: %v\n", label, err)
		return shapes, nil, 0
	}
	history = historyOf(ctx, c, label, workflows.ApprovalWorkflowID(id))
	if base := historyOf(ctx, c, label, bench.BaselineID(fmt.Sprintf("%s%d", run, 4), 0)); history != nil && base["events"] > 0 {
		eventsRatio = float64(int(float64(history["events"])/float64(base["events"])*100)) / 100
	}
	return shapes, history, eventsRatio
}

// historyOf counts the history of workflow wid once it has closed (a
// sample that did not close would count half of it); a failure is said on
// stderr and leaves the figure out.
func historyOf(ctx context.Context, c client.Client, label, wid string) map[string]int {
	if err := c.GetWorkflow(ctx, wid, "").Get(ctx, nil); err != nil {
		fmt.Fprintf(os.Stderr, "%s: history sample %s did not close: %v\n", label, wid, err)
		return nil
	}
	h, err := bench.HistoryCounts(ctx, c, wid)
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: history of %s: %v\n", label, wid, err)
		return nil
	}
	return h
}

func firstEnv(names ...string) string {
	for _, n := range names {
		if v := os.Getenv(n); v != "" {
			return v
		}
	}
	return ""
}

func (r *Results) targets() {
	for _, j := range r.Judge {
		us, kb := j.NsPerDecision/1000, float64(j.BytesPerDecision)/1024
		r.Targets[fmt.Sprintf("judge_us_per_decision_%d_priors", j.Priors)] = TargetOK{"<= 50", us, us <= 50}
		r.Targets[fmt.Sprintf("judge_kb_per_decision_%d_priors", j.Priors)] = TargetOK{"<= 32", kb, kb <= 32}
	}
	if r.Baseline.PerSecond > 0 { // not with -scale-only
		r.Targets["signoff_vs_baseline_throughput"] = TargetOK{">= 0.5", r.Ratio, r.Ratio >= 0.5}
		r.Targets["click_ack_p99_ms_at_100_per_s"] = TargetOK{"< 100", r.AckAt100.Ack.P99, r.AckAt100.Ack.P99 < 100 && r.AckAt100.Errors == 0}
	}
	for _, sh := range r.APIShape {
		goal := shapeGoal(sh.Signoff.Concurrency)
		r.Targets[fmt.Sprintf("api_shape_vs_baseline_c%d", sh.Signoff.Concurrency)] = TargetOK{fmt.Sprintf(">= %.1f", goal), sh.Ratio, sh.Ratio >= goal && sh.Signoff.Errors == 0}
	}
	if r.APIShapeEvents > 0 {
		r.Targets["api_shape_events_vs_baseline"] = TargetOK{"<= 2 (aim)", r.APIShapeEvents, r.APIShapeEvents <= 2}
	}
	if sp := r.Split; sp != nil && sp.Skipped == "" && len(sp.Shapes) > 0 {
		for _, sh := range sp.Shapes {
			goal := shapeGoal(sh.Signoff.Concurrency)
			r.Targets[fmt.Sprintf("split_api_shape_vs_baseline_c%d", sh.Signoff.Concurrency)] = TargetOK{fmt.Sprintf(">= %.1f", goal), sh.Ratio, sh.Ratio >= goal && sh.Signoff.Errors == 0}
		}
		r.Targets["split_gateway_rss_mib"] = TargetOK{"< 50", sp.GatewayRSSMiB, sp.GatewayRSSMiB < 50}
	}
	r.volumeTargets()
	if r.Scale != nil {
		r.Targets["scale_rss_mib"] = TargetOK{"< 1024", r.Scale.RSSMiB, r.Scale.RSSMiB < 1024}
		if b := r.BarePending; b != nil && b.RSSMiB > 0 {
			ratio := float64(int(r.Scale.RSSMiB/b.RSSMiB*100)) / 100
			r.Targets["scale_rss_vs_bare_pending"] = TargetOK{"<= 1.25", ratio, ratio <= 1.25}
		}
		r.Targets["scale_decide_p99_ratio"] = TargetOK{"<= 1.5", r.Scale.Ratio, r.Scale.Ratio <= 1.5}
	}
}

// shapeGoal is the API shape's throughput goal against bare Temporal: 0.9
// at 4 clients, 0.8 at 8, where the shared two cores bind both sides.
func shapeGoal(clients int) float64 {
	if clients <= 4 {
		return 0.9
	}
	return 0.8
}

func report(r Results) {
	fmt.Printf("\nSignoff benchmark — %s — %.0fs\n\n", r.Machine, r.Seconds)
	fmt.Printf("%-40s %8s %10s %10s %10s\n", "phase", "per sec", "p50 ms", "p95 ms", "p99 ms")
	row := func(name string, perSec float64, s bench.Summary) {
		fmt.Printf("%-40s %8.1f %10.1f %10.1f %10.1f\n", name, perSec, s.P50, s.P95, s.P99)
	}
	if r.Baseline.N > 0 { // not with -scale-only or -split-only
		row(fmt.Sprintf("baseline end to end (c=%d)", r.Baseline.Concurrency), r.Baseline.PerSecond, r.Baseline.EndToEnd)
		row(fmt.Sprintf("signoff end to end (c=%d)", r.Signoff.Concurrency), r.Signoff.PerSecond, r.Signoff.EndToEnd)
		row("  create", 0, r.Signoff.Create)
		row("  click acknowledgement", 0, r.Signoff.Ack)
		row("  click to action", 0, r.Signoff.ClickToAct)
	}
	for _, s := range r.Sweep {
		row(fmt.Sprintf("sweep signoff c=%d", s.Concurrency), s.PerSecond, s.EndToEnd)
	}
	for _, s := range r.BaseSweep {
		row(fmt.Sprintf("sweep baseline c=%d", s.Concurrency), s.PerSecond, s.EndToEnd)
	}
	for _, sh := range r.APIShape {
		row(fmt.Sprintf("api shape baseline (c=%d)", sh.Baseline.Concurrency), sh.Baseline.PerSecond, sh.Baseline.EndToEnd)
		row(fmt.Sprintf("api shape signoff (c=%d), ratio %.2f", sh.Signoff.Concurrency, sh.Ratio), sh.Signoff.PerSecond, sh.Signoff.EndToEnd)
		if sh.Signoff.Errors > 0 {
			fmt.Printf("  api shape errors: %d (first: %s)\n", sh.Signoff.Errors, sh.Signoff.FirstError)
		}
	}
	if r.PerAPIShape != nil {
		fmt.Printf("per API-shape approval history: %v\n", r.PerAPIShape)
	}
	if sp := r.Split; sp != nil {
		if sp.Skipped != "" {
			fmt.Printf("production topology: skipped: %s\n", sp.Skipped)
		}
		for _, sh := range sp.Shapes {
			row(fmt.Sprintf("split baseline (c=%d)", sh.Baseline.Concurrency), sh.Baseline.PerSecond, sh.Baseline.EndToEnd)
			row(fmt.Sprintf("split api shape (c=%d), ratio %.2f", sh.Signoff.Concurrency, sh.Ratio), sh.Signoff.PerSecond, sh.Signoff.EndToEnd)
			if sh.Signoff.Errors > 0 {
				fmt.Printf("  split api shape errors: %d (first: %s)\n", sh.Signoff.Errors, sh.Signoff.FirstError)
			}
		}
		if sp.Skipped == "" {
			fmt.Printf("production topology (PostgreSQL; server, worker, gateway as separate processes): RSS at rest: gateway %.0f MiB, worker %.0f MiB, temporal %.0f MiB; per API-shape approval history %v\n",
				sp.GatewayRSSMiB, sp.WorkerRSSMiB, sp.TemporalRSSMiB, sp.PerAPIShape)
		}
	}
	if r.Baseline.N > 0 {
		fmt.Printf("\nthroughput ratio signoff/baseline: %.2f; errors: baseline %d, signoff %d; duplicate actions: %d\n",
			r.Ratio, r.Baseline.Errors, r.Signoff.Errors, r.Signoff.DuplicateActions)
		fmt.Printf("per approval history: %v\nper baseline history: %v\n", r.PerApprov, r.PerBase)
		fmt.Printf("click acknowledgement at %.0f clicks/s: p50 %.1f ms, p99 %.1f ms, max %.1f ms, %d errors\n",
			r.AckAt100.PerSecond, r.AckAt100.Ack.P50, r.AckAt100.Ack.P99, r.AckAt100.Ack.Max, r.AckAt100.Errors)
	}
	if c := r.ChannelBurst; c.N > 0 {
		fmt.Printf("slack channel burst: %d approvals to one channel at 1 msg/s: %d posted, %d lost, %d answered 429, last post after %.0f s\n",
			c.N, c.Posted, c.Lost, c.RateLimited, c.SecondsToLastPost)
	}
	if r.Burst.N > 0 {
		fmt.Printf("burst: %d creates from %d clients: %d created, %d errors, %.1f/s\n", r.Burst.N, r.Burst.Clients, r.Burst.Created, r.Burst.Errors, r.Burst.PerSecond)
	}
	if s := r.Scale; s != nil {
		fmt.Printf("scale: %d pending (created at %.1f/s, %d errors): RSS at rest %.0f MiB (Go heap %.0f MiB; peak while creating %.0f MiB; server+worker+gateway, one process), database %.0f MiB\n",
			s.Pending, s.CreatePerSecond, s.CreateErrors, s.RSSMiB, s.HeapMiB, s.PeakRSSMiB, s.DatabaseMiB)
		if b := r.BarePending; b != nil {
			fmt.Printf("scale: %d bare workflows pending (signal + 1 h timer each, %d errors): RSS at rest %.0f MiB (Go heap %.0f MiB), same harness\n",
				b.Pending, b.Errors, b.RSSMiB, b.HeapMiB)
		}
		p99s := func(rounds []bench.Summary) string {
			var out []string
			for _, r := range rounds {
				out = append(out, fmt.Sprintf("%.0f", r.P99))
			}
			return strings.Join(out, "/")
		}
		fmt.Printf("scale: decide p99 (median of three rounds) %.1f ms at %d pending (rounds %s ms), %.1f ms at %d pending (rounds %s ms) (x%.2f)\n",
			s.DecideAtLow.P99, s.LowPending, p99s(s.LowRounds), s.DecideAtHigh.P99, s.Pending, p99s(s.HighRounds), s.Ratio)
	}
	reportVolume(r.Volume)
	for _, j := range r.Judge {
		fmt.Printf("judge: one decision, %d earlier attempts, %d amendments: %.1f µs, %d B, %d allocations\n",
			j.Priors, j.Amendments, j.NsPerDecision/1000, j.BytesPerDecision, j.AllocsPerDecision)
	}
	fmt.Println("\ntargets:")
	for _, name := range slices.Sorted(maps.Keys(r.Targets)) {
		t := r.Targets[name]
		verdict := "MET"
		if !t.Met {
			verdict = "MISSED (see docs/performance.md)"
		}
		fmt.Printf("  %-32s %-26s measured %-8.2f %s\n", name, t.Target, t.Measured, verdict)
	}
}

func step(s string) { fmt.Fprintf(os.Stderr, "%s  %s\n", time.Now().Format("15:04:05"), s) }

func countNonEmpty(ids []string) int {
	n := 0
	for _, id := range ids {
		if id != "" {
			n++
		}
	}
	return n
}

func machine() string {
	cpu := "unknown cpu"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "model name") {
				cpu = strings.TrimSpace(strings.SplitN(l, ":", 2)[1])
				break
			}
		}
	}
	return fmt.Sprintf("%d cores, %s, %s", runtime.NumCPU(), cpu, runtime.Version())
}

func writeHeapProfile(path string) {
	f, err := os.Create(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return
	}
	defer f.Close()
	if err := pprof.WriteHeapProfile(f); err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
}

func startCPUProfile(path string) (stop func()) {
	f, err := os.Create(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return func() {}
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		fmt.Fprintln(os.Stderr, err)
		_ = f.Close()
		return func() {}
	}
	return func() {
		pprof.StopCPUProfile()
		_ = f.Close()
	}
}
