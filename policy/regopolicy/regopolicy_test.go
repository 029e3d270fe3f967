package regopolicy

import (
	"context"
	"strings"
	"testing"

	"github.com/signoff/signoff/policy"
)

const module = `package signoff

default allow := false

allow if input.decider.user != input.approval.requester

deny contains "guests may not decide" if input.decider.slack.is_restricted

deny contains "decisions on production need 2FA" if {
	input.approval.environment == "production"
	input.decider.slack
	not input.decider.slack.has_2fa
}
`

func TestVerdicts(t *testing.T) {
	base := func() policy.RegoInput {
		return policy.RegoInput{Decider: policy.Decider{User: "bob"}, Decision: "approve", Approval: policy.RegoApproval{Requester: "alice", Environment: "production"}}
	}
	ok := base()
	v, err := Evaluate(context.Background(), module, ok)
	if err != nil || !v.Allow || v.String() != "rego: allow" {
		t.Fatalf("allow: %+v %v", v, err)
	}
	guest := base()
	guest.Decider.Slack = &policy.SlackUser{IsRestricted: true}
	v, err = Evaluate(context.Background(), module, guest)
	if err != nil || v.Allow || len(v.Reasons) != 2 {
		t.Fatalf("guest: %+v %v", v, err)
	}
	if !strings.Contains(v.String(), "guests may not decide") {
		t.Fatalf("reasons not in verdict: %s", v)
	}
	self := base()
	self.Decider.User = "alice"
	if v, _ := Evaluate(context.Background(), module, self); v.Allow {
		t.Fatal("allow is false by default but the verdict allowed")
	}
}

func TestErrorsDeny(t *testing.T) {
	if err := Check("package signoff\nallow if {"); err == nil {
		t.Fatal("a syntax error compiled")
	}
	if _, err := Evaluate(context.Background(), "package other\nallow := true", policy.RegoInput{}); err == nil {
		t.Fatal("a module outside package signoff allowed")
	}
	// A runtime error (division by zero with strict builtins) is an error, not an allow.
	_, err := Evaluate(context.Background(), "package signoff\nallow if 1/0 == 1", policy.RegoInput{})
	if err == nil {
		t.Fatal("runtime error not reported")
	}
}
