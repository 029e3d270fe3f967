package bench

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/signoff/signoff/config"
)

// TestVolumePlanSpreadsTheApprovals: the focus person is awaited by exactly
// Focus pending approvals, the other pending ones spread over the others,
// the rest are cancelled at once, and nobody requests what they approve.
func TestVolumePlanSpreadsTheApprovals(t *testing.T) {
	p := VolumePlan{Total: 1000, Pending: 300, People: 50, Focus: 20}
	perEnv := map[string]int{}
	for i := range p.Total {
		env, token := p.approvalAt(i)
		perEnv[env]++
		if approver := env[strings.IndexByte(env, '-')+1:]; token == "vol-v"+approver {
			t.Fatalf("approval %d: requested by its approver %s", i, approver)
		}
		if pending := strings.HasPrefix(env, "vol-"); pending != (i < p.Pending) {
			t.Fatalf("approval %d in %s: pending %v", i, env, pending)
		}
	}
	if perEnv["vol-00"] != p.Focus || perEnv["volx-00"] != 0 {
		t.Fatalf("v00 awaited by %d pending and %d expiring, want %d and none", perEnv["vol-00"], perEnv["volx-00"], p.Focus)
	}
	if perEnv["vol-01"] < 5 || perEnv["vol-49"] < 5 {
		t.Fatalf("pending not spread: %v", perEnv)
	}
}

// TestVolumeConfigParses: the split's config with the volume people is a
// valid Signoff config.
func TestVolumeConfigParses(t *testing.T) {
	users, policies := VolumeConfig(50)
	cfg := splitConfig("127.0.0.1:7233", "127.0.0.1:8080", "127.0.0.1:9090", "127.0.0.1:9091", "127.0.0.1:5432", "signoff", "a", "b", users, policies)
	c, err := config.Parse([]byte(cfg))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := c.Directory.Lookup(VolumeAuditor); !ok {
		t.Fatal("no auditor")
	}
}

// TestErrorKinds: a failed call of the volume plan is counted by its step
// and HTTP status, or as a transport error when nothing answered.
func TestErrorKinds(t *testing.T) {
	for err, want := range map[error]string{
		&stepError{step: "cancel", err: &HTTPError{Status: 504, Msg: "POST x: 504"}}:               "cancel: 504",
		&stepError{step: "create", err: fmt.Errorf("post: %w", &HTTPError{Status: 503, Msg: "y"})}: "create: 503",
		&stepError{step: "create", err: errors.New("connection reset")}:                            "create: transport",
	} {
		if got := errorKind(err); got != want {
			t.Errorf("%v: %q, want %q", err, got, want)
		}
	}
}
