//go:build !nodev

package main

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"

	"github.com/signoff/signoff/config"
	"github.com/signoff/signoff/devserver"
	"github.com/signoff/signoff/proof"
	"github.com/signoff/signoff/temporalconn"
	"github.com/signoff/signoff/workflows"
)

// The dev server links the whole Temporal server; production images build
// with -tags nodev and leave it out.
func init() {
	commands = append(commands, command{"dev", "run everything: embedded Temporal + Web UI, worker, gateway", runDev})
}

func runDev(ctx context.Context, live *config.Live, logger *slog.Logger) error {
	cfg := live.Get()
	// Gateway and worker share this process: without configured proof
	// keys they share a random one for its lifetime.
	if err := proof.EnsureDevEnv(); err != nil {
		return fmt.Errorf("proof keys: %w", err)
	}
	dataDir, err := filepath.Abs(cfg.Dev.DataDir)
	if err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	srv, err := devserver.Start(ctx, devserver.Options{
		DataDir:          dataDir,
		FrontendAddress:  cfg.Dev.FrontendAddress,
		Namespace:        cfg.Temporal.Namespace,
		Retention:        cfg.Temporal.Retention.Std(),
		SearchAttributes: workflows.SearchAttributes,
	})
	if err != nil {
		return err
	}
	defer func() { _ = srv.Stop() }()
	ui, err := devserver.StartUI(cfg.Dev.UIAddress, srv.Address(), cfg.Temporal.Namespace)
	if err != nil {
		return err
	}
	defer ui.Stop()

	tcfg := cfg.Temporal
	tcfg.Address = srv.Address()
	tc, err := temporalconn.Dial(ctx, tcfg, logger)
	if err != nil {
		return err
	}
	defer tc.Close()
	// A data directory from an older version may lack newer search
	// attributes: they are only written when the namespace is created.
	if err := temporalconn.EnsureNamespace(ctx, tc, cfg.Temporal.Namespace, cfg.Temporal.Retention.Std()); err != nil {
		return err
	}
	logger.Info("signoff dev is up",
		"rest", cfg.Gateway.PublicURL, "grpc", cfg.Gateway.GRPCAddress,
		"temporal", srv.Address(), "temporal_ui", "http://"+cfg.Dev.UIAddress)
	return runAll(ctx, live, tc, logger)
}
