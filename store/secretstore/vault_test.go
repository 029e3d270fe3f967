package secretstore

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/signoff/signoff/internal/fakevault"
)

const testVaultToken = "hvs.fake-test-token"

// quickRetries keeps Vault's client retries (2) but makes them not wait.
func quickRetries(c *api.Config) {
	c.MaxRetries = 2
	c.MinRetryWait, c.MaxRetryWait = time.Millisecond, time.Millisecond
}

func newVaultStore(t *testing.T, opts ...fakevault.Option) (*fakevault.Server, *Vault) {
	t.Helper()
	f := fakevault.New(t, testVaultToken, opts...)
	v, err := NewVault(VaultOptions{Address: f.URL, Mount: f.Mount, Token: testVaultToken, tune: quickRetries})
	if err != nil {
		t.Fatal(err)
	}
	return f, v
}

// rawKV is Vault's client on the fake, to set up what Signoff would not.
func rawKV(t *testing.T, f *fakevault.Server) *api.KVv2 {
	t.Helper()
	cfg := api.DefaultConfig()
	cfg.Address = f.URL
	c, err := api.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c.SetToken(f.Token)
	return c.KVv2(f.Mount)
}

func TestVaultRead(t *testing.T) {
	f, v := newVaultStore(t)
	ctx := context.Background()
	got, err := v.Read(ctx, "prod/db")
	if err != nil || got.Exists || got.Version != "" || got.Data != nil {
		t.Fatalf("absent: %+v, %v", got, err)
	}
	f.AddSecret("prod/db", map[string]string{"user": "app"})
	f.AddSecret("prod/db", map[string]string{"user": "app", "password": "p2"})
	if got, err = v.Read(ctx, "prod/db"); err != nil || !got.Exists || got.Version != "2" || got.Data["password"] != "p2" || len(got.Data) != 2 {
		t.Fatalf("present: %+v, %v", got, err)
	}

	// Values that are not strings: a clear error naming the key, not the
	// values.
	for key, val := range map[string]any{"port": 54321, "flags": []any{leak}, "nested": map[string]any{"a": leak}, "on": true} {
		if _, err := rawKV(t, f).Put(ctx, "prod/odd", map[string]any{"password": leak, key: val}); err != nil {
			t.Fatal(err)
		}
		_, err := v.Read(ctx, "prod/odd")
		if !errors.Is(err, ErrPermanent) || !strings.Contains(err.Error(), "prod/odd") || !strings.Contains(err.Error(), `key "`+key+`"`) {
			t.Fatalf("%s: %v", key, err)
		}
		wantNoLeak(t, err, "54321")
	}
}

func TestVaultWrite(t *testing.T) {
	f, v := newVaultStore(t)
	ctx := context.Background()
	v1, err := v.Write(ctx, "prod/db", map[string]string{"password": "p1"}, "tok-1", "")
	if err != nil || v1 != "1" {
		t.Fatalf("create: %q, %v", v1, err)
	}
	v2, err := v.Write(ctx, "prod/db", map[string]string{"password": "p2", "user": "app"}, "tok-2", v1)
	if err != nil || v2 != "2" {
		t.Fatalf("update: %q, %v", v2, err)
	}
	if data, n, _ := f.Secret("prod/db"); data["password"] != "p2" || data["user"] != "app" || n != 2 || f.Writes("prod/db") != 2 {
		t.Fatalf("secret %v at %d, %d writes", data, n, f.Writes("prod/db"))
	}
	// The retry is refused by check-and-set, and finds its data there.
	if again, err := v.Write(ctx, "prod/db", map[string]string{"password": "p2", "user": "app"}, "tok-2", v1); err != nil || again != v2 {
		t.Fatalf("retry: %q, %v", again, err)
	}
	// A version that is no number cannot be the secret's.
	if _, err := v.Write(ctx, "prod/db", map[string]string{"password": "p3"}, "tok-3", "abc"); !errors.Is(err, ErrConflict) {
		t.Fatalf("bad expect: %v", err)
	}
	if f.Writes("prod/db") != 2 || f.Calls(fakevault.OpWrite) != 3 {
		t.Fatalf("%d writes, %d write calls", f.Writes("prod/db"), f.Calls(fakevault.OpWrite))
	}
}

func TestVaultServerErrors(t *testing.T) {
	f, v := newVaultStore(t)
	ctx := context.Background()

	// Two 500s: the client's retries get through, one version is written.
	f.FailNext(fakevault.OpWrite, 2)
	v1, err := v.Write(ctx, "prod/db", map[string]string{"password": "p1"}, "tok-1", "")
	if err != nil || v1 != "1" || f.Writes("prod/db") != 1 || f.Calls(fakevault.OpWrite) != 3 {
		t.Fatalf("%q, %v, %d writes, %d calls", v1, err, f.Writes("prod/db"), f.Calls(fakevault.OpWrite))
	}
	// Longer than the retries: a retryable error, nothing written.
	f.FailNext(fakevault.OpWrite, 3)
	_, err = v.Write(ctx, "prod/db", map[string]string{"password": leak}, "tok-2", v1)
	if err == nil || errors.Is(err, ErrPermanent) || errors.Is(err, ErrConflict) || !strings.Contains(err.Error(), "prod/db") {
		t.Fatalf("want a retryable error naming the secret, got %v", err)
	}
	wantNoLeak(t, err)
	if f.Writes("prod/db") != 1 {
		t.Fatal("a failed write wrote")
	}
	f.FailNextWith(fakevault.OpRead, fakevault.Fault{Status: 503, Errors: []string{"Vault is sealed"}},
		fakevault.Fault{Status: 503, Errors: []string{"Vault is sealed"}}, fakevault.Fault{Status: 503, Errors: []string{"Vault is sealed"}})
	if _, err := v.Read(ctx, "prod/db"); err == nil || errors.Is(err, ErrPermanent) || !strings.Contains(err.Error(), "sealed") {
		t.Fatalf("sealed: %v", err)
	}
	// The caller's retry writes once.
	if v2, err := v.Write(ctx, "prod/db", map[string]string{"password": leak}, "tok-2", v1); err != nil || v2 != "2" || f.Writes("prod/db") != 2 {
		t.Fatalf("retry: %q, %v", v2, err)
	}
}

func TestVaultToken(t *testing.T) {
	f := fakevault.New(t, testVaultToken)
	f.AddSecret("prod/db", map[string]string{"password": leak})
	v, err := NewVault(VaultOptions{Address: f.URL, Token: "hvs.wrong", tune: quickRetries})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	_, err = v.Read(ctx, "prod/db")
	if !errors.Is(err, ErrPermanent) || !strings.Contains(err.Error(), "permission denied") {
		t.Fatalf("Read with a wrong token: %v", err)
	}
	wantNoLeak(t, err)
	if _, err := v.Write(ctx, "prod/db", map[string]string{"password": "x"}, "tok", "1"); !errors.Is(err, ErrPermanent) {
		t.Fatalf("Write with a wrong token: %v", err)
	}
	if err := v.Stage(ctx, "01JA", "sealed"); !errors.Is(err, ErrPermanent) {
		t.Fatalf("Stage with a wrong token: %v", err)
	}
	if _, _, err := v.Staged(ctx, "01JA"); !errors.Is(err, ErrPermanent) {
		t.Fatalf("Staged with a wrong token: %v", err)
	}
	if err := v.Unstage(ctx, "01JA"); !errors.Is(err, ErrPermanent) {
		t.Fatalf("Unstage with a wrong token: %v", err)
	}
	if data, _, _ := f.Secret("prod/db"); data["password"] != leak || f.Writes("prod/db") != 1 {
		t.Fatal("a refused call changed the secret")
	}
	if _, err := NewVault(VaultOptions{Address: f.URL}); err == nil {
		t.Fatal("no token accepted")
	}
}

func TestVaultMount(t *testing.T) {
	f, v := newVaultStore(t, fakevault.WithMount("kv"))
	ctx := context.Background()
	if _, err := v.Write(ctx, "app/key", map[string]string{"k": "v"}, "tok", ""); err != nil {
		t.Fatal(err)
	}
	if data, _, ok := f.Secret("app/key"); !ok || data["k"] != "v" {
		t.Fatalf("Secret = %v %v", data, ok)
	}
	// The default mount is not there: Vault's client reads every 404 as
	// "not found", but a write is a permanent error.
	other, err := NewVault(VaultOptions{Address: f.URL, Token: testVaultToken, tune: quickRetries})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.Write(ctx, "app/key", map[string]string{"k": "w"}, "tok", ""); !errors.Is(err, ErrPermanent) || !strings.Contains(err.Error(), "no handler for route") {
		t.Fatalf("wrong mount: %v", err)
	}
	// "/kv/" is the same mount.
	slashed, err := NewVault(VaultOptions{Address: f.URL, Mount: "/kv/", Token: testVaultToken})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := slashed.Read(ctx, "app/key"); err != nil || got.Data["k"] != "v" {
		t.Fatalf("mount /kv/: %+v, %v", got, err)
	}
}

// TestVaultLostAnswer: a write goes through but its caller is gone; the
// retry is refused by check-and-set, finds its data and answers its
// version.
func TestVaultLostAnswer(t *testing.T) {
	f, v := newVaultStore(t)
	v1, err := v.Write(context.Background(), "prod/db", map[string]string{"password": "old"}, "tok-1", "")
	if err != nil {
		t.Fatal(err)
	}
	hold := f.HoldNext(fakevault.OpWrite)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := v.Write(ctx, "prod/db", map[string]string{"password": "new"}, "tok-2", v1)
		done <- err
	}()
	<-hold.Reached()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("want a canceled call, got %v", err)
	}
	hold.Release()
	select {
	case <-hold.Applied():
	case <-time.After(5 * time.Second):
		t.Fatal("the released write was not applied")
	}
	v2, err := v.Write(context.Background(), "prod/db", map[string]string{"password": "new"}, "tok-2", v1)
	if err != nil || v2 != "2" || f.Writes("prod/db") != 2 {
		t.Fatalf("retry: %q, %v, %d writes", v2, err, f.Writes("prod/db"))
	}
	// Another change from the same base is a conflict.
	if _, err := v.Write(context.Background(), "prod/db", map[string]string{"password": "other"}, "tok-3", v1); !errors.Is(err, ErrConflict) {
		t.Fatalf("stale write: %v", err)
	}
}

func TestVaultStaging(t *testing.T) {
	f, v := newVaultStore(t)
	ctx := context.Background()
	if err := v.Stage(ctx, "01JA", "sealed"); err != nil {
		t.Fatal(err)
	}
	if data, _, ok := f.Secret(StagingPrefix + "01JA"); !ok || data["blob"] != "sealed" || len(data) != 1 {
		t.Fatalf("staged as %v %v", data, ok)
	}
	if err := v.Unstage(ctx, "01JA"); err != nil {
		t.Fatal(err)
	}
	if _, _, ok := f.Secret(StagingPrefix + "01JA"); ok {
		t.Fatal("Unstage left the staged secret")
	}
	if f.Calls(fakevault.OpDeleteMetadata) != 1 {
		t.Fatalf("%d metadata deletes", f.Calls(fakevault.OpDeleteMetadata))
	}
	// Something else at the staging path is an error, not a blob.
	f.AddSecret(StagingPrefix+"01JB", map[string]string{"other": "x"})
	if _, ok, err := v.Staged(ctx, "01JB"); ok || !errors.Is(err, ErrPermanent) {
		t.Fatalf("Staged of a foreign secret: %v %v", ok, err)
	}
	f.FailNext(fakevault.OpDeleteMetadata, 3)
	if err := v.Unstage(ctx, "01JB"); err == nil || errors.Is(err, ErrPermanent) {
		t.Fatalf("Unstage in an outage: %v", err)
	}
}
