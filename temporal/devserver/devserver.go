// Package devserver runs a single-process Temporal server on SQLite, with the
// Temporal Web UI, for `signoff dev` and end-to-end tests. Production runs
// against a real Temporal cluster instead; binaries built with the `nodev`
// tag do not link this package.
package devserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/server/common/cluster"
	"go.temporal.io/server/common/config"
	"go.temporal.io/server/common/dynamicconfig"
	"go.temporal.io/server/common/log"
	sqliteplugin "go.temporal.io/server/common/persistence/sql/sqlplugin/sqlite"
	"go.temporal.io/server/common/primitives"
	"go.temporal.io/server/common/primitives/timestamp"
	sqliteschema "go.temporal.io/server/schema/sqlite"
	"go.temporal.io/server/temporal"
)

// Options configures the embedded server.
type Options struct {
	// DataDir holds the SQLite database; state survives restarts. Empty means
	// in-memory (tests that need no restart).
	DataDir string
	// FrontendAddress is host:port for the Temporal frontend (gRPC).
	FrontendAddress string
	// Namespace is created on first start.
	Namespace string
	// Retention of closed workflows in the namespace when it is created.
	Retention time.Duration
	// SearchAttributes are registered in the namespace when it is created.
	SearchAttributes map[string]enumspb.IndexedValueType
	// LogLevel for the server's own logs ("warn" unless set; "off" for
	// none).
	LogLevel string
}

// Server is a running embedded Temporal.
type Server struct {
	srv     temporal.Server
	address string
}

// Address is the frontend's host:port.
func (s *Server) Address() string { return s.address }

// Stop shuts the server down.
func (s *Server) Stop() error { return s.srv.Stop() }

// Start creates the schema and namespace when missing and starts all
// Temporal services in this process.
func Start(ctx context.Context, opts Options) (*Server, error) {
	if opts.Namespace == "" {
		opts.Namespace = "default"
	}
	if opts.Retention <= 0 {
		opts.Retention = 30 * 24 * time.Hour
	}
	if opts.LogLevel == "" {
		opts.LogLevel = "warn"
	}
	host, portStr, err := net.SplitHostPort(opts.FrontendAddress)
	if err != nil {
		return nil, fmt.Errorf("frontend address %q: %w", opts.FrontendAddress, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, fmt.Errorf("frontend port %q: %w", portStr, err)
	}
	if err := checkPortFree(opts.FrontendAddress); err != nil {
		return nil, err
	}

	sqlCfg := &config.SQL{
		PluginName:        sqliteplugin.PluginName,
		ConnectAttributes: map[string]string{},
	}
	if opts.DataDir == "" {
		sqlCfg.ConnectAttributes["mode"] = "memory"
		sqlCfg.ConnectAttributes["cache"] = "shared"
		sqlCfg.DatabaseName = "signoff-" + primitives.NewUUID().String()
	} else {
		if err := os.MkdirAll(opts.DataDir, 0o700); err != nil {
			return nil, fmt.Errorf("create data dir: %w", err)
		}
		sqlCfg.DatabaseName = filepath.Join(opts.DataDir, "temporal.db")
		sqlCfg.ConnectAttributes["mode"] = "rwc"
		// WAL with synchronous=normal saves an fsync per commit. One
		// connection: with several, SQLite refuses lock upgrades inside
		// transactions (SQLITE_BUSY) and Temporal logs and retries them.
		sqlCfg.ConnectAttributes["journal_mode"] = "wal"
		sqlCfg.ConnectAttributes["synchronous"] = "normal"
		sqlCfg.ConnectAttributes["busy_timeout"] = "10000"
	}
	if opts.DataDir == "" || !exists(sqlCfg.DatabaseName) {
		if err := sqliteschema.SetupSchema(sqlCfg); err != nil {
			return nil, fmt.Errorf("set up sqlite schema: %w", err)
		}
	}
	const clusterName = "active"
	ns, err := sqliteschema.NewNamespaceConfig(clusterName, opts.Namespace, false, opts.SearchAttributes)
	if err != nil {
		return nil, fmt.Errorf("namespace config: %w", err)
	}
	// The default retention (24h) is far too short for approvals that wait
	// for days; it is only written when the namespace is created.
	ns.Detail.Config.Retention = timestamp.DurationPtr(opts.Retention)
	if err := sqliteschema.CreateNamespaces(sqlCfg, ns); err != nil {
		return nil, fmt.Errorf("create namespace: %w", err)
	}

	ports, err := servicePorts(host, opts.DataDir)
	if err != nil {
		return nil, err
	}
	cfg := serverConfig(host, port, ports, sqlCfg)
	var logger log.Logger = log.NewNoopLogger()
	if opts.LogLevel != "off" {
		logger = log.NewZapLogger(log.BuildZapLogger(log.Config{Level: opts.LogLevel, Format: "json"}))
	}
	srv, err := startServer(cfg, logger, DefaultHistoryCacheSize)
	if err != nil {
		return nil, err
	}
	slog.Info("embedded temporal started", "address", opts.FrontendAddress, "namespace", opts.Namespace, "data_dir", opts.DataDir)
	return &Server{srv: srv, address: opts.FrontendAddress}, nil
}

// startServer creates and starts every Temporal service in this process,
// whatever the persistence (SQLite here, PostgreSQL in postgres.go).
func startServer(cfg *config.Config, logger log.Logger, historyCacheSize int) (temporal.Server, error) {
	if historyCacheSize <= 0 {
		historyCacheSize = DefaultHistoryCacheSize
	}
	srv, err := temporal.NewServer(
		temporal.WithConfig(cfg),
		temporal.ForServices(temporal.DefaultServices),
		temporal.WithLogger(logger),
		temporal.WithDynamicConfigClient(dynamicConfig(historyCacheSize)),
	)
	if err != nil {
		return nil, fmt.Errorf("create temporal server: %w", err)
	}
	if err := srv.Start(); err != nil {
		return nil, fmt.Errorf("start temporal server: %w", err)
	}
	return srv, nil
}

// DefaultHistoryCacheSize is how many workflows' state the history service
// keeps in memory. Temporal's own default (128,000 workflows, each kept an
// hour) suits workflows that run; with it every pending approval stayed in
// memory, about 13 KB each once decoded (10,100 pending: 130 MB of heap,
// and the garbage collector lets the heap grow to twice that). Approvals
// wait for days: the cache need only hold those in flight at once (a few
// hundred under a load test); the others are read from the database when
// they wake, one query each. (The size-based limit counts the persisted
// size, about a tenth of the decoded one, so it is not used.)
const DefaultHistoryCacheSize = 1000

// VisibilityRPS is how many visibility requests (list, count) a namespace
// may make per second. Temporal's default is 10, and every approval's start
// lists the runs under its ID (the copied-run check) besides the lists and
// inboxes people read: at 10 the namespace stopped at about 10 approvals a
// second, and each start beyond waited out the limiter's back-off.
const VisibilityRPS = 500

// dynamicConfig holds settings measured on small machines: one task-queue
// partition (four left workflows 60-70 s in backlog under load), a search
// attribute cache that sees attributes added at start-up at once, a
// history cache sized for an approval service (DefaultHistoryCacheSize
// says why), and room for the visibility requests an approval service
// makes (VisibilityRPS).
func dynamicConfig(historyCacheSize int) dynamicconfig.StaticClient {
	return dynamicconfig.StaticClient{
		dynamicconfig.FrontendMaxNamespaceVisibilityRPSPerInstance.Key(): VisibilityRPS,
		dynamicconfig.HistoryCacheHostLevelMaxSize.Key():                 historyCacheSize,
		dynamicconfig.ForceSearchAttributesCacheRefreshOnRead.Key():      true,
		dynamicconfig.MatchingNumTaskqueueReadPartitions.Key():           1,
		dynamicconfig.MatchingNumTaskqueueWritePartitions.Key():          1,
		dynamicconfig.FrontendEnableUpdateWorkflowExecution.Key():        true,
	}
}

// servicePorts returns the ports of the internal services and membership.
// With a data directory they are kept across restarts: a restarted server
// must come back with the same hosts, or the membership ring keeps the old
// run's hosts until they expire and task queues stall for about a minute.
func servicePorts(host, dataDir string) ([]int, error) {
	const n = 7
	path := filepath.Join(dataDir, "ports.json")
	if dataDir != "" {
		if b, err := os.ReadFile(path); err == nil {
			var saved []int
			if json.Unmarshal(b, &saved) == nil && len(saved) == n && allFree(host, saved) {
				return saved, nil
			}
		}
	}
	ports, err := FreePorts(host, n)
	if err != nil {
		return nil, err
	}
	if dataDir != "" {
		b, _ := json.Marshal(ports)
		if err := os.WriteFile(path, b, 0o600); err != nil {
			return nil, fmt.Errorf("save service ports: %w", err)
		}
	}
	return ports, nil
}

func allFree(host string, ports []int) bool {
	for _, p := range ports {
		if checkPortFree(net.JoinHostPort(host, strconv.Itoa(p))) != nil {
			return false
		}
	}
	return true
}

func serverConfig(host string, frontendPort int, ports []int, sqlCfg *config.SQL) *config.Config {
	frontendAddr := net.JoinHostPort(host, strconv.Itoa(frontendPort))
	service := func(grpcPort, membershipPort int) config.Service {
		return config.Service{RPC: config.RPC{GRPCPort: grpcPort, MembershipPort: membershipPort, BindOnIP: host}}
	}
	return &config.Config{
		Global: config.Global{
			Membership: config.Membership{MaxJoinDuration: 30 * time.Second, BroadcastAddress: host},
		},
		Persistence: config.Persistence{
			DefaultStore:     sqliteplugin.PluginName,
			VisibilityStore:  sqliteplugin.PluginName,
			NumHistoryShards: 1,
			DataStores:       map[string]config.DataStore{sqliteplugin.PluginName: {SQL: sqlCfg}},
		},
		ClusterMetadata: &cluster.Config{
			EnableGlobalNamespace:    false,
			FailoverVersionIncrement: 10,
			MasterClusterName:        "active",
			CurrentClusterName:       "active",
			ClusterInformation: map[string]cluster.ClusterInformation{
				"active": {Enabled: true, InitialFailoverVersion: 1, RPCAddress: frontendAddr},
			},
		},
		DCRedirectionPolicy: config.DCRedirectionPolicy{Policy: "noop"},
		Services: map[string]config.Service{
			"frontend": service(frontendPort, ports[0]),
			"history":  service(ports[1], ports[2]),
			"matching": service(ports[3], ports[4]),
			"worker":   service(ports[5], ports[6]),
		},
		Archival: config.Archival{
			History:    config.HistoryArchival{State: "disabled"},
			Visibility: config.VisibilityArchival{State: "disabled"},
		},
		NamespaceDefaults: config.NamespaceDefaults{
			Archival: config.ArchivalNamespaceDefaults{
				History:    config.HistoryArchivalNamespaceDefaults{State: "disabled"},
				Visibility: config.VisibilityArchivalNamespaceDefaults{State: "disabled"},
			},
		},
		PublicClient: config.PublicClient{HostPort: frontendAddr},
	}
}

// The ports FreePorts hands out lie below Linux's ephemeral range
// (32768–60999), so no outgoing connection or port-0 listener, of this
// process or another, takes one between the check and the server's bind;
// and one process never hands a port out twice (several stacks at once in
// one test binary). The start is random, so two processes rarely walk the
// same ports.
const (
	portLow  = 20000
	portHigh = 32000
)

var portPool struct {
	sync.Mutex
	next  int
	given map[int]bool
}

// FreePorts returns n distinct ports free on host now, none handed out
// before by this process.
func FreePorts(host string, n int) ([]int, error) {
	portPool.Lock()
	defer portPool.Unlock()
	if portPool.given == nil {
		portPool.given = map[int]bool{}
		portPool.next = portLow + rand.IntN(portHigh-portLow)
	}
	var out []int
	for tries := 0; len(out) < n && tries < portHigh-portLow; tries++ {
		p := portPool.next
		if portPool.next++; portPool.next >= portHigh {
			portPool.next = portLow
		}
		if portPool.given[p] || checkPortFree(net.JoinHostPort(host, strconv.Itoa(p))) != nil {
			continue
		}
		portPool.given[p] = true
		out = append(out, p)
	}
	if len(out) < n {
		return nil, fmt.Errorf("find %d free ports on %s between %d and %d: found %d", n, host, portLow, portHigh, len(out))
	}
	return out, nil
}

func checkPortFree(addr string) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("address %s is not free (is another Temporal or signoff dev running?): %w", addr, err)
	}
	return l.Close()
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return !errors.Is(err, os.ErrNotExist)
}
