package action

import (
	"context"
	"errors"
	"testing"

	"github.com/signoff/signoff/approval"
	"github.com/signoff/signoff/secretchange"
	"github.com/signoff/signoff/store/secretstore"
)

// TestSecretChangeRefusesNamesNotCanonical: "apps/../prod-db" matches the
// allow-list "apps/*/*" as written, but names prod-db, which it does not
// allow. It is refused as invalid input before the store is read, so the
// API answers InvalidArgument; an approval carrying such a name (from
// before this check) fails for good without a write.
func TestSecretChangeRefusesNamesNotCanonical(t *testing.T) {
	ctx := context.Background()
	store := secretstore.NewMemory()
	store.Set("prod-db", map[string]string{"PASSWORD": "old"})
	sc := &SecretChange{Keys: secretchange.GenerateKeys(), Targets: map[string]SecretTarget{
		"prod": {Store: store, Secrets: []string{"apps/*/*"}},
	}}
	edits := []secretchange.Edit{{Key: "PASSWORD", Op: secretchange.OpSet, Value: plantedSecret}}

	for _, name := range []string{"apps/../prod-db", "apps/./prod-db", "apps//prod-db", "apps/x/../prod-db/.."} {
		err := sc.Validate(approval.Action{Type: SecretChangeType, Params: map[string]string{"target": "prod", "secret": name}})
		if !errors.Is(err, approval.ErrNotCanonical) {
			t.Errorf("Validate %q: want ErrNotCanonical, got %v", name, err)
		}
		if _, err := sc.Propose(ctx, "a1", "prod", name, edits); !errors.Is(err, ErrInvalid) || !errors.Is(err, approval.ErrNotCanonical) {
			t.Errorf("Propose %q: want ErrInvalid and ErrNotCanonical, got %v", name, err)
		}
	}
	if store.StagedCount() != 0 || store.Writes("prod-db") != 1 {
		t.Fatalf("refused proposals staged %d, wrote prod-db %d times", store.StagedCount(), store.Writes("prod-db"))
	}

	// Still allowed: a canonical name the pattern matches.
	if err := sc.Validate(approval.Action{Type: SecretChangeType, Params: map[string]string{"target": "prod", "secret": "apps/api/db"}}); err != nil {
		t.Fatalf("apps/api/db: %v", err)
	}

	// An approved change naming apps/../prod-db: permanent failure, prod-db
	// untouched.
	st := &approval.State{ID: "a2", Status: approval.StatusApproved, Request: approval.Request{
		Secret: &secretchange.Change{Target: "prod", Secret: "apps/../prod-db", KeyID: sc.Keys.Fingerprinter().ID},
		Action: approval.Action{Type: SecretChangeType, Params: map[string]string{"target": "prod", "secret": "apps/../prod-db"}},
	}}
	if _, err := sc.Run(ctx, st); err == nil || !IsPermanent(err) {
		t.Fatalf("Run: want a permanent error, got %v", err)
	}
	if store.Writes("prod-db") != 1 {
		t.Fatal("Run wrote prod-db")
	}
}
