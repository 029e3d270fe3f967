package config

import (
	"os"
	"testing"
)

// FuzzParse: the config loader never panics, and what it accepts is
// internally consistent (a directory and a policy set exist).
func FuzzParse(f *testing.F) {
	for _, p := range []string{"../deploy/signoff.dev.yaml", "../docs/examples/policies.yaml", "../docs/examples/triggers.yaml"} {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("policies: [{name: p, match: {environment: x}, approvers: {users: [a]}, required_approvals: 1, deadline: 1h}]\nusers: [{name: a}]"))
	f.Add([]byte("{"))
	f.Fuzz(func(t *testing.T, b []byte) {
		l, err := Parse(b)
		if err != nil {
			return
		}
		if l.Directory == nil || l.Policies == nil {
			t.Fatal("accepted config without directory or policies")
		}
	})
}
