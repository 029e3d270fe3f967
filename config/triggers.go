package config

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
	"gopkg.in/yaml.v3"

	"github.com/signoff/signoff/config/rowtemplate"
	"github.com/signoff/signoff/policy"
)

// Triggers are scheduled queries that start one approval per row they
// return (package triggers). Each runs on a Temporal Schedule.
type Triggers []Trigger

// Trigger is one scheduled query.
type Trigger struct {
	// Name identifies the trigger in schedule IDs and approval request IDs:
	// renaming a trigger starts its approvals afresh.
	Name     string          `yaml:"name"`
	Schedule TriggerSchedule `yaml:"schedule"`
	// Paused creates the schedule paused (unpause it in the Temporal UI).
	// An existing schedule's pause state is left as people set it.
	Paused bool `yaml:"paused"`
	// Database is postgres://… (PostgreSQL, Steampipe) or sqlite:PATH. A
	// password must be an environment reference: postgres://u:${PGPW}@h/db.
	Database string `yaml:"database"`
	SQL      string `yaml:"sql"`
	// PrimaryKey names the column that identifies a finding: one approval
	// per key (per window).
	PrimaryKey string `yaml:"primary_key"`
	// Requester is the configured user the approvals are requested as.
	Requester string `yaml:"requester"`
	// Window lets a key get a new approval once its previous one is older
	// than this; zero means one approval per key, ever.
	Window policy.Duration `yaml:"window"`
	// OnDisappear is what happens to a pending approval whose row is no
	// longer returned: "leave" (default) or "cancel".
	OnDisappear string `yaml:"on_disappear"`
	// MaxRows bounds the approvals one run may consider (default 1000);
	// rows past it are reported as errors.
	MaxRows int `yaml:"max_rows"`
	// Timeout bounds one query (default 5m).
	Timeout policy.Duration `yaml:"timeout"`
	// Approval is the request each row becomes.
	Approval rowtemplate.Template `yaml:"approval"`
}

// TriggerSchedule is a cron string (`schedule: "0 * * * *"`) or a mapping
// with `every` (an interval) or `cron`, and an optional `jitter`.
type TriggerSchedule struct {
	Cron   string          `yaml:"cron"`
	Every  policy.Duration `yaml:"every"`
	Jitter policy.Duration `yaml:"jitter"`
}

// What a trigger does when a row disappears.
const (
	OnDisappearLeave  = "leave"
	OnDisappearCancel = "cancel"
)

// Trigger defaults.
const (
	DefaultTriggerMaxRows = 1000
	DefaultTriggerTimeout = 5 * time.Minute
)

// TriggerReservedFields are request fields the trigger sets on every
// approval (its name and the row's key), so a later run can tell its own
// approvals apart; templates may not use them.
var TriggerReservedFields = []string{"trigger", "trigger_key"}

var (
	triggerNamePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]{0,62}$`)
	// envRef is ${NAME}: how a database URL names a secret.
	envRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)
)

// UnmarshalYAML decodes the triggers strictly (the file's decoder, so
// unknown keys are errors) and validates them.
func (ts *Triggers) UnmarshalYAML(unmarshal func(any) error) error {
	var list []Trigger
	if err := unmarshal(&list); err != nil {
		return err
	}
	seen := map[string]bool{}
	for i := range list {
		t := &list[i]
		t.applyDefaults()
		if err := t.validate(); err != nil {
			return fmt.Errorf("triggers[%d] (%s): %w", i, t.Name, err)
		}
		if seen[t.Name] {
			return fmt.Errorf("triggers[%d]: name %q is repeated", i, t.Name)
		}
		seen[t.Name] = true
	}
	*ts = list
	return nil
}

// UnmarshalYAML accepts a cron string or a mapping.
func (s *TriggerSchedule) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		s.Cron = n.Value
		return nil
	}
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("line %d: schedule must be a cron string or a mapping with every or cron", n.Line)
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		var err error
		switch k.Value {
		case "cron":
			err = v.Decode(&s.Cron)
		case "every":
			err = v.Decode(&s.Every)
		case "jitter":
			err = v.Decode(&s.Jitter)
		default:
			return fmt.Errorf("line %d: schedule: unknown key %q (want every, cron or jitter)", k.Line, k.Value)
		}
		if err != nil {
			return fmt.Errorf("line %d: schedule.%s: %w", k.Line, k.Value, err)
		}
	}
	return nil
}

func (t *Trigger) applyDefaults() {
	if t.OnDisappear == "" {
		t.OnDisappear = OnDisappearLeave
	}
	if t.MaxRows == 0 {
		t.MaxRows = DefaultTriggerMaxRows
	}
	if t.Timeout == 0 {
		t.Timeout = policy.Duration(DefaultTriggerTimeout)
	}
}

func (t *Trigger) validate() error {
	switch {
	case !triggerNamePattern.MatchString(t.Name):
		return errors.New("name must be 1-63 lowercase letters, digits, '_', '.' or '-'")
	case strings.TrimSpace(t.SQL) == "":
		return errors.New("sql is required")
	case t.PrimaryKey == "":
		return errors.New("primary_key is required (the column that identifies a finding)")
	case t.Requester == "":
		return errors.New("requester is required (a configured user)")
	case t.Window != 0 && t.Window.Std() < time.Minute:
		return errors.New("window must be at least 1m")
	case t.OnDisappear != OnDisappearLeave && t.OnDisappear != OnDisappearCancel:
		return fmt.Errorf("on_disappear must be leave or cancel, not %q", t.OnDisappear)
	case t.MaxRows < 0:
		return errors.New("max_rows must be positive")
	}
	if err := t.Schedule.validate(); err != nil {
		return fmt.Errorf("schedule: %w", err)
	}
	if _, _, err := t.DSN(func(string) (string, bool) { return "x", true }); err != nil {
		return fmt.Errorf("database: %w", err)
	}
	if _, err := rowtemplate.Compile(t.Approval, TriggerReservedFields...); err != nil {
		return fmt.Errorf("approval: %w", err)
	}
	return nil
}

func (s TriggerSchedule) validate() error {
	switch {
	case s.Cron == "" && s.Every == 0:
		return errors.New("a cron string or every: INTERVAL is required")
	case s.Cron != "" && s.Every != 0:
		return errors.New("cron and every exclude each other")
	case s.Every != 0 && s.Every.Std() < 10*time.Second:
		return errors.New("every must be at least 10s")
	case s.Jitter < 0:
		return errors.New("jitter must not be negative")
	}
	if s.Cron == "" {
		return nil
	}
	// Temporal also takes 6 and 7 fields (year, seconds) and @every with a
	// phase, and checks them when the schedule is created. The usual five
	// fields and descriptors are checked here, so a typo fails the load.
	expr := strings.TrimSpace(strings.SplitN(s.Cron, "#", 2)[0])
	if f := strings.Fields(expr); len(f) > 0 && (strings.HasPrefix(f[0], "CRON_TZ=") || strings.HasPrefix(f[0], "TZ=")) {
		expr = strings.Join(f[1:], " ")
	}
	switch n := len(strings.Fields(expr)); {
	case strings.HasPrefix(expr, "@every "), n == 6, n == 7:
		return nil
	case strings.HasPrefix(expr, "@"), n == 5:
		if _, err := cron.ParseStandard(expr); err != nil {
			return fmt.Errorf("cron %q: %w", s.Cron, err)
		}
		return nil
	default:
		return fmt.Errorf("cron %q: want 5 fields (minute hour day-of-month month day-of-week)", s.Cron)
	}
}

// Driver names the database/sql driver the trigger's database needs:
// "pgx" or "sqlite".
func (t Trigger) Driver() string {
	if strings.HasPrefix(t.Database, "sqlite:") {
		return "sqlite"
	}
	return "pgx"
}

// DSN resolves the database URL for its driver, replacing each ${NAME}
// with the environment variable's value (percent-encoded). missing names
// the variables that lookup could not find. Literal passwords are refused:
// the config file holds no secret.
func (t Trigger) DSN(lookup func(string) (string, bool)) (dsn string, missing []string, err error) {
	raw := strings.TrimSpace(t.Database)
	if path, ok := strings.CutPrefix(raw, "sqlite:"); ok {
		path = strings.TrimPrefix(path, "//")
		if path == "" {
			return "", nil, errors.New("sqlite: needs a file path (sqlite:/var/lib/findings.db)")
		}
		if envRef.MatchString(path) {
			return "", nil, errors.New("sqlite: a file path takes no ${...} references")
		}
		// Read-only: a trigger only looks.
		if strings.Contains(path, "?") {
			return "file:" + path + "&mode=ro", nil, nil
		}
		return "file:" + path + "?mode=ro", nil, nil
	}
	u, err := url.Parse(envRef.ReplaceAllString(raw, "ENVREF"))
	if err != nil {
		return "", nil, fmt.Errorf("not a URL: %w", err)
	}
	if u.Scheme != "postgres" && u.Scheme != "postgresql" {
		return "", nil, errors.New("must be a postgres:// URL (PostgreSQL, Steampipe) or sqlite:PATH")
	}
	if pw, ok := u.User.Password(); ok && pw != "ENVREF" {
		return "", nil, errors.New("the password must come from the environment: postgres://user:${PGPASSWORD}@host/db")
	}
	if pw := u.Query().Get("password"); pw != "" && pw != "ENVREF" {
		return "", nil, errors.New("the password must come from the environment: password=${PGPASSWORD}")
	}
	dsn = envRef.ReplaceAllStringFunc(raw, func(ref string) string {
		name := envRef.FindStringSubmatch(ref)[1]
		v, ok := lookup(name)
		if !ok {
			missing = append(missing, name)
		}
		return escapeAll(v)
	})
	slices.Sort(missing)
	return dsn, slices.Compact(missing), nil
}

// EnvRefs names the environment variables the database URL refers to.
func (t Trigger) EnvRefs() []string {
	var out []string
	for _, m := range envRef.FindAllStringSubmatch(t.Database, -1) {
		out = append(out, m[1])
	}
	return out
}

// EscapeURLValue is how DSN writes a value into the URL.
func EscapeURLValue(s string) string { return escapeAll(s) }

// escapeAll percent-encodes all but unreserved characters, which is safe in
// a URL's user info, path and query alike.
func escapeAll(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("-._~", c) >= 0 {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "%%%02X", c)
	}
	return b.String()
}
