//go:build !nodev

package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/signoff/signoff/app"
	"github.com/signoff/signoff/config"
	"github.com/signoff/signoff/devserver"
	"github.com/signoff/signoff/temporalconn"
)

// `signoff temporal` runs the same embedded server as `signoff dev`, on
// PostgreSQL, without worker or gateway: a small production install with
// its own Temporal. It links the Temporal server, so -tags nodev leaves it
// out like `dev`.

// temporalServer resolves the config section and finds the password in the
// environment read at start.
func temporalServer(cfg *config.Loaded, set app.Settings) (config.TemporalServer, devserver.PostgresOptions, error) {
	ts, err := cfg.TemporalServer.Resolved(cfg.Config)
	if err != nil {
		return ts, devserver.PostgresOptions{}, err
	}
	p := ts.Postgres
	return ts, devserver.PostgresOptions{
		Address:            p.Address,
		User:               p.User,
		Password:           set.Getenv(p.PasswordEnv),
		Database:           p.Database,
		VisibilityDatabase: p.VisibilityDatabase,
		Plugin:             p.Plugin,
		MaxConns:           p.MaxConns,
		ConnectAttributes:  p.ConnectAttributes,
	}, nil
}

func runTemporalMigrate(_ context.Context, p *process) error {
	logger := p.logger
	_, pg, err := temporalServer(p.live.Get(), p.set)
	if err != nil {
		return err
	}
	if err := devserver.MigratePostgres(pg, logger); err != nil {
		return err
	}
	logger.Info("temporal schema is current", "postgres", pg.Address, "database", pg.Database, "visibility_database", pg.VisibilityDatabase)
	return nil
}

func runTemporal(ctx context.Context, p *process) error {
	cfg, logger := p.live.Get(), p.logger
	ts, pg, err := temporalServer(cfg, p.set)
	if err != nil {
		return err
	}
	srv, err := devserver.StartPostgres(ctx, devserver.PostgresServerOptions{
		FrontendAddress:  ts.FrontendAddress,
		BroadcastAddress: ts.BroadcastAddress,
		NumHistoryShards: int32(ts.NumHistoryShards),
		MetricsAddress:   ts.MetricsAddress,
		Logger:           logger,
		LogLevel:         ts.LogLevel,
		Postgres:         pg,
	})
	if err != nil {
		return err
	}
	defer func() { _ = srv.Stop() }()
	if ts.UIAddress != "" {
		ui, err := devserver.StartUI(ts.UIAddress, srv.Address(), cfg.Temporal.Namespace)
		if err != nil {
			return err
		}
		defer ui.Stop()
	}
	// The namespace and its search attributes are made through the API, as
	// every worker does at start-up; this server talks to itself in plain
	// gRPC whatever TLS the config gives clients.
	tcfg := config.Temporal{Address: srv.Address(), Namespace: cfg.Temporal.Namespace}
	tc, err := temporalconn.Dial(ctx, tcfg, nil, "", logger)
	if err != nil {
		return err
	}
	defer tc.Close()
	if err := ensureNamespace(ctx, tc, cfg, logger); err != nil {
		return err
	}
	logger.Info("signoff temporal is up", "frontend", ts.FrontendAddress, "namespace", cfg.Temporal.Namespace,
		"postgres", pg.Address, "ui", ts.UIAddress, "metrics", ts.MetricsAddress)
	<-ctx.Done()
	return nil
}

// ensureNamespace retries: on a new database the namespace just registered
// is unknown to the other services until their namespace cache refreshes
// (about 10 s), and listing its search attributes fails until then.
func ensureNamespace(ctx context.Context, tc client.Client, cfg *config.Loaded, logger *slog.Logger) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		err := app.EnsureNamespace(ctx, tc, cfg)
		if err == nil {
			return nil
		}
		logger.Debug("namespace not ready yet", "namespace", cfg.Temporal.Namespace, "err", err)
		select {
		case <-ctx.Done():
			return fmt.Errorf("namespace %s: %w", cfg.Temporal.Namespace, err)
		case <-tick.C:
		}
	}
}
