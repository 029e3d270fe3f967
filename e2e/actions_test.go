package e2e

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	commonpb "go.temporal.io/api/common/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/proxy"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/signoff/signoff/activities/action"
	"github.com/signoff/signoff/config"
	"github.com/signoff/signoff/internal/fakecloud"
	"github.com/signoff/signoff/internal/testenv"
	"github.com/signoff/signoff/policy"
	pb "github.com/signoff/signoff/proto/signoff/v1"
	"github.com/signoff/signoff/temporal/codec"
	"github.com/signoff/signoff/workflows"
)

// Secrets of the action tests. None has a shape the redactor knows, so
// only the configured-secret path can keep them out.
const (
	e2eWebhookSecret = "whsec-e2e-9d1c4b7a2f-never-in-history"
	e2eAWSKeyID      = "AKIAE2ECALLER0000001"
	e2eAWSSecret     = "e2eAwsSecret/NeverInHistory+0123456789ab"
	e2eGitHubToken   = "gh-e2e-token-without-a-known-shape-4242"
	e2eGitHubEnv     = "SIGNOFF_E2E_GITHUB_TOKEN"
	leakedKey        = "AKIAE2ELEAKED000WXYZ"
)

// actionEnv points the AWS SDK at nothing but the test's credentials and
// sets the secrets the worker reads.
func actionEnv(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "credentials"))
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	for _, k := range []string{"AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_REGION", "AWS_DEFAULT_REGION"} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
	t.Setenv("AWS_ACCESS_KEY_ID", e2eAWSKeyID)
	t.Setenv("AWS_SECRET_ACCESS_KEY", e2eAWSSecret)
	t.Setenv("SIGNOFF_WEBHOOK_SECRET", e2eWebhookSecret)
	t.Setenv(e2eGitHubEnv, e2eGitHubToken)
}

// cloudConfig points the actions at the fakes.
func cloudConfig(iamURL, githubURL string) func(*config.Loaded) {
	return func(c *config.Loaded) {
		c.Actions.AWSIAM.Endpoint = iamURL
		c.Actions.AWSIAM.VerifyTimeout = policy.Duration(time.Second)
		c.Actions.GitHub.BaseURL = githubURL
		c.Actions.GitHub.TokenEnv = e2eGitHubEnv
		c.Actions.GitHub.AllowedRepos = []string{"acme/*"}
		c.Actions.GitHub.ApprovalIDInput = "signoff_approval_id"
		c.Codec.UIOrigin = "http://127.0.0.1:8233"
	}
}

// approve creates an approval as alice over REST, approves it as the given
// approvers and waits for the action's result.
func approve(t *testing.T, s *testenv.Stack, create string, approvers ...string) *pb.Approval {
	t.Helper()
	code, body := s.Do(http.MethodPost, "/v1/approvals", "dev-alice", create)
	require.Equal(t, http.StatusOK, code, string(body))
	id := decodeApproval(t, body).GetId()
	for _, who := range approvers {
		code, body := s.Do(http.MethodPost, "/v1/approvals/"+id+":decide", who, s.DecideBody(who, id, "DECISION_APPROVE"))
		require.Equal(t, http.StatusOK, code, string(body))
	}
	return waitAction(t, s, id, 60*time.Second)
}

func waitAction(t *testing.T, s *testenv.Stack, id string, timeout time.Duration) *pb.Approval {
	t.Helper()
	var got *pb.Approval
	testenv.Eventually(t, timeout, "the action of "+id+" to finish", func() bool {
		code, body := s.Do(http.MethodGet, "/v1/approvals/"+id, "dev-alice", "")
		require.Equal(t, http.StatusOK, code, string(body))
		got = decodeApproval(t, body)
		return got.GetActionResult() != nil && got.GetCloseTime() != nil
	})
	return got
}

func createBody(title, env string, act map[string]any) string {
	b, _ := json.Marshal(map[string]any{"title": title, "environment": env, "action": act})
	return string(b)
}

// history returns the workflow's events as Temporal stores them.
func history(t *testing.T, s *testenv.Stack, id string) []*historypb.HistoryEvent {
	t.Helper()
	iter := s.Client.GetWorkflowHistory(context.Background(), workflows.ApprovalWorkflowID(id), "", false, 0)
	var events []*historypb.HistoryEvent
	for iter.HasNext() {
		e, err := iter.Next()
		require.NoError(t, err)
		events = append(events, e)
	}
	require.NotEmpty(t, events)
	return events
}

// rawBytes is every event in its stored (wire) form.
func rawBytes(t *testing.T, events []*historypb.HistoryEvent) []byte {
	var all []byte
	for _, e := range events {
		b, err := proto.Marshal(e)
		require.NoError(t, err)
		all = append(all, b...)
	}
	return all
}

// decodedBytes is every event with each payload (inputs, results, memos,
// summaries, encoded failures) opened by c, and the number of payloads c
// opened.
func decodedBytes(t *testing.T, events []*historypb.HistoryEvent, c *codec.Codec) ([]byte, int) {
	opened := 0
	h := &historypb.History{Events: events}
	h = proto.Clone(h).(*historypb.History)
	err := proxy.VisitPayloads(context.Background(), h, proxy.VisitPayloadsOptions{
		Visitor: func(_ *proxy.VisitPayloadsContext, ps []*commonpb.Payload) ([]*commonpb.Payload, error) {
			for _, p := range ps {
				if string(p.GetMetadata()[codec.MetadataEncoding]) == codec.EncodingEncrypted {
					opened++
				}
			}
			return c.Decode(ps)
		},
	})
	require.NoError(t, err)
	b, err := proto.Marshal(h)
	require.NoError(t, err)
	// JSON too: decoded failure attributes are JSON with escaped text.
	j, err := protojson.Marshal(h)
	require.NoError(t, err)
	return append(b, j...), opened
}

// leakyWebhook answers with the very secrets the worker holds, as a
// careless receiver echoing its configuration might.
func leakyWebhook(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "deployed; debug: signing secret %s, aws_secret_access_key=%s", e2eWebhookSecret, e2eAWSSecret)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestSecretsStayOutOfHistory runs every action type through the REST API
// with payload encryption on, then reads the stored history: no secret the
// worker holds appears in it (raw or decrypted) or in the logs, even where
// a remote echoed it back, and the request title is not readable without
// the key.
func TestSecretsStayOutOfHistory(t *testing.T) {
	actionEnv(t)
	codecKey := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0x5a}, 32))
	t.Setenv(codec.EnvKeys, "e2e-2026:"+codecKey)
	iam := fakecloud.NewIAM(t, e2eAWSKeyID, e2eAWSSecret)
	iam.AddKey("bob", leakedKey, "Active")
	gh := fakecloud.NewGitHub(t, e2eGitHubToken)
	hook := leakyWebhook(t)
	// At debug: the worker logs the bodies remotes answer with at debug,
	// and the log scan below must cover them.
	s := testenv.Start(t, testenv.Options{LogLevel: slog.LevelDebug, Mutate: cloudConfig(iam.URL, gh.URL)})

	const title = "Contain incident e2e-title-7f3a"
	ids := map[string]string{}

	webhook := approve(t, s, createBody(title+" (webhook)", "staging", map[string]any{"type": "webhook", "url": hook.URL + "/deploy"}), "dev-bob")
	require.True(t, webhook.GetActionResult().GetSuccess(), webhook.GetActionResult().String())
	require.Equal(t, "HTTP 200 OK", webhook.GetActionResult().GetOutput(), "the response body (full of secrets) is never shown")
	ids["webhook"] = webhook.GetId()

	// Production needs two approvers.
	key := approve(t, s, createBody(title+" (iam)", "production", map[string]any{
		"type": action.IAMDeactivateKeyType, "params": map[string]string{"user_name": "bob", "access_key_id": leakedKey},
	}), "dev-bob", "dev-carol")
	require.True(t, key.GetActionResult().GetSuccess(), key.GetActionResult().String())
	require.Equal(t, "access key AKIA…WXYZ of user bob is now Inactive", key.GetActionResult().GetOutput())
	require.Equal(t, "Inactive", iam.Status(leakedKey))
	require.Len(t, iam.Calls("UpdateAccessKey"), 1, "IAM must see exactly one UpdateAccessKey")
	ids["iam"] = key.GetId()

	dispatchAct := map[string]any{"type": action.GitHubDispatchType, "params": map[string]string{
		"owner": "acme", "repo": "api", "workflow": "deploy.yml", "ref": "main", "input.version": "2.3.0",
	}}
	dispatched := approve(t, s, createBody(title+" (github)", "staging", dispatchAct), "dev-bob")
	require.True(t, dispatched.GetActionResult().GetSuccess(), dispatched.GetActionResult().String())
	require.Len(t, gh.Dispatches(), 1)
	require.Equal(t, map[string]string{"version": "2.3.0", "signoff_approval_id": dispatched.GetId()}, gh.Dispatches()[0].Inputs)
	ids["github"] = dispatched.GetId()

	// A proxy in front of GitHub that echoes the token in its refusal: the
	// failure (final, a 401) is recorded redacted.
	gh.AnswerNext(fakecloud.Answer{Status: 401, Body: `{"message":"token ` + e2eGitHubToken + ` is not valid"}`})
	refused := approve(t, s, createBody(title+" (github refused)", "staging", dispatchAct), "dev-bob")
	require.False(t, refused.GetActionResult().GetSuccess())
	require.Contains(t, refused.GetActionResult().GetError(), "HTTP 401: token [redacted] is not valid")
	ids["github refused"] = refused.GetId()

	keys, err := codec.ParseKeys("e2e-2026:" + codecKey)
	require.NoError(t, err)
	c, err := codec.New(keys...)
	require.NoError(t, err)
	secrets := map[string]string{
		"webhook secret": e2eWebhookSecret, "AWS secret key": e2eAWSSecret,
		"GitHub token": e2eGitHubToken, "codec key": codecKey,
	}
	for name, id := range ids {
		events := history(t, s, id)
		raw := rawBytes(t, events)
		decoded, opened := decodedBytes(t, events, c)
		require.Positive(t, opened, "%s: nothing in history was encrypted", name)
		for what, secret := range secrets {
			require.False(t, bytes.Contains(raw, []byte(secret)), "%s: %s in stored history", name, what)
			require.False(t, bytes.Contains(decoded, []byte(secret)), "%s: %s in decrypted history", name, what)
		}
		require.False(t, bytes.Contains(raw, []byte("e2e-title-7f3a")), "%s: request title readable in stored history", name)
		// The scan sees inside payloads: decrypted, the title is there.
		require.True(t, bytes.Contains(decoded, []byte("e2e-title-7f3a")), "%s: title not found in decrypted history", name)
	}
	logs := s.Logs.String()
	// The leaky webhook's answer was logged (redacted) where the scan reads.
	require.Contains(t, logs, "webhook response")
	for what, secret := range secrets {
		require.NotContains(t, logs, secret, "%s in the logs", what)
	}

	t.Run("the gateway's codec server opens stored payloads for the Web UI", func(t *testing.T) {
		started := history(t, s, ids["iam"])[0].GetWorkflowExecutionStartedEventAttributes()
		body, err := protojson.Marshal(started.GetInput())
		require.NoError(t, err)
		require.NotContains(t, string(body), "e2e-title-7f3a")
		// Decoding takes the codec role or admin: bob decides approvals
		// but may not open every payload.
		require.Equal(t, http.StatusForbidden, codecRequest(t, s, "dev-bob", body).code)
		resp := codecRequest(t, s, "dev-dana", body)
		require.Equal(t, http.StatusOK, resp.code, resp.body)
		require.Equal(t, "http://127.0.0.1:8233", resp.allowOrigin)
		var out commonpb.Payloads
		require.NoError(t, protojson.Unmarshal([]byte(resp.body), &out))
		require.Contains(t, string(out.GetPayloads()[0].GetData()), "e2e-title-7f3a")
		require.Equal(t, http.StatusUnauthorized, codecRequest(t, s, "", body).code)
	})

	t.Run("lists and repeated creates read the encrypted memo", func(t *testing.T) {
		create := `{"request_id":"e2e-codec-1","title":"` + title + ` (repeat)","environment":"staging"}`
		code, body := s.Do(http.MethodPost, "/v1/approvals", "dev-alice", create)
		require.Equal(t, http.StatusOK, code, string(body))
		first := decodeApproval(t, body).GetId()
		code, body = s.Do(http.MethodPost, "/v1/approvals", "dev-alice", create)
		require.Equal(t, http.StatusOK, code, string(body))
		require.Equal(t, first, decodeApproval(t, body).GetId())
		testenv.Eventually(t, 30*time.Second, "the list to show the title", func() bool {
			code, body := s.Do(http.MethodGet, "/v1/approvals?requester=alice", "dev-bob", "")
			require.Equal(t, http.StatusOK, code, string(body))
			return strings.Contains(string(body), title+" (repeat)")
		})
	})
}

type codecResponse struct {
	code        int
	body        string
	allowOrigin string
}

func codecRequest(t *testing.T, s *testenv.Stack, token string, body []byte) codecResponse {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.HTTPURL+"/codec/decode", bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Origin", "http://127.0.0.1:8233")
	req.Header.Set("X-Namespace", "default")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return codecResponse{resp.StatusCode, string(b), resp.Header.Get("Access-Control-Allow-Origin")}
}

// TestActionsIAMLooksFirstAndVerifies: an already inactive key is success
// without a change; a key IAM keeps reporting active after the update is a
// loud failure that is not retried.
func TestActionsIAMLooksFirstAndVerifies(t *testing.T) {
	actionEnv(t)
	iam := fakecloud.NewIAM(t, e2eAWSKeyID, e2eAWSSecret)
	const inactive, stuck = "AKIAE2EINACTIVE0AAAA", "AKIAE2ESTUCK0000BBBB"
	iam.AddKey("carol", inactive, "Inactive")
	iam.AddKey("carol", stuck, "Active")
	gh := fakecloud.NewGitHub(t, e2eGitHubToken)
	s := testenv.Start(t, testenv.Options{Mutate: cloudConfig(iam.URL, gh.URL)})
	deactivate := func(key string) string {
		return createBody("Deactivate "+key, "staging", map[string]any{
			"type": action.IAMDeactivateKeyType, "params": map[string]string{"user_name": "carol", "access_key_id": key},
		})
	}

	got := approve(t, s, deactivate(inactive), "dev-bob")
	require.True(t, got.GetActionResult().GetSuccess(), got.GetActionResult().String())
	require.Equal(t, "access key AKIA…AAAA of user carol was already Inactive; nothing changed", got.GetActionResult().GetOutput())
	require.Empty(t, iam.Calls("UpdateAccessKey"))

	iam.IgnoreUpdates(true)
	got = approve(t, s, deactivate(stuck), "dev-bob")
	res := got.GetActionResult()
	require.False(t, res.GetSuccess())
	require.Contains(t, res.GetError(), "access key AKIA…BBBB of user carol is STILL ACTIVE")
	require.NotContains(t, res.GetError(), stuck, "the whole key ID in the result")
	require.Len(t, iam.Calls("UpdateAccessKey"), 1, "a failed verify must not be retried")
	require.Equal(t, "Active", iam.Status(stuck))

	t.Run("bad params are refused at create time", func(t *testing.T) {
		code, body := s.Do(http.MethodPost, "/v1/approvals", "dev-alice", createBody("x", "staging", map[string]any{
			"type": action.IAMDeactivateKeyType, "params": map[string]string{"user_name": "carol", "access_key_id": "not-a-key"},
		}))
		require.Equal(t, http.StatusBadRequest, code, string(body))
		require.Contains(t, string(body), "access_key_id must look like an access key ID")
		code, body = s.Do(http.MethodPost, "/v1/approvals", "dev-alice", createBody("x", "staging", map[string]any{
			"type": action.GitHubDispatchType, "params": map[string]string{"owner": "evil", "repo": "x", "workflow": "a.yml", "ref": "main"},
		}))
		require.Equal(t, http.StatusBadRequest, code, string(body))
		require.Contains(t, string(body), "not allowed")
	})
}

// onceReceiver is a webhook receiver that applies each Idempotency-Key
// once. It holds its first call until released, so the test can stop the
// worker while the call is in flight: the side effect happened, the answer
// never reaches the worker.
type onceReceiver struct {
	secret    []byte
	firstCall chan struct{}
	release   chan struct{}

	mu        sync.Mutex
	keys      []string
	applied   map[string]int
	badSigned int
}

func (rc *onceReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	mac := hmac.New(sha256.New, rc.secret)
	mac.Write([]byte(r.Header.Get(action.TimestampHeader) + "."))
	mac.Write(body)
	key := r.Header.Get("Idempotency-Key")
	rc.mu.Lock()
	if !hmac.Equal([]byte(r.Header.Get(action.SignatureHeader)), []byte("sha256="+hex.EncodeToString(mac.Sum(nil)))) {
		rc.badSigned++
	}
	rc.keys = append(rc.keys, key)
	first := len(rc.keys) == 1
	rc.applied[key]++
	duplicate := rc.applied[key] > 1
	if duplicate {
		rc.applied[key]--
	}
	rc.mu.Unlock()
	if first {
		close(rc.firstCall)
		<-rc.release
	}
	if duplicate {
		w.WriteHeader(http.StatusAlreadyReported) // the output shows the status only
		fmt.Fprint(w, "duplicate delivery ignored")
		return
	}
	fmt.Fprint(w, "applied")
}

func (rc *onceReceiver) snapshot() (calls int, distinct map[string]bool, applied map[string]int, badSigned int) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	distinct = map[string]bool{}
	for _, k := range rc.keys {
		distinct[k] = true
	}
	applied = map[string]int{}
	for k, v := range rc.applied {
		applied[k] = v
	}
	return len(rc.keys), distinct, applied, rc.badSigned
}

// TestExactlyOnceWebhookAcrossWorkerCrash: the worker process is SIGKILLed
// while the webhook call is in flight (the receiver applied it, the answer
// never comes back); a new worker process retries it with the same
// Idempotency-Key, so the receiver applies it once and the approval records
// success.
func TestExactlyOnceWebhookAcrossWorkerCrash(t *testing.T) {
	opts := testenv.Options{NoWorker: true}
	// In the worker processes this test starts, the test is the worker;
	// they inherit the environment set below.
	if testenv.ServeWorkerProcess(t, opts) {
		return
	}
	t.Setenv("SIGNOFF_WEBHOOK_SECRET", e2eWebhookSecret)
	rc, receiverURL, release := startOnceReceiver(t)
	s := testenv.Start(t, opts)
	first := s.StartWorkerProcess("TestExactlyOnceWebhookAcrossWorkerCrash")

	code, body := s.Do(http.MethodPost, "/v1/approvals", "dev-alice",
		createBody("Deploy api e2e-once", "staging", map[string]any{"type": "webhook", "url": receiverURL + "/deploy"}))
	require.Equal(t, http.StatusOK, code, string(body))
	id := decodeApproval(t, body).GetId()
	code, body = s.Do(http.MethodPost, "/v1/approvals/"+id+":decide", "dev-bob", s.DecideBody("dev-bob", id, "DECISION_APPROVE"))
	require.Equal(t, http.StatusOK, code, string(body))

	// The receiver holds the first call until the worker is dead.
	select {
	case <-rc.firstCall:
	case <-time.After(60 * time.Second):
		t.Fatal("the webhook was never called")
	}
	first.Kill()
	exited, err := first.Exited()
	require.True(t, exited)
	require.ErrorContains(t, err, "killed", "the worker died of SIGKILL, not on its own")
	release() // the receiver applies the call; its answer goes nowhere
	s.StartWorkerProcess("TestExactlyOnceWebhookAcrossWorkerCrash")

	// The killed call is retried once its heartbeat times out (30 s).
	got := waitAction(t, s, id, 2*time.Minute)
	require.True(t, got.GetActionResult().GetSuccess(), got.GetActionResult().String())
	require.Equal(t, "HTTP 208 Already Reported", got.GetActionResult().GetOutput(), "the result is the retried call's")
	calls, distinct, applied, badSigned := rc.snapshot()
	require.GreaterOrEqual(t, calls, 2, "the call was not retried")
	require.Len(t, distinct, 1, "every delivery carries the same Idempotency-Key")
	require.True(t, distinct[id], "the Idempotency-Key is the approval ID")
	require.Equal(t, map[string]int{id: 1}, applied, "the receiver applied the action once")
	require.Zero(t, badSigned, "every delivery is signed with the webhook secret")
}
