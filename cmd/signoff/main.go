// Command signoff runs Signoff: `signoff dev` (everything on an embedded
// Temporal), `signoff worker` and `signoff gateway` (production, against a
// Temporal cluster).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"go.temporal.io/sdk/client"
	"golang.org/x/sync/errgroup"

	"github.com/signoff/signoff/config"
	"github.com/signoff/signoff/gateway"
	"github.com/signoff/signoff/proof"
	"github.com/signoff/signoff/temporalconn"
	"github.com/signoff/signoff/worker"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

type command struct {
	name, help string
	run        func(ctx context.Context, live *config.Live, logger *slog.Logger) error
}

var commands = []command{
	{"worker", "run the Temporal worker (workflows and activities)", runWorker},
	{"gateway", "run the gRPC/REST gateway", runGateway},
}

func main() {
	os.Exit(run(os.Args[1:]))
}

func usage() {
	fmt.Fprintf(os.Stderr, "usage: signoff <command> [--config FILE]\n\ncommands:\n")
	for _, c := range commands {
		fmt.Fprintf(os.Stderr, "  %-8s %s\n", c.name, c.help)
	}
	fmt.Fprintf(os.Stderr, "  %-8s %s\n", "version", "print the version")
	fmt.Fprintf(os.Stderr, "  %-8s %s\n", "probe URL", "exit 0 when GET URL answers 2xx (container health checks)")
	fmt.Fprintf(os.Stderr, "\nThe config file defaults to $SIGNOFF_CONFIG, then signoff.yaml.\n")
	printClientUsage(os.Stderr)
}

func run(args []string) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage()
		return 2
	}
	if args[0] == "version" {
		fmt.Println(version)
		return 0
	}
	if args[0] == "probe" {
		return probe(args[1:])
	}
	// Client commands (cli.go) talk to a gateway and need no config file.
	if code, ok := runClientCommand(args[0], args[1:]); ok {
		return code
	}
	var cmd *command
	rest := args[1:]
	for i := range commands {
		if commands[i].name == args[0] {
			cmd = &commands[i]
		}
	}
	// Two-word commands ("temporal migrate") win over their first word.
	for i := range commands {
		if len(args) > 1 && commands[i].name == args[0]+" "+args[1] {
			cmd, rest = &commands[i], args[2:]
		}
	}
	if cmd == nil {
		fmt.Fprintf(os.Stderr, "signoff: unknown command %q\n\n", args[0])
		usage()
		return 2
	}
	fs := flag.NewFlagSet(cmd.name, flag.ContinueOnError)
	path := fs.String("config", defaultConfigPath(), "config file")
	if err := fs.Parse(rest); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "signoff %s: unexpected argument %q\n", cmd.name, fs.Arg(0))
		return 2
	}
	cfg, err := config.Load(*path)
	if err != nil {
		fmt.Fprintf(os.Stderr, "signoff: %v\n", err)
		return 2
	}
	logger := newLogger(cfg.Log)
	slog.SetDefault(logger)
	if cfg.DevOnly {
		logger.Warn("this config is marked dev_only: never use it for real approvals")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	live := config.NewLive(cfg, *path)
	go reloadOnHangup(ctx, live, logger)
	if err := cmd.run(ctx, live, logger); err != nil && !errors.Is(err, context.Canceled) {
		logger.Error("signoff stopped", "command", cmd.name, "err", err)
		return 1
	}
	return 0
}

// reloadOnHangup re-reads the config on SIGHUP: users and policies take
// effect for new requests; a config with mistakes is refused and logged.
func reloadOnHangup(ctx context.Context, live *config.Live, logger *slog.Logger) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			next, err := live.Reload()
			if err != nil {
				logger.Error("config reload refused; the previous config stays in force", "err", err)
				continue
			}
			logger.Info("config reloaded", "policies", len(next.Policies.List()))
		}
	}
}

func defaultConfigPath() string {
	if p := os.Getenv("SIGNOFF_CONFIG"); p != "" {
		return p
	}
	return "signoff.yaml"
}

func newLogger(c config.Log) *slog.Logger {
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.Level)); err != nil {
		level = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: level}
	if strings.EqualFold(c.Format, "json") {
		return slog.New(slog.NewJSONHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, opts))
}

func runWorker(ctx context.Context, live *config.Live, logger *slog.Logger) error {
	cfg := live.Get()
	tc, err := temporalconn.Dial(ctx, cfg.Temporal, logger)
	if err != nil {
		return err
	}
	defer tc.Close()
	if err := temporalconn.EnsureNamespace(ctx, tc, cfg.Temporal.Namespace, cfg.Temporal.Retention.Std()); err != nil {
		return err
	}
	w, err := worker.New(tc, cfg, logger)
	if err != nil {
		return err
	}
	if cfg.Worker.HealthAddress != "" {
		stopHealth, err := serveWorkerHealth(cfg.Worker.HealthAddress, tc, logger)
		if err != nil {
			return err
		}
		defer stopHealth()
	}
	if err := w.Start(); err != nil {
		return fmt.Errorf("start worker: %w", err)
	}
	logger.Info("worker started", "task_queue", cfg.Temporal.TaskQueue, "namespace", cfg.Temporal.Namespace)
	<-ctx.Done()
	w.Stop()
	return nil
}

func runGateway(ctx context.Context, live *config.Live, logger *slog.Logger) error {
	tc, err := temporalconn.Dial(ctx, live.Get().Temporal, logger)
	if err != nil {
		return err
	}
	defer tc.Close()
	return serveGateway(ctx, live, tc, logger)
}

func serveGateway(ctx context.Context, live *config.Live, tc client.Client, logger *slog.Logger) error {
	cfg := live.Get()
	actions, err := worker.NewActions(cfg)
	if err != nil {
		return err
	}
	proofs, err := proof.FromEnv()
	if err != nil {
		return fmt.Errorf("gateway: %w", err)
	}
	gs, err := gateway.New(live, tc, actions, proofs, logger)
	if err != nil {
		return err
	}
	grpcL, err := net.Listen("tcp", cfg.Gateway.GRPCAddress)
	if err != nil {
		return fmt.Errorf("listen grpc: %w", err)
	}
	httpL, err := net.Listen("tcp", cfg.Gateway.HTTPAddress)
	if err != nil {
		_ = grpcL.Close()
		return fmt.Errorf("listen http: %w", err)
	}
	return gs.Serve(ctx, grpcL, httpL)
}

// runAll runs the worker and the gateway in one process until ctx ends.
func runAll(ctx context.Context, live *config.Live, tc client.Client, logger *slog.Logger) error {
	w, err := worker.New(tc, live.Get(), logger)
	if err != nil {
		return err
	}
	if err := w.Start(); err != nil {
		return fmt.Errorf("start worker: %w", err)
	}
	defer w.Stop()
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return serveGateway(ctx, live, tc, logger) })
	return g.Wait()
}
