package action

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/signoff/signoff/approval"
	"github.com/signoff/signoff/secretchange"
	"github.com/signoff/signoff/store/secretstore"
)

const plantedSecret = "pl4nted-db-password-9f2c"

type rollReceiver struct {
	mu    sync.Mutex
	calls []*http.Request
	keys  []string
}

func (r *rollReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, _ = io.ReadAll(req.Body)
	r.calls = append(r.calls, req)
	r.keys = append(r.keys, req.Header.Get("Idempotency-Key"))
}

func secretFixture(t *testing.T) (*SecretChange, *secretstore.Memory, *rollReceiver) {
	t.Helper()
	store := secretstore.NewMemory()
	store.Set("production/api", map[string]string{"DB_PASSWORD": "old", "KEEP": "k"})
	rc := &rollReceiver{}
	srv := httptest.NewServer(rc)
	t.Cleanup(srv.Close)
	sc := &SecretChange{Keys: secretchange.GenerateKeys(), Targets: map[string]SecretTarget{
		"prod": {Store: store, Secrets: []string{"production/*"}, Roll: &RollHook{URL: srv.URL, Secret: []byte("roll-key")}},
	}}
	return sc, store, rc
}

func proposed(t *testing.T, sc *SecretChange, id string, edits ...secretchange.Edit) *approval.State {
	t.Helper()
	c, err := sc.Propose(context.Background(), id, "prod", "production/api", edits)
	if err != nil {
		t.Fatal(err)
	}
	return &approval.State{ID: id, Status: approval.StatusApproved, Request: approval.Request{Secret: c,
		Action: approval.Action{Type: SecretChangeType, Params: map[string]string{"target": "prod", "secret": "production/api"}}}}
}

func TestSecretChangeAppliesOnceVerifiedAndRolls(t *testing.T) {
	sc, store, rc := secretFixture(t)
	st := proposed(t, sc, "a1", secretchange.Edit{Key: "DB_PASSWORD", Op: secretchange.OpRotate, Value: plantedSecret})
	if store.StagedCount() != 1 {
		t.Fatal("nothing staged")
	}
	for _, k := range st.Request.Secret.Keys {
		if strings.Contains(k.Old.Hash+k.New.Hash, plantedSecret) {
			t.Fatal("value in the diff")
		}
	}
	out, err := sc.Run(context.Background(), st)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out, "wrote production/api on prod: version 2") || !strings.Contains(out, "rolled dependents (HTTP 200 OK)") || strings.Contains(out, plantedSecret) {
		t.Errorf("output %q", out)
	}
	got, _ := store.Read(context.Background(), "production/api")
	if got.Data["DB_PASSWORD"] != plantedSecret || got.Data["KEEP"] != "k" || store.StagedCount() != 0 {
		t.Errorf("store after: %v, %d staged", got.Data, store.StagedCount())
	}
	// The activity retried (the roll's answer lost): nothing written again.
	out, err = sc.Run(context.Background(), st)
	if err != nil || !strings.HasPrefix(out, "already applied") {
		t.Fatalf("retry: %q %v", out, err)
	}
	if store.Writes("production/api") != 2 {
		t.Errorf("%d versions: one before, one by the change", store.Writes("production/api"))
	}
	if len(rc.keys) != 2 || rc.keys[0] != "a1:roll" || rc.keys[1] != "a1:roll" || rc.calls[0].Header.Get(SignatureHeader) == "" {
		t.Errorf("roll calls %v", rc.keys)
	}
}

func TestSecretChangeRefusesWhatWasNotApproved(t *testing.T) {
	sc, store, _ := secretFixture(t)
	st := proposed(t, sc, "a1", secretchange.Edit{Key: "DB_PASSWORD", Op: secretchange.OpRotate, Value: plantedSecret})
	// Someone with write access to the staging area swaps the blob for one
	// sealed for another approval.
	other := proposed(t, sc, "a2", secretchange.Edit{Key: "DB_PASSWORD", Op: secretchange.OpRotate, Value: "attacker"})
	blob, _, _ := store.Staged(context.Background(), other.ID)
	_ = store.Stage(context.Background(), st.ID, blob)
	_, err := sc.Run(context.Background(), st)
	if !IsPermanent(err) || !errors.Is(err, secretchange.ErrOpen) {
		t.Fatalf("swapped staged values: %v", err)
	}
	// The secret changed by hand since the proposal: not overwritten.
	st3 := proposed(t, sc, "a3", secretchange.Edit{Key: "DB_PASSWORD", Op: secretchange.OpRotate, Value: plantedSecret})
	store.Set("production/api", map[string]string{"DB_PASSWORD": "rotated-by-hand"})
	if _, err := sc.Run(context.Background(), st3); !IsPermanent(err) || !errors.Is(err, secretchange.ErrChangedSince) {
		t.Fatalf("changed since: %v", err)
	}
	// Discarded: the staged values are gone, the secret untouched.
	if out, err := sc.Discard(context.Background(), st3); err != nil || !strings.Contains(out, "destroyed") {
		t.Fatalf("discard: %q %v", out, err)
	}
	if _, ok, _ := store.Staged(context.Background(), st3.ID); ok {
		t.Error("staged values kept after discard")
	}
	got, _ := store.Read(context.Background(), "production/api")
	if got.Data["DB_PASSWORD"] != "rotated-by-hand" {
		t.Error("secret changed")
	}
}

func TestSecretChangeValidate(t *testing.T) {
	sc, _, _ := secretFixture(t)
	for _, a := range []approval.Action{
		{Type: SecretChangeType, Params: map[string]string{"target": "nope", "secret": "production/api"}},
		{Type: SecretChangeType, Params: map[string]string{"target": "prod", "secret": "staging/api"}},
		{Type: SecretChangeType, Params: map[string]string{"target": "prod", "secret": "production/api", "x": "y"}},
		{Type: SecretChangeType, URL: "https://x", Params: map[string]string{"target": "prod", "secret": "production/api"}},
	} {
		if sc.Validate(a) == nil {
			t.Errorf("accepted %+v", a)
		}
	}
	if _, err := (&SecretChange{Targets: sc.Targets}).Propose(context.Background(), "a1", "prod", "production/api",
		[]secretchange.Edit{{Key: "A", Op: secretchange.OpSet, Value: plantedSecret}}); !errors.Is(err, ErrNoSecretKeys) {
		t.Errorf("no keys: %v", err)
	}
}
