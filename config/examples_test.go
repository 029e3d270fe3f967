package config

import (
	"testing"
	"time"

	"github.com/signoff/signoff/approval"
)

// TestPolicyExamplesLoad keeps the README's policy examples honest.
func TestPolicyExamplesLoad(t *testing.T) {
	c, err := Load("../docs/examples/policies.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		req  approval.Request
		want string
	}{
		{approval.Request{Environment: "production", Action: approval.Action{Type: "webhook"}}, "production-deploy"},
		{approval.Request{Environment: "production", Resource: "exception/cve-2026-1", Action: approval.Action{Type: "noop"}}, "security-exception"},
		{approval.Request{Environment: "aws", Action: approval.Action{Type: "aws_iam_deactivate_key"}}, "key-deactivation"},
		{approval.Request{Environment: "staging", Action: approval.Action{Type: "noop"}}, "default"},
	}
	for _, tc := range cases {
		p, err := c.Policies.Resolve(tc.req, "alice")
		if err != nil || p.Name != tc.want {
			t.Errorf("%+v: got %q, %v", tc.req, p.Name, err)
		}
	}
	deploy, _ := c.Policies.Resolve(cases[0].req, "alice")
	if len(deploy.Stages) != 2 || deploy.Stages[0].Approvers[0] != "bob" || deploy.Reminder != 2*time.Hour {
		t.Errorf("production-deploy snapshot: %+v", deploy)
	}
	keys, _ := c.Policies.Resolve(cases[2].req, "alice")
	if len(keys.Escalations) != 1 || keys.Escalations[0].AddApprovers[0] != "erin" || keys.OnDeadline != approval.OnDeadlineReject {
		t.Errorf("key-deactivation snapshot: %+v", keys)
	}
	exc, _ := c.Policies.Resolve(cases[1].req, "alice")
	if !exc.Soft() || !exc.RequireJustification || exc.Rego == "" {
		t.Errorf("security-exception snapshot: %+v", exc)
	}
}
