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

	"github.com/signoff/signoff/identity"
)

// Input is what a module sees as `input`.
type Input struct {
	Decider   Decider    `json:"decider"`
	Decision  string     `json:"decision"`
	Comment   string     `json:"comment,omitempty"`
	Values    []string   `json:"values,omitempty"`
	Channel   string     `json:"channel"`
	Request   any        `json:"request"`
	Approval  Approval   `json:"approval"`
	Decisions []Decision `json:"decisions"`
}

// Decider is the person deciding, as the gateway established it.
type Decider struct {
	User   string   `json:"user"`
	Groups []string `json:"groups"`
	Admin  bool     `json:"admin"`
	// Slack is set for decisions made in Slack.
	Slack *SlackUser `json:"slack,omitempty"`
}

// DeciderOf is what a module sees of a configured user; Groups is never
// null, so modules can iterate it.
func DeciderOf(u *identity.User) Decider {
	d := Decider{User: u.Name, Groups: u.Groups, Admin: u.Admin}
	if d.Groups == nil {
		d.Groups = []string{}
	}
	return d
}

// SlackUser is the Slack side of a decider.
type SlackUser struct {
	UserID       string `json:"user_id"`
	IsAdmin      bool   `json:"is_admin"`
	Has2FA       bool   `json:"has_2fa"`
	IsRestricted bool   `json:"is_restricted"`
	Team         string `json:"team"`
	Channel      string `json:"channel"`
}

// Approval is the approval's state around the decision.
type Approval struct {
	ID          string `json:"id"`
	Requester   string `json:"requester"`
	Environment string `json:"environment"`
	Status      string `json:"status"`
	Stage       string `json:"stage"`
	Policy      string `json:"policy"`
}

// Decision is one earlier attempt.
type Decision struct {
	User     string `json:"user"`
	Decision string `json:"decision"`
	Accepted bool   `json:"accepted"`
	Channel  string `json:"channel"`
}

// Verdict is the module's answer.
type Verdict struct {
	Allow   bool
	Reasons []string
}

// String is how the verdict is recorded in history.
func (v Verdict) String() string {
	if v.Allow {
		return "rego: allow"
	}
	if len(v.Reasons) == 0 {
		return "rego: deny"
	}
	return fmt.Sprintf("rego: deny: %v", v.Reasons)
}

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
func Evaluate(ctx context.Context, module string, in Input) (Verdict, error) {
	q, err := prepare(ctx, module)
	if err != nil {
		return Verdict{}, err
	}
	rs, err := q.Eval(ctx, rego.EvalInput(in))
	if err != nil {
		return Verdict{}, fmt.Errorf("evaluate rego: %w", err)
	}
	if len(rs) == 0 || len(rs[0].Bindings) == 0 {
		return Verdict{}, ErrNoPackage
	}
	doc, ok := rs[0].Bindings["result"].(map[string]any)
	if !ok {
		return Verdict{}, ErrNoPackage
	}
	v := Verdict{}
	allow, _ := doc["allow"].(bool)
	switch deny := doc["deny"].(type) {
	case nil:
	case []any:
		for _, d := range deny {
			v.Reasons = append(v.Reasons, fmt.Sprint(d))
		}
	default:
		return Verdict{}, fmt.Errorf("evaluate rego: deny must be a set of messages, got %T", deny)
	}
	sort.Strings(v.Reasons)
	v.Allow = allow && len(v.Reasons) == 0
	return v, nil
}
