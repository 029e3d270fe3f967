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
	"os"
	"os/signal"
	"strings"
	"syscall"

	"golang.org/x/sync/errgroup"

	"github.com/signoff/signoff/app"
	"github.com/signoff/signoff/config"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

type command struct {
	name, help string
	run        func(ctx context.Context, p *process) error
}

// process is what a server command runs with: the config in force and the
// settings read from the environment at start.
type process struct {
	live   *config.Live
	set    app.Settings
	logger *slog.Logger
}

// commands are the server commands; embeddedCommands (the embedded Temporal
// server's) are left out of -tags nodev builds.
var commands = append([]command{
	{"worker", "run the Temporal worker (workflows and activities)", runWorker},
	{"gateway", "run the gRPC/REST gateway", runGateway},
	{"approvals versions", "count the approvals that may still need each old workflow path (docs/versions.md)", runApprovalVersions},
}, embeddedCommands...)

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
	// The environment is read here, once: everything below is handed
	// what it needs from this snapshot.
	live, set, err := app.Load(*path, app.Environ())
	if err != nil {
		fmt.Fprintf(os.Stderr, "signoff: %v\n", err)
		return 2
	}
	cfg := live.Get()
	logger := newLogger(cfg.Log)
	slog.SetDefault(logger)
	if cfg.DevOnly {
		logger.Warn("this config is marked dev_only: never use it for real approvals")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go reloadOnHangup(ctx, live, logger)
	if err := cmd.run(ctx, &process{live: live, set: set, logger: logger}); err != nil && !errors.Is(err, context.Canceled) {
		logger.Error("signoff stopped", "command", cmd.name, "err", err)
		return 1
	}
	return 0
}

// reloadOnHangup re-reads the config on SIGHUP: the gateway takes users,
// policies and action settings for new requests, and the worker is rebuilt
// from it; a config with mistakes is refused and logged.
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

func runWorker(ctx context.Context, p *process) error {
	cfg := p.live.Get()
	b, err := app.Connect(ctx, cfg, "", p.set, p.logger)
	if err != nil {
		return err
	}
	defer b.Close()
	if cfg.Worker.HealthAddress != "" {
		stopHealth, err := serveWorkerHealth(cfg.Worker.HealthAddress, b.Ready, b.MetricsGatherer(), p.logger)
		if err != nil {
			return err
		}
		defer stopHealth()
	}
	return app.RunWorker(ctx, b, p.live, p.set, p.logger, nil)
}

func runGateway(ctx context.Context, p *process) error {
	b, err := app.Connect(ctx, p.live.Get(), "", p.set, p.logger)
	if err != nil {
		return err
	}
	defer b.Close()
	return app.ServeGateway(ctx, b, p.live, p.set, p.logger)
}

// runAll runs the worker and the gateway in one process until ctx ends.
func runAll(ctx context.Context, b *app.Backend, p *process) error {
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return app.RunWorker(ctx, b, p.live, p.set, p.logger, nil) })
	g.Go(func() error { return app.ServeGateway(ctx, b, p.live, p.set, p.logger) })
	return g.Wait()
}
