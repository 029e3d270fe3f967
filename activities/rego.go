package activities

import (
	"context"

	"github.com/signoff/signoff/policy/regopolicy"
)

// RegoInput is a policy's Rego module and the decision to check.
type RegoInput struct {
	Module string           `json:"module"`
	Input  regopolicy.Input `json:"input"`
}

// CheckRego evaluates a policy's Rego module against a decision. The
// workflow runs it as a local activity: evaluation must not run during
// replay, and its verdict goes into history as the activity's result.
func (a *Activities) CheckRego(ctx context.Context, in RegoInput) (regopolicy.Verdict, error) {
	return regopolicy.Evaluate(ctx, in.Module, in.Input)
}
