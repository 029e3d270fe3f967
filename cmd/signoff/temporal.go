//go:build !nodev

package main

import (
	"context"

	"github.com/signoff/signoff/app"
	"github.com/signoff/signoff/config"
	"github.com/signoff/signoff/temporal/devserver"
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
		Password:           set.Env.Get(p.PasswordEnv),
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
		HistoryCacheSize: ts.HistoryCacheSize,
		Postgres:         pg,
	})
	if err != nil {
		return err
	}
	defer func() { _ = srv.Stop() }()
	if ts.UIAddress != "" {
		ui, err := devserver.StartUI(ts.UIAddress, srv.Address(), cfg.Temporal.Namespace, "")
		if err != nil {
			return err
		}
		defer ui.Stop()
	}
	// The namespace and its search attributes are made through the API, as
	// every worker does at start-up.
	if err := app.BootstrapNamespace(ctx, srv.Address(), cfg, logger); err != nil {
		return err
	}
	logger.Info("signoff temporal is up", "frontend", ts.FrontendAddress, "namespace", cfg.Temporal.Namespace,
		"postgres", pg.Address, "ui", ts.UIAddress, "metrics", ts.MetricsAddress)
	<-ctx.Done()
	return nil
}
