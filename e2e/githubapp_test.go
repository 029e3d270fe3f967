package e2e

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	githubcallbacks "github.com/signoff/signoff/channel/github/callbacks"
	"github.com/signoff/signoff/channel/github/githubmsg"
	"github.com/signoff/signoff/config"
	"github.com/signoff/signoff/intake"
	"github.com/signoff/signoff/internal/fakecloud"
	"github.com/signoff/signoff/internal/testenv"
	pb "github.com/signoff/signoff/proto/signoff/v1"
)

// The GitHub App of the test.
const (
	e2eAppID           = 987654
	e2eInstallation    = 31415926
	e2eAppSecret       = "e2e-github-app-webhook-secret-5f2b"
	e2eAppRequester    = "github-app"
	e2eAppRepo         = "octo-org/api"
	e2eCanaryDeadline  = "4s"
	e2eGitHubAppConfig = `notifiers: [log, github_deployments]
github_app:
  app_id: %d
  base_url: %s
  requester: ` + e2eAppRequester + `
  allowed_repos: ["octo-org/*"]
  environments:
    preview: canary
`
)

// githubAppStack is the stack as a GitHub App protection rule reporting
// to fake GitHub gh: users gain the app's identity (no token), policies a
// canary one whose deadline is short.
func githubAppStack(t *testing.T, gh *fakecloud.GitHub, key *rsa.PrivateKey) *testenv.Stack {
	t.Helper()
	env := map[string]string{
		config.DefaultGitHubAppWebhookSecretEnv: e2eAppSecret,
		config.DefaultGitHubAppPrivateKeyEnv:    string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})),
	}
	// The gateway reads the webhook secret from the process environment.
	setEnv(t, env)
	yaml := testenv.StackConfig
	for _, s := range []string{"notifiers: [log]", "\npolicies:\n", "  - name: default\n"} {
		require.Contains(t, yaml, s)
	}
	yaml = strings.Replace(yaml, "notifiers: [log]", fmt.Sprintf(e2eGitHubAppConfig, e2eAppID, gh.URL), 1)
	yaml = strings.Replace(yaml, "\npolicies:\n", "\n  - name: "+e2eAppRequester+"\n\npolicies:\n", 1)
	// carol is octocat on GitHub: the deployments she sets off are hers.
	require.Contains(t, yaml, "slack_id: U0CAROL\n")
	yaml = strings.Replace(yaml, "slack_id: U0CAROL\n", "slack_id: U0CAROL\n    github_login: OctoCat\n", 1)
	yaml = strings.Replace(yaml, "  - name: default\n", `  - name: canary
    match: { environment: canary }
    approvers: { groups: [platform] }
    required_approvals: 1
    deadline: `+e2eCanaryDeadline+`
  - name: default
`, 1)
	return testenv.Start(t, testenv.Options{ConfigYAML: yaml, Env: env})
}

// deploymentEvent is a deployment_protection_rule delivery in the shape of
// GitHub's documented example, for run runID waiting at environment.
func deploymentEvent(t *testing.T, gh *fakecloud.GitHub, repo, environment string, runID, deploymentID int64) []byte {
	t.Helper()
	owner, name, _ := strings.Cut(repo, "/")
	b, err := json.Marshal(map[string]any{
		"action":                  "requested",
		"environment":             environment,
		"event":                   "push",
		"deployment_callback_url": fmt.Sprintf("%s/repos/%s/actions/runs/%d/deployment_protection_rule", gh.URL, repo, runID),
		"deployment": map[string]any{
			"url": fmt.Sprintf("%s/repos/%s/deployments/%d", gh.URL, repo, deploymentID),
			"id":  deploymentID, "node_id": "DE_kwDOE2E", "task": "deploy", "environment": environment,
			"original_environment": environment, "payload": map[string]any{},
			"ref": "main", "sha": "f95f852bd8fca8fcc58a9a2d6c842781e32a215e",
			"creator":    map[string]any{"login": "octocat", "id": 583231, "type": "User"},
			"created_at": "2026-05-15T15:20:53Z", "updated_at": "2026-05-15T15:20:53Z",
		},
		"pull_requests": []any{},
		"repository": map[string]any{
			"id": 186853002, "name": name, "full_name": repo, "private": true,
			"owner": map[string]any{"login": owner, "id": 9919, "type": "Organization"},
		},
		"installation": map[string]any{"id": e2eInstallation, "node_id": "MDIzOkludGVncmF0aW9uSW5zdGFsbGF0aW9u"},
		"sender":       map[string]any{"login": "octocat", "id": 583231, "type": "User"},
	})
	require.NoError(t, err)
	return b
}

type hookAnswer struct {
	Status     string `json:"status"`
	Message    string `json:"message"`
	ApprovalID string `json:"approval_id"`
	URL        string `json:"url"`
}

// deliver posts body to the gateway's webhook as GitHub does, signed with
// secret (unsigned when empty).
func deliver(t *testing.T, s *testenv.Stack, secret string, body []byte) (int, hookAnswer) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.HTTPURL+githubcallbacks.Route, strings.NewReader(string(body)))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "GitHub-Hookshot/e2e")
	req.Header.Set(githubcallbacks.HeaderEvent, githubcallbacks.EventDeploymentProtectionRule)
	req.Header.Set(githubcallbacks.HeaderDelivery, "e2e-"+strconv.FormatInt(time.Now().UnixNano(), 10))
	if secret != "" {
		req.Header.Set(githubcallbacks.HeaderSignature, githubcallbacks.Sign([]byte(secret), body))
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var a hookAnswer
	require.NoError(t, json.Unmarshal(raw, &a), string(raw))
	return resp.StatusCode, a
}

func getApproval(t *testing.T, s *testenv.Stack, token, id string) (int, *pb.Approval) {
	t.Helper()
	code, body := s.Do(http.MethodGet, "/v1/approvals/"+id, token, "")
	if code != http.StatusOK {
		return code, nil
	}
	return code, decodeApproval(t, body)
}

// TestGitHubDeploymentProtectionRule: GitHub's deployment_protection_rule
// webhook, signed with the app's secret, starts an approval; GitHub's
// redelivery finds the same one; bob approves over REST, and fake GitHub
// receives exactly one review, approved, linking the approval, made with
// an installation token the app's JWT obtained. A deployment nobody
// decides in time is rejected on GitHub when its approval expires.
// Deliveries with a bad signature, or from a repository not allowed,
// start nothing.
func TestGitHubDeploymentProtectionRule(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	gh := fakecloud.NewGitHub(t, "unused-dispatch-token")
	gh.InstallApp(e2eAppID, &key.PublicKey, e2eInstallation, e2eAppRepo)
	s := githubAppStack(t, gh, key)

	// Refused deliveries start nothing.
	forged := deploymentEvent(t, gh, e2eAppRepo, "staging", 1003, 5003)
	code, a := deliver(t, s, "not-the-app-secret", forged)
	require.Equal(t, http.StatusUnauthorized, code, a.Message)
	code, a = deliver(t, s, "", forged)
	require.Equal(t, http.StatusUnauthorized, code, a.Message)
	elsewhere := deploymentEvent(t, gh, "evil-org/api", "staging", 1004, 5004)
	code, a = deliver(t, s, e2eAppSecret, elsewhere)
	require.Equal(t, http.StatusForbidden, code, a.Message)
	for _, requestID := range []string{
		"github:octo-org/api:deployment:5003:staging", "github:evil-org/api:deployment:5004:staging",
	} {
		code, _ := getApproval(t, s, "dev-dana", intake.ApprovalID(e2eAppRequester, requestID))
		require.Equal(t, http.StatusNotFound, code, "a refused delivery started %s", requestID)
	}

	// Run 1001 waits at staging: a signed delivery starts its approval.
	gh.AwaitReview(e2eAppRepo, 1001, "staging")
	event := deploymentEvent(t, gh, e2eAppRepo, "staging", 1001, 5001)
	code, created := deliver(t, s, e2eAppSecret, event)
	require.Equal(t, http.StatusCreated, code, created.Message)
	require.Equal(t, s.HTTPURL+"/approvals/"+created.ApprovalID, created.URL)
	code, again := deliver(t, s, e2eAppSecret, event)
	require.Equal(t, http.StatusOK, code, again.Message)
	require.Equal(t, "existing", again.Status)
	require.Equal(t, created.ApprovalID, again.ApprovalID, "GitHub's redelivery must find the same approval")

	code, st := getApproval(t, s, "dev-bob", created.ApprovalID)
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, pb.Status_STATUS_PENDING, st.GetStatus())
	require.Equal(t, e2eAppRequester, st.GetRequester())
	require.Equal(t, "staging", st.GetEnvironment())
	require.Equal(t, []string{"bob"}, st.GetPendingApprovers(), "carol set the deployment off: she is not asked")
	f := st.GetFields()
	require.Equal(t, e2eAppRepo, f[githubmsg.FieldRepository])
	require.Equal(t, "staging", f[githubmsg.FieldEnvironment])
	require.Equal(t, "main", f[githubmsg.FieldRef])
	require.Equal(t, "f95f852bd8fca8fcc58a9a2d6c842781e32a215e", f[githubmsg.FieldSHA])
	require.Equal(t, "1001", f[githubmsg.FieldWorkflowRun])
	require.Equal(t, "octocat", f[githubmsg.FieldActor])
	require.Empty(t, gh.Reviews(), "nothing is reported while the approval is pending")

	// carol (octocat) may not approve the deployment she set off.
	code, body := s.Do(http.MethodPost, "/v1/approvals/"+created.ApprovalID+":decide", "dev-carol",
		s.DecideBody("dev-carol", created.ApprovalID, "DECISION_APPROVE"))
	require.Equal(t, http.StatusForbidden, code, string(body))
	require.Contains(t, string(body), "the requester may not decide their own request")

	code, body = s.Do(http.MethodPost, "/v1/approvals/"+created.ApprovalID+":decide", "dev-bob",
		s.DecideBody("dev-bob", created.ApprovalID, "DECISION_APPROVE"))
	require.Equal(t, http.StatusOK, code, string(body))
	testenv.Eventually(t, time.Minute, "GitHub to receive the review of run 1001", func() bool { return len(gh.Reviews()) > 0 })
	testenv.Eventually(t, time.Minute, "the outcome to be recorded", func() bool {
		_, st := getApproval(t, s, "dev-bob", created.ApprovalID)
		for _, e := range st.GetEvents() {
			if strings.Contains(e.GetDetail(), "github_deployments outcome") {
				return true
			}
		}
		return false
	})
	reviews := gh.Reviews()
	require.Len(t, reviews, 1, "exactly one review")
	r := reviews[0]
	require.Equal(t, fakecloud.Review{
		Owner: "octo-org", Repo: "api", RunID: 1001, EnvironmentName: "staging", State: "approved",
		Comment: "Approved in Signoff by bob: " + s.HTTPURL + "/approvals/" + created.ApprovalID, Installation: e2eInstallation,
		APIVersion: "2022-11-28",
	}, r)
	require.Empty(t, gh.RefusedReviews(), "no second review was attempted")
	// A redelivery after the end still finds the approval and reports nothing new.
	code, late := deliver(t, s, e2eAppSecret, event)
	require.Equal(t, http.StatusOK, code, late.Message)
	require.Equal(t, created.ApprovalID, late.ApprovalID)

	// Run 1002 waits at preview (the canary policy's): nobody decides, the
	// approval expires, and GitHub is told to reject.
	gh.AwaitReview(e2eAppRepo, 1002, "preview")
	code, canary := deliver(t, s, e2eAppSecret, deploymentEvent(t, gh, e2eAppRepo, "preview", 1002, 5002))
	require.Equal(t, http.StatusCreated, code, canary.Message)
	_, st = getApproval(t, s, "dev-bob", canary.ApprovalID)
	require.Equal(t, "canary", st.GetEnvironment(), "github_app.environments maps preview to canary")
	require.Equal(t, "canary", st.GetPolicyName())
	testenv.Eventually(t, time.Minute, "GitHub to receive the review of run 1002", func() bool { return len(gh.Reviews()) == 2 })
	_, st = getApproval(t, s, "dev-bob", canary.ApprovalID)
	require.Equal(t, pb.Status_STATUS_EXPIRED, st.GetStatus())
	r = gh.Reviews()[1]
	require.Equal(t, int64(1002), r.RunID)
	require.Equal(t, "preview", r.EnvironmentName)
	require.Equal(t, "rejected", r.State)
	require.Equal(t, "Rejected: the Signoff approval expired before enough approvers decided: "+s.HTTPURL+"/approvals/"+canary.ApprovalID, r.Comment)
	require.Empty(t, gh.RefusedReviews())
	require.Equal(t, 1, gh.TokensIssued(), "the installation token is reused while it is valid")
}
