package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oauth2-proxy/mockoidc"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	taskqueuepb "go.temporal.io/api/taskqueue/v1"
	updatepb "go.temporal.io/api/update/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/signoff/signoff/approval"
	"github.com/signoff/signoff/config"
	"github.com/signoff/signoff/intake"
	"github.com/signoff/signoff/internal/testenv"
	"github.com/signoff/signoff/people"
	pb "github.com/signoff/signoff/proto/signoff/v1"
	"github.com/signoff/signoff/temporal/codec"
	"github.com/signoff/signoff/workflows"
)

// copiedHistory is what an attacker with read access to Temporal takes
// from a finished run: its start event and the requests of its accepted
// updates, payloads as stored (encrypted when encryption is on).
type copiedHistory struct {
	started *historypb.WorkflowExecutionStartedEventAttributes
	updates []*updatepb.Request
}

func copyHistory(t *testing.T, s *testenv.Stack, workflowID string) copiedHistory {
	t.Helper()
	var c copiedHistory
	iter := s.Client.GetWorkflowHistory(context.Background(), workflowID, "", false, 0)
	for iter.HasNext() {
		e, err := iter.Next()
		require.NoError(t, err)
		if a := e.GetWorkflowExecutionStartedEventAttributes(); a != nil {
			c.started = a
		}
		if a := e.GetWorkflowExecutionUpdateAcceptedEventAttributes(); a != nil {
			c.updates = append(c.updates, a.GetAcceptedRequest())
		}
	}
	require.NotNil(t, c.started)
	return c
}

// startCopy starts a new run under workflowID from the copied start event,
// byte for byte, with the ID-reuse policy that allows it.
func startCopy(t *testing.T, s *testenv.Stack, workflowID string, c copiedHistory) string {
	t.Helper()
	resp, err := s.Client.WorkflowService().StartWorkflowExecution(context.Background(), &workflowservice.StartWorkflowExecutionRequest{
		Namespace: s.Config.Temporal.Namespace, WorkflowId: workflowID, WorkflowType: c.started.GetWorkflowType(),
		TaskQueue: &taskqueuepb.TaskQueue{Name: c.started.GetTaskQueue().GetName()}, Input: c.started.GetInput(),
		Identity: "mallory", RequestId: intake.NewID(),
		WorkflowIdReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		WorkflowIdConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_TERMINATE_EXISTING,
	})
	require.NoError(t, err)
	return resp.GetRunId()
}

// resend sends a copied update request again, under a new update ID, to the
// workflow's current run; it returns the failure it was answered with, if
// any.
func resend(s *testenv.Stack, workflowID string, req *updatepb.Request) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := s.Client.WorkflowService().UpdateWorkflowExecution(ctx, &workflowservice.UpdateWorkflowExecutionRequest{
		Namespace: s.Config.Temporal.Namespace, WorkflowExecution: &commonpb.WorkflowExecution{WorkflowId: workflowID},
		Request: &updatepb.Request{
			Meta:  &updatepb.Meta{UpdateId: "replayed-" + intake.NewID(), Identity: "mallory"},
			Input: req.GetInput(),
		},
		WaitPolicy: &updatepb.WaitPolicy{LifecycleStage: enumspb.UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_COMPLETED},
	})
	if err != nil {
		return "", err
	}
	return resp.GetOutcome().GetFailure().GetMessage(), nil
}

// TestReplayedApprovalRunsNothingAgain: an approved, finished approval's
// start is copied byte for byte (payload encryption on) into a new run
// under its ID, and its accepted decision is sent again. The copy is
// refused at start, approves nothing, and the webhook is not called again.
func TestReplayedApprovalRunsNothingAgain(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { calls.Add(1) }))
	t.Cleanup(hook.Close)
	s := testenv.Start(t, testenv.Options{Env: map[string]string{
		codec.EnvKeys: "e2e-replay:" + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0x42}, 32)),
	}})
	code, body := s.Do(http.MethodPost, "/v1/approvals", "dev-alice", `{"title":"Deploy","environment":"staging","action":{"type":"webhook","url":"`+hook.URL+`/deploy"}}`)
	require.Equal(t, http.StatusOK, code, string(body))
	id := decodeApproval(t, body).GetId()
	code, body = s.Do(http.MethodPost, "/v1/approvals/"+id+":decide", "dev-bob", s.DecideBody("dev-bob", id, "DECISION_APPROVE"))
	require.Equal(t, http.StatusOK, code, string(body))
	require.True(t, waitAction(t, s, id, 30*time.Second).GetActionResult().GetSuccess())
	require.Equal(t, int32(1), calls.Load())

	wid := workflows.ApprovalWorkflowID(id)
	copied := copyHistory(t, s, wid)
	require.NotEmpty(t, copied.updates, "bob's decision was an accepted update")
	enc := copied.started.GetInput().GetPayloads()[0].GetMetadata()["encoding"]
	require.Equal(t, codec.EncodingEncrypted, string(enc), "the copied start is encrypted")
	runID := startCopy(t, s, wid, copied)
	for _, u := range copied.updates {
		msg, err := resend(s, wid, u)
		t.Logf("replayed %s: %q %v", u.GetInput().GetName(), msg, err)
	}
	testenv.Eventually(t, 30*time.Second, "the copy ends", func() bool {
		d, err := s.Client.DescribeWorkflowExecution(context.Background(), wid, runID)
		return err == nil && d.GetWorkflowExecutionInfo().GetStatus() != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING
	})
	var st approval.State
	require.NoError(t, s.Client.GetWorkflow(context.Background(), wid, runID).Get(context.Background(), &st))
	assert.Equal(t, approval.StatusCancelled, st.Status, "the copy is refused")
	assert.Contains(t, st.CancelReason, "another run of this approval exists")
	assert.Empty(t, st.ApprovedBy)
	assert.Nil(t, st.ActionResult)
	assert.Equal(t, int32(1), calls.Load(), "the webhook was not called again")
}

// TestForgedPeopleStartAndReplayedChangeAreRefused: someone with write
// access to Temporal terminates the people workflow and starts it with
// "bob delegates to audrey"; the gateway does not believe it. A real
// delegation's stamped update, copied from history after it was revoked
// and sent again, is refused and the delegation stays revoked.
func TestForgedPeopleStartAndReplayedChangeAreRefused(t *testing.T) {
	t.Parallel()
	s := testenv.Start(t, testenv.Options{})
	end := time.Now().Add(48 * time.Hour).UTC().Format(time.RFC3339)
	code, body := s.Do(http.MethodPost, "/v1/delegations", "dev-bob", `{"to":"carol","end_time":"`+end+`","reason":"away"}`)
	require.Equal(t, http.StatusOK, code, string(body))
	delegationID := jsonField(t, body, "id")
	code, body = s.Do(http.MethodPost, "/v1/delegations/"+delegationID+":revoke", "dev-bob", `{}`)
	require.Equal(t, http.StatusOK, code, string(body))
	copied := copyHistory(t, s, workflows.PeopleWorkflowID)
	var delegate *updatepb.Request
	for _, u := range copied.updates {
		if u.GetInput().GetName() == workflows.UpdateDelegate {
			delegate = u
		}
	}
	require.NotNil(t, delegate)
	msg, err := resend(s, workflows.PeopleWorkflowID, delegate)
	require.NoError(t, err)
	assert.Contains(t, msg, "applied already", "the copied delegation is refused")

	// The forged start.
	ctx := context.Background()
	require.NoError(t, s.Client.TerminateWorkflow(ctx, workflows.PeopleWorkflowID, "", "mallory"))
	now := time.Now().UTC()
	forged := people.State{Delegations: []people.Delegation{{ID: "forged", From: "bob", To: "audrey", Start: now.Add(-time.Minute),
		End: now.Add(24 * time.Hour), CreatedBy: "bob", CreatedAt: now}}}
	_, err = s.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID: workflows.PeopleWorkflowID, TaskQueue: s.Config.Temporal.TaskQueue,
		WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
	}, workflows.PeopleWorkflowName, workflows.PeopleStart{State: forged})
	require.NoError(t, err)

	code, body = s.Do(http.MethodPost, "/v1/approvals", "dev-alice", `{"title":"Deploy","environment":"production"}`)
	require.Equal(t, http.StatusOK, code, string(body))
	a := decodeApproval(t, body)
	decide := fmt.Sprintf(`{"decision":"DECISION_APPROVE","request_hash":%q,"on_behalf_of":"bob"}`, a.GetRequestHash())
	code, body = s.Do(http.MethodPost, "/v1/approvals/"+a.GetId()+":decide", "dev-audrey", decide)
	require.Equal(t, http.StatusForbidden, code, "audrey does not stand in for bob: %s", body)
	code, body = s.Do(http.MethodPost, "/v1/approvals/"+a.GetId()+":decide", "dev-carol", decide)
	require.Equal(t, http.StatusForbidden, code, "nor carol, whose delegation was revoked: %s", body)
	code, body = s.Do(http.MethodGet, "/v1/delegations", "dev-audrey", "")
	require.Equal(t, http.StatusOK, code, string(body))
	assert.NotContains(t, string(body), "forged")
	st := state(t, s, a.GetId())
	assert.Empty(t, st.ApprovedBy)
}

// TestCancelDuringPostgresGrantRevokes: an operator cancels a granted
// approval's workflow in Temporal; the role is revoked at once, long
// before the grant's end, and the approval says Temporal asked for it.
func TestCancelDuringPostgresGrantRevokes(t *testing.T) {
	t.Parallel()
	g := newRoleGrants(t)
	a := g.create(t, "1h")
	g.waitStatus(t, a.GetId(), pb.Status_STATUS_GRANTED)
	require.True(t, g.canRead(t))
	require.NoError(t, g.s.Client.CancelWorkflow(context.Background(), workflows.ApprovalWorkflowID(a.GetId()), ""))
	done := g.waitStatus(t, a.GetId(), pb.Status_STATUS_REVOKED)
	assert.False(t, g.canRead(t), "the role is gone")
	assert.Equal(t, "temporal", done.GetGrant().GetRevokeRequestedBy())
	assert.True(t, done.GetGrant().GetRevokedTime().AsTime().Before(done.GetGrant().GetRevokeTime().AsTime()), "revoked before its end")
}

// TestSignInRedirectsStayOnSite: after a real sign-in, every form of next
// that could lead a browser off the site lands on the inbox instead; a
// path of the site is kept.
func TestSignInRedirectsStayOnSite(t *testing.T) {
	t.Parallel()
	idp, err := mockoidc.Run()
	require.NoError(t, err)
	t.Cleanup(func() { _ = idp.Shutdown() })
	oc := idp.Config()
	s := testenv.Start(t, testenv.Options{
		Mutate: func(c *config.Loaded) {
			c.OIDC = config.OIDC{Issuer: idp.Issuer(), Audience: oc.ClientID, ClientID: oc.ClientID,
				UserClaim: config.OIDCClaimEmail, Scopes: []string{"openid", "email"}}
		},
		Env: map[string]string{config.EnvSessionKey: testSessionKey, config.EnvOIDCClientSecret: oc.ClientSecret},
	})
	site, err := url.Parse(s.HTTPURL)
	require.NoError(t, err)
	for next, want := range map[string]string{
		"/./%5Cevil.example/x":       "/inbox",
		"/%5Cevil.example":           "/inbox",
		"//evil.example":             "/inbox",
		"/%2F%2Fevil.example":        "/inbox",
		"/%252F%252Fevil.example":    "/inbox",
		"/\tevil.example":            "/inbox",
		"https://evil.example/x":     "/inbox",
		"/../..//evil.example":       "/evil.example", // a path of this site
		"javascript:alert(1)":        "/inbox",
		"/approvals/abc?view=events": "/approvals/abc?view=events",
	} {
		idp.QueueUser(&mockoidc.MockUser{Subject: "idp-bob", Email: "bob@example.com", EmailVerified: true})
		jar, err := cookiejar.New(nil)
		require.NoError(t, err)
		var landed string
		hc := &http.Client{Jar: jar, Timeout: 20 * time.Second, CheckRedirect: func(r *http.Request, via []*http.Request) error {
			if resp := r.Response; resp != nil && resp.Request.URL.Host == site.Host {
				// What this site told the browser: it must stay here,
				// read as a browser reads it.
				loc := resp.Header.Get("Location")
				browser := strings.NewReplacer(`\`, "/", "\t", "", "\n", "", "\r", "").Replace(loc)
				if strings.HasPrefix(resp.Request.URL.Path, "/auth/callback") {
					landed = loc
					assert.True(t, strings.HasPrefix(browser, "/") && !strings.HasPrefix(browser, "//"), "next=%q: Location %q leaves the site", next, loc)
				}
			}
			if r.URL.Host != site.Host && r.URL.Host != mustHost(t, idp.Issuer()) {
				return fmt.Errorf("followed off the site to %s", r.URL)
			}
			return nil
		}}
		resp, err := hc.Get(s.HTTPURL + "/auth/start?next=" + url.QueryEscape(next))
		require.NoError(t, err, next)
		resp.Body.Close()
		assert.Equal(t, want, landed, "next=%q", next)
	}
}

func mustHost(t *testing.T, raw string) string {
	u, err := url.Parse(raw)
	require.NoError(t, err)
	return u.Host
}

// jsonField is a top-level string field of a JSON answer.
func jsonField(t *testing.T, body []byte, name string) string {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(body, &m), string(body))
	v, _ := m[name].(string)
	require.NotEmpty(t, v, "%s in %s", name, body)
	return v
}
