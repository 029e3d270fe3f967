//go:build !nodev

package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/signoff/signoff/app"
	"github.com/signoff/signoff/auth/proof"
	"github.com/signoff/signoff/temporal/devserver"
	"github.com/signoff/signoff/workflows"
)

// The dev server links the whole Temporal server; production images build
// with -tags nodev and leave it out.
// embeddedCommands run the embedded Temporal server.
var embeddedCommands = []command{
	{"dev", "run everything: embedded Temporal + Web UI, worker, gateway", runDev},
	{"temporal", "run a single-process Temporal server on PostgreSQL (temporal_server in the config)", runTemporal},
	{"temporal migrate", "create or upgrade Temporal's PostgreSQL databases, then exit", runTemporalMigrate},
}

func runDev(ctx context.Context, p *process) error {
	cfg, logger := p.live.Get(), p.logger
	// Gateway and worker share this process: without configured proof
	// keys they share a random one for its lifetime.
	if p.set.Proofs == nil {
		p.set.Proofs = proof.Generate()
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
	// With payload encryption on, the UI decodes through the gateway's
	// codec endpoint as the person signed in to Signoff in the browser.
	codecEndpoint := ""
	if p.set.Codec != nil {
		codecEndpoint = strings.TrimSuffix(cfg.Gateway.PublicURL, "/") + "/codec"
	}
	ui, err := devserver.StartUI(cfg.Dev.UIAddress, srv.Address(), cfg.Temporal.Namespace, codecEndpoint)
	if err != nil {
		return err
	}
	defer ui.Stop()

	// A data directory from an older version may lack newer search
	// attributes: they are only written when the namespace is created,
	// and Connect adds them.
	b, err := app.Connect(ctx, cfg, srv.Address(), p.set, logger)
	if err != nil {
		return err
	}
	defer b.Close()
	logger.Info("signoff dev is up",
		"rest", cfg.Gateway.PublicURL, "grpc", cfg.Gateway.GRPCAddress,
		"temporal", srv.Address(), "temporal_ui", "http://"+cfg.Dev.UIAddress)
	return runAll(ctx, b, p)
}
