// Package config loads Signoff's one config file. Secrets never live in it:
// they come from environment variables named here and resolved at start-up.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/signoff/signoff/config/identity"
	"github.com/signoff/signoff/policy"
	"github.com/signoff/signoff/policy/regopolicy"
)

// Config is the whole file.
type Config struct {
	// DevOnly marks a config that must never serve real traffic (plaintext
	// tokens, loopback only). `signoff worker` and `signoff gateway` refuse
	// plaintext tokens unless it is set.
	DevOnly  bool            `yaml:"dev_only"`
	Log      Log             `yaml:"log"`
	Temporal Temporal        `yaml:"temporal"`
	Dev      Dev             `yaml:"dev"`
	Gateway  Gateway         `yaml:"gateway"`
	Worker   Worker          `yaml:"worker"`
	Users    []identity.User `yaml:"users"`
	Policies []policy.Policy `yaml:"policies"`
	Actions  Actions         `yaml:"actions"`
	Slack    Slack           `yaml:"slack"`
	Email    Email           `yaml:"email"`
	Codec    Codec           `yaml:"codec"`
	// OIDC accepts tokens from the company's identity provider next to
	// the users' static tokens (config/oidc.go).
	OIDC OIDC `yaml:"oidc"`
	// TemporalServer configures `signoff temporal` (config/server.go).
	TemporalServer TemporalServer `yaml:"temporal_server"`
	// Notifiers prompt approvers.
	Notifiers []string `yaml:"notifiers"`
	// SecurityNotifiers are also told, at once, about every break-glass.
	SecurityNotifiers []string `yaml:"security_notifiers"`
	// Triggers are scheduled queries that start approvals (config/triggers.go).
	Triggers Triggers `yaml:"triggers"`
	// GitHubApp is Signoff as a GitHub deployment protection rule (config/githubapp.go).
	GitHubApp GitHubApp `yaml:"github_app"`
	// Teams is the Microsoft Teams notifier and bot endpoint (config/teams.go).
	Teams Teams `yaml:"teams"`
}

// Log configures log/slog.
type Log struct {
	Level  string `yaml:"level"`  // debug, info, warn, error
	Format string `yaml:"format"` // text or json
}

// Temporal says how to reach the cluster.
type Temporal struct {
	Address   string `yaml:"address"`
	Namespace string `yaml:"namespace"`
	TaskQueue string `yaml:"task_queue"`
	TLS       TLS    `yaml:"tls"`
	// APIKeyEnv names the environment variable holding a Temporal Cloud
	// API key; empty means none.
	APIKeyEnv string `yaml:"api_key_env"`
	// Retention of closed approvals when Signoff registers the namespace.
	Retention policy.Duration `yaml:"retention"`
}

// TLS for the Temporal connection (mTLS when a client cert is set).
type TLS struct {
	Enabled    bool   `yaml:"enabled"`
	CAFile     string `yaml:"ca_file"`
	CertFile   string `yaml:"cert_file"`
	KeyFile    string `yaml:"key_file"`
	ServerName string `yaml:"server_name"`
}

// Dev configures the embedded Temporal of `signoff dev`.
type Dev struct {
	DataDir         string `yaml:"data_dir"`
	FrontendAddress string `yaml:"frontend_address"`
	UIAddress       string `yaml:"ui_address"`
}

// Gateway configures the API and callback server.
type Gateway struct {
	GRPCAddress string `yaml:"grpc_address"`
	HTTPAddress string `yaml:"http_address"`
	// PublicURL is how people reach the gateway (links in prompts).
	PublicURL    string          `yaml:"public_url"`
	MaxBodyBytes int64           `yaml:"max_body_bytes"`
	CallTimeout  policy.Duration `yaml:"call_timeout"`
	// SessionTTL is how long a browser stays signed in (default 8h);
	// sessions are signed with SIGNOFF_SESSION_KEY.
	SessionTTL policy.Duration `yaml:"session_ttl"`
}

// EnvSessionKey holds the key that signs browser sessions (32 bytes or
// more, hex or base64). Without it, sign-in in the browser is off, except
// in a dev_only config, which makes up a key for the life of the process.
const EnvSessionKey = "SIGNOFF_SESSION_KEY"

// Worker tunes the Temporal worker.
type Worker struct {
	MaxConcurrentActivities int `yaml:"max_concurrent_activities"`
	MaxConcurrentWorkflows  int `yaml:"max_concurrent_workflow_tasks"`
	StickyCacheSize         int `yaml:"sticky_cache_size"`
	// HealthAddress serves /healthz, /readyz and /metrics when set.
	HealthAddress string `yaml:"health_address"`
	// DeadlockDetectionTimeout is how long workflow code may run without
	// yielding before the SDK fails the workflow task as a potential
	// deadlock (0: the SDK's default, 1 s). Signoff's workflow code never
	// blocks; raise it only where the process is starved of CPU, as tests
	// under the race detector on a small machine are.
	DeadlockDetectionTimeout policy.Duration `yaml:"deadlock_detection_timeout"`
	// ReconcileInterval is how often the grant reconciler looks for
	// granted access whose approval's workflow closed without revoking it
	// (terminated in Temporal), and revokes it (default 2m, at least 10s).
	ReconcileInterval policy.Duration `yaml:"reconcile_interval"`
}

// EnvNotifiers overrides the file's notifiers (comma-separated), so the
// same config runs with Slack or email switched on by the environment that
// holds their secrets (`SIGNOFF_NOTIFIERS=log,slack make run`). The
// composition root reads it with the other settings.
const EnvNotifiers = "SIGNOFF_NOTIFIERS"

// WithNotifiers replaces the notifiers (an override from the
// environment); an empty list keeps the file's.
func (l *Loaded) WithNotifiers(list []string) error {
	var names []string
	for _, n := range list {
		if n = strings.TrimSpace(n); n != "" {
			if !slices.Contains(knownNotifiers, n) {
				return fmt.Errorf("%s: unknown notifier %q (have: %v)", EnvNotifiers, n, knownNotifiers)
			}
			names = append(names, n)
		}
	}
	if len(names) > 0 {
		l.Notifiers = names
	}
	return nil
}

// knownNotifiers are the notifier channels a config may name: one list,
// here, for every channel (no registration from other files).
var knownNotifiers = []string{"log", "slack", "email", NotifierTeams, NotifierGitHubDeployments}

// Defaults fill what a file leaves out.
func (c *Config) applyDefaults() {
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	def(&c.Log.Level, "info")
	def(&c.Log.Format, "text")
	def(&c.Temporal.Address, "127.0.0.1:7233")
	def(&c.Temporal.Namespace, "default")
	def(&c.Temporal.TaskQueue, "signoff")
	def(&c.Temporal.APIKeyEnv, "TEMPORAL_API_KEY")
	if c.Temporal.Retention == 0 {
		c.Temporal.Retention = policy.Duration(30 * 24 * time.Hour)
	}
	def(&c.Dev.DataDir, ".signoff-data")
	def(&c.Dev.FrontendAddress, c.Temporal.Address)
	def(&c.Dev.UIAddress, "127.0.0.1:8233")
	def(&c.Gateway.GRPCAddress, "127.0.0.1:9090")
	def(&c.Gateway.HTTPAddress, "127.0.0.1:8080")
	def(&c.Gateway.PublicURL, "http://"+c.Gateway.HTTPAddress)
	if c.Gateway.MaxBodyBytes == 0 {
		c.Gateway.MaxBodyBytes = 1 << 20
	}
	if c.Gateway.CallTimeout == 0 {
		c.Gateway.CallTimeout = policy.Duration(10 * time.Second)
	}
	if c.Gateway.SessionTTL == 0 {
		c.Gateway.SessionTTL = policy.Duration(8 * time.Hour)
	}
	if c.Worker.StickyCacheSize == 0 {
		c.Worker.StickyCacheSize = DefaultStickyCacheSize
	}
	if c.Worker.ReconcileInterval == 0 {
		c.Worker.ReconcileInterval = policy.Duration(DefaultReconcileInterval)
	}
	def(&c.Actions.Webhook.SecretEnv, "SIGNOFF_WEBHOOK_SECRET")
	if c.OIDC.Issuer != "" {
		def(&c.OIDC.UserClaim, OIDCClaimEmail)
		def(&c.OIDC.ClientID, c.OIDC.Audience)
		def(&c.OIDC.GroupsClaim, "groups")
		if len(c.OIDC.Scopes) == 0 {
			c.OIDC.Scopes = []string{"openid", "email", "profile"}
		}
	}
	if len(c.Notifiers) == 0 {
		c.Notifiers = []string{"log"}
	}
}

// DefaultStickyCacheSize is how many workflows a worker keeps in memory
// between their tasks. Approvals wait for days between events: caching
// every one of them (the SDK's 10,000) costs memory and saves only the
// replay of a short history.
const DefaultStickyCacheSize = 1000

// DefaultReconcileInterval and MinReconcileInterval bound how often the
// grant reconciler runs: each pass lists closed approvals in visibility, so
// more often than every ten seconds only loads Temporal.
const (
	DefaultReconcileInterval = 2 * time.Minute
	MinReconcileInterval     = 10 * time.Second
)

// Loaded is a validated config with its derived indexes.
type Loaded struct {
	*Config
	Directory *identity.Directory
	Policies  *policy.Set
}

// Load reads and validates a config file.
func Load(path string) (*Loaded, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	l, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return l, nil
}

// setPolicyLines notes where each policy starts, so load errors name the line.
func setPolicyLines(b []byte, ps []policy.Policy) {
	var root yaml.Node
	if yaml.Unmarshal(b, &root) != nil || len(root.Content) == 0 {
		return
	}
	m := root.Content[0]
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value != "policies" {
			continue
		}
		for j, item := range m.Content[i+1].Content {
			if j < len(ps) {
				ps[j].Line = item.Line
			}
		}
	}
}

// Parse validates config bytes. Unknown keys are errors, with their line.
func Parse(b []byte) (*Loaded, error) {
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	c.applyDefaults()
	setPolicyLines(b, c.Policies)
	dir, err := identity.NewDirectory(c.Users)
	if err != nil {
		return nil, err
	}
	set, err := policy.NewSet(c.Policies, dir, regopolicy.Check)
	if err != nil {
		return nil, err
	}
	for _, n := range append(slices.Clone(c.Notifiers), c.SecurityNotifiers...) {
		if !slices.Contains(knownNotifiers, n) {
			return nil, fmt.Errorf("notifiers: unknown notifier %q (have: %v)", n, knownNotifiers)
		}
	}
	if err := c.OIDC.check(); err != nil {
		return nil, err
	}
	if c.Teams.Enabled() {
		if err := c.Teams.WithDefaults().Validate(); err != nil {
			return nil, err
		}
	}
	if d := c.Worker.DeadlockDetectionTimeout.Std(); d != 0 && (d < time.Second || d > time.Minute) {
		return nil, fmt.Errorf("worker.deadlock_detection_timeout %s: want between 1s and 1m (or unset)", d)
	}
	if d := c.Worker.ReconcileInterval.Std(); d < MinReconcileInterval {
		return nil, fmt.Errorf("worker.reconcile_interval %s: want at least %s", d, MinReconcileInterval)
	}
	if ttl := c.Gateway.SessionTTL.Std(); ttl < 5*time.Minute || ttl > 7*24*time.Hour {
		return nil, fmt.Errorf("gateway.session_ttl %s: want between 5m and 7d", ttl)
	}
	if dir.HasPlaintextTokens() && !c.DevOnly {
		return nil, errors.New("users: plaintext `token` is only allowed in a config marked dev_only: true; use token_sha256")
	}
	return &Loaded{Config: &c, Directory: dir, Policies: set}, nil
}
