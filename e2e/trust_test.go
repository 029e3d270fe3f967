package e2e

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/signoff/signoff/approval"
	"github.com/signoff/signoff/config"
	"github.com/signoff/signoff/internal/testenv"
	"github.com/signoff/signoff/policy"
	"github.com/signoff/signoff/policy/regopolicy"
	pb "github.com/signoff/signoff/proto/signoff/v1"
	"github.com/signoff/signoff/store/approvalstore"
	"github.com/signoff/signoff/workflows"
)

// state reads the approval's whole state as the workflow holds it: its
// result once it has completed (a query would replay all its history, megabytes
// after a flood), the state query while it runs.
func state(t *testing.T, s *testenv.Stack, id string) *approval.State {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var st approval.State
	desc, err := s.Client.DescribeWorkflowExecution(ctx, workflows.ApprovalWorkflowID(id), "")
	require.NoError(t, err)
	if desc.GetWorkflowExecutionInfo().GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED {
		require.NoError(t, s.Client.GetWorkflow(ctx, workflows.ApprovalWorkflowID(id), "").Get(ctx, &st))
		return &st
	}
	v, err := s.Client.QueryWorkflow(ctx, workflows.ApprovalWorkflowID(id), "", workflows.QueryState)
	require.NoError(t, err)
	require.NoError(t, v.Get(&st))
	return &st
}

// TestTemporalAccessIsNotApprovalAuthority: with write access to Temporal
// (what the CLI and the Web UI's Send Signal do), an attacker names bob and
// carol, an admin flag, break-glass and an amendment; nothing counts, every
// attempt is recorded as unproven, and the approval still works through the
// gateway.
func TestTemporalAccessIsNotApprovalAuthority(t *testing.T) {
	t.Parallel()
	s := testenv.Start(t, testenv.Options{})
	api := s.GRPC()
	a, err := api.CreateApproval(testenv.Ctx("dev-alice"), &pb.CreateApprovalRequest{Title: "Deploy api", Environment: "production"})
	require.NoError(t, err)
	wf := workflows.ApprovalWorkflowID(a.GetId())
	ctx := context.Background()

	// `temporal workflow signal --name decision --input '{"user":"bob",...}'`, as bob and as carol.
	for _, u := range []string{"bob", "carol"} {
		require.NoError(t, s.Client.SignalWorkflow(ctx, wf, "", workflows.SignalDecision, map[string]any{
			"attempt_id": "forged-" + u, "user": u, "decision": "approve", "channel": "api", "seen_hash": a.GetRequestHash(),
		}))
	}
	require.NoError(t, s.Client.SignalWorkflow(ctx, wf, "", workflows.SignalCancel, map[string]any{"user": "dana", "admin": true, "reason": "x"}))
	for name, arg := range map[string]any{
		workflows.UpdateDecide: workflows.DecisionRequest{AttemptID: "forged-upd", User: "carol", Decision: "approve", Channel: "api", SeenHash: a.GetRequestHash()},
		workflows.UpdateCancel: workflows.CancelRequest{User: "dana", Admin: true, Reason: "x"},
		workflows.UpdateBypass: workflows.BypassRequest{User: "alice", Reason: "x"},
		workflows.UpdateAmend:  workflows.AmendRequest{User: "alice", Request: approval.Request{Title: "evil", Environment: "production"}},
	} {
		h, err := s.Client.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
			WorkflowID: wf, UpdateID: "forged-" + name, UpdateName: name, Args: []any{arg},
			WaitForStage: client.WorkflowUpdateStageCompleted,
		})
		require.NoError(t, err, name)
		err = h.Get(ctx, nil)
		require.Error(t, err, "a forged %s update must be refused", name)
		assert.Contains(t, err.Error(), approval.RefusedUnproven, name)
	}

	require.Eventually(t, func() bool { return len(state(t, s, a.GetId()).Attempts) == 3 }, 30*time.Second, 50*time.Millisecond,
		"the three forged decisions are recorded")
	st := state(t, s, a.GetId())
	assert.Equal(t, approval.StatusPending, st.Status)
	assert.Empty(t, st.ApprovedBy)
	assert.Equal(t, 0, st.Revision)
	for _, at := range st.Attempts {
		assert.False(t, at.Accepted)
		assert.Equal(t, approval.CodeUnproven, at.RefusalCode, at.User)
	}
	refusedOps := 0
	for _, e := range st.Events {
		if strings.HasSuffix(string(e.Kind), "_refused") {
			refusedOps++
			assert.Equal(t, approval.UnprovenKey, e.User)
		}
	}
	assert.Equal(t, 4, refusedOps, "cancel (signal and update), break-glass and amend refused")

	// Through the gateway, bob and carol still decide.
	for _, who := range []string{"dev-bob", "dev-carol"} {
		_, err := api.DecideApproval(testenv.Ctx(who), &pb.DecideApprovalRequest{
			Id: a.GetId(), Decision: pb.Decision_DECISION_APPROVE, RequestHash: s.Seen(who, a.GetId())})
		require.NoError(t, err, who)
	}
	final := waitClosed(t, s, a.GetId())
	require.Equal(t, pb.Status_STATUS_APPROVED, final.GetStatus())
	assert.Equal(t, []string{"bob", "carol"}, final.GetApprovedBy())
	for _, d := range final.GetDecisions() {
		if d.GetAccepted() {
			assert.Contains(t, d.GetProof(), "gateway stamp", d.GetUser())
		} else {
			assert.Empty(t, d.GetProof())
			assert.Equal(t, string(approval.CodeUnproven), d.GetRefusalCode())
		}
	}
}

// TestFloodCannotWedgeAnApproval: a colleague with no part in a
// production request (audrey) and an admin who is not its approver (dana)
// send it thousands of maximal refused decisions at once, more than
// Temporal's 2,000 updates per workflow, and the requester amends it
// meanwhile. Every refusal is answered; only the first few per person reach
// history; the approvers then decide, the action runs once, and the
// history stays small.
func TestFloodCannotWedgeAnApproval(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		calls.Add(1)
		_, _ = w.Write([]byte("ok"))
	}))
	t.Cleanup(hook.Close)
	// What is measured is that the approval still completes, not how fast:
	// a loaded CI machine under the race detector may keep one call past
	// the usual 20 s, and an amendment has no request_id to retry it by.
	s := testenv.Start(t, testenv.Options{Mutate: func(c *config.Loaded) { c.Gateway.CallTimeout = policy.Duration(2 * time.Minute) }})
	api := s.GRPC()
	a, err := api.CreateApproval(testenv.Ctx("dev-alice"), &pb.CreateApprovalRequest{
		Title: "Rotate the database", Environment: "production", Action: &pb.Action{Type: "webhook", Url: hook.URL + "/rotate"},
	})
	require.NoError(t, err)
	id := a.GetId()

	// The largest attempt the gateway takes for this approval: a comment
	// and a text answer of 2000 characters each.
	comment, text := strings.Repeat("c", 2000), strings.Repeat("v", 2000)
	const each = 1100
	var refused, other atomic.Int32
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < 2*each; i += 8 {
				who := []string{"dev-audrey", "dev-dana"}[i%2]
				_, err := api.DecideApproval(testenv.Ctx(who), &pb.DecideApprovalRequest{
					Id: id, Decision: pb.Decision_DECISION_APPROVE, Comment: comment, Values: []string{text},
					RequestHash: a.GetRequestHash(), RequestId: fmt.Sprintf("flood-%d", i),
				})
				switch status.Code(err) {
				case codes.PermissionDenied, codes.ResourceExhausted:
					refused.Add(1)
				default:
					other.Add(1)
					t.Errorf("attempt %d by %s: %v", i, who, err)
				}
			}
		}()
	}
	fields := map[string]string{}
	for i := range 50 {
		fields[fmt.Sprintf("field-%02d", i)] = strings.Repeat("f", 2000)
	}
	for i := range 5 {
		_, err := api.AmendApproval(testenv.Ctx("dev-alice"), &pb.AmendApprovalRequest{
			Id: id, Title: "Rotate the database", Description: strings.Repeat("d", 4000-i), Fields: fields,
			Action: &pb.Action{Type: "webhook", Url: hook.URL + "/rotate"},
		})
		require.NoError(t, err, "amendment %d", i)
	}
	wg.Wait()
	require.Equal(t, int32(2*each), refused.Load(), "every flooded attempt is refused, none lost")
	// Over REST the flooder is told to wait, and for how long. Their
	// budget refills a token every 2 s, so while the amendments ran it may
	// have regained a few: those are answered as refusals, then 429.
	var resp *http.Response
	for range ratelimitBurst + 1 {
		req, err := http.NewRequest(http.MethodPost, s.HTTPURL+"/v1/approvals/"+id+":decide",
			strings.NewReader(`{"decision":"DECISION_APPROVE","request_hash":"`+a.GetRequestHash()+`"}`))
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer dev-dana")
		resp, err = http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			break
		}
	}
	require.Equal(t, http.StatusTooManyRequests, resp.StatusCode)
	require.NotEmpty(t, resp.Header.Get("Retry-After"))

	for _, who := range []string{"dev-bob", "dev-carol"} {
		_, err = api.DecideApproval(testenv.Ctx(who), &pb.DecideApprovalRequest{
			Id: id, Decision: pb.Decision_DECISION_APPROVE, RequestHash: s.Seen(who, id)})
		require.NoError(t, err, who)
	}
	final := waitAction(t, s, id, 60*time.Second)
	require.Equal(t, pb.Status_STATUS_APPROVED, final.GetStatus())
	require.True(t, final.GetActionResult().GetSuccess(), final.GetActionResult().GetError())
	assert.Equal(t, int32(1), calls.Load(), "the action ran once")
	assert.Equal(t, int32(5), final.GetRevision())

	events := history(t, s, id)
	size := len(rawBytes(t, events))
	updates := 0
	for _, e := range events {
		if e.GetEventType() == enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED {
			updates++
		}
	}
	t.Logf("after %d refused attempts: %d events, %d bytes of history, %d updates admitted", 2*each, len(events), size, updates)
	assert.Less(t, size, 10<<20, "history stays under 10 MB")
	assert.Less(t, updates, 100, "far from Temporal's 2,000 updates")
	st := state(t, s, id)
	kept := map[string]int{}
	for _, at := range st.Attempts {
		if !at.Accepted {
			kept[at.User]++
			assert.Equal(t, approval.CodeNotApprover, at.RefusalCode)
		}
	}
	assert.Equal(t, map[string]int{"audrey": approval.MaxRefusedPerPerson, "dana": approval.MaxRefusedPerPerson}, kept)
}

// TestDecisionBoundToWhatWasRead: bob reads, alice amends the action,
// bob's decision on what he read is refused (409) and recorded; deciding
// on the new content counts.
func TestDecisionBoundToWhatWasRead(t *testing.T) {
	t.Parallel()
	var hits atomic.Int32
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/other" {
			hits.Add(1)
		}
	}))
	t.Cleanup(hook.Close)
	s := testenv.Start(t, testenv.Options{})
	code, body := s.Do(http.MethodPost, "/v1/approvals", "dev-alice", `{"title":"Deploy","environment":"staging","action":{"type":"webhook","url":"`+hook.URL+`/ok"}}`)
	require.Equal(t, http.StatusOK, code, string(body))
	id := decodeApproval(t, body).GetId()
	read := s.Seen("dev-bob", id)
	code, body = s.Do(http.MethodPost, "/v1/approvals/"+id+":amend", "dev-alice",
		`{"title":"Deploy","action":{"type":"webhook","url":"`+hook.URL+`/other"}}`)
	require.Equal(t, http.StatusOK, code, string(body))

	code, body = s.Do(http.MethodPost, "/v1/approvals/"+id+":decide", "dev-bob", `{"decision":"DECISION_APPROVE","request_hash":"`+read+`"}`)
	require.Equal(t, http.StatusConflict, code, string(body))
	assert.Contains(t, string(body), approval.RefusedContentChanged)
	code, body = s.Do(http.MethodPost, "/v1/approvals/"+id+":decide", "dev-bob", `{"decision":"DECISION_APPROVE"}`)
	require.Equal(t, http.StatusBadRequest, code, "a decision must name the content: %s", body)

	st := state(t, s, id)
	require.Len(t, st.Attempts, 1)
	assert.Equal(t, approval.CodeContentChanged, st.Attempts[0].RefusalCode)
	assert.Equal(t, read, st.Attempts[0].SeenHash)

	code, body = s.Do(http.MethodPost, "/v1/approvals/"+id+":decide", "dev-bob", s.DecideBody("dev-bob", id, "DECISION_APPROVE"))
	require.Equal(t, http.StatusOK, code, string(body))
	assert.Equal(t, pb.Status_STATUS_APPROVED, waitAction(t, s, id, 30*time.Second).GetStatus())
	assert.Equal(t, int32(1), hits.Load(), "the amended action, which bob saw, ran once")
}

// TestRegoJudgedInTheWorkflowForTheAPI: the API's decisions meet the
// policy's Rego module in the workflow (the gateway no longer evaluates
// it), and it fails closed.
func TestRegoJudgedInTheWorkflowForTheAPI(t *testing.T) {
	t.Parallel()
	s := testenv.Start(t, testenv.Options{Mutate: func(c *config.Loaded) {
		pols := append([]policy.Policy{{
			Name: "regulated", Match: policy.Match{Environment: "regulated"}, Approvers: policy.Approvers{Groups: []string{"platform"}},
			RequiredApprovals: 1, Deadline: policy.Duration(time.Hour),
			Rego: "package signoff\nallow if input.decider.user == \"carol\"\ndeny contains \"carol decides\" if input.decider.user != \"carol\"\n",
		}, {
			Name: "broken", Match: policy.Match{Environment: "broken"}, Approvers: policy.Approvers{Groups: []string{"platform"}},
			RequiredApprovals: 1, Deadline: policy.Duration(time.Hour),
			Rego: "package signoff\nallow if input.decider.user / 0\n",
		}, {
			// Stages that share people: carol then bob satisfies it.
			Name: "overlap", Match: policy.Match{Environment: "overlap"}, Deadline: policy.Duration(time.Hour),
			Stages: []policy.Stage{
				{Name: "first", Approvers: policy.Approvers{Users: []string{"bob", "carol"}}, RequiredApprovals: 1},
				{Name: "second", Approvers: policy.Approvers{Users: []string{"bob"}}, RequiredApprovals: 1},
			},
		}}, c.Config.Policies...)
		c.Config.Policies = pols
		set, err := policy.NewSet(pols, c.Directory, regopolicy.Check)
		require.NoError(t, err)
		c.Policies = set
	}})
	create := func(env string) string {
		code, body := s.Do(http.MethodPost, "/v1/approvals", "dev-alice", `{"title":"t","environment":"`+env+`"}`)
		require.Equal(t, http.StatusOK, code, string(body))
		return decodeApproval(t, body).GetId()
	}
	id := create("regulated")
	code, body := s.Do(http.MethodPost, "/v1/approvals/"+id+":decide", "dev-bob", s.DecideBody("dev-bob", id, "DECISION_APPROVE"))
	require.Equal(t, http.StatusForbidden, code, string(body))
	assert.Contains(t, string(body), "carol decides")
	code, body = s.Do(http.MethodPost, "/v1/approvals/"+id+":decide", "dev-carol", s.DecideBody("dev-carol", id, "DECISION_APPROVE"))
	require.Equal(t, http.StatusOK, code, string(body))

	broken := create("broken")
	code, body = s.Do(http.MethodPost, "/v1/approvals/"+broken+":decide", "dev-carol", s.DecideBody("dev-carol", broken, "DECISION_APPROVE"))
	require.Equal(t, http.StatusForbidden, code, "a module that cannot be evaluated denies: %s", body)

	overlap := create("overlap")
	for _, who := range []string{"dev-carol", "dev-bob"} {
		code, body = s.Do(http.MethodPost, "/v1/approvals/"+overlap+":decide", who, s.DecideBody(who, overlap, "DECISION_APPROVE"))
		require.Equal(t, http.StatusOK, code, "%s: %s", who, body)
	}
	assert.Equal(t, pb.Status_STATUS_APPROVED, waitClosed(t, s, overlap).GetStatus())
}

// TestWebhookRedirectGoesNowhere: a webhook receiver the requester controls
// answers 307 to another host; the worker does not follow, the action
// fails, and nothing reaches the redirect's target.
func TestWebhookRedirectGoesNowhere(t *testing.T) {
	t.Parallel()
	var reached atomic.Int32
	target := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/admin" {
			reached.Add(1)
		}
	}))
	t.Cleanup(target.Close)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL+"/admin", http.StatusTemporaryRedirect)
	}))
	t.Cleanup(hook.Close)
	s := testenv.Start(t, testenv.Options{})
	got := approve(t, s, createBody("Deploy", "staging", map[string]any{"type": "webhook", "url": hook.URL + "/deploy"}), "dev-bob")
	require.False(t, got.GetActionResult().GetSuccess())
	assert.Contains(t, got.GetActionResult().GetError(), "307")
	assert.NotContains(t, got.GetActionResult().GetError(), target.URL, "the Location is not echoed")
	assert.Equal(t, int32(0), reached.Load(), "the redirect was not followed")

	// A path that climbs out of an allowed one is refused at create.
	code, body := s.Do(http.MethodPost, "/v1/approvals", "dev-alice",
		createBody("Deploy", "staging", map[string]any{"type": "webhook", "url": hook.URL + "/hooks/../admin"}))
	assert.Equal(t, http.StatusBadRequest, code, string(body))
}

// TestStrangersCannotProbeByWriting: someone with no part in an approval
// is told it does not exist when they try to decide or cancel it, as when
// they read it; the attempt is still in its audit trail. An admin, who may
// read it, hears why.
func TestStrangersCannotProbeByWriting(t *testing.T) {
	t.Parallel()
	s := testenv.Start(t, testenv.Options{})
	code, body := s.Do(http.MethodPost, "/v1/approvals", "dev-bob", `{"title":"Grant bob access","environment":"staging"}`)
	require.Equal(t, http.StatusOK, code, string(body))
	a := decodeApproval(t, body)
	id := a.GetId()
	decide := `{"decision":"DECISION_APPROVE","request_hash":"` + a.GetRequestHash() + `"}`

	code, body = s.Do(http.MethodPost, "/v1/approvals/"+id+":decide", "dev-alice", decide)
	assert.Equal(t, http.StatusNotFound, code, string(body))
	code, body = s.Do(http.MethodPost, "/v1/approvals/"+id+":cancel", "dev-alice", `{"reason":"probe"}`)
	assert.Equal(t, http.StatusNotFound, code, string(body))
	code, body = s.Do(http.MethodPost, "/v1/approvals/aaaaaaaaaaaaaaaaaaaaaaaaaa:decide", "dev-alice", decide)
	assert.Equal(t, http.StatusNotFound, code, "an unknown approval answers the same: %s", body)
	code, body = s.Do(http.MethodPost, "/v1/approvals/"+id+":decide", "dev-dana", decide)
	assert.Equal(t, http.StatusForbidden, code, string(body))

	st := state(t, s, id)
	var attempts []string
	for _, at := range st.Attempts {
		attempts = append(attempts, at.User+":"+string(at.RefusalCode))
	}
	assert.Equal(t, []string{"alice:not_approver", "dana:not_approver"}, attempts)
	cancels := 0
	for _, e := range st.Events {
		if e.Kind == "cancel_refused" && e.User == "alice" {
			cancels++
		}
	}
	assert.Equal(t, 1, cancels, "the refused cancel is recorded")
}

// TestForgedStartInTemporal: mallory, a Signoff user with write access to
// Temporal, starts an approval workflow whose input names himself as the
// approver of a webhook of his choosing (`temporal workflow start --type
// ApprovalWorkflow --input …`), then approves it through the gateway, as
// the approver he named. The gateway refuses him, the webhook is never
// called, and the approval ends cancelled as not started through Signoff,
// asking no one and counting nothing.
func TestForgedStartInTemporal(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		calls.Add(1)
		_, _ = w.Write([]byte("ok"))
	}))
	t.Cleanup(hook.Close)
	// mallory may use Signoff like anyone, and decides nothing.
	yaml := strings.Replace(testenv.StackConfig, "\nusers:\n",
		"\nusers:\n  - name: mallory\n    email: mallory@example.com\n    token: dev-mallory\n", 1)
	require.Contains(t, yaml, "dev-mallory")
	s := testenv.Start(t, testenv.Options{ConfigYAML: yaml})
	ctx := context.Background()
	const id = "forgedforgedforgedforgedfo"
	in := workflows.Input{
		ID: id, Requester: "alice", CreatedAt: time.Now(), Rules: approval.RulesDelegation, Version: workflows.VersionLatest,
		Request: approval.Request{Title: "Harmless", Environment: "production",
			Action: approval.Action{Type: "webhook", URL: hook.URL + "/hook"}},
		Policy: approval.Policy{Name: "production", Approvers: []string{"mallory"}, RequiredApprovals: 1, Deadline: time.Hour},
	}
	run, err := s.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID: workflows.ApprovalWorkflowID(id), TaskQueue: s.Config.Temporal.TaskQueue,
	}, workflows.WorkflowName, in)
	require.NoError(t, err)

	// Before waiting for the run to end: an approval that let him in would
	// wait for him.
	code, body := s.Do(http.MethodPost, "/v1/approvals/"+id+":decide", "dev-mallory",
		fmt.Sprintf(`{"decision":"DECISION_APPROVE","request_hash":%q}`, in.Request.Hash()))
	// Refused as not pending: by the run while it checks its start, or by
	// the gateway once it has ended.
	require.Equal(t, http.StatusConflict, code, "mallory's approval of his forged approval: %s", body)

	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	var st approval.State
	require.NoError(t, run.Get(wctx, &st), "the workflow ends on its own")
	assert.Equal(t, approval.StatusCancelled, st.Status)
	assert.Equal(t, approval.UnprovenKey, st.CancelledBy)
	assert.Contains(t, st.CancelReason, "not started through Signoff")
	assert.Empty(t, st.ApprovedBy)
	for _, at := range st.Attempts {
		assert.False(t, at.Accepted, "%s's attempt counted", at.User)
	}
	assert.Nil(t, st.ActionResult, "nothing ran")
	assert.Equal(t, int32(0), calls.Load(), "the webhook was never called")
	assert.NotContains(t, s.Logs.String(), "approval requested", "nobody was asked")

	// Once it has ended, the gateway still refuses him.
	code, body = s.Do(http.MethodPost, "/v1/approvals/"+id+":decide", "dev-mallory",
		fmt.Sprintf(`{"decision":"DECISION_APPROVE","request_hash":%q}`, in.Request.Hash()))
	assert.Equal(t, http.StatusConflict, code, string(body))
	assert.Contains(t, string(body), "no longer pending")
	final := state(t, s, id)
	assert.Equal(t, approval.StatusCancelled, final.Status)
	assert.Empty(t, final.ApprovedBy)
	assert.Equal(t, int32(0), calls.Load(), "the webhook was never called")
}

// ratelimitBurst is the gateway's budget per person and approval
// (approvalstore.DefaultBudgetBurst).
const ratelimitBurst = approvalstore.DefaultBudgetBurst
