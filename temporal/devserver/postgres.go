package devserver

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"strconv"
	"time"

	"go.temporal.io/server/common/config"
	"go.temporal.io/server/common/metrics"
)

// PostgresOptions say where Temporal's two PostgreSQL databases are.
type PostgresOptions struct {
	Address            string // host:port
	User, Password     string
	Database           string // main store
	VisibilityDatabase string
	// Plugin is postgres12_pgx or postgres12.
	Plugin string
	// MaxConns caps each pool; the process opens several.
	MaxConns int
	// ConnectAttributes go into the connection URL (sslmode, ...).
	ConnectAttributes map[string]string
	// MaintenanceDatabase is where CREATE DATABASE runs; default
	// "postgres".
	MaintenanceDatabase string
}

func (p PostgresOptions) sqlConfig(database string) *config.SQL {
	attrs := maps.Clone(p.ConnectAttributes)
	if attrs == nil {
		attrs = map[string]string{}
	}
	return &config.SQL{
		PluginName:        p.Plugin,
		DatabaseName:      database,
		ConnectAddr:       p.Address,
		ConnectProtocol:   "tcp",
		User:              p.User,
		Password:          p.Password,
		ConnectAttributes: attrs,
		MaxConns:          p.MaxConns,
		// Idle connections count against PostgreSQL's limit too.
		MaxIdleConns:    max(1, p.MaxConns/2),
		MaxConnLifetime: time.Hour,
	}
}

// PostgresServerOptions configure StartPostgres.
type PostgresServerOptions struct {
	// FrontendAddress is host:port the frontend binds; the other services
	// take ports at fixed offsets from it (ServicePorts).
	FrontendAddress string
	// BroadcastAddress is the IP the services announce; default the
	// frontend host.
	BroadcastAddress string
	// NumHistoryShards is fixed when the database is first used.
	NumHistoryShards int32
	// MetricsAddress serves Prometheus /metrics when set.
	MetricsAddress string
	// Logger receives the server's logs at LogLevel ("warn" unless set)
	// and above; default slog.Default().
	Logger   *slog.Logger
	LogLevel string
	// HistoryCacheSize bounds the cache of workflows' state; 0 is
	// DefaultHistoryCacheSize.
	HistoryCacheSize int
	Postgres         PostgresOptions
}

// ServicePortOffsets place the other services relative to the frontend
// port, in the order serverConfig takes them: frontend membership, history
// gRPC and membership, matching gRPC and membership, worker gRPC and
// membership. From 7233 this is Temporal's usual layout (6933, 7234/6934,
// 7235/6935, 7239/6939). Fixed ports let a restarted server rejoin its
// membership ring at once; random ones leave stale hosts in the ring (kept
// in the database) until they expire.
var ServicePortOffsets = [7]int{-300, 1, -299, 2, -298, 6, -294}

// maxMembershipPort: Temporal's PostgreSQL schema keeps membership ports in
// a SMALLINT, and a server on a higher port never joins its own ring (it
// logs encode errors and its frontend never opens).
const maxMembershipPort = 32767

// ServicePorts returns the internal ports for a frontend port.
func ServicePorts(frontendPort int) ([]int, error) {
	if frontendPort > maxMembershipPort {
		return nil, fmt.Errorf("frontend port %d: Temporal on PostgreSQL needs ports up to %d", frontendPort, maxMembershipPort)
	}
	ports := make([]int, len(ServicePortOffsets))
	for i, off := range ServicePortOffsets {
		p := frontendPort + off
		if p < 1 || p > maxMembershipPort {
			return nil, fmt.Errorf("frontend port %d: service port %d (offset %+d) is outside 1-%d", frontendPort, p, off, maxMembershipPort)
		}
		ports[i] = p
	}
	return ports, nil
}

// StartPostgres starts all Temporal services in this process on
// PostgreSQL. The schema must be current (MigratePostgres); the namespace is
// left to the caller, through the API.
func StartPostgres(ctx context.Context, opts PostgresServerOptions) (*Server, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.NumHistoryShards < 1 {
		return nil, fmt.Errorf("num history shards %d: want at least 1", opts.NumHistoryShards)
	}
	host, portStr, err := net.SplitHostPort(opts.FrontendAddress)
	if err != nil {
		return nil, fmt.Errorf("frontend address %q: %w", opts.FrontendAddress, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, fmt.Errorf("frontend port %q: %w", portStr, err)
	}
	if opts.BroadcastAddress == "" {
		opts.BroadcastAddress = host
	}
	ports, err := ServicePorts(port)
	if err != nil {
		return nil, err
	}
	for _, p := range append([]int{port}, ports...) {
		if err := checkPortFree(net.JoinHostPort(host, strconv.Itoa(p))); err != nil {
			return nil, err
		}
	}
	logger := NewSlogLogger(opts.Logger, opts.LogLevel)
	if err := CheckPostgresSchema(opts.Postgres, logger); err != nil {
		return nil, err
	}

	cfg := serverConfig(host, port, ports, nil)
	// Services bind host but announce the broadcast IP, which is also how
	// the system worker and the cluster record reach the frontend.
	dialAddr := net.JoinHostPort(opts.BroadcastAddress, strconv.Itoa(port))
	cfg.Global.Membership.BroadcastAddress = opts.BroadcastAddress
	cfg.PublicClient.HostPort = dialAddr
	info := cfg.ClusterMetadata.ClusterInformation["active"]
	info.RPCAddress = dialAddr
	cfg.ClusterMetadata.ClusterInformation["active"] = info
	const mainStore, visibilityStore = "postgres", "postgres-visibility"
	cfg.Persistence = config.Persistence{
		DefaultStore:     mainStore,
		VisibilityStore:  visibilityStore,
		NumHistoryShards: opts.NumHistoryShards,
		DataStores: map[string]config.DataStore{
			mainStore:       {SQL: opts.Postgres.sqlConfig(opts.Postgres.Database)},
			visibilityStore: {SQL: opts.Postgres.sqlConfig(opts.Postgres.VisibilityDatabase)},
		},
	}
	if opts.MetricsAddress != "" {
		if err := checkPortFree(opts.MetricsAddress); err != nil {
			return nil, err
		}
		cfg.Global.Metrics = &metrics.Config{Prometheus: &metrics.PrometheusConfig{
			Framework: metrics.FrameworkOpentelemetry, ListenAddress: opts.MetricsAddress, HandlerPath: "/metrics",
		}}
	}

	srv, err := startServer(cfg, logger, opts.HistoryCacheSize)
	if err != nil {
		return nil, err
	}
	opts.Logger.InfoContext(ctx, "temporal server started", "address", opts.FrontendAddress, "broadcast", dialAddr,
		"postgres", opts.Postgres.Address, "database", opts.Postgres.Database, "shards", opts.NumHistoryShards)
	return &Server{srv: srv, address: dialAddr}, nil
}
