package secretstore

import (
	"context"
	"errors"
	"testing"

	"github.com/signoff/signoff/approval"
	"github.com/signoff/signoff/config"
)

// notCanonical are names a store must refuse before it calls anything:
// each would read or write another secret than the one written (Vault's
// client cleans "apps/../prod-db" to "prod-db").
var notCanonical = []string{
	"apps/../prod-db", "apps/./prod-db", "../prod-db", "apps//prod-db", "/prod-db", "prod-db/", `apps\..\prod-db`,
	"apps%2f..%2fprod-db", "apps/%2E%2E/prod-db", "apps%5Cprod-db", "prod\x00db", "prod-db\n", "",
}

// TestStoresRefuseNamesNotCanonical: Memory, AWS and Vault (as Open makes
// them, too) refuse such names with ErrNotCanonical, marked permanent,
// and neither read nor write anything; staging ids that would lead out
// of the staging prefix are refused the same way.
func TestStoresRefuseNamesNotCanonical(t *testing.T) {
	ctx := context.Background()
	data := map[string]string{"password": "p2"}

	vf, vault := newVaultStore(t)
	vf.AddSecret("prod-db", map[string]string{"password": "p1"})
	af, aws := newAWSStore(t)
	af.AddSecret("prod-db", `{"password":"p1"}`)
	openedVault, err := Open("prod", config.SecretTarget{Kind: KindVault, Address: vf.URL, TokenEnv: "T"},
		envOf(map[string]string{"T": testVaultToken}), false)
	if err != nil {
		t.Fatal(err)
	}
	openedAWS, err := Open("prod", config.SecretTarget{Kind: KindAWS, Endpoint: af.URL}, envOf(nil), false)
	if err != nil {
		t.Fatal(err)
	}
	mem := NewMemory()
	mem.Set("prod-db", map[string]string{"password": "p1"})

	calls := func() int { return vf.Calls("") + af.Calls("") }
	for _, s := range []struct {
		name  string
		store Store
	}{{"memory", mem}, {"vault", vault}, {"aws", aws}, {"opened vault", openedVault}, {"opened aws", openedAWS}} {
		refused := func(op, name string, err error) {
			t.Helper()
			if !errors.Is(err, approval.ErrNotCanonical) || !errors.Is(err, ErrPermanent) {
				t.Errorf("%s: %s %q: want ErrNotCanonical and ErrPermanent, got %v", s.name, op, name, err)
			}
		}
		before := calls()
		for _, name := range notCanonical {
			got, err := s.store.Read(ctx, name)
			refused("Read", name, err)
			if got.Exists || got.Data != nil {
				t.Errorf("%s: Read %q returned %+v", s.name, name, got)
			}
			_, err = s.store.Write(ctx, name, data, "tok", "1")
			refused("Write", name, err)
			_, err = s.store.Write(ctx, name, data, "tok", "")
			refused("Write", name, err)
		}
		for _, id := range []string{"../prod-db", "../../prod-db", "a/../../prod-db", "", "a//b", `..\prod-db`} {
			refused("Stage", id, s.store.Stage(ctx, id, "blob"))
			_, ok, err := s.store.Staged(ctx, id)
			refused("Staged", id, err)
			if ok {
				t.Errorf("%s: Staged %q found a blob", s.name, id)
			}
			refused("Unstage", id, s.store.Unstage(ctx, id))
		}
		if n := calls() - before; n != 0 {
			t.Errorf("%s: %d calls to the store for names refused", s.name, n)
		}
	}

	// prod-db is as it was everywhere.
	if d, v, ok := vf.Secret("prod-db"); !ok || v != 1 || d["password"] != "p1" {
		t.Errorf("vault prod-db: %v at %d", d, v)
	}
	if cur, ok := af.Secret("prod-db"); !ok || cur != `{"password":"p1"}` || af.Versions("prod-db") != 1 {
		t.Errorf("aws prod-db: %q, %d versions", cur, af.Versions("prod-db"))
	}
	if mem.Writes("prod-db") != 1 || mem.StagedCount() != 0 {
		t.Errorf("memory: %d writes of prod-db, %d staged", mem.Writes("prod-db"), mem.StagedCount())
	}
}

// TestStoresStillServeCanonicalNames: the check lets the names of the
// contract through, and approval-ID staging.
func TestStoresStillServeCanonicalNames(t *testing.T) {
	ctx := context.Background()
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			s := b.make(t).store
			if _, err := s.Write(ctx, "apps/api/prod-db", map[string]string{"k": "v"}, "tok", ""); err != nil {
				t.Fatal(err)
			}
			if got, err := s.Read(ctx, "apps/api/prod-db"); err != nil || got.Data["k"] != "v" {
				t.Fatalf("Read: %+v, %v", got, err)
			}
			if err := s.Stage(ctx, "abcdefghijklmnopqrstuvwxyz", "blob"); err != nil {
				t.Fatal(err)
			}
			if blob, ok, err := s.Staged(ctx, "abcdefghijklmnopqrstuvwxyz"); err != nil || !ok || blob != "blob" {
				t.Fatalf("Staged: %q %v %v", blob, ok, err)
			}
			if err := s.Unstage(ctx, "abcdefghijklmnopqrstuvwxyz"); err != nil {
				t.Fatal(err)
			}
		})
	}
}
