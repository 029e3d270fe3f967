package activities

import (
	"context"

	"github.com/signoff/signoff/policy"
	"github.com/signoff/signoff/policy/regopolicy"
	"github.com/signoff/signoff/workflows"
)

// CheckRego evaluates a policy's Rego module against a decision. The
// workflow runs it as a local activity: evaluation must not run during
// replay, and its verdict goes into history as the activity's result.
func (a *Activities) CheckRego(ctx context.Context, in workflows.RegoCheck) (policy.RegoVerdict, error) {
	return regopolicy.Evaluate(ctx, in.Module, in.Input)
}
