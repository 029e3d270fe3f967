package fakecloud_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	sm "github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/aws/smithy-go"

	"github.com/signoff/signoff/internal/fakecloud"
)

const (
	smKeyID     = "AKIAIOSFODNN7EXAMPLE"
	smSecretKey = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
	// Tokens as the SDK would make them: 32 to 64 characters.
	token1 = "00000000-0000-4000-8000-000000000001"
	token2 = "00000000-0000-4000-8000-000000000002"
	token3 = "00000000-0000-4000-8000-000000000003"
)

// smClient is the real SDK client pointed at the fake, making up to
// attempts attempts per call without waiting between them.
func smClient(f *fakecloud.SecretsManager, keyID, secretKey string, attempts int) *sm.Client {
	return sm.New(sm.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(f.URL),
		Credentials:  credentials.NewStaticCredentialsProvider(keyID, secretKey, ""),
		Retryer: retry.NewStandard(func(o *retry.StandardOptions) {
			o.MaxAttempts = attempts
			o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return 0, nil })
		}),
	})
}

func newSM(t *testing.T) (*fakecloud.SecretsManager, *sm.Client) {
	f := fakecloud.NewSecretsManager(t, smKeyID, smSecretKey)
	return f, smClient(f, smKeyID, smSecretKey, 1)
}

// wantCode fails the test unless err is an API error with code.
func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) || apiErr.ErrorCode() != code {
		t.Fatalf("want %s, got %v", code, err)
	}
}

func TestSecretsManagerVersions(t *testing.T) {
	f, c := newSM(t)
	ctx := context.Background()

	created, err := c.CreateSecret(ctx, &sm.CreateSecretInput{Name: aws.String("prod/db"), SecretString: aws.String("v1"),
		ClientRequestToken: aws.String(token1), Description: aws.String("the database")})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(created.VersionId) != token1 || !strings.HasPrefix(aws.ToString(created.ARN), "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db-") {
		t.Fatalf("CreateSecret answered %+v", created)
	}
	arn := aws.ToString(created.ARN)

	got, err := c.GetSecretValue(ctx, &sm.GetSecretValueInput{SecretId: aws.String("prod/db")})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(got.SecretString) != "v1" || aws.ToString(got.VersionId) != token1 || aws.ToString(got.ARN) != arn ||
		aws.ToString(got.Name) != "prod/db" || strings.Join(got.VersionStages, ",") != "AWSCURRENT" {
		t.Fatalf("GetSecretValue answered %+v", got)
	}
	if d := time.Since(aws.ToTime(got.CreatedDate)); d < 0 || d > time.Minute {
		t.Fatalf("CreatedDate %v", got.CreatedDate)
	}

	put, err := c.PutSecretValue(ctx, &sm.PutSecretValueInput{SecretId: aws.String("prod/db"), SecretString: aws.String("v2"), ClientRequestToken: aws.String(token2)})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(put.VersionId) != token2 || strings.Join(put.VersionStages, ",") != "AWSCURRENT" || aws.ToString(put.ARN) != arn {
		t.Fatalf("PutSecretValue answered %+v", put)
	}
	// The previous version keeps its value under AWSPREVIOUS, found by
	// stage or by ID, and by the secret's ARN or partial ARN as well.
	for _, in := range []*sm.GetSecretValueInput{
		{SecretId: aws.String("prod/db"), VersionStage: aws.String("AWSPREVIOUS")},
		{SecretId: aws.String(arn), VersionId: aws.String(token1)},
		{SecretId: aws.String(arn[:len(arn)-7]), VersionId: aws.String(token1), VersionStage: aws.String("AWSPREVIOUS")},
	} {
		prev, err := c.GetSecretValue(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		if aws.ToString(prev.SecretString) != "v1" || strings.Join(prev.VersionStages, ",") != "AWSPREVIOUS" {
			t.Fatalf("previous version: %+v", prev)
		}
	}
	_, err = c.GetSecretValue(ctx, &sm.GetSecretValueInput{SecretId: aws.String("prod/db"), VersionId: aws.String(token1), VersionStage: aws.String("AWSCURRENT")})
	wantCode(t, err, "InvalidRequestException")
	_, err = c.GetSecretValue(ctx, &sm.GetSecretValueInput{SecretId: aws.String("prod/db"), VersionId: aws.String(token3)})
	wantCode(t, err, "ResourceNotFoundException")

	// A third version: the first loses its labels (deprecated).
	if _, err := c.PutSecretValue(ctx, &sm.PutSecretValueInput{SecretId: aws.String(arn), SecretString: aws.String("v3"), ClientRequestToken: aws.String(token3)}); err != nil {
		t.Fatal(err)
	}
	desc, err := c.DescribeSecret(ctx, &sm.DescribeSecretInput{SecretId: aws.String("prod/db")})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(desc.Description) != "the database" || desc.DeletedDate != nil || len(desc.VersionIdsToStages) != 2 ||
		strings.Join(desc.VersionIdsToStages[token3], ",") != "AWSCURRENT" || strings.Join(desc.VersionIdsToStages[token2], ",") != "AWSPREVIOUS" {
		t.Fatalf("DescribeSecret answered %+v", desc)
	}
	list, err := c.ListSecretVersionIds(ctx, &sm.ListSecretVersionIdsInput{SecretId: aws.String("prod/db")})
	if err != nil {
		t.Fatal(err)
	}
	if ids := versionIDs(list.Versions); ids != token2+","+token3 {
		t.Fatalf("ListSecretVersionIds: %s", ids)
	}
	// All of them, two a page.
	var all []smtypes.SecretVersionsListEntry
	p := sm.NewListSecretVersionIdsPaginator(c, &sm.ListSecretVersionIdsInput{SecretId: aws.String("prod/db"), IncludeDeprecated: aws.Bool(true), MaxResults: aws.Int32(2)})
	for pages := 0; p.HasMorePages(); pages++ {
		page, err := p.NextPage(ctx)
		if err != nil || pages > 2 {
			t.Fatal(pages, err)
		}
		all = append(all, page.Versions...)
	}
	if ids := versionIDs(all); ids != token1+","+token2+","+token3 || len(all[0].VersionStages) != 0 {
		t.Fatalf("ListSecretVersionIds with deprecated versions: %s %v", ids, all[0].VersionStages)
	}

	if v, ok := f.Secret("prod/db"); !ok || v != "v3" || f.Versions("prod/db") != 3 {
		t.Fatalf("Secret = %q %v, Versions = %d", v, ok, f.Versions("prod/db"))
	}
	if f.Calls("PutSecretValue") != 2 || f.Calls("GetSecretValue") != 6 || f.Calls("") != 13 {
		t.Fatalf("calls: put %d get %d all %d", f.Calls("PutSecretValue"), f.Calls("GetSecretValue"), f.Calls(""))
	}
}

func versionIDs(vs []smtypes.SecretVersionsListEntry) string {
	var ids []string
	for _, v := range vs {
		ids = append(ids, aws.ToString(v.VersionId))
	}
	return strings.Join(ids, ",")
}

func TestSecretsManagerCreate(t *testing.T) {
	f, c := newSM(t)
	ctx := context.Background()

	// A secret with no value yet has no AWSCURRENT version.
	if _, err := c.CreateSecret(ctx, &sm.CreateSecretInput{Name: aws.String("empty")}); err != nil {
		t.Fatal(err)
	}
	_, err := c.GetSecretValue(ctx, &sm.GetSecretValueInput{SecretId: aws.String("empty")})
	wantCode(t, err, "ResourceNotFoundException")
	if _, ok := f.Secret("empty"); ok || f.Versions("empty") != 0 {
		t.Fatal("an empty secret has a value")
	}

	in := &sm.CreateSecretInput{Name: aws.String("api-key"), SecretString: aws.String("k1"), ClientRequestToken: aws.String(token1)}
	first, err := c.CreateSecret(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	// The same create again (a retry) is answered with what was created.
	again, err := c.CreateSecret(ctx, in)
	if err != nil || aws.ToString(again.ARN) != aws.ToString(first.ARN) || aws.ToString(again.VersionId) != token1 {
		t.Fatalf("retried CreateSecret: %+v, %v", again, err)
	}
	// Another create of the name is refused.
	_, err = c.CreateSecret(ctx, &sm.CreateSecretInput{Name: aws.String("api-key"), SecretString: aws.String("k2")})
	var exists *smtypes.ResourceExistsException
	if !errors.As(err, &exists) {
		t.Fatalf("want ResourceExistsException, got %v", err)
	}
	if v, _ := f.Secret("api-key"); v != "k1" || f.Versions("api-key") != 1 {
		t.Fatalf("secret %q, %d versions", v, f.Versions("api-key"))
	}

	_, err = c.CreateSecret(ctx, &sm.CreateSecretInput{Name: aws.String("bad name!"), SecretString: aws.String("x")})
	wantCode(t, err, "InvalidParameterException")
	// AWS wants request tokens of 32 to 64 characters.
	_, err = c.PutSecretValue(ctx, &sm.PutSecretValueInput{SecretId: aws.String("api-key"), SecretString: aws.String("k2"), ClientRequestToken: aws.String("01JTESTAPPROVAL0000000000")})
	wantCode(t, err, "ValidationException")
	_, err = c.GetSecretValue(ctx, &sm.GetSecretValueInput{SecretId: aws.String("nope")})
	var notFound *smtypes.ResourceNotFoundException
	if !errors.As(err, &notFound) {
		t.Fatalf("want ResourceNotFoundException, got %v", err)
	}

	// AddSecret seeds versions as PutSecretValue would.
	id := f.AddSecret("seeded", "s1")
	f.AddSecret("seeded", "s2")
	prev, err := c.GetSecretValue(ctx, &sm.GetSecretValueInput{SecretId: aws.String("seeded"), VersionStage: aws.String("AWSPREVIOUS")})
	if err != nil || aws.ToString(prev.SecretString) != "s1" || aws.ToString(prev.VersionId) != id {
		t.Fatalf("seeded previous version: %+v, %v", prev, err)
	}
}

func TestSecretsManagerIdempotentPut(t *testing.T) {
	f, c := newSM(t)
	ctx := context.Background()
	f.AddSecret("prod/db", "old")

	in := &sm.PutSecretValueInput{SecretId: aws.String("prod/db"), SecretString: aws.String("new"), ClientRequestToken: aws.String(token1)}
	first, err := c.PutSecretValue(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	// A retry with the same token and value writes nothing.
	again, err := c.PutSecretValue(ctx, in)
	if err != nil || aws.ToString(again.VersionId) != aws.ToString(first.VersionId) || strings.Join(again.VersionStages, ",") != "AWSCURRENT" {
		t.Fatalf("retried PutSecretValue: %+v, %v", again, err)
	}
	// The same token with another value is refused.
	_, err = c.PutSecretValue(ctx, &sm.PutSecretValueInput{SecretId: aws.String("prod/db"), SecretString: aws.String("other"), ClientRequestToken: aws.String(token1)})
	var exists *smtypes.ResourceExistsException
	if !errors.As(err, &exists) {
		t.Fatalf("want ResourceExistsException, got %v", err)
	}
	if v, _ := f.Secret("prod/db"); v != "new" || f.Versions("prod/db") != 2 || f.Calls("PutSecretValue") != 3 {
		t.Fatalf("secret %q, %d versions, %d calls", v, f.Versions("prod/db"), f.Calls("PutSecretValue"))
	}
	prev, err := c.GetSecretValue(ctx, &sm.GetSecretValueInput{SecretId: aws.String("prod/db"), VersionStage: aws.String("AWSPREVIOUS")})
	if err != nil || aws.ToString(prev.SecretString) != "old" {
		t.Fatalf("AWSPREVIOUS: %+v, %v", prev, err)
	}
}

func TestSecretsManagerOutage(t *testing.T) {
	f := fakecloud.NewSecretsManager(t, smKeyID, smSecretKey)
	f.AddSecret("prod/db", "old")
	ctx := context.Background()
	c := smClient(f, smKeyID, smSecretKey, 3)

	// Two 500s: the SDK's retries get through, and the value is written
	// exactly once.
	f.FailNext("PutSecretValue", 2)
	if _, err := c.PutSecretValue(ctx, &sm.PutSecretValueInput{SecretId: aws.String("prod/db"), SecretString: aws.String("new")}); err != nil {
		t.Fatal(err)
	}
	if v, _ := f.Secret("prod/db"); v != "new" || f.Versions("prod/db") != 2 || f.Calls("PutSecretValue") != 3 {
		t.Fatalf("secret %q, %d versions, %d calls", v, f.Versions("prod/db"), f.Calls("PutSecretValue"))
	}

	// Longer than the retries: the call fails and nothing changes.
	f.FailNext("PutSecretValue", 3)
	_, err := c.PutSecretValue(ctx, &sm.PutSecretValueInput{SecretId: aws.String("prod/db"), SecretString: aws.String("newer")})
	var ise *smtypes.InternalServiceError
	if !errors.As(err, &ise) {
		t.Fatalf("want InternalServiceError, got %v", err)
	}
	if v, _ := f.Secret("prod/db"); v != "new" || f.Versions("prod/db") != 2 || f.Calls("PutSecretValue") != 6 {
		t.Fatalf("secret %q, %d versions, %d calls", v, f.Versions("prod/db"), f.Calls("PutSecretValue"))
	}

	// Other faults, other operations.
	f.FailNextWith("GetSecretValue", fakecloud.Fault{HTTPStatus: 400, Code: "AccessDeniedException", Message: "no"})
	_, err = c.GetSecretValue(ctx, &sm.GetSecretValueInput{SecretId: aws.String("prod/db")})
	wantCode(t, err, "AccessDeniedException")
}

// TestSecretsManagerHold loses the answer of a write that went through, as
// when the caller dies mid-call: the retry with the same token finds it.
func TestSecretsManagerHold(t *testing.T) {
	f, c := newSM(t)
	f.AddSecret("prod/db", "old")
	hold := f.HoldNext("PutSecretValue")

	ctx, cancel := context.WithCancel(context.Background())
	in := &sm.PutSecretValueInput{SecretId: aws.String("prod/db"), SecretString: aws.String("new"), ClientRequestToken: aws.String(token1)}
	done := make(chan error, 1)
	go func() {
		_, err := c.PutSecretValue(ctx, in)
		done <- err
	}()
	<-hold.Reached()
	if v, _ := f.Secret("prod/db"); v != "old" {
		t.Fatalf("a held write was applied: %q", v)
	}
	cancel() // the caller gives up
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("want a canceled call, got %v", err)
	}
	hold.Release()
	select {
	case <-hold.Applied():
	case <-time.After(5 * time.Second):
		t.Fatal("the released write was not applied")
	}

	out, err := c.PutSecretValue(context.Background(), in)
	if err != nil || aws.ToString(out.VersionId) != token1 {
		t.Fatalf("retry: %+v, %v", out, err)
	}
	if v, _ := f.Secret("prod/db"); v != "new" || f.Versions("prod/db") != 2 {
		t.Fatalf("secret %q, %d versions", v, f.Versions("prod/db"))
	}

	// A hold never released is released when the test ends.
	f.HoldNext("GetSecretValue")
	go func() {
		_, _ = c.GetSecretValue(context.Background(), &sm.GetSecretValueInput{SecretId: aws.String("prod/db")})
	}()
}

func TestSecretsManagerCredentials(t *testing.T) {
	f := fakecloud.NewSecretsManager(t, smKeyID, smSecretKey)
	f.AddSecret("prod/db", "v")
	ctx := context.Background()
	in := &sm.GetSecretValueInput{SecretId: aws.String("prod/db")}

	_, err := smClient(f, smKeyID, "not-the-secret-key", 1).GetSecretValue(ctx, in)
	wantCode(t, err, "InvalidSignatureException")
	_, err = smClient(f, "AKIAOTHERKEY00000000", smSecretKey, 1).GetSecretValue(ctx, in)
	wantCode(t, err, "UnrecognizedClientException")
	if n := f.Calls(""); n != 0 {
		t.Fatalf("%d refused calls counted", n)
	}

	// Unsigned, on the wire: a JSON error with its __type.
	req, _ := http.NewRequest(http.MethodPost, f.URL, strings.NewReader(`{"SecretId":"prod/db"}`))
	req.Header.Set("X-Amz-Target", "secretsmanager.GetSecretValue")
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 400 || !strings.Contains(string(body), `"__type":"MissingAuthenticationTokenException"`) {
		t.Fatalf("unsigned call: %d %s", resp.StatusCode, body)
	}
}

func TestSecretsManagerDelete(t *testing.T) {
	f, c := newSM(t)
	ctx := context.Background()
	f.AddSecret("prod/db", "v")
	id := aws.String("prod/db")

	_, err := c.DeleteSecret(ctx, &sm.DeleteSecretInput{SecretId: id, RecoveryWindowInDays: aws.Int64(3)})
	wantCode(t, err, "InvalidParameterException")
	_, err = c.DeleteSecret(ctx, &sm.DeleteSecretInput{SecretId: id, RecoveryWindowInDays: aws.Int64(7), ForceDeleteWithoutRecovery: aws.Bool(true)})
	wantCode(t, err, "InvalidParameterException")

	// Scheduled: the value can't be read or written, the name not reused,
	// but the secret is still described.
	del, err := c.DeleteSecret(ctx, &sm.DeleteSecretInput{SecretId: id})
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Until(aws.ToTime(del.DeletionDate)); d < 29*24*time.Hour || d > 30*24*time.Hour {
		t.Fatalf("DeletionDate in %v", d)
	}
	_, err = c.GetSecretValue(ctx, &sm.GetSecretValueInput{SecretId: id})
	wantCode(t, err, "InvalidRequestException")
	_, err = c.PutSecretValue(ctx, &sm.PutSecretValueInput{SecretId: id, SecretString: aws.String("w")})
	wantCode(t, err, "InvalidRequestException")
	_, err = c.CreateSecret(ctx, &sm.CreateSecretInput{Name: id, SecretString: aws.String("w")})
	wantCode(t, err, "InvalidRequestException")
	_, err = c.DeleteSecret(ctx, &sm.DeleteSecretInput{SecretId: id})
	wantCode(t, err, "InvalidRequestException")
	desc, err := c.DescribeSecret(ctx, &sm.DescribeSecretInput{SecretId: id})
	if err != nil || desc.DeletedDate == nil {
		t.Fatalf("DescribeSecret of a deleted secret: %+v, %v", desc, err)
	}
	if _, ok := f.Secret("prod/db"); ok {
		t.Fatal("a deleted secret has a value")
	}

	// Forced: gone at once, the name free again.
	if _, err := c.DeleteSecret(ctx, &sm.DeleteSecretInput{SecretId: id, ForceDeleteWithoutRecovery: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	_, err = c.GetSecretValue(ctx, &sm.GetSecretValueInput{SecretId: id})
	wantCode(t, err, "ResourceNotFoundException")
	_, err = c.DescribeSecret(ctx, &sm.DescribeSecretInput{SecretId: id})
	wantCode(t, err, "ResourceNotFoundException")
	if f.Versions("prod/db") != 0 {
		t.Fatal("versions left")
	}
	// A forced delete of what is not there succeeds (so retries do); a
	// scheduled one does not.
	if _, err := c.DeleteSecret(ctx, &sm.DeleteSecretInput{SecretId: id, ForceDeleteWithoutRecovery: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	_, err = c.DeleteSecret(ctx, &sm.DeleteSecretInput{SecretId: id})
	wantCode(t, err, "ResourceNotFoundException")
	if _, err := c.CreateSecret(ctx, &sm.CreateSecretInput{Name: id, SecretString: aws.String("again")}); err != nil {
		t.Fatal(err)
	}
	if v, ok := f.Secret("prod/db"); !ok || v != "again" {
		t.Fatalf("recreated secret %q %v", v, ok)
	}
}
