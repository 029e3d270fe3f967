package main

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/signoff/signoff/approval"
	"github.com/signoff/signoff/approval/evidence"
)

func evidenceCLI(env map[string]string, args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	c := &cli{getenv: func(k string) string { return env[k] }, stdout: &out, stderr: &errb}
	return runEvidence(c, args), out.String(), errb.String()
}

// `signoff evidence verify` exits 0 on an intact export, 1 on any
// tampering or a key other than the pinned one, 2 on usage errors.
func TestEvidenceVerifyCommand(t *testing.T) {
	key := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{4}, 32))
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	st := approval.New("abcdefghijklmnopqrstuvwxyz", "alice", approval.Request{Title: "Rotate", Environment: "staging"},
		approval.Policy{Name: "default", Version: "v1", Approvers: []string{"bob"}, RequiredApprovals: 1, Deadline: time.Hour}, now)
	st.Decide(approval.Attempt{ID: "email:1", User: "bob", Decision: approval.DecisionApprove, Channel: "email"}, now.Add(time.Minute))
	_, b, err := evidence.Build(evidence.Input{State: st, WorkflowID: "approval-" + st.ID}, key, now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	good := filepath.Join(dir, "good.json")
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(good, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, bytes.Replace(b, []byte(`"user": "bob"`), []byte(`"user": "eve"`), 1), 0o600); err != nil {
		t.Fatal(err)
	}
	pub := base64.StdEncoding.EncodeToString(key.Public().(ed25519.PublicKey))
	other := base64.StdEncoding.EncodeToString(ed25519.NewKeyFromSeed(bytes.Repeat([]byte{5}, 32)).Public().(ed25519.PublicKey))

	if code, out, errs := evidenceCLI(nil, "verify", good); code != 0 || !strings.HasPrefix(out, "OK: approval abcdefghijklmnopqrstuvwxyz (Approved, policy default v1)") {
		t.Fatalf("intact: code %d\n%s%s", code, out, errs)
	}
	if code, out, _ := evidenceCLI(nil, "verify", "--public-key", pub, good); code != 0 || strings.Contains(out, "Note:") {
		t.Fatalf("pinned: code %d %s", code, out)
	}
	if code, _, errs := evidenceCLI(map[string]string{"SIGNOFF_EVIDENCE_PUBLIC_KEY": other}, "verify", good); code != 1 || !strings.Contains(errs, "not by the expected key") {
		t.Fatalf("other pinned key: code %d %s", code, errs)
	}
	if code, _, errs := evidenceCLI(nil, "verify", bad); code != 1 || !strings.Contains(errs, "FAILED") {
		t.Fatalf("tampered: code %d %s", code, errs)
	}
	if code, _, _ := evidenceCLI(nil, "verify", filepath.Join(dir, "missing.json")); code != 2 {
		t.Fatalf("missing file: code %d", code)
	}
	if code, _, _ := evidenceCLI(nil, "verify"); code != 2 {
		t.Fatalf("no file: code %d", code)
	}
	code, out, _ := evidenceCLI(nil, "keygen")
	if code != 0 || !strings.HasPrefix(out, evidence.EnvKey+"=") {
		t.Fatalf("keygen: %d %s", code, out)
	}
	if _, ok, err := evidence.ParseKey(strings.TrimPrefix(strings.SplitN(out, "\n", 2)[0], evidence.EnvKey+"=")); !ok || err != nil {
		t.Fatalf("keygen's key does not load: %v", err)
	}
}
