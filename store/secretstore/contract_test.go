package secretstore

import (
	"context"
	"errors"
	"maps"
	"testing"
)

// backend is one Store under the contract, with what its fake counts.
type backend struct {
	name  string
	store Store
	// writes counts the versions written to a secret.
	writes func(name string) int
}

// backends make the three stores, each over a fresh fake.
var backends = []struct {
	name string
	make func(t *testing.T) backend
}{
	{"memory", func(t *testing.T) backend {
		m := NewMemory()
		return backend{"memory", m, m.Writes}
	}},
	{"aws", func(t *testing.T) backend {
		f, a := newAWSStore(t)
		return backend{"aws", a, f.Versions}
	}},
	{"vault", func(t *testing.T) backend {
		f, v := newVaultStore(t)
		return backend{"vault", v, f.Writes}
	}},
}

// TestContract runs the same operations against Memory, AWS and Vault:
// they must answer alike.
func TestContract(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) { contract(t, b.make(t)) })
	}
}

func contract(t *testing.T, b backend) {
	ctx := context.Background()
	s := b.store
	const name = "prod/db"
	d1 := map[string]string{"user": "app", "password": "p1"}
	d2 := map[string]string{"user": "app", "password": "p2", "host": "db.internal"}
	d3 := map[string]string{"password": "p3"}

	read := func(step string) Secret {
		t.Helper()
		got, err := s.Read(ctx, name)
		if err != nil {
			t.Fatalf("%s: Read: %v", step, err)
		}
		return got
	}
	wantData := func(step string, want map[string]string, version string) {
		t.Helper()
		got := read(step)
		if !got.Exists || !maps.Equal(got.Data, want) || got.Version != version {
			t.Fatalf("%s: Read = %+v, want %v at %q", step, got, want, version)
		}
	}
	conflict := func(step string, data map[string]string, token, expect string) {
		t.Helper()
		before := b.writes(name)
		_, err := s.Write(ctx, name, data, token, expect)
		if !errors.Is(err, ErrConflict) {
			t.Fatalf("%s: want ErrConflict, got %v", step, err)
		}
		if errors.Is(err, ErrPermanent) {
			t.Fatalf("%s: a conflict is not ErrPermanent: %v", step, err)
		}
		if b.writes(name) != before {
			t.Fatalf("%s: a refused write wrote (%d → %d)", step, before, b.writes(name))
		}
	}

	// Absent.
	if got := read("absent"); got.Exists || got.Version != "" || len(got.Data) != 0 {
		t.Fatalf("absent: Read = %+v", got)
	}
	conflict("expect a version of an absent secret", d1, "tok-0", "7")

	// Create.
	v1, err := s.Write(ctx, name, d1, "tok-1", "")
	if err != nil || v1 == "" {
		t.Fatalf("create: %q, %v", v1, err)
	}
	wantData("after create", d1, v1)
	if n := b.writes(name); n != 1 {
		t.Fatalf("after create: %d versions", n)
	}

	// The same token again: the version already written, nothing more.
	again, err := s.Write(ctx, name, d1, "tok-1", "")
	if err != nil || again != v1 || b.writes(name) != 1 {
		t.Fatalf("retry: %q (want %q), %v, %d versions", again, v1, err, b.writes(name))
	}

	// Expectations that do not hold.
	conflict("expect none over a secret", d2, "tok-2", "")
	conflict("expect another version", d2, "tok-2", v1+"0")
	wantData("after conflicts", d1, v1)

	// Update.
	v2, err := s.Write(ctx, name, d2, "tok-2", v1)
	if err != nil || v2 == "" || v2 == v1 {
		t.Fatalf("update: %q, %v", v2, err)
	}
	wantData("after update", d2, v2)
	again, err = s.Write(ctx, name, d2, "tok-2", v1)
	if err != nil || again != v2 || b.writes(name) != 2 {
		t.Fatalf("retry of update: %q (want %q), %v, %d versions", again, v2, err, b.writes(name))
	}
	conflict("expect the replaced version", d3, "tok-3", v1)
	wantData("after stale write", d2, v2)

	// Other secrets are apart.
	if got, err := s.Read(ctx, "prod/other"); err != nil || got.Exists {
		t.Fatalf("other secret: %+v, %v", got, err)
	}

	// Staging.
	const id = "01JTESTAPPROVAL0000000000"
	if blob, ok, err := s.Staged(ctx, id); err != nil || ok || blob != "" {
		t.Fatalf("Staged before Stage: %q %v %v", blob, ok, err)
	}
	if err := s.Stage(ctx, id, "sealed-1"); err != nil {
		t.Fatal(err)
	}
	if err := s.Stage(ctx, "01JOTHERAPPROVAL000000000", "sealed-other"); err != nil {
		t.Fatal(err)
	}
	if blob, ok, err := s.Staged(ctx, id); err != nil || !ok || blob != "sealed-1" {
		t.Fatalf("Staged: %q %v %v", blob, ok, err)
	}
	if err := s.Stage(ctx, id, "sealed-2"); err != nil {
		t.Fatalf("Stage again: %v", err)
	}
	if blob, ok, err := s.Staged(ctx, id); err != nil || !ok || blob != "sealed-2" {
		t.Fatalf("Staged after a second Stage: %q %v %v", blob, ok, err)
	}
	if err := s.Unstage(ctx, id); err != nil {
		t.Fatal(err)
	}
	if blob, ok, err := s.Staged(ctx, id); err != nil || ok || blob != "" {
		t.Fatalf("Staged after Unstage: %q %v %v", blob, ok, err)
	}
	if err := s.Unstage(ctx, id); err != nil {
		t.Fatalf("Unstage of a missing one: %v", err)
	}
	if err := s.Unstage(ctx, "01JNEVERSTAGED00000000000"); err != nil {
		t.Fatalf("Unstage of one never staged: %v", err)
	}
	if blob, ok, err := s.Staged(ctx, "01JOTHERAPPROVAL000000000"); err != nil || !ok || blob != "sealed-other" {
		t.Fatalf("the other staged blob: %q %v %v", blob, ok, err)
	}
	// Staging leaves the secret alone.
	wantData("after staging", d2, v2)
	if b.writes(name) != 2 {
		t.Fatalf("staging wrote the secret: %d versions", b.writes(name))
	}
}
