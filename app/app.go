// Package app is Signoff's composition root: the one place that reads the
// environment, dials Temporal, and builds the worker and the gateway from
// the config. `signoff` (every command), the end-to-end tests and the bench
// all start Signoff through it.
package app

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"

	"github.com/signoff/signoff/approval/evidence"
	"github.com/signoff/signoff/auth/authn"
	"github.com/signoff/signoff/auth/proof"
	"github.com/signoff/signoff/channel/email/linktoken"
	"github.com/signoff/signoff/channel/slack/usergroups"
	"github.com/signoff/signoff/config"
	"github.com/signoff/signoff/config/identity"
	"github.com/signoff/signoff/gateway"
	"github.com/signoff/signoff/policy"
	"github.com/signoff/signoff/store/approvalstore"
	"github.com/signoff/signoff/store/peoplestore"
	"github.com/signoff/signoff/temporal/codec"
	"github.com/signoff/signoff/temporal/connect"
	"github.com/signoff/signoff/worker"
	"github.com/signoff/signoff/workflows"
)

// Settings are what the process reads from its environment, once, at
// start: keys and overrides handed down to the parts that use them.
type Settings struct {
	// Proofs signs (gateway) and verifies (worker) decisions.
	Proofs *proof.Keyring
	// Codec encrypts payloads; nil leaves them plain.
	Codec *codec.Codec
	// TemporalAPIKey authenticates to Temporal Cloud, from the variable the
	// config names.
	TemporalAPIKey string
	// Notifiers overrides the config file's notifiers.
	Notifiers []string
	// Slack are the Slack tokens and the API URL override (SLACK_*).
	Slack config.SlackSecrets
	// Email is the SMTP relay (SMTP_*); EmailErr is why it could not be
	// read (a malformed SMTP_PORT), which fails the email notifier only.
	Email    config.EmailSecrets
	EmailErr error
	// EmailLinks sign (worker) and verify (gateway) the links in emails;
	// nil when SIGNOFF_EMAIL_LINK_KEY is unset, which a config using the
	// email notifier is refused for when the worker or gateway is built.
	EmailLinks *linktoken.Keys
	// Evidence signs evidence exports (SIGNOFF_EVIDENCE_KEY); nil when
	// unset.
	Evidence ed25519.PrivateKey
	// SessionKey signs browser sessions (SIGNOFF_SESSION_KEY); nil when
	// unset.
	SessionKey []byte
	// OIDCClientSecret is the OIDC client's secret for browser sign-in
	// (SIGNOFF_OIDC_CLIENT_SECRET); empty for a public client.
	OIDCClientSecret string
	// Env looks up the variables the config refers to by name: the
	// webhook secret, the GitHub token, ${NAME} in trigger database URLs,
	// the Postgres password of `signoff temporal`, and the secrets
	// scrubbed from action outputs. Load's is a snapshot of the
	// environment taken at start.
	Env config.Env
}

// Environ is a snapshot of the process environment, taken when called:
// what is read from it later does not change with the environment.
func Environ() func(string) (string, bool) {
	env := map[string]string{}
	for _, kv := range os.Environ() {
		if k, v, ok := strings.Cut(kv, "="); ok {
			if _, dup := env[k]; !dup {
				env[k] = v
			}
		}
	}
	return func(name string) (string, bool) {
		v, ok := env[name]
		return v, ok
	}
}

// SettingsFrom reads the settings for cfg through lookup (Environ's
// snapshot, or os.LookupEnv), which becomes Settings.Env.
func SettingsFrom(cfg *config.Loaded, lookup func(string) (string, bool)) (Settings, error) {
	s := Settings{Env: lookup}
	getenv := s.Env.Get
	var err error
	// Without proof keys Proofs stays nil: the gateway and the worker then
	// refuse to start (proof.ErrNoKeys), other commands need none.
	if spec := strings.TrimSpace(getenv(proof.KeysEnv)); spec != "" {
		if s.Proofs, err = proof.Parse(spec); err != nil {
			return s, err
		}
	}
	if s.Codec, err = codec.Parse(getenv(codec.EnvKeys)); err != nil {
		return s, fmt.Errorf("%s: %w", codec.EnvKeys, err)
	}
	if cfg.Temporal.APIKeyEnv != "" {
		s.TemporalAPIKey = getenv(cfg.Temporal.APIKeyEnv)
	}
	if v := strings.TrimSpace(getenv(config.EnvNotifiers)); v != "" {
		s.Notifiers = strings.Split(v, ",")
	}
	s.Slack = config.SlackSecretsFrom(getenv)
	s.Email, s.EmailErr = config.EmailSecretsFrom(getenv)
	if s.EmailLinks, _, err = linktoken.Parse(getenv(config.EnvEmailLinkKey), getenv(config.EnvEmailLinkKeyPrevious)); err != nil {
		return s, err
	}
	if s.Evidence, _, err = evidence.ParseKey(getenv(evidence.EnvKey)); err != nil {
		return s, err
	}
	if v := strings.TrimSpace(getenv(config.EnvSessionKey)); v != "" {
		if s.SessionKey, err = linktoken.ParseKey(v); err != nil || len(s.SessionKey) < 32 {
			return s, fmt.Errorf("%s: want 32 bytes or more, base64 (openssl rand -base64 32)", config.EnvSessionKey)
		}
	}
	s.OIDCClientSecret = getenv(config.EnvOIDCClientSecret)
	return s, nil
}

// Load reads the config file and the settings through lookup (Environ(),
// the environment at start), and applies the settings' overrides; Reload
// of the returned Live reads the file again with the same overrides.
func Load(path string, lookup func(string) (string, bool)) (*config.Live, Settings, error) {
	cfg, err := config.Load(path)
	if err != nil {
		return nil, Settings{}, err
	}
	set, err := SettingsFrom(cfg, lookup)
	if err != nil {
		return nil, set, err
	}
	if err := cfg.WithNotifiers(set.Notifiers); err != nil {
		return nil, set, err
	}
	return config.NewLive(cfg, func() (*config.Loaded, error) {
		next, err := config.Load(path)
		if err != nil {
			return nil, err
		}
		return next, next.WithNotifiers(set.Notifiers)
	}), set, nil
}

// Backend is a connection to Temporal and the approvals port over it.
type Backend struct {
	Client    client.Client
	Approvals *approvalstore.Temporal
	// People keeps identity-provider groups and delegations (the people
	// workflow); its changes are stamped with the settings' proof keys.
	People *peoplestore.Temporal
	// Metrics are the Temporal SDK's metrics (the client's and its
	// workers'), with what the workflows and activities emit through it;
	// the gateway and the worker's health listener serve them on /metrics.
	Metrics *connect.Metrics
}

// Connect dials Temporal at cfg.Temporal (address overrides it when not
// empty), makes sure the namespace has Signoff's search attributes, and
// builds the approvals port with the converter the client was dialled with.
func Connect(ctx context.Context, cfg *config.Loaded, address string, set Settings, logger *slog.Logger) (*Backend, error) {
	tcfg := cfg.Temporal
	if address != "" {
		tcfg.Address = address
	}
	metrics, err := connect.NewMetrics(logger)
	if err != nil {
		return nil, err
	}
	c, err := connect.DialWith(ctx, tcfg, set.Codec, set.TemporalAPIKey, metrics.Handler, logger)
	if err != nil {
		return nil, err
	}
	if err := EnsureNamespace(ctx, c, cfg); err != nil {
		c.Close()
		return nil, err
	}
	port := approvalstore.NewTemporal(c, connect.Converter(set.Codec), cfg.Temporal.Namespace, cfg.Temporal.TaskQueue)
	return &Backend{Client: c, Approvals: port, People: peoplestore.NewTemporal(c, cfg.Temporal.TaskQueue, set.Proofs), Metrics: metrics}, nil
}

// EnsureNamespace registers cfg's namespace and Signoff's search
// attributes when missing.
func EnsureNamespace(ctx context.Context, c client.Client, cfg *config.Loaded) error {
	return connect.EnsureNamespace(ctx, c, cfg.Temporal.Namespace, cfg.Temporal.Retention.Std(), workflows.SearchAttributes)
}

// BootstrapNamespace registers cfg's namespace and search attributes on the
// Temporal server at address (one Signoff runs itself, talking to itself in
// plain gRPC whatever TLS the config gives clients). It retries: on a new
// database the namespace just registered is unknown to the other services
// until their namespace cache refreshes (about 10 s), and listing its
// search attributes fails until then.
func BootstrapNamespace(ctx context.Context, address string, cfg *config.Loaded, logger *slog.Logger) error {
	c, err := connect.Dial(ctx, config.Temporal{Address: address, Namespace: cfg.Temporal.Namespace}, nil, "", logger)
	if err != nil {
		return err
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		err := EnsureNamespace(ctx, c, cfg)
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

// Close closes the connection.
func (b *Backend) Close() { b.Client.Close() }

// MetricsGatherer is what the SDK measured, for a process's /metrics
// (the gateway's, the worker's health listener); nil without.
func (b *Backend) MetricsGatherer() prometheus.Gatherer {
	if b.Metrics == nil {
		return nil
	}
	return b.Metrics.Registry
}

// Ready reports whether Temporal answers.
func (b *Backend) Ready(ctx context.Context) error {
	_, err := b.Client.CheckHealth(ctx, &client.CheckHealthRequest{})
	return err
}

// NewWorker builds a worker for cfg.
func NewWorker(b *Backend, cfg *config.Loaded, set Settings, logger *slog.Logger) (sdkworker.Worker, error) {
	if set.Proofs == nil {
		return nil, fmt.Errorf("worker: %w", proof.ErrNoKeys)
	}
	return worker.New(worker.Options{
		Client: b.Client, Config: cfg, Approvals: b.Approvals, Proofs: set.Proofs, Logger: logger,
		Secrets: worker.Secrets{
			Slack: set.Slack, Email: set.Email, EmailErr: set.EmailErr, EmailLinks: set.EmailLinks, Env: set.Env,
		},
	})
}

// NewGateway builds the gateway on live.
func NewGateway(ctx context.Context, b *Backend, live *config.Live, set Settings, logger *slog.Logger) (*gateway.Server, error) {
	if set.Proofs == nil {
		return nil, fmt.Errorf("gateway: %w", proof.ErrNoKeys)
	}
	// The issuer is the one configured at start: changing it takes a
	// restart; the people it may name follow the config in force.
	auth, err := authn.New(ctx, live.Get().OIDC, func() *identity.Directory { return live.Get().Directory }, logger)
	if err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	// Identity-provider groups are remembered from each verified token, so
	// policies can name them as approvers.
	auth.ObserveGroups(b.People.Observe)
	outside := policy.Sources{
		policy.OIDCGroupPrefix:      peoplestore.Groups{Store: b.People},
		policy.SlackUsergroupPrefix: usergroups.ForConfig(live.Get().Slack, set.Slack, func() *identity.Directory { return live.Get().Directory }),
	}
	return gateway.New(gateway.Options{
		// Each person's messages to an approval are budgeted before
		// Temporal: a flood costs the flooder, not the approval.
		Live: live, Approvals: approvalstore.NewBudget(b.Approvals, approvalstore.DefaultBudgetBurst, approvalstore.DefaultBudgetEvery),
		Actions: NewLiveActions(live, set.Env.Lookup), Proofs: set.Proofs,
		Codec: set.Codec, Ready: b.Ready, Logger: logger, Authn: auth, Outside: outside, People: b.People, Metrics: b.MetricsGatherer(),
		Secrets: gateway.Secrets{Slack: set.Slack, EmailLinks: set.EmailLinks, Evidence: set.Evidence,
			SessionKey: set.SessionKey, OIDCClientSecret: set.OIDCClientSecret, Env: set.Env},
	})
}

// ServeGateway serves the gateway on the config's addresses until ctx ends.
func ServeGateway(ctx context.Context, b *Backend, live *config.Live, set Settings, logger *slog.Logger) error {
	gs, err := NewGateway(ctx, b, live, set, logger)
	if err != nil {
		return err
	}
	cfg := live.Get()
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

// RunWorker runs a worker until ctx ends. When the config in force
// changes, the worker is rebuilt from the new one (notifiers, actions,
// triggers and their schedules); a config it cannot build a worker from is
// logged and the running worker keeps going. Approvals wait in Temporal
// while the worker is swapped. started, when not nil, is told the config
// of each worker once it polls.
func RunWorker(ctx context.Context, b *Backend, live *config.Live, set Settings, logger *slog.Logger, started func(*config.Loaded)) error {
	changed, cfg := live.Changed(), live.Get()
	w, err := NewWorker(b, cfg, set, logger)
	if err != nil {
		return err
	}
	if err := w.Start(); err != nil {
		return fmt.Errorf("start worker: %w", err)
	}
	logger.Info("worker started", "task_queue", cfg.Temporal.TaskQueue, "namespace", cfg.Temporal.Namespace)
	if started != nil {
		started(cfg)
	}
	for {
		select {
		case <-ctx.Done():
			w.Stop()
			return nil
		case <-changed:
			changed, cfg = live.Changed(), live.Get()
			next, err := NewWorker(b, cfg, set, logger)
			if err != nil {
				logger.Error("worker keeps its config: the reloaded one cannot build a worker", "err", err)
				continue
			}
			w.Stop()
			if err := next.Start(); err != nil {
				return fmt.Errorf("restart worker: %w", err)
			}
			w = next
			logger.Info("worker rebuilt with the reloaded config")
			if started != nil {
				started(cfg)
			}
		}
	}
}
