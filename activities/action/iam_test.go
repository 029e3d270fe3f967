package action

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/signoff/signoff/approval"
	"github.com/signoff/signoff/internal/fakecloud"
)

const (
	testKeyID     = "AKIAIOSFODNN7EXAMPLE"
	testSecretKey = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
	leakedKeyID   = "AKIAZZZZZZZZZZZZWXYZ"
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

func envCreds(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", testKeyID)
	t.Setenv("AWS_SECRET_ACCESS_KEY", testSecretKey)
}

func iamAction(fake *fakecloud.IAM, profile string) *IAMDeactivateKey {
	return &IAMDeactivateKey{
		Client:        NewIAMClient(IAMClientOptions{Region: "us-east-1", Endpoint: fake.URL, Profile: profile, MaxAttempts: 1}),
		VerifyTimeout: 300 * time.Millisecond,
	}
}

func iamState(user, key string) *approval.State {
	return &approval.State{ID: "01JTESTAPPROVAL0000000000", Request: approval.Request{Action: approval.Action{
		Type: IAMDeactivateKeyType, Params: map[string]string{ParamIAMUserName: user, ParamIAMAccessKeyID: key},
	}}}
}

func TestIAMValidate(t *testing.T) {
	a := &IAMDeactivateKey{}
	ok := map[string]string{ParamIAMUserName: "svc.deploy+ci@acme", ParamIAMAccessKeyID: leakedKeyID}
	if err := a.Validate(approval.Action{Type: IAMDeactivateKeyType, Params: ok}); err != nil {
		t.Fatalf("valid params refused: %v", err)
	}
	if err := a.Validate(approval.Action{Params: map[string]string{ParamIAMUserName: "bob", ParamIAMAccessKeyID: "ASIAY34FZKBOKMUTVV7A"}}); err != nil {
		t.Fatalf("ASIA key refused: %v", err)
	}
	cases := map[string]approval.Action{
		"user_name is required":                {Params: map[string]string{ParamIAMAccessKeyID: leakedKeyID}},
		"user_name must be 1-64":               {Params: map[string]string{ParamIAMUserName: "bob smith", ParamIAMAccessKeyID: leakedKeyID}},
		"access_key_id is required":            {Params: map[string]string{ParamIAMUserName: "bob"}},
		"must look like an access key ID":      {Params: map[string]string{ParamIAMUserName: "bob", ParamIAMAccessKeyID: "akiaiosfodnn7example"}},
		"must look like an access key ID ":     {Params: map[string]string{ParamIAMUserName: "bob", ParamIAMAccessKeyID: "AKIA123"}},
		"must look like an access key ID  ":    {Params: map[string]string{ParamIAMUserName: "bob", ParamIAMAccessKeyID: "AKIDIOSFODNN7EXAMPLE"}},
		`unknown param "secret_access_key"`:    {Params: map[string]string{ParamIAMUserName: "bob", ParamIAMAccessKeyID: leakedKeyID, "secret_access_key": "x"}},
		"takes no url":                         {URL: "http://x", Params: ok},
		"user_name must be 1-64 characters of": {Params: map[string]string{ParamIAMUserName: strings.Repeat("a", 65), ParamIAMAccessKeyID: leakedKeyID}},
	}
	for want, act := range cases {
		err := a.Validate(act)
		if err == nil || !strings.Contains(err.Error(), strings.TrimSpace(want)) {
			t.Errorf("want error containing %q, got %v", want, err)
		}
	}
}

func TestIAMDeactivatesAndVerifies(t *testing.T) {
	isolateAWS(t)
	envCreds(t)
	fake := fakecloud.NewIAM(t, testKeyID, testSecretKey)
	// The key is on the third page: the action must follow markers.
	fake.PageSize = 1
	fake.AddKey("bob", "AKIAOTHER00000000001", "Active")
	fake.AddKey("bob", "AKIAOTHER00000000002", "Inactive")
	fake.AddKey("bob", leakedKeyID, "Active")
	fake.AddKey("carol", "AKIAOTHER00000000003", "Active")

	a := iamAction(fake, "")
	out, err := a.Run(context.Background(), iamState("bob", leakedKeyID))
	if err != nil {
		t.Fatal(err)
	}
	if out != "access key AKIA…WXYZ of user bob is now Inactive" {
		t.Fatalf("output %q", out)
	}
	if got := fake.Status(leakedKeyID); got != "Inactive" {
		t.Fatalf("fake says %s", got)
	}
	updates := fake.Calls("UpdateAccessKey")
	if len(updates) != 1 || updates[0].Get("AccessKeyId") != leakedKeyID || updates[0].Get("UserName") != "bob" || updates[0].Get("Status") != "Inactive" {
		t.Fatalf("updates %v", updates)
	}
	if fake.Status("AKIAOTHER00000000001") != "Active" || fake.Status("AKIAOTHER00000000003") != "Active" {
		t.Fatal("another key changed")
	}
	// Look first, read back after: 3 pages before, at least one after.
	if n := len(fake.Calls("ListAccessKeys")); n < 4 {
		t.Fatalf("%d ListAccessKeys calls; want the look-before and a read-back", n)
	}

	// A retry of the same approval (the activity ran again) changes nothing.
	out, err = a.Run(context.Background(), iamState("bob", leakedKeyID))
	if err != nil || !strings.Contains(out, "already Inactive") {
		t.Fatalf("retry: %q, %v", out, err)
	}
	if n := len(fake.Calls("UpdateAccessKey")); n != 1 {
		t.Fatalf("%d UpdateAccessKey calls after a retry; want 1", n)
	}
}

func TestIAMAlreadyInactiveIsSuccessWithoutUpdate(t *testing.T) {
	isolateAWS(t)
	envCreds(t)
	fake := fakecloud.NewIAM(t, testKeyID, testSecretKey)
	fake.AddKey("bob", leakedKeyID, "Inactive")
	out, err := iamAction(fake, "").Run(context.Background(), iamState("bob", leakedKeyID))
	if err != nil {
		t.Fatal(err)
	}
	if out != "access key AKIA…WXYZ of user bob was already Inactive; nothing changed" {
		t.Fatalf("output %q", out)
	}
	if n := len(fake.Calls("UpdateAccessKey")); n != 0 {
		t.Fatalf("%d UpdateAccessKey calls", n)
	}
}

func TestIAMStillActiveAfterUpdateIsALoudPermanentFailure(t *testing.T) {
	isolateAWS(t)
	envCreds(t)
	fake := fakecloud.NewIAM(t, testKeyID, testSecretKey)
	fake.IgnoreUpdates(true)
	fake.AddKey("bob", leakedKeyID, "Active")
	start := time.Now()
	_, err := iamAction(fake, "").Run(context.Background(), iamState("bob", leakedKeyID))
	if err == nil || !strings.Contains(err.Error(), "AKIA…WXYZ of user bob is STILL ACTIVE") {
		t.Fatalf("got %v", err)
	}
	if !IsPermanent(err) {
		t.Fatal("a failed verify must not be retried as if nothing happened")
	}
	if strings.Contains(err.Error(), leakedKeyID) {
		t.Fatal("error shows the whole key ID")
	}
	// It read back more than once before giving up (IAM is eventually
	// consistent), within its verify timeout.
	if n := len(fake.Calls("ListAccessKeys")); n < 3 {
		t.Fatalf("%d ListAccessKeys calls", n)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("verify took %s", d)
	}
}

func TestIAMErrorsAreClassified(t *testing.T) {
	isolateAWS(t)
	envCreds(t)
	fake := fakecloud.NewIAM(t, testKeyID, testSecretKey)
	fake.AddKey("bob", leakedKeyID, "Active")
	a := iamAction(fake, "")
	ctx := context.Background()

	_, err := a.Run(ctx, iamState("mallory", leakedKeyID))
	if err == nil || !IsPermanent(err) || !strings.Contains(err.Error(), "NoSuchEntity") {
		t.Errorf("unknown user: %v (permanent %v)", err, IsPermanent(err))
	}
	_, err = a.Run(ctx, iamState("bob", "AKIANOTBOBS000000000"))
	if err == nil || !IsPermanent(err) || !strings.Contains(err.Error(), "user bob has no access key AKIA…0000") {
		t.Errorf("key of another user: %v", err)
	}

	fake.FailNext("UpdateAccessKey", fakecloud.Fault{HTTPStatus: 403, Code: "AccessDenied", Message: "not authorized to perform iam:UpdateAccessKey"})
	_, err = a.Run(ctx, iamState("bob", leakedKeyID))
	if err == nil || !IsPermanent(err) || !strings.Contains(err.Error(), "AccessDenied") {
		t.Errorf("access denied: %v", err)
	}
	fake.FailNext("UpdateAccessKey", fakecloud.Fault{HTTPStatus: 500, Code: "ServiceFailure", Message: "try again"})
	_, err = a.Run(ctx, iamState("bob", leakedKeyID))
	if err == nil || IsPermanent(err) {
		t.Errorf("server fault must be retried: %v", err)
	}
	fake.FailNext("ListAccessKeys", fakecloud.Fault{HTTPStatus: 400, Code: "Throttling", Message: "Rate exceeded"})
	_, err = a.Run(ctx, iamState("bob", leakedKeyID))
	if err == nil || IsPermanent(err) {
		t.Errorf("throttling must be retried: %v", err)
	}
	if fake.Status(leakedKeyID) != "Active" {
		t.Fatal("key changed although every update failed")
	}
}

func TestIAMWrongCredentialsAreRefused(t *testing.T) {
	isolateAWS(t)
	t.Setenv("AWS_ACCESS_KEY_ID", testKeyID)
	t.Setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret-key-at-all-000000000000000")
	fake := fakecloud.NewIAM(t, testKeyID, testSecretKey)
	fake.AddKey("bob", leakedKeyID, "Active")
	_, err := iamAction(fake, "").Run(context.Background(), iamState("bob", leakedKeyID))
	if err == nil || !IsPermanent(err) || !strings.Contains(err.Error(), "SignatureDoesNotMatch") {
		t.Fatalf("got %v", err)
	}
}

func TestIAMNamedProfile(t *testing.T) {
	isolateAWS(t)
	creds := "[default]\naws_access_key_id = AKIADEFAULT000000000\naws_secret_access_key = wrong\n\n" +
		"[incident-response]\naws_access_key_id = " + testKeyID + "\naws_secret_access_key = " + testSecretKey + "\n"
	if err := os.WriteFile(os.Getenv("AWS_SHARED_CREDENTIALS_FILE"), []byte(creds), 0o600); err != nil {
		t.Fatal(err)
	}
	fake := fakecloud.NewIAM(t, testKeyID, testSecretKey)
	fake.AddKey("bob", leakedKeyID, "Active")
	if _, err := iamAction(fake, "incident-response").Run(context.Background(), iamState("bob", leakedKeyID)); err != nil {
		t.Fatalf("named profile: %v", err)
	}
	_, err := iamAction(fake, "no-such-profile").Run(context.Background(), iamState("bob", leakedKeyID))
	if err == nil || !IsPermanent(err) || !strings.Contains(err.Error(), "no-such-profile") {
		t.Fatalf("missing profile: %v", err)
	}
}

func TestMaskKeyID(t *testing.T) {
	for in, want := range map[string]string{leakedKeyID: "AKIA…WXYZ", "ASIAY34FZKBOKMUTVV7A": "ASIA…VV7A", "short": "…"} {
		if got := MaskKeyID(in); got != want {
			t.Errorf("MaskKeyID(%q) = %q, want %q", in, got, want)
		}
	}
}
