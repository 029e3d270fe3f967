package config

import (
	"fmt"
	"net"
	"slices"
)

// TemporalServer configures `signoff temporal`: every Temporal service in one
// process on PostgreSQL, for installs without a Temporal cluster of their
// own. Workers and gateways reach it at temporal.address as usual.
//
// Defaults are applied by Resolved, not at load: only `signoff temporal`
// reads this section.
type TemporalServer struct {
	// FrontendAddress is where the frontend listens (gRPC); default
	// temporal.address. The history, matching and worker services and the
	// membership ring listen on ports at fixed offsets from it (from 7233:
	// 6933, 7234/6934, 7235/6935, 7239/6939), so one setting moves them all.
	FrontendAddress string `yaml:"frontend_address"`
	// BroadcastAddress is the IP this server announces to its own services;
	// required when FrontendAddress binds all interfaces (0.0.0.0).
	BroadcastAddress string `yaml:"broadcast_address"`
	// UIAddress serves the Temporal Web UI when set.
	UIAddress string `yaml:"ui_address"`
	// MetricsAddress serves the server's Prometheus metrics (/metrics)
	// when set.
	MetricsAddress string `yaml:"metrics_address"`
	// NumHistoryShards is fixed when the database is first used: changing it
	// later means a new database.
	NumHistoryShards int `yaml:"num_history_shards"`
	// LogLevel of the server's own logs: debug, info, warn (default), error.
	LogLevel string `yaml:"log_level"`
	// HistoryCacheSize is how many workflows' state the history service
	// keeps in memory (0: the default, 1,000). Approvals wait for days, so a
	// cached one is rarely read again soon; the cache need only hold those
	// in flight at once.
	HistoryCacheSize int      `yaml:"history_cache_size"`
	Postgres         Postgres `yaml:"postgres"`
}

// Postgres is the database of `signoff temporal`: two databases (main and
// visibility) on one PostgreSQL.
type Postgres struct {
	// Address is host:port; default 127.0.0.1:5432.
	Address string `yaml:"address"`
	User    string `yaml:"user"`
	// PasswordEnv names the environment variable holding the password.
	PasswordEnv        string `yaml:"password_env"`
	Database           string `yaml:"database"`
	VisibilityDatabase string `yaml:"visibility_database"`
	// Plugin is Temporal's SQL plugin: postgres12_pgx (default) or
	// postgres12 (lib/pq).
	Plugin string `yaml:"plugin"`
	// MaxConns caps each connection pool. One process opens several pools
	// (per service and store), and PostgreSQL allows 100 connections by
	// default: keep this near 10.
	MaxConns int `yaml:"max_conns"`
	// ConnectAttributes are added to the connection URL (sslmode,
	// sslrootcert, ...). Without sslmode, TLS is off.
	ConnectAttributes map[string]string `yaml:"connect_attributes"`
}

// PostgresPlugins are the SQL plugins `signoff temporal` accepts.
var PostgresPlugins = []string{"postgres12_pgx", "postgres12"}

// Resolved returns the section with defaults filled in from c, checked.
func (s TemporalServer) Resolved(c *Config) (TemporalServer, error) {
	def := func(p *string, v string) {
		if *p == "" {
			*p = v
		}
	}
	def(&s.FrontendAddress, c.Temporal.Address)
	def(&s.LogLevel, "warn")
	if s.NumHistoryShards == 0 {
		// Approvals are few and long: one shard per small install is plenty
		// and was fastest on small machines; it cannot be changed later.
		s.NumHistoryShards = 1
	}
	if s.HistoryCacheSize < 0 {
		return s, fmt.Errorf("temporal_server.history_cache_size %d: want a number of workflows, or 0 for the default", s.HistoryCacheSize)
	}
	p := &s.Postgres
	def(&p.Address, "127.0.0.1:5432")
	def(&p.User, "temporal")
	def(&p.PasswordEnv, "SIGNOFF_POSTGRES_PASSWORD")
	def(&p.Database, "temporal")
	def(&p.VisibilityDatabase, "temporal_visibility")
	def(&p.Plugin, "postgres12_pgx")
	if p.MaxConns == 0 {
		p.MaxConns = 10
	}

	host, _, err := net.SplitHostPort(s.FrontendAddress)
	if err != nil {
		return s, fmt.Errorf("temporal_server.frontend_address %q: %w", s.FrontendAddress, err)
	}
	if s.BroadcastAddress == "" {
		if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
			return s, fmt.Errorf("temporal_server.broadcast_address: required when frontend_address %q is not one IP", s.FrontendAddress)
		}
		s.BroadcastAddress = host
	}
	if net.ParseIP(s.BroadcastAddress) == nil {
		return s, fmt.Errorf("temporal_server.broadcast_address %q: not an IP", s.BroadcastAddress)
	}
	if _, _, err := net.SplitHostPort(p.Address); err != nil {
		return s, fmt.Errorf("temporal_server.postgres.address %q: %w", p.Address, err)
	}
	if !slices.Contains(PostgresPlugins, p.Plugin) {
		return s, fmt.Errorf("temporal_server.postgres.plugin %q: want one of %v", p.Plugin, PostgresPlugins)
	}
	if p.Database == p.VisibilityDatabase {
		return s, fmt.Errorf("temporal_server.postgres: database and visibility_database must differ (both %q)", p.Database)
	}
	if p.MaxConns < 2 {
		return s, fmt.Errorf("temporal_server.postgres.max_conns %d: want at least 2", p.MaxConns)
	}
	if s.NumHistoryShards < 1 {
		return s, fmt.Errorf("temporal_server.num_history_shards %d: want at least 1", s.NumHistoryShards)
	}
	return s, nil
}
