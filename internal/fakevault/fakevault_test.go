package fakevault_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/signoff/signoff/internal/fakevault"
)

const testToken = "hvs.fake-test-token"

// client is Vault's Go client pointed at the fake with token, retrying 5xx
// answers retries times without waiting long.
func client(t *testing.T, f *fakevault.Server, token string, retries int) *api.Client {
	t.Helper()
	cfg := api.DefaultConfig()
	cfg.Address = f.URL
	cfg.MaxRetries = retries
	cfg.MinRetryWait, cfg.MaxRetryWait = time.Millisecond, time.Millisecond
	c, err := api.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c.SetToken(token)
	return c
}

// wantStatus fails the test unless err is Vault's answer status with an
// error containing msg.
func wantStatus(t *testing.T, err error, status int, msg string) {
	t.Helper()
	var re *api.ResponseError
	if !errors.As(err, &re) || re.StatusCode != status || !strings.Contains(strings.Join(re.Errors, "\n"), msg) {
		t.Fatalf("want %d %q, got %v", status, msg, err)
	}
}

func TestKVv2CheckAndSet(t *testing.T) {
	f := fakevault.New(t, testToken)
	kv := client(t, f, testToken, 0).KVv2(fakevault.DefaultMount)
	ctx := context.Background()

	// cas 0: only a secret that does not exist yet.
	put, err := kv.Put(ctx, "prod/db", map[string]any{"password": "p1"}, api.WithCheckAndSet(0))
	if err != nil {
		t.Fatal(err)
	}
	if put.VersionMetadata.Version != 1 || time.Since(put.VersionMetadata.CreatedTime) > time.Minute {
		t.Fatalf("Put answered %+v", put.VersionMetadata)
	}
	_, err = kv.Put(ctx, "prod/db", map[string]any{"password": "other"}, api.WithCheckAndSet(0))
	wantStatus(t, err, 400, "check-and-set parameter did not match the current version")

	// cas N: only over current version N.
	if put, err = kv.Put(ctx, "prod/db", map[string]any{"password": "p2"}, api.WithCheckAndSet(1)); err != nil || put.VersionMetadata.Version != 2 {
		t.Fatalf("Put with cas 1: %+v, %v", put, err)
	}
	_, err = kv.Put(ctx, "prod/db", map[string]any{"password": "other"}, api.WithCheckAndSet(1))
	wantStatus(t, err, 400, "check-and-set parameter did not match the current version")
	// Without cas: any time.
	if put, err = kv.Put(ctx, "prod/db", map[string]any{"password": "p3", "port": 5432}); err != nil || put.VersionMetadata.Version != 3 {
		t.Fatalf("Put without cas: %+v, %v", put, err)
	}

	got, err := kv.Get(ctx, "prod/db")
	if err != nil {
		t.Fatal(err)
	}
	if got.Data["password"] != "p3" || got.VersionMetadata.Version != 3 || got.VersionMetadata.Destroyed || !got.VersionMetadata.DeletionTime.IsZero() {
		t.Fatalf("Get answered %+v %+v", got.Data, got.VersionMetadata)
	}
	old, err := kv.GetVersion(ctx, "prod/db", 1)
	if err != nil || old.Data["password"] != "p1" || old.VersionMetadata.Version != 1 {
		t.Fatalf("GetVersion 1: %+v, %v", old, err)
	}
	_, err = kv.GetVersion(ctx, "prod/db", 4)
	if !errors.Is(err, api.ErrSecretNotFound) {
		t.Fatalf("GetVersion 4: %v", err)
	}
	_, err = kv.Get(ctx, "prod/other")
	if !errors.Is(err, api.ErrSecretNotFound) {
		t.Fatalf("Get of a missing secret: %v", err)
	}

	meta, err := kv.GetMetadata(ctx, "prod/db")
	if err != nil {
		t.Fatal(err)
	}
	if meta.CurrentVersion != 3 || len(meta.Versions) != 3 || meta.Versions["2"].CreatedTime.IsZero() || meta.CreatedTime.After(meta.UpdatedTime) {
		t.Fatalf("GetMetadata answered %+v", meta)
	}
	list, err := kv.GetVersionsAsList(ctx, "prod/db")
	if err != nil || len(list) != 3 || list[2].Version != 3 {
		t.Fatalf("GetVersionsAsList: %+v, %v", list, err)
	}

	data, version, ok := f.Secret("prod/db")
	if !ok || version != 3 || data["password"] != "p3" || data["port"] != "5432" || f.Writes("prod/db") != 3 {
		t.Fatalf("Secret = %v %d %v, Writes = %d", data, version, ok, f.Writes("prod/db"))
	}
	if f.Calls(fakevault.OpWrite) != 5 || f.Calls(fakevault.OpRead) != 4 || f.Calls("") != 11 {
		t.Fatalf("calls: write %d read %d all %d", f.Calls(fakevault.OpWrite), f.Calls(fakevault.OpRead), f.Calls(""))
	}
}

func TestKVv2DeleteMetadata(t *testing.T) {
	f := fakevault.New(t, testToken)
	kv := client(t, f, testToken, 0).KVv2("secret")
	ctx := context.Background()
	f.AddSecret("app/api-key", map[string]string{"key": "k1"})
	f.AddSecret("app/api-key", map[string]string{"key": "k2"})

	if err := kv.DeleteMetadata(ctx, "app/api-key"); err != nil {
		t.Fatal(err)
	}
	for _, err := range []error{
		func() error { _, err := kv.Get(ctx, "app/api-key"); return err }(),
		func() error { _, err := kv.GetVersion(ctx, "app/api-key", 1); return err }(),
		func() error { _, err := kv.GetMetadata(ctx, "app/api-key"); return err }(),
	} {
		if !errors.Is(err, api.ErrSecretNotFound) {
			t.Fatalf("after DeleteMetadata: %v", err)
		}
	}
	if _, _, ok := f.Secret("app/api-key"); ok {
		t.Fatal("the secret is still there")
	}
	// Deleting again succeeds; writing starts again at version 1, and cas 0
	// allows it.
	if err := kv.DeleteMetadata(ctx, "app/api-key"); err != nil {
		t.Fatal(err)
	}
	put, err := kv.Put(ctx, "app/api-key", map[string]any{"key": "k3"}, api.WithCheckAndSet(0))
	if err != nil || put.VersionMetadata.Version != 1 {
		t.Fatalf("Put after delete: %+v, %v", put, err)
	}
	if f.Writes("app/api-key") != 3 {
		t.Fatalf("Writes = %d", f.Writes("app/api-key"))
	}
}

func TestKVv2Token(t *testing.T) {
	f := fakevault.New(t, testToken)
	f.AddSecret("prod/db", map[string]string{"password": "p"})
	ctx := context.Background()

	for _, tok := range []string{"hvs.wrong", ""} {
		c := client(t, f, tok, 0)
		if tok == "" {
			c.ClearToken()
		}
		_, err := c.KVv2("secret").Get(ctx, "prod/db")
		wantStatus(t, err, 403, "permission denied")
		_, err = c.KVv2("secret").Put(ctx, "prod/db", map[string]any{"password": "x"})
		wantStatus(t, err, 403, "permission denied")
	}
	if data, _, _ := f.Secret("prod/db"); data["password"] != "p" || f.Calls("") != 0 {
		t.Fatalf("refused calls changed %v or were counted (%d)", data, f.Calls(""))
	}
}

func TestKVv2Failures(t *testing.T) {
	f := fakevault.New(t, testToken)
	ctx := context.Background()
	kv := client(t, f, testToken, 2).KVv2("secret")

	// Two 500s: the client's retries get through, the secret is written once.
	f.FailNext(fakevault.OpWrite, 2)
	if _, err := kv.Put(ctx, "prod/db", map[string]any{"password": "p1"}, api.WithCheckAndSet(0)); err != nil {
		t.Fatal(err)
	}
	if f.Writes("prod/db") != 1 || f.Calls(fakevault.OpWrite) != 3 {
		t.Fatalf("writes %d, calls %d", f.Writes("prod/db"), f.Calls(fakevault.OpWrite))
	}
	// Longer than the retries: the call fails.
	f.FailNext(fakevault.OpRead, 3)
	_, err := kv.Get(ctx, "prod/db")
	wantStatus(t, err, 500, "internal error")
	f.FailNextWith(fakevault.OpWrite, fakevault.Fault{Status: 503, Errors: []string{"Vault is sealed"}})
	_, err = client(t, f, testToken, 0).KVv2("secret").Put(ctx, "prod/db", map[string]any{"password": "p2"})
	wantStatus(t, err, 503, "Vault is sealed")
	if data, v, _ := f.Secret("prod/db"); data["password"] != "p1" || v != 1 {
		t.Fatalf("failed calls changed the secret: %v %d", data, v)
	}
}

// TestKVv2Hold loses the answer of a write that went through, as when the
// caller dies mid-call: the retry with the same cas is refused, and the
// secret holds what the first call wrote.
func TestKVv2Hold(t *testing.T) {
	f := fakevault.New(t, testToken)
	kv := client(t, f, testToken, 0).KVv2("secret")
	f.AddSecret("prod/db", map[string]string{"password": "old"})
	hold := f.HoldNext(fakevault.OpWrite)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := kv.Put(ctx, "prod/db", map[string]any{"password": "new"}, api.WithCheckAndSet(1))
		done <- err
	}()
	<-hold.Reached()
	if data, _, _ := f.Secret("prod/db"); data["password"] != "old" {
		t.Fatal("a held write was applied")
	}
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
	_, err := kv.Put(context.Background(), "prod/db", map[string]any{"password": "new"}, api.WithCheckAndSet(1))
	wantStatus(t, err, 400, "check-and-set")
	if data, v, _ := f.Secret("prod/db"); data["password"] != "new" || v != 2 {
		t.Fatalf("secret %v version %d", data, v)
	}
}

func TestKVv2Mount(t *testing.T) {
	f := fakevault.New(t, testToken, fakevault.WithMount("kv"))
	c := client(t, f, testToken, 0)
	ctx := context.Background()
	if _, err := c.KVv2("kv").Put(ctx, "a", map[string]any{"k": "v"}); err != nil {
		t.Fatal(err)
	}
	if data, _, ok := f.Secret("a"); !ok || data["k"] != "v" {
		t.Fatalf("Secret = %v %v", data, ok)
	}
	_, err := c.KVv2("secret").Put(ctx, "a", map[string]any{"k": "v"})
	wantStatus(t, err, 404, "no handler for route")
}

// TestKVv2Wire checks the JSON on the wire against Vault's API docs.
func TestKVv2Wire(t *testing.T) {
	f := fakevault.New(t, testToken)
	call := func(method, path, body string) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest(method, f.URL+path, strings.NewReader(body))
		req.Header.Set("X-Vault-Token", testToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var out map[string]any
		if len(b) > 0 {
			if err := json.Unmarshal(b, &out); err != nil {
				t.Fatalf("%s %s: %s", method, path, b)
			}
		}
		return resp.StatusCode, out
	}

	code, out := call("POST", "/v1/secret/data/my-secret", `{"options":{"cas":0},"data":{"foo":"bar"}}`)
	md, _ := out["data"].(map[string]any)
	if code != 200 || md["version"] != 1.0 || md["deletion_time"] != "" || md["destroyed"] != false || md["created_time"] == "" {
		t.Fatalf("write: %d %v", code, out)
	}
	code, out = call("GET", "/v1/secret/data/my-secret?version=1", "")
	d, _ := out["data"].(map[string]any)
	inner, _ := d["data"].(map[string]any)
	md, _ = d["metadata"].(map[string]any)
	if code != 200 || inner["foo"] != "bar" || md["version"] != 1.0 || md["deletion_time"] != "" {
		t.Fatalf("read: %d %v", code, out)
	}
	code, out = call("PUT", "/v1/secret/data/my-secret", `{"options":{"cas":0},"data":{"foo":"baz"}}`)
	if errs, _ := out["errors"].([]any); code != 400 || len(errs) != 1 || errs[0] != "check-and-set parameter did not match the current version" {
		t.Fatalf("cas mismatch: %d %v", code, out)
	}
	code, out = call("GET", "/v1/secret/metadata/my-secret", "")
	d, _ = out["data"].(map[string]any)
	if versions, _ := d["versions"].(map[string]any); code != 200 || d["current_version"] != 1.0 || versions["1"] == nil {
		t.Fatalf("metadata: %d %v", code, out)
	}
	if code, _ = call("DELETE", "/v1/secret/metadata/my-secret", ""); code != 204 {
		t.Fatalf("delete metadata: %d", code)
	}
	code, out = call("GET", "/v1/secret/data/my-secret", "")
	if errs, isList := out["errors"].([]any); code != 404 || !isList || len(errs) != 0 {
		t.Fatalf("read of a deleted secret: %d %v", code, out)
	}
	if code, _ = call("DELETE", "/v1/secret/data/my-secret", ""); code != 405 {
		t.Fatalf("unimplemented call: %d", code)
	}
}
