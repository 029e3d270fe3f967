// Package testenv starts the whole Signoff stack in-process for end-to-end
// tests: an embedded Temporal on SQLite, the worker and the gateway, on free
// loopback ports. Tests that link it link the Temporal server, so keep them
// in few packages (e2e/).
package testenv

import (
	"bytes"
	"context"
	_ "embed"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.temporal.io/sdk/client"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	"github.com/signoff/signoff/app"
	"github.com/signoff/signoff/auth/proof"
	"github.com/signoff/signoff/config"
	"github.com/signoff/signoff/policy"
	pb "github.com/signoff/signoff/proto/signoff/v1"
	"github.com/signoff/signoff/temporal/devserver"
	"github.com/signoff/signoff/workflows"
)

// TB is what the stack needs from its driver: *testing.T and *testing.B
// satisfy it, and so does the benchmark program's own runner.
type TB interface {
	Helper()
	Fatalf(format string, args ...any)
	Logf(format string, args ...any)
	Cleanup(func())
	TempDir() string
}

// lookup reads Env, then the process environment; an empty value counts as
// unset.
func (o Options) lookup(name string) (string, bool) {
	v, ok := o.Env[name]
	if !ok {
		v = os.Getenv(name)
	}
	return v, v != ""
}

// StackConfig is the stack's own config (stack.yaml): users alice, bob,
// carol (platform), dana (admin) and audrey (auditor) with dev-<name>
// tokens, and the production (2 of platform) and default (1) policies.
//
//go:embed stack.yaml
var StackConfig string

// Options shape a stack.
type Options struct {
	// ConfigYAML replaces StackConfig when set.
	ConfigYAML string
	// Mutate edits the parsed config before anything starts (extra
	// policies, webhook prefixes, ...).
	Mutate func(*config.Loaded)
	// DataDir keeps Temporal's SQLite file; empty means a fresh temp dir.
	DataDir string
	// LogLevel of the stack's own logs (default info).
	LogLevel slog.Level
	// Env is read before the process environment for the stack's settings
	// (secrets, keys). Tests that run in parallel pass their secrets here:
	// t.Setenv cannot be used in them.
	Env map[string]string
	// NoWorker starts no in-process worker: the test runs workers as
	// processes of their own (StartWorkerProcess), to kill them.
	NoWorker bool
	// UI starts the Temporal Web UI (UIURL), as `signoff dev` does: with
	// payload encryption on, it decodes through the gateway's /codec with
	// the browser's cookies.
	UI bool
}

// Stack is a running Signoff.
type Stack struct {
	T        TB
	Config   *config.Loaded
	Live     *config.Live
	DataDir  string
	Temporal *devserver.Server
	Client   client.Client
	// Backend is the Temporal connection and the approvals port over it.
	Backend *app.Backend
	// Settings are what the stack read from the environment at start.
	Settings app.Settings
	HTTPURL  string
	GRPCAddr string
	// UIURL is the Temporal Web UI's address (Options.UI).
	UIURL  string
	Logs   *lockedBuffer
	logger *slog.Logger
	stopGW context.CancelFunc
	stopW  context.CancelFunc
	wDone  chan error
	// workerOn receives the config of each worker RunWorker starts.
	workerOn chan *config.Loaded
	// reader serves Seen.
	readerOnce sync.Once
	reader     pb.ApprovalServiceClient
	gwDone     chan error
}

// Start brings up Temporal, worker and gateway; everything stops at cleanup.
func Start(t TB, opts Options) *Stack {
	t.Helper()
	// One random proof key ring per test process, shared by the gateway,
	// the in-process worker and worker processes (which inherit it).
	if err := ensureProofKeys(); err != nil {
		t.Fatalf("proof keys: %v", err)
	}
	cfg := loadConfig(t, opts)
	set, err := app.SettingsFrom(cfg, opts.lookup)
	if err != nil {
		t.Fatalf("settings: %v", err)
	}
	s := &Stack{T: t, Config: cfg, Settings: set, DataDir: opts.DataDir, Logs: &lockedBuffer{}}
	// Reload reads ConfigYAML (or the file) again with the same edits,
	// except the addresses, which stay those the stack listens on.
	s.Live = config.NewLive(cfg, func() (*config.Loaded, error) {
		next := loadConfig(t, opts)
		next.Temporal.Address, next.Gateway = cfg.Temporal.Address, cfg.Gateway
		return next, nil
	})
	if s.DataDir == "" {
		s.DataDir = t.TempDir()
	}
	s.logger = slog.New(slog.NewTextHandler(io.MultiWriter(s.Logs, testWriter{t}), &slog.HandlerOptions{Level: opts.LogLevel}))
	addrs := freeAddrs(t, 4)
	cfg.Temporal.Address, cfg.Gateway.GRPCAddress, cfg.Gateway.HTTPAddress = addrs[0], addrs[1], addrs[2]
	cfg.Gateway.PublicURL = "http://" + cfg.Gateway.HTTPAddress
	s.HTTPURL = cfg.Gateway.PublicURL
	if opts.UI {
		// The gateway lets the UI's origin call /codec with cookies.
		cfg.Codec.UIOrigin = "http://" + addrs[3]
	}
	s.GRPCAddr = cfg.Gateway.GRPCAddress

	s.StartTemporal()
	if opts.UI {
		s.startUI(addrs[3])
	}
	if !opts.NoWorker {
		s.StartWorker()
	}
	s.StartGateway()
	t.Cleanup(s.stopAll)
	return s
}

func loadConfig(t TB, opts Options) *config.Loaded {
	t.Helper()
	raw := []byte(opts.ConfigYAML)
	if opts.ConfigYAML == "" {
		raw = []byte(StackConfig)
	}
	cfg, err := config.Parse(raw)
	if err != nil {
		t.Fatalf("parse config: %v", err)
	}
	cfg.Gateway.CallTimeout = 0
	if opts.Mutate != nil {
		opts.Mutate(cfg)
	}
	if cfg.Gateway.CallTimeout == 0 {
		cfg.Gateway.CallTimeout = policy.Duration(20 * time.Second)
	}
	return cfg
}

// StartTemporal starts the embedded server on DataDir and dials a client.
func (s *Stack) StartTemporal() {
	s.T.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	srv, err := devserver.Start(ctx, devserver.Options{
		DataDir: s.DataDir, FrontendAddress: s.Config.Temporal.Address, Namespace: s.Config.Temporal.Namespace,
		SearchAttributes: workflows.SearchAttributes, LogLevel: s.temporalLogLevel(),
	})
	if err != nil {
		s.T.Fatalf("start temporal: %v", err)
	}
	s.Temporal = srv
	b, err := app.Connect(ctx, s.Config, "", s.Settings, s.logger)
	if err != nil {
		s.T.Fatalf("connect to temporal: %v", err)
	}
	s.Backend, s.Client = b, b.Client
}

// startUI serves the Temporal Web UI on address, as `signoff dev` does.
func (s *Stack) startUI(address string) {
	s.T.Helper()
	endpoint := ""
	if s.Settings.Codec != nil {
		endpoint = s.HTTPURL + "/codec"
	}
	ui, err := devserver.StartUI(address, s.Config.Temporal.Address, s.Config.Temporal.Namespace, endpoint)
	if err != nil {
		s.T.Fatalf("start temporal ui: %v", err)
	}
	s.T.Cleanup(ui.Stop)
	s.UIURL = "http://" + address
}

// temporalLogLevel keeps the server quiet unless SIGNOFF_TEST_TEMPORAL_LOG
// asks for its logs (its shutdown errors are noise in passing tests).
func (s *Stack) temporalLogLevel() string {
	if l := os.Getenv("SIGNOFF_TEST_TEMPORAL_LOG"); l != "" {
		return l
	}
	return "off"
}

// StopTemporal stops the server (the SQLite file stays).
func (s *Stack) StopTemporal() {
	if s.Backend != nil {
		s.Backend.Close()
		s.Backend, s.Client = nil, nil
	}
	if s.Temporal != nil {
		if err := s.Temporal.Stop(); err != nil {
			s.T.Logf("stop temporal: %v", err)
		}
		s.Temporal = nil
	}
}

// StartWorker runs a worker on the stack's client, rebuilt on every
// config reload, as `signoff worker` does.
func (s *Stack) StartWorker() {
	s.T.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s.stopW, s.wDone, s.workerOn = cancel, make(chan error, 1), make(chan *config.Loaded, 4)
	go func() {
		s.wDone <- app.RunWorker(ctx, s.Backend, s.Live, s.Settings, s.logger, func(c *config.Loaded) {
			select {
			case s.workerOn <- c:
			case <-ctx.Done():
			}
		})
	}()
	s.awaitWorker(s.Live.Get())
}

// awaitWorker waits until the running worker is the one built from cfg.
func (s *Stack) awaitWorker(cfg *config.Loaded) {
	s.T.Helper()
	timeout := time.After(time.Minute)
	for {
		select {
		case c := <-s.workerOn:
			if c == cfg {
				return
			}
		case err := <-s.wDone:
			s.stopW = nil // nothing left to stop
			s.T.Fatalf("worker stopped: %v", err)
		case <-timeout:
			s.T.Fatalf("no worker started with the config in force")
		}
	}
}

// Reload reloads the config (Options.Mutate runs again) as SIGHUP does,
// and waits for the worker rebuilt from it.
func (s *Stack) Reload() {
	s.T.Helper()
	next, err := s.Live.Reload()
	if err != nil {
		s.T.Fatalf("reload: %v", err)
	}
	if s.stopW != nil {
		s.awaitWorker(next)
	}
}

// StopWorker stops the worker.
func (s *Stack) StopWorker() {
	if s.stopW != nil {
		s.stopW()
		if err := <-s.wDone; err != nil {
			s.T.Logf("worker: %v", err)
		}
		s.stopW = nil
	}
}

// StartGateway serves gRPC and HTTP on the stack's addresses.
func (s *Stack) StartGateway() {
	s.T.Helper()
	gs, err := app.NewGateway(context.Background(), s.Backend, s.Live, s.Settings, s.logger)
	if err != nil {
		s.T.Fatalf("gateway: %v", err)
	}
	gl, err := net.Listen("tcp", s.GRPCAddr)
	if err != nil {
		s.T.Fatalf("listen grpc: %v", err)
	}
	hl, err := net.Listen("tcp", strings.TrimPrefix(s.HTTPURL, "http://"))
	if err != nil {
		s.T.Fatalf("listen http: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.stopGW = cancel
	s.gwDone = make(chan error, 1)
	go func() { s.gwDone <- gs.Serve(ctx, gl, hl) }()
}

// StopGateway drains and stops the gateway.
func (s *Stack) StopGateway() {
	if s.stopGW != nil {
		s.stopGW()
		<-s.gwDone
		s.stopGW = nil
	}
}

// RestartTemporal stops everything and starts it again on the same data.
func (s *Stack) RestartTemporal() {
	s.T.Helper()
	s.StopGateway()
	s.StopWorker()
	s.StopTemporal()
	s.StartTemporal()
	s.StartWorker()
	s.StartGateway()
}

func (s *Stack) stopAll() {
	s.recordHistories()
	s.StopGateway()
	s.StopWorker()
	s.StopTemporal()
}

// Do sends a REST request with a bearer token and returns status and body.
func (s *Stack) Do(method, path, token, body string) (int, []byte) {
	s.T.Helper()
	req, err := http.NewRequest(method, s.HTTPURL+path, strings.NewReader(body))
	if err != nil {
		s.T.Fatalf("request: %v", err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.T.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// GRPC returns an ApprovalService client; Ctx adds a token.
func (s *Stack) GRPC() pb.ApprovalServiceClient {
	s.T.Helper()
	conn, err := grpc.NewClient(s.GRPCAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		s.T.Fatalf("grpc client: %v", err)
	}
	s.T.Cleanup(func() { _ = conn.Close() })
	return pb.NewApprovalServiceClient(conn)
}

// Ctx is a context carrying token as the caller's bearer token.
func Ctx(token string) context.Context {
	return metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+token)
}

// freeAddrs returns n distinct free loopback addresses; every listener stays
// open until all are picked, so the kernel cannot hand one port out twice.
func freeAddrs(t TB, n int) []string {
	ports, err := devserver.FreePorts("127.0.0.1", n)
	if err != nil {
		t.Fatalf("free ports: %v", err)
	}
	addrs := make([]string, n)
	for i, p := range ports {
		addrs[i] = net.JoinHostPort("127.0.0.1", strconv.Itoa(p))
	}
	return addrs
}

type testWriter struct{ t TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Logf("%s", strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// Eventually polls cond until it holds or timeout passes; for state that is
// eventually consistent by design (Temporal visibility), never as a sleep.
func Eventually(t TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for wait := 10 * time.Millisecond; ; wait = min(wait*2, 500*time.Millisecond) {
		if cond() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(wait)
	}
}

// lockedBuffer collects logs written by many goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns everything logged so far.
func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Seen reads approval id as token's user, as a decider would before
// deciding, and returns its request_hash: what the decision is bound to.
func (s *Stack) Seen(token, id string) string {
	s.T.Helper()
	s.readerOnce.Do(func() { s.reader = s.GRPC() })
	a, err := s.reader.GetApproval(Ctx(token), &pb.GetApprovalRequest{Id: id})
	if err != nil {
		s.T.Fatalf("read approval %s as %s: %v", id, token, err)
	}
	return a.GetRequestHash()
}

// DecideBody is a REST :decide body for decision, bound to the content
// token's user reads now.
func (s *Stack) DecideBody(token, id, decision string) string {
	s.T.Helper()
	return fmt.Sprintf(`{"decision":%q,"request_hash":%q}`, decision, s.Seen(token, id))
}

// ensureProofKeys sets proof.KeysEnv to a fresh random ring when it is
// unset, so the gateway, the in-process worker and worker processes (which
// inherit the environment) share one ring for the test process.
func ensureProofKeys() error {
	if os.Getenv(proof.KeysEnv) != "" {
		return nil
	}
	return os.Setenv(proof.KeysEnv, proof.Generate().Encode())
}
