// Package regopolicy evaluates a policy's optional Rego module against a
// decision, like Spacelift's Slack policies. The module is `package signoff`
// in Rego v1 syntax and may define `allow` (boolean) and `deny` (a set of
// messages). A decision passes only when `allow` is true and `deny` is empty;
// anything else, including an evaluation error, denies.
package regopolicy

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"sort"
	"sync"

	"github.com/open-policy-agent/opa/v1/rego"

	"github.com/signoff/signoff/policy"
)

var (
	mu       sync.Mutex
	prepared = map[[sha256.Size]byte]rego.PreparedEvalQuery{}
)

// Check compiles a module; config loading uses it to refuse bad Rego.
func Check(module string) error {
	_, err := prepare(context.Background(), module)
	return err
}

func prepare(ctx context.Context, module string) (rego.PreparedEvalQuery, error) {
	key := sha256.Sum256([]byte(module))
	mu.Lock()
	defer mu.Unlock()
	if q, ok := prepared[key]; ok {
		return q, nil
	}
	q, err := rego.New(
		rego.Query("result = data.signoff"),
		rego.Module("policy.rego", module),
		rego.StrictBuiltinErrors(true),
	).PrepareForEval(ctx)
	if err != nil {
		return q, fmt.Errorf("compile rego: %w", err)
	}
	prepared[key] = q
	return q, nil
}

// ErrNoPackage means the module is not `package signoff`.
var ErrNoPackage = errors.New("the module must be `package signoff`")

// Evaluate runs module against in. An error means deny.
func Evaluate(ctx context.Context, module string, in policy.RegoInput) (policy.RegoVerdict, error) {
	q, err := prepare(ctx, module)
	if err != nil {
		return policy.RegoVerdict{}, err
	}
	rs, err := q.Eval(ctx, rego.EvalInput(in))
	if err != nil {
		return policy.RegoVerdict{}, fmt.Errorf("evaluate rego: %w", err)
	}
	if len(rs) == 0 || len(rs[0].Bindings) == 0 {
		return policy.RegoVerdict{}, ErrNoPackage
	}
	doc, ok := rs[0].Bindings["result"].(map[string]any)
	if !ok {
		return policy.RegoVerdict{}, ErrNoPackage
	}
	v := policy.RegoVerdict{}
	allow, _ := doc["allow"].(bool)
	switch deny := doc["deny"].(type) {
	case nil:
	case []any:
		for _, d := range deny {
			v.Reasons = append(v.Reasons, fmt.Sprint(d))
		}
	default:
		return policy.RegoVerdict{}, fmt.Errorf("evaluate rego: deny must be a set of messages, got %T", deny)
	}
	sort.Strings(v.Reasons)
	v.Allow = allow && len(v.Reasons) == 0
	return v, nil
}
