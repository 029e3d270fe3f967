package config

import (
	"bytes"
	"os"
	"slices"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/signoff/signoff/policy"
)

// FuzzParse: the config loader never panics; what it accepts keeps every
// promise Parse makes (checkAccepted); and it is stable: the accepted
// config written back out loads again to the same config and the same
// policy snapshots, and a policy's version does not depend on where it
// sits in the file (approvals record the version of the rule that
// governed them, so a reload of the same rules must not change it).
func FuzzParse(f *testing.F) {
	for _, p := range []string{"../deploy/signoff.dev.yaml", "../deploy/signoff.example.yaml", "../docs/examples/policies.yaml", "../docs/examples/triggers.yaml"} {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("policies: [{name: p, match: {environment: x}, approvers: {users: [a]}, required_approvals: 1, deadline: 1h}]\nusers: [{name: a}]"))
	f.Add([]byte("policies: [{name: p, match: {environment: x}, approvers: {users: [a, b]}, required_approvals: 1, deadline: 7d, reminder: 1h, " +
		"escalation: [{after: 2h, add_approvers: {users: [b]}}], max_duration: 8h}]\nusers: [{name: a}, {name: b, groups: [g]}]\n" +
		"gateway: {session_ttl: 5m}\nworker: {deadlock_detection_timeout: 1m}\nnotifiers: [log, email]\nsecurity_notifiers: [slack]"))
	f.Add([]byte("dev_only: true\nusers: [{name: a, token: t}]"))
	f.Add([]byte("{"))
	f.Fuzz(func(t *testing.T, b []byte) {
		l, err := Parse(b)
		if err != nil {
			return
		}
		checkAccepted(t, l)

		// Where a policy sits in the file is not part of it: the same
		// file two lines down gives the same versions.
		if moved, err := Parse(append([]byte("\n# moved down\n"), b...)); err == nil {
			if v1, v2 := versions(l.Policies), versions(moved.Policies); !slices.Equal(v1, v2) {
				t.Fatalf("policy versions depend on the line: %v, two lines down %v", v1, v2)
			}
		}

		out1, l2 := reload(t, l)
		out2, l3 := reload(t, l2)
		// Compared as YAML: nil and empty lists, and the line a policy
		// started on, are not differences.
		if !bytes.Equal(out1, out2) {
			t.Fatalf("config changed when written back and loaded:\n%s\n---\n%s", out1, out2)
		}
		// What an approval under each policy would hold is the same.
		if s1, s2 := snapshots(t, l.Policies), snapshots(t, l2.Policies); !slices.Equal(s1, s2) {
			t.Fatalf("policy snapshots changed on reload:\n%s\n---\n%s", s1, s2)
		}
		// Versions are compared from the written-back form on: writing out
		// spells empty lists, and policy.version hashes JSON in which
		// `approvers: {users: []}` is not the zero value, so the first
		// write-out may change a version without changing the rule.
		if v2, v3 := versions(l2.Policies), versions(l3.Policies); !slices.Equal(v2, v3) {
			t.Fatalf("policy versions changed on reload: %v, then %v", v2, v3)
		}
	})
}

// checkAccepted asserts what Parse guarantees of a config it accepts.
func checkAccepted(t *testing.T, l *Loaded) {
	t.Helper()
	if l.Config == nil || l.Directory == nil || l.Policies == nil {
		t.Fatal("accepted config without config, directory or policies")
	}
	c := l.Config
	// Defaults fill what the file leaves out.
	for name, v := range map[string]string{
		"log.level": c.Log.Level, "log.format": c.Log.Format, "temporal.address": c.Temporal.Address,
		"temporal.namespace": c.Temporal.Namespace, "temporal.task_queue": c.Temporal.TaskQueue,
		"gateway.grpc_address": c.Gateway.GRPCAddress, "gateway.http_address": c.Gateway.HTTPAddress,
		"gateway.public_url": c.Gateway.PublicURL,
	} {
		if v == "" {
			t.Errorf("%s empty after defaults", name)
		}
	}
	if c.Temporal.Retention == 0 || c.Gateway.MaxBodyBytes == 0 || c.Gateway.CallTimeout == 0 || c.Worker.StickyCacheSize == 0 {
		t.Errorf("a numeric default was not applied: %+v %+v %+v", c.Temporal, c.Gateway, c.Worker)
	}
	// Every notifier is one the worker can build; there is at least one.
	if len(c.Notifiers) == 0 {
		t.Error("no notifiers after defaults")
	}
	for _, n := range append(slices.Clone(c.Notifiers), c.SecurityNotifiers...) {
		if !slices.Contains(knownNotifiers, n) {
			t.Errorf("unknown notifier %q accepted", n)
		}
	}
	if ttl := c.Gateway.SessionTTL.Std(); ttl < 5*time.Minute || ttl > 7*24*time.Hour {
		t.Errorf("gateway.session_ttl %s accepted", ttl)
	}
	if d := c.Worker.DeadlockDetectionTimeout.Std(); d != 0 && (d < time.Second || d > time.Minute) {
		t.Errorf("worker.deadlock_detection_timeout %s accepted", d)
	}
	if d := c.Worker.ReconcileInterval.Std(); d < MinReconcileInterval {
		t.Errorf("worker.reconcile_interval %s accepted", d)
	}
	if l.Directory.HasPlaintextTokens() && !c.DevOnly {
		t.Error("plaintext token accepted outside dev_only")
	}
	// Every policy is in the set, under its own name, within its bounds.
	entries := l.Policies.List()
	if len(entries) != len(c.Policies) {
		t.Fatalf("%d policies in the file, %d in the set", len(c.Policies), len(entries))
	}
	for _, e := range entries {
		p := e.Policy
		if got, ok := l.Policies.Get(p.Name); !ok || got.Version != e.Version {
			t.Errorf("policy %q: Get finds %v (version %q, want %q)", p.Name, ok, got.Version, e.Version)
		}
		if p.Name == "" || p.Match.Environment == "" {
			t.Errorf("policy %+v: name and match.environment are required", p)
		}
		if p.Deadline <= 0 || p.Reminder < 0 || p.MaxDuration < 0 || p.MaxDuration.Std() > 90*24*time.Hour || p.Reject.Required < 0 {
			t.Errorf("policy %q: durations out of bounds: deadline %s, reminder %s, max_duration %s, reject %d",
				p.Name, p.Deadline.Std(), p.Reminder.Std(), p.MaxDuration.Std(), p.Reject.Required)
		}
		var prev policy.Duration
		for j, esc := range p.Escalation {
			if esc.After <= prev || esc.After >= p.Deadline {
				t.Errorf("policy %q: escalation[%d].after %s not after the level before and before the deadline", p.Name, j, esc.After.Std())
			}
			prev = esc.After
		}
		s := e.Snapshot
		if s.Name != p.Name || s.Version != e.Version || s.Deadline != p.Deadline.Std() {
			t.Errorf("policy %q: snapshot %+v does not carry its name, version and deadline", p.Name, s)
		}
		stages := s.StageList()
		if len(stages) == 0 {
			t.Errorf("policy %q: no stage", p.Name)
		}
		for _, st := range stages {
			if st.RequiredApprovals < 1 {
				t.Errorf("policy %q stage %q: required_approvals %d", p.Name, st.Name, st.RequiredApprovals)
			}
			for _, u := range st.Approvers {
				if _, ok := l.Directory.Lookup(u); !ok {
					t.Errorf("policy %q: approver %q is not a configured user", p.Name, u)
				}
			}
		}
	}
}

// reload writes l's config out as YAML and parses it again, which must
// succeed and keep every promise.
func reload(t *testing.T, l *Loaded) ([]byte, *Loaded) {
	t.Helper()
	out, err := yaml.Marshal(l.Config)
	if err != nil {
		t.Fatalf("accepted config does not marshal: %v", err)
	}
	again, err := Parse(out)
	if err != nil {
		t.Fatalf("accepted config, written back, is refused: %v\n%s", err, out)
	}
	checkAccepted(t, again)
	return out, again
}

// snapshots are the policies as approvals would hold them, version left
// out, as YAML (where nil and empty lists are alike).
func snapshots(t *testing.T, s *policy.Set) []string {
	t.Helper()
	var out []string
	for _, e := range s.List() {
		snap := e.Snapshot
		snap.Version = ""
		b, err := yaml.Marshal(snap)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, string(b))
	}
	return out
}

func versions(s *policy.Set) []string {
	var out []string
	for _, e := range s.List() {
		out = append(out, e.Version)
	}
	return out
}
