package config

import (
	"strings"
	"testing"
	"time"
)

// triggerConfig is a minimal config around one trigger's YAML.
func triggerConfig(trigger string) string {
	return `
users:
  - { name: alice }
  - { name: bob }
policies:
  - { name: any, match: { environment: "*" }, approvers: { users: [bob] }, required_approvals: 1, deadline: 1h }
triggers:
` + trigger
}

const goodTrigger = `
  - name: keys
    schedule: "*/5 * * * *"
    database: postgres://steampipe:${PGPW}@127.0.0.1:9193/steampipe
    sql: select access_key_id, user_name from keys
    primary_key: access_key_id
    requester: alice
    approval:
      title: Key {{.access_key_id}}
      environment: aws
`

func TestTriggerLoads(t *testing.T) {
	c, err := Parse([]byte(triggerConfig(goodTrigger)))
	if err != nil {
		t.Fatal(err)
	}
	tr := c.Triggers[0]
	if tr.Schedule.Cron != "*/5 * * * *" || tr.OnDisappear != OnDisappearLeave || tr.MaxRows != DefaultTriggerMaxRows ||
		tr.Timeout.Std() != DefaultTriggerTimeout || tr.Driver() != "pgx" {
		t.Errorf("defaults: %+v", tr)
	}
}

func TestTriggerScheduleForms(t *testing.T) {
	for _, tc := range []struct {
		yaml      string
		every     time.Duration
		cron, err string
	}{
		{yaml: `{ every: 90s, jitter: 10s }`, every: 90 * time.Second},
		{yaml: `{ every: 1d }`, every: 24 * time.Hour},
		{yaml: `"@hourly"`, cron: "@hourly"},
		{yaml: `"CRON_TZ=Europe/Paris 0 9 * * MON-FRI"`, cron: "CRON_TZ=Europe/Paris 0 9 * * MON-FRI"},
		{yaml: `"0 0 9 * * MON 2030"`, cron: "0 0 9 * * MON 2030"}, // 7 fields: Temporal checks
		{yaml: `"61 * * * *"`, err: "cron"},
		{yaml: `"every hour"`, err: "want 5 fields"},
		{yaml: `{ every: 1s }`, err: "at least 10s"},
		{yaml: `{ every: 1m, cron: "* * * * *" }`, err: "exclude each other"},
		{yaml: `{ evry: 1m }`, err: `unknown key "evry"`},
		{yaml: `{ }`, err: "required"},
	} {
		y := strings.Replace(goodTrigger, `"*/5 * * * *"`, tc.yaml, 1)
		c, err := Parse([]byte(triggerConfig(y)))
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: got %v, want an error with %q", tc.yaml, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.yaml, err)
			continue
		}
		if s := c.Triggers[0].Schedule; s.Every.Std() != tc.every || s.Cron != tc.cron {
			t.Errorf("%s: got %+v", tc.yaml, s)
		}
	}
}

// TestTriggerLoadErrors: mistakes fail the load and name the trigger.
func TestTriggerLoadErrors(t *testing.T) {
	for _, tc := range []struct{ old, new, want string }{
		{"Key {{.access_key_id}}", "Key {{.access_key_id", "unclosed action"},
		{"Key {{.access_key_id}}", "Key {{ shout .access_key_id }}", `function "shout" not defined`},
		{"${PGPW}", "hunter2", "password must come from the environment"},
		{"steampipe:${PGPW}@127.0.0.1:9193/steampipe", "steampipe@127.0.0.1:9193/steampipe?password=hunter2", "password must come from the environment"},
		{"postgres://steampipe:${PGPW}@127.0.0.1:9193/steampipe", "mysql://x@y/z", "postgres:// URL"},
		{"postgres://steampipe:${PGPW}@127.0.0.1:9193/steampipe", `"sqlite:"`, "file path"},
		{"primary_key: access_key_id", "primary_key: ''", "primary_key is required"},
		{"requester: alice", "requester: alice\n    on_disappear: delete", "on_disappear must be leave or cancel"},
		{"requester: alice", "requester: alice\n    window: 10s", "window must be at least 1m"},
		{"requester: alice", "requester: alice\n    colour: blue", "field colour not found"},
		{"name: keys", "name: Keys/2", "name must be"},
		{"environment: aws", "environment: aws\n      fields: { trigger: x }", "fields.trigger is reserved"},
		{"environment: aws", "environment: aws\n      input: { type: button, options: [{ label: A, value: a, decision: maybe }] }", "decision must be approve or reject"},
		{"      title: Key {{.access_key_id}}\n", "", "title is required"},
	} {
		y := strings.Replace(goodTrigger, tc.old, tc.new, 1)
		if y == goodTrigger {
			t.Fatalf("case %q changed nothing", tc.want)
		}
		_, err := Parse([]byte(triggerConfig(y)))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q → %q: got %v, want an error with %q", tc.old, tc.new, err, tc.want)
			continue
		}
		if !strings.Contains(err.Error(), "triggers[0]") && !strings.Contains(err.Error(), "line") {
			t.Errorf("error does not say where: %v", err)
		}
	}
	dup := goodTrigger + goodTrigger
	if _, err := Parse([]byte(triggerConfig(dup))); err == nil || !strings.Contains(err.Error(), `name "keys" is repeated`) {
		t.Errorf("duplicate names: %v", err)
	}
}

func TestTriggerDSN(t *testing.T) {
	env := map[string]string{"PGPW": "p@ss:w/rd?#%"}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	tr := Trigger{Database: "postgres://steampipe:${PGPW}@127.0.0.1:9193/steampipe?sslmode=disable"}
	dsn, missing, err := tr.DSN(lookup)
	if err != nil || len(missing) > 0 {
		t.Fatal(err, missing)
	}
	if want := "postgres://steampipe:p%40ss%3Aw%2Frd%3F%23%25@127.0.0.1:9193/steampipe?sslmode=disable"; dsn != want {
		t.Errorf("dsn %s, want %s", dsn, want)
	}
	tr.Database = "postgres://u:${NOPE}@h/db?application_name=${ALSO_NOPE}"
	if _, missing, _ := tr.DSN(lookup); strings.Join(missing, ",") != "ALSO_NOPE,NOPE" {
		t.Errorf("missing %v", missing)
	}
	for in, want := range map[string]string{
		"sqlite:/var/lib/f.db":          "file:/var/lib/f.db?mode=ro",
		"sqlite://rel/f.db":             "file:rel/f.db?mode=ro",
		"sqlite:/f.db?_pragma=foo(1)":   "file:/f.db?_pragma=foo(1)&mode=ro",
		"postgres://u@h/db?sslmode=off": "postgres://u@h/db?sslmode=off",
	} {
		tr.Database = in
		if got, _, err := tr.DSN(lookup); err != nil || got != want {
			t.Errorf("%s: got %q, %v; want %q", in, got, err, want)
		}
	}
}

// TestTriggerExampleLoads keeps docs/examples/triggers.yaml honest.
func TestTriggerExampleLoads(t *testing.T) {
	c, err := Load("../docs/examples/triggers.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Triggers) != 1 {
		t.Fatalf("triggers: %+v", c.Triggers)
	}
	tr := c.Triggers[0]
	if tr.Schedule.Every.Std() != time.Hour || tr.Window.Std() != 30*24*time.Hour || tr.OnDisappear != OnDisappearCancel ||
		tr.PrimaryKey != "access_key_id" || tr.Approval.Action.Type != "aws_iam_deactivate_key" {
		t.Errorf("example trigger: %+v", tr)
	}
	if _, ok := c.Directory.Lookup(tr.Requester); !ok {
		t.Errorf("requester %q is not a user of the example", tr.Requester)
	}
	if _, missing, err := tr.DSN(func(string) (string, bool) { return "", false }); err != nil || len(missing) != 1 || missing[0] != "STEAMPIPE_PASSWORD" {
		t.Errorf("example database: %v %v", missing, err)
	}
}
