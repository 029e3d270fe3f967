package config

import (
	"os"
	"slices"
	"strings"
	"testing"
)

func TestDevConfigLoads(t *testing.T) {
	c, err := Load("../deploy/signoff.dev.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !c.DevOnly || c.Gateway.HTTPAddress != "127.0.0.1:8080" || c.Temporal.Address != "127.0.0.1:7233" {
		t.Fatalf("unexpected dev config: %+v", c.Config)
	}
	for _, tok := range []string{"dev-alice", "dev-bob", "dev-carol", "dev-dana"} {
		if _, ok := c.Directory.Authenticate(tok); !ok {
			t.Errorf("dev token %s does not authenticate", tok)
		}
	}
	if u, _ := c.Directory.Lookup("dana"); !u.Admin {
		t.Error("dana is not admin")
	}
}

func TestConfigMistakes(t *testing.T) {
	cases := map[string]string{
		"line 2: field gatway not found":                    "log: {level: info}\ngatway: {}\n",
		"only allowed in a config marked dev_only":          "users: [{name: a, token: t}]\n",
		"unknown notifier":                                  "notifiers: [pager]\n",
		"line 1: policies[0] (p): approvers: unknown group": "policies: [{name: p, match: {environment: x}, approvers: {groups: [g]}, required_approvals: 1, deadline: 1h}]\n",
		"bad duration":                                      "temporal: {retention: soon}\n",
	}
	for want, src := range cases {
		_, err := Parse([]byte(src))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("want error containing %q, got %v", want, err)
		}
	}
}

func TestEmptyConfigGetsDefaults(t *testing.T) {
	c, err := Parse(nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Temporal.TaskQueue != "signoff" || c.Gateway.MaxBodyBytes != 1<<20 || len(c.Notifiers) != 1 {
		t.Fatalf("defaults: %+v", c.Config)
	}
}

func TestBadRegoIsRefusedWithItsLine(t *testing.T) {
	src := "users: [{name: bob}]\npolicies:\n  - name: p\n    match: {environment: x}\n    approvers: {users: [bob]}\n    required_approvals: 1\n    deadline: 1h\n    rego: \"package signoff\\nallow if {\"\n"
	_, err := Parse([]byte(src))
	if err == nil || !strings.Contains(err.Error(), "line 3: policies[0] (p): rego:") {
		t.Fatalf("got %v", err)
	}
}

func TestLiveReloadKeepsTheOldConfigOnMistakes(t *testing.T) {
	path := t.TempDir() + "/c.yaml"
	write := func(s string) {
		if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("dev_only: true\nusers: [{name: bob, token: t1}]\n")
	first, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	live := NewLive(first, func() (*Loaded, error) { return Load(path) })
	changed := live.Changed()
	write("dev_only: true\nusers: [{name: bob, token: t2}]\n")
	if _, err := live.Reload(); err != nil {
		t.Fatal(err)
	}
	if _, ok := live.Get().Directory.Authenticate("t2"); !ok {
		t.Fatal("reload did not take the new token")
	}
	select {
	case <-changed:
	default:
		t.Fatal("a reload did not announce the change")
	}
	changed = live.Changed()
	write("dev_only: true\nusers: [{name: bob, token: t3}]\npolicies: [{name: p}]\n")
	if _, err := live.Reload(); err == nil {
		t.Fatal("a bad config was accepted")
	}
	if _, ok := live.Get().Directory.Authenticate("t2"); !ok {
		t.Fatal("a failed reload replaced the config in force")
	}
	select {
	case <-changed:
		t.Fatal("a refused reload announced a change")
	default:
	}
}

func TestNotifiersOverride(t *testing.T) {
	l, err := Parse([]byte("dev_only: true\nnotifiers: [log]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if err := l.WithNotifiers(nil); err != nil || !slices.Equal(l.Notifiers, []string{"log"}) {
		t.Fatalf("no override: %v %v", l.Notifiers, err)
	}
	if err := l.WithNotifiers([]string{" log", "email "}); err != nil || !slices.Equal(l.Notifiers, []string{"log", "email"}) {
		t.Fatalf("override: %v %v", l.Notifiers, err)
	}
	if err := l.WithNotifiers([]string{"pager"}); err == nil {
		t.Fatal("an unknown notifier was accepted")
	}
}
