package gateway

import (
	"net/http"
	"testing"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/signoff/signoff/activities/action"
	"github.com/signoff/signoff/approval"
	"github.com/signoff/signoff/intake"
	pb "github.com/signoff/signoff/proto/signoff/v1"
	"github.com/signoff/signoff/secretchange"
	"github.com/signoff/signoff/store/secretstore"
)

// secretActions validate as the worker's registry does and propose secret
// changes on a memory store.
type secretActions struct{ sc *action.SecretChange }

func (a secretActions) Validate(act approval.Action) error {
	if act.Type == action.SecretChangeType {
		return a.sc.Validate(act)
	}
	return knownActions(act)
}

func (a secretActions) SecretProposer() (intake.SecretProposer, error) { return a.sc, nil }

const canonicalTestConfig = `dev_only: true
users:
  - {name: alice, token: t-alice}
  - {name: bob, token: t-bob}
  - {name: dana, token: t-dana, admin: true}
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
`

// TestNamesNotCanonicalAreInvalidArgument: a resource or secret name that
// is not canonical ("apps/../prod-db", matched by "apps/*/*" as written,
// naming prod-db) is the caller's mistake: InvalidArgument, HTTP 400,
// saying why, and nothing is created, staged or amended.
func TestNamesNotCanonicalAreInvalidArgument(t *testing.T) {
	store := secretstore.NewMemory()
	store.Set("prod-db", map[string]string{"PASSWORD": "old"})
	sc := &action.SecretChange{Keys: secretchange.GenerateKeys(), Targets: map[string]action.SecretTarget{
		"prod": {Store: store, Secrets: []string{"apps/*/*"}},
	}}
	ts := newTestService(t, canonicalTestConfig, secretActions{sc})
	alice := ts.as(t, "alice")
	invalid := func(what string, err error) {
		t.Helper()
		wantCode(t, what, err, codes.InvalidArgument, "not a canonical name")
		if got := runtime.HTTPStatusFromCode(status.Code(err)); got != http.StatusBadRequest {
			t.Errorf("%s: HTTP %d, want 400", what, got)
		}
	}

	for _, res := range []string{"apps/../prod-db", "apps/./prod-db", "apps//prod-db", "/apps/x/y", "apps/%2e%2e/prod-db"} {
		_, err := ts.CreateApproval(alice, &pb.CreateApprovalRequest{Title: "Deploy", Environment: "production", Resource: res})
		invalid("create with resource "+res, err)
	}

	for _, name := range []string{"apps/../prod-db", "apps/./prod-db", "apps//prod-db"} {
		_, err := ts.ProposeSecretChange(alice, &pb.ProposeSecretChangeRequest{
			Target: "prod", Secret: name, Environment: "production",
			Changes: []*pb.SecretEdit{{Key: "PASSWORD", Op: string(secretchange.OpSet), Value: "new"}},
		})
		invalid("propose "+name, err)
	}
	if store.StagedCount() != 0 || store.Writes("prod-db") != 1 {
		t.Fatalf("refused proposals staged %d, wrote prod-db %d times", store.StagedCount(), store.Writes("prod-db"))
	}

	a, err := ts.CreateApproval(alice, &pb.CreateApprovalRequest{Title: "Deploy", Environment: "production", Resource: "apps/api/db"})
	if err != nil || a.GetPolicyName() != "apps" {
		t.Fatalf("create with a canonical resource: %v, policy %q", err, a.GetPolicyName())
	}
	_, err = ts.AmendApproval(alice, &pb.AmendApprovalRequest{Id: a.GetId(), Title: "Deploy", Resource: "apps/../prod-db"})
	invalid("amend to resource apps/../prod-db", err)
	if st := ts.get(t, a.GetId()); st.GetRevision() != 0 || st.GetResource() != "apps/api/db" {
		t.Fatalf("a refused amendment changed it: rev %d, resource %q", st.GetRevision(), st.GetResource())
	}
}
