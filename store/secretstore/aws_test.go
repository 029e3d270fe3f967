package secretstore

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	sm "github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/signoff/signoff/internal/fakecloud"
)

const (
	testKeyID     = "AKIAIOSFODNN7EXAMPLE"
	testSecretKey = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
	// leak is a value no error may show.
	leak = "hunter2-do-not-show"
)

// isolateAWS makes the SDK's credential chain see only what a test sets:
// no shared files of the machine, no instance metadata.
func isolateAWS(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "credentials"))
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	for _, k := range []string{"AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_REGION", "AWS_DEFAULT_REGION"} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
}

// noWait makes the client try attempts times per call without waiting.
func noWait(attempts int) func(*sm.Options) {
	return func(o *sm.Options) {
		o.Retryer = retry.NewStandard(func(so *retry.StandardOptions) {
			so.MaxAttempts = attempts
			so.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return 0, nil })
		})
	}
}

// newAWSStore is the store over a fake Secrets Manager, with credentials
// from the environment (the standard chain) and 3 attempts per call.
func newAWSStore(t *testing.T) (*fakecloud.SecretsManager, *AWS) {
	t.Helper()
	isolateAWS(t)
	t.Setenv("AWS_ACCESS_KEY_ID", testKeyID)
	t.Setenv("AWS_SECRET_ACCESS_KEY", testSecretKey)
	f := fakecloud.NewSecretsManager(t, testKeyID, testSecretKey)
	return f, NewAWS(AWSOptions{Endpoint: f.URL, tune: noWait(3)})
}

// rawClient is an SDK client on the fake, to set up what Signoff would not.
func rawClient(t *testing.T, a *AWS) *sm.Client {
	t.Helper()
	c, err := a.api(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// currentJSON is the secret's AWSCURRENT value, decoded.
func currentJSON(t *testing.T, f *fakecloud.SecretsManager, name string) map[string]string {
	t.Helper()
	s, ok := f.Secret(name)
	if !ok {
		t.Fatalf("no secret %s", name)
	}
	var m map[string]string
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatalf("secret %s is not a JSON object of strings: %v", name, err)
	}
	return m
}

func wantNoLeak(t *testing.T, err error, secrets ...string) {
	t.Helper()
	for _, s := range append(secrets, leak) {
		if err != nil && strings.Contains(err.Error(), s) {
			t.Fatalf("the error shows a value: %v", err)
		}
	}
}

func TestAWSRead(t *testing.T) {
	f, a := newAWSStore(t)
	ctx := context.Background()
	got, err := a.Read(ctx, "prod/db")
	if err != nil || got.Exists || got.Version != "" || got.Data != nil {
		t.Fatalf("absent: %+v, %v", got, err)
	}
	id := f.AddSecret("prod/db", `{"user":"app","password":"p1"}`)
	if got, err = a.Read(ctx, "prod/db"); err != nil || !got.Exists || got.Version != id || got.Data["user"] != "app" || got.Data["password"] != "p1" || len(got.Data) != 2 {
		t.Fatalf("present: %+v, %v", got, err)
	}
	f.AddSecret("prod/empty", `{}`)
	if got, err = a.Read(ctx, "prod/empty"); err != nil || !got.Exists || got.Data == nil || len(got.Data) != 0 {
		t.Fatalf("empty object: %+v, %v", got, err)
	}
}

func TestAWSWrite(t *testing.T) {
	f, a := newAWSStore(t)
	ctx := context.Background()

	v1, err := a.Write(ctx, "prod/db", map[string]string{"password": "p1"}, "signoff-apply-A", "")
	if err != nil {
		t.Fatal(err)
	}
	if v1 != awsVersionID("signoff-apply-A") || len(v1) != 64 {
		t.Fatalf("version %q: want the token's hex SHA-256", v1)
	}
	if got := currentJSON(t, f, "prod/db"); got["password"] != "p1" || len(got) != 1 || f.Calls("CreateSecret") != 1 {
		t.Fatalf("after create: %v, %d CreateSecret", got, f.Calls("CreateSecret"))
	}
	v2, err := a.Write(ctx, "prod/db", map[string]string{"password": "p2", "user": "app"}, "signoff-apply-B", v1)
	if err != nil {
		t.Fatal(err)
	}
	if got := currentJSON(t, f, "prod/db"); got["password"] != "p2" || got["user"] != "app" || f.Versions("prod/db") != 2 || f.Calls("PutSecretValue") != 1 {
		t.Fatalf("after update: %v, %d versions", got, f.Versions("prod/db"))
	}
	// Retries, even once the secret has moved on, find their version.
	if again, err := a.Write(ctx, "prod/db", map[string]string{"password": "p2", "user": "app"}, "signoff-apply-B", v1); err != nil || again != v2 {
		t.Fatalf("retry: %q, %v", again, err)
	}
	f.AddSecret("prod/db", `{"password":"by hand"}`)
	if again, err := a.Write(ctx, "prod/db", map[string]string{"password": "p1"}, "signoff-apply-A", ""); err != nil || again != v1 {
		t.Fatalf("retry after another write: %q, %v", again, err)
	}
	if f.Versions("prod/db") != 3 || f.Calls("PutSecretValue") != 1 || f.Calls("CreateSecret") != 1 {
		t.Fatalf("retries wrote: %d versions", f.Versions("prod/db"))
	}
	// A nil map writes an empty object.
	cur, _ := a.Read(ctx, "prod/db")
	if _, err := a.Write(ctx, "prod/db", nil, "signoff-apply-C", cur.Version); err != nil {
		t.Fatal(err)
	}
	if s, _ := f.Secret("prod/db"); s != "{}" {
		t.Fatalf("nil data wrote %q", s)
	}
}

// TestAWSWriteValueless writes a secret created without a value.
func TestAWSWriteValueless(t *testing.T) {
	f, a := newAWSStore(t)
	ctx := context.Background()
	if _, err := rawClient(t, a).CreateSecret(ctx, &sm.CreateSecretInput{Name: aws.String("prod/new")}); err != nil {
		t.Fatal(err)
	}
	if got, err := a.Read(ctx, "prod/new"); err != nil || got.Exists {
		t.Fatalf("valueless: %+v, %v", got, err)
	}
	v, err := a.Write(ctx, "prod/new", map[string]string{"k": "v"}, "tok", "")
	if err != nil || v != awsVersionID("tok") {
		t.Fatalf("write: %q, %v", v, err)
	}
	if got := currentJSON(t, f, "prod/new"); got["k"] != "v" || f.Versions("prod/new") != 1 {
		t.Fatalf("after write: %v", got)
	}
}

func TestAWSServerErrors(t *testing.T) {
	f, a := newAWSStore(t)
	ctx := context.Background()
	v1, err := a.Write(ctx, "prod/db", map[string]string{"password": "p1"}, "tok-1", "")
	if err != nil {
		t.Fatal(err)
	}

	// Two 500s: the SDK's retries get through, one version is written.
	f.FailNext("PutSecretValue", 2)
	v2, err := a.Write(ctx, "prod/db", map[string]string{"password": "p2"}, "tok-2", v1)
	if err != nil {
		t.Fatal(err)
	}
	if f.Calls("PutSecretValue") != 3 || f.Versions("prod/db") != 2 {
		t.Fatalf("%d calls, %d versions", f.Calls("PutSecretValue"), f.Versions("prod/db"))
	}

	// Longer than the retries: a retryable error, nothing written; the
	// caller's retry then writes once.
	f.FailNext("PutSecretValue", 3)
	_, err = a.Write(ctx, "prod/db", map[string]string{"password": leak}, "tok-3", v2)
	if err == nil || errors.Is(err, ErrPermanent) || errors.Is(err, ErrConflict) || !strings.Contains(err.Error(), "prod/db") {
		t.Fatalf("want a retryable error naming the secret, got %v", err)
	}
	wantNoLeak(t, err)
	if f.Versions("prod/db") != 2 {
		t.Fatalf("a failed write wrote: %d versions", f.Versions("prod/db"))
	}
	if _, err := a.Write(ctx, "prod/db", map[string]string{"password": leak}, "tok-3", v2); err != nil || f.Versions("prod/db") != 3 {
		t.Fatalf("retry: %v, %d versions", err, f.Versions("prod/db"))
	}

	// Throttling is retryable too.
	throttle := fakecloud.Fault{HTTPStatus: 400, Code: "ThrottlingException", Message: "Rate exceeded"}
	f.FailNextWith("GetSecretValue", throttle, throttle, throttle)
	if _, err := a.Read(ctx, "prod/db"); err == nil || errors.Is(err, ErrPermanent) {
		t.Fatalf("throttled: %v", err)
	}
}

func TestAWSPermanentErrors(t *testing.T) {
	f, a := newAWSStore(t)
	ctx := context.Background()
	f.AddSecret("prod/db", `{"password":"p1"}`)

	denied := fakecloud.Fault{HTTPStatus: 400, Code: "AccessDeniedException", Message: "User is not authorized to perform: secretsmanager:PutSecretValue"}
	cur, _ := a.Read(ctx, "prod/db")
	f.FailNextWith("PutSecretValue", denied)
	_, err := a.Write(ctx, "prod/db", map[string]string{"password": leak}, "tok", cur.Version)
	if !errors.Is(err, ErrPermanent) || !strings.Contains(err.Error(), "AccessDenied") {
		t.Fatalf("access denied: %v", err)
	}
	wantNoLeak(t, err)
	if f.Calls("PutSecretValue") != 1 {
		t.Fatalf("a refusal was retried: %d calls", f.Calls("PutSecretValue"))
	}
	f.FailNextWith("CreateSecret", fakecloud.Fault{HTTPStatus: 400, Code: "ValidationException", Message: "1 validation error detected"})
	if err := a.Stage(ctx, "01JX", leak); !errors.Is(err, ErrPermanent) {
		t.Fatalf("validation: %v", err)
	} else {
		wantNoLeak(t, err)
	}

	// Wrong credentials.
	t.Setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret-key-at-all-000000000000000")
	other := NewAWS(AWSOptions{Endpoint: f.URL, tune: noWait(3)})
	if _, err := other.Read(ctx, "prod/db"); !errors.Is(err, ErrPermanent) {
		t.Fatalf("wrong credentials: %v", err)
	}
	// A profile that does not exist.
	bad := NewAWS(AWSOptions{Endpoint: f.URL, Profile: "no-such-profile", tune: noWait(3)})
	if _, err := bad.Read(ctx, "prod/db"); !errors.Is(err, ErrPermanent) || !strings.Contains(err.Error(), "no-such-profile") {
		t.Fatalf("missing profile: %v", err)
	}
}

// TestAWSNotAnObject: a value Signoff cannot change is a clear error that
// names the secret (and key), never the value.
func TestAWSNotAnObject(t *testing.T) {
	f, a := newAWSStore(t)
	ctx := context.Background()
	for _, tc := range []struct{ value, want string }{
		{leak, "not a JSON object"},
		{`"` + leak + `"`, "not a JSON object"},
		{`["` + leak + `"]`, "not a JSON object"},
		{`null`, "not a JSON object"},
		{`{"password": ` + leak + `}`, "not a JSON object"},
		{`{"password":"` + leak + `","port":54321}`, `key "port" holds a number`},
		{`{"password":"` + leak + `","opts":{"a":"` + leak + `"}}`, `key "opts" holds an object`},
	} {
		f.AddSecret("prod/odd", tc.value)
		_, err := a.Read(ctx, "prod/odd")
		if !errors.Is(err, ErrPermanent) || !strings.Contains(err.Error(), "prod/odd") || !strings.Contains(err.Error(), tc.want) {
			t.Fatalf("%d: want %q, got %v", len(tc.value), tc.want, err)
		}
		wantNoLeak(t, err, "54321")
	}
}

// TestAWSLostAnswer: a write goes through but its caller is gone; the
// retry with the same token writes nothing more and answers its version.
func TestAWSLostAnswer(t *testing.T) {
	f, a := newAWSStore(t)
	v1, err := a.Write(context.Background(), "prod/db", map[string]string{"password": "old"}, "tok-1", "")
	if err != nil {
		t.Fatal(err)
	}
	hold := f.HoldNext("PutSecretValue")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := a.Write(ctx, "prod/db", map[string]string{"password": "new"}, "tok-2", v1)
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
	v2, err := a.Write(context.Background(), "prod/db", map[string]string{"password": "new"}, "tok-2", v1)
	if err != nil || v2 != awsVersionID("tok-2") || f.Versions("prod/db") != 2 {
		t.Fatalf("retry: %q, %v, %d versions", v2, err, f.Versions("prod/db"))
	}
}

// TestAWSStaging: staged blobs are secrets of their own, deleted without
// recovery; one scheduled for deletion (by hand) counts as gone.
func TestAWSStaging(t *testing.T) {
	f, a := newAWSStore(t)
	ctx := context.Background()
	if err := a.Stage(ctx, "01JA", "sealed"); err != nil {
		t.Fatal(err)
	}
	if s, ok := f.Secret(StagingPrefix + "01JA"); !ok || s != "sealed" {
		t.Fatalf("staged as %q %v", s, ok)
	}
	if err := a.Unstage(ctx, "01JA"); err != nil {
		t.Fatal(err)
	}
	if f.Versions(StagingPrefix+"01JA") != 0 {
		t.Fatal("Unstage left the secret in its recovery window")
	}
	// Staged again after Unstage (a proposal retried under the same id).
	if err := a.Stage(ctx, "01JA", "sealed-2"); err != nil {
		t.Fatal(err)
	}
	if b, ok, err := a.Staged(ctx, "01JA"); err != nil || !ok || b != "sealed-2" {
		t.Fatalf("Staged: %q %v %v", b, ok, err)
	}

	if err := a.Stage(ctx, "01JB", "sealed"); err != nil {
		t.Fatal(err)
	}
	if _, err := rawClient(t, a).DeleteSecret(ctx, &sm.DeleteSecretInput{SecretId: aws.String(StagingPrefix + "01JB")}); err != nil {
		t.Fatal(err)
	}
	if b, ok, err := a.Staged(ctx, "01JB"); err != nil || ok || b != "" {
		t.Fatalf("Staged of one scheduled for deletion: %q %v %v", b, ok, err)
	}
	// A secret scheduled for deletion cannot be read nor written.
	f.AddSecret("prod/db", `{"k":"v"}`)
	if _, err := rawClient(t, a).DeleteSecret(ctx, &sm.DeleteSecretInput{SecretId: aws.String("prod/db")}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Read(ctx, "prod/db"); !errors.Is(err, ErrPermanent) || !strings.Contains(err.Error(), "scheduled for deletion") {
		t.Fatalf("Read of one scheduled for deletion: %v", err)
	}
	if _, err := a.Write(ctx, "prod/db", map[string]string{"k": "w"}, "tok", ""); !errors.Is(err, ErrPermanent) {
		t.Fatalf("Write of one scheduled for deletion: %v", err)
	}

	// Failures are retryable.
	f.FailNext("DeleteSecret", 3)
	if err := a.Unstage(ctx, "01JA"); err == nil || errors.Is(err, ErrPermanent) {
		t.Fatalf("Unstage in an outage: %v", err)
	}
	if err := a.Unstage(ctx, "01JA"); err != nil {
		t.Fatal(err)
	}
}
