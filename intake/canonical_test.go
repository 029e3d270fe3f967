package intake

import (
	"context"
	"errors"
	"testing"

	"github.com/signoff/signoff/approval"
	"github.com/signoff/signoff/auth/proof"
	"github.com/signoff/signoff/config"
	"github.com/signoff/signoff/config/identity"
	"github.com/signoff/signoff/store/approvalstore"
)

type anyAction struct{}

func (anyAction) Validate(approval.Action) error { return nil }

// TestStartRefusesResourcesNotCanonical: "apps/../prod-db" would be
// matched against match.resource as written; it is refused as invalid
// (the API's InvalidArgument), with the reason, and nothing starts.
func TestStartRefusesResourcesNotCanonical(t *testing.T) {
	cfg, err := config.Parse([]byte(`dev_only: true
users:
  - {name: alice, token: t-alice}
  - {name: bob, token: t-bob}
policies:
  - name: apps
    match: {environment: production, resource: "apps/*/*"}
    approvers: {users: [bob]}
    required_approvals: 1
    deadline: 1h
  - name: production
    match: {environment: production}
    approvers: {users: [bob]}
    required_approvals: 1
    deadline: 1h
`))
	if err != nil {
		t.Fatal(err)
	}
	keys := proof.Generate()
	mem := approvalstore.NewMemory(keys, nil)
	s := &Starter{Live: config.NewLive(cfg, nil), Approvals: mem, Actions: anyAction{}, Proofs: keys}
	alice := &identity.User{Name: "alice"}
	ctx := context.Background()
	for _, res := range []string{"apps/../prod-db", "apps/./prod-db", "apps//prod-db", "/apps/x/y", `apps\x\y`, "apps/%2E%2E/prod-db", "apps/x/y\n"} {
		_, err := s.Start(ctx, Request{Requester: alice, Request: approval.Request{
			Title: "Change", Environment: "production", Resource: res, Action: approval.Action{Type: "noop"},
		}})
		if !errors.Is(err, ErrInvalid) || !errors.Is(err, approval.ErrNotCanonical) {
			t.Errorf("resource %q: want ErrInvalid and ErrNotCanonical, got %v", res, err)
		}
		if err := CheckResource(approval.Request{Resource: res}); !errors.Is(err, ErrInvalid) {
			t.Errorf("CheckResource %q: %v", res, err)
		}
	}
	for res, want := range map[string]string{"apps/api/db": "apps", "": "production"} {
		got, err := s.Start(ctx, Request{Requester: alice, Request: approval.Request{
			Title: "Change", Environment: "production", Resource: res, Action: approval.Action{Type: "noop"},
		}})
		if err != nil || got.State.Policy.Name != want {
			t.Errorf("resource %q: %v; want policy %s", res, err, want)
		}
	}
}
