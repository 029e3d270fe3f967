package e2e

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/api/serviceerror"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/signoff/signoff/approval"
	"github.com/signoff/signoff/channel/slack/slackfake"
	"github.com/signoff/signoff/config"
	"github.com/signoff/signoff/config/identity"
	"github.com/signoff/signoff/internal/testenv"
	"github.com/signoff/signoff/policy"
	pb "github.com/signoff/signoff/proto/signoff/v1"
	"github.com/signoff/signoff/workflows"
)

// TestRestartWithManyPending: 100 approvals pending when the embedded
// Temporal restarts on its data directory are all still pending and
// decidable afterwards.
func TestRestartWithManyPending(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("slow")
	}
	s := testenv.Start(t, testenv.Options{})
	api := s.GRPC()
	ids := make([]string, 100)
	for i := range ids {
		a, err := api.CreateApproval(testenv.Ctx("dev-alice"), &pb.CreateApprovalRequest{
			Title: fmt.Sprintf("change %d", i), Environment: "staging", RequestId: fmt.Sprintf("restart-%d", i),
		})
		require.NoError(t, err)
		ids[i] = a.GetId()
	}
	s.RestartTemporal()
	api = s.GRPC()
	// Eight clients at a time: after a restart every read replays its
	// workflow on the worker, and reads that time out are retried.
	ch := make(chan string)
	errs := make(chan error, len(ids))
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for id := range ch {
				errs <- decideAfterRestart(api, id)
			}
		}()
	}
	for _, id := range ids {
		ch <- id
	}
	close(ch)
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
}

func decideAfterRestart(api pb.ApprovalServiceClient, id string) error {
	deadline := time.Now().Add(90 * time.Second)
	for {
		got, err := api.GetApproval(testenv.Ctx("dev-bob"), &pb.GetApprovalRequest{Id: id})
		if err == nil {
			if got.GetStatus() == pb.Status_STATUS_APPROVED && acceptedBy(got, "bob") == 1 {
				// An earlier try whose answer timed out counted: the retry
				// finds bob's one decision, as its request_id promises.
				return nil
			}
			if got.GetStatus() != pb.Status_STATUS_PENDING {
				return fmt.Errorf("%s is %s after the restart", id, got.GetStatus())
			}
			r, err := api.DecideApproval(testenv.Ctx("dev-bob"), &pb.DecideApprovalRequest{
				Id: id, Decision: pb.Decision_DECISION_APPROVE, RequestId: "after-restart", RequestHash: got.GetRequestHash()})
			if err == nil {
				if r.GetApproval().GetStatus() != pb.Status_STATUS_APPROVED {
					return fmt.Errorf("%s is %s after approval", id, r.GetApproval().GetStatus())
				}
				return nil
			}
			if c := status.Code(err); c != codes.Unavailable && c != codes.Internal {
				return err
			}
		} else if c := status.Code(err); c != codes.Unavailable && c != codes.Internal {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: still failing after the restart: %v", id, err)
		}
		<-time.After(200 * time.Millisecond) // back off before retrying
	}
}

// acceptedBy counts the accepted decisions of user.
func acceptedBy(a *pb.Approval, user string) int {
	n := 0
	for _, d := range a.GetDecisions() {
		if d.GetAccepted() && d.GetUser() == user {
			n++
		}
	}
	return n
}

// TestConcurrentDecisions: the same click delivered five times at once,
// while the approval is pending, counts once; then the approvers still to
// decide, all at once, make an exact quorum.
func TestConcurrentDecisions(t *testing.T) {
	t.Parallel()
	const people, quorum = 100, 50
	s := testenv.Start(t, testenv.Options{Mutate: func(c *config.Loaded) {
		users := append([]identity.User(nil), c.Config.Users...)
		for i := range people {
			users = append(users, identity.User{Name: fmt.Sprintf("p%03d", i), Token: fmt.Sprintf("tok-%03d", i), Groups: []string{"crowd"}})
		}
		dir, err := identity.NewDirectory(users)
		require.NoError(t, err)
		c.Config.Users, c.Directory = users, dir
		c.Config.Policies = append(c.Config.Policies, policy.Policy{Name: "crowd", Match: policy.Match{Environment: "crowd"},
			Approvers: policy.Approvers{Groups: []string{"crowd"}}, RequiredApprovals: quorum, Deadline: policy.Duration(time.Hour)})
		set, err := policy.NewSet(c.Config.Policies, dir, nil)
		require.NoError(t, err)
		c.Policies = set
	}})
	api := s.GRPC()
	a, err := api.CreateApproval(testenv.Ctx("dev-alice"), &pb.CreateApprovalRequest{Title: "crowd", Environment: "crowd"})
	require.NoError(t, err)

	// Clicks arrive as signals stamped by the gateway, as the Slack
	// gateway delivers them; each delivery's answer is kept.
	keys := s.Settings.Proofs
	click := func(user, attempt string) error {
		req := workflows.Stamp(keys, a.GetId(), workflows.DecisionRequest{
			AttemptID: attempt, User: user, Decision: approval.DecisionApprove, Channel: "slack:C1", SeenHash: a.GetRequestHash(),
		}, time.Now())
		return s.Client.SignalWorkflow(context.Background(), workflows.ApprovalWorkflowID(a.GetId()), "", workflows.SignalDecision, req)
	}
	burst := func(users, attempts []string) []error {
		errs := make([]error, len(users))
		var wg sync.WaitGroup
		for i := range users {
			wg.Go(func() { errs[i] = click(users[i], attempts[i]) })
		}
		wg.Wait()
		return errs
	}

	// One short of the quorum, so the approval is pending throughout:
	// p000's click five times and p001..p048 once, all at once.
	var users, attempts []string
	for range 5 {
		users, attempts = append(users, "p000"), append(attempts, "slack:click-000")
	}
	for i := 1; i < quorum-1; i++ {
		users, attempts = append(users, fmt.Sprintf("p%03d", i)), append(attempts, fmt.Sprintf("slack:click-%03d", i))
	}
	for i, err := range burst(users, attempts) {
		require.NoError(t, err, "delivery %d (%s) to the pending approval", i, users[i])
	}
	// The workflow judges signals one at a time, in the order history has
	// them: once dana's click, sent after all of those, is recorded (refused:
	// she is no approver), every one of them has been judged.
	require.NoError(t, click("dana", "slack:after-the-burst"))
	var st *approval.State
	testenv.Eventually(t, 60*time.Second, "the first clicks to be judged", func() bool {
		st = state(t, s, a.GetId())
		_, judged := st.Find("slack:after-the-burst")
		return judged
	})
	require.Equal(t, approval.StatusPending, st.Status, "the duplicates reached a pending approval")
	require.Len(t, st.Attempts, quorum, "p000's five deliveries are one attempt (and dana's)")
	require.Len(t, st.ApprovedBy, quorum-1)
	require.Contains(t, st.ApprovedBy, "p000")
	p000 := 0
	for _, at := range st.Attempts {
		if at.User == "p000" {
			p000++
		}
	}
	require.Equal(t, 1, p000, "p000's click, delivered five times, is recorded once")

	// The rest at once: the 50th closes it; clicks judged after that are
	// refused, and those sent once it has closed are refused by Temporal.
	users, attempts = nil, nil
	for i := quorum - 1; i < people; i++ {
		users, attempts = append(users, fmt.Sprintf("p%03d", i)), append(attempts, fmt.Sprintf("slack:click-%03d", i))
	}
	for i, err := range burst(users, attempts) {
		var notFound *serviceerror.NotFound
		if err != nil && !errors.As(err, &notFound) {
			t.Errorf("delivery %d (%s): %v", i, users[i], err)
		}
	}
	var final *pb.Approval
	testenv.Eventually(t, 60*time.Second, "the crowd approval to close", func() bool {
		got, err := api.GetApproval(testenv.Ctx("dev-alice"), &pb.GetApprovalRequest{Id: a.GetId()})
		if err != nil {
			// A burst of concurrent updates can make the workflow retry a
			// task; reads answer again once it has.
			return false
		}
		final = got
		return got.GetCloseTime() != nil
	})
	require.Equal(t, pb.Status_STATUS_APPROVED, final.GetStatus())
	require.Len(t, final.GetApprovedBy(), quorum, "the quorum is exact")
	require.Contains(t, final.GetApprovedBy(), "p000")
	seen := map[string]int{}
	for _, d := range final.GetDecisions() {
		seen[d.GetUser()]++
	}
	require.Equal(t, 1, seen["p000"], "p000's click, delivered five times, is recorded once")
	require.Equal(t, 1, acceptedBy(final, "p000"))
	for user, n := range seen {
		require.Equal(t, 1, n, "%s's attempt is recorded %d times", user, n)
	}
}

// TestGatewayRestartBetweenPromptAndClick: the gateway is stateless; a
// click on a prompt posted before it restarted still lands.
func TestGatewayRestartBetweenPromptAndClick(t *testing.T) {
	t.Parallel()
	f, env := startSlackFake(t)
	f.SetUser(slackUser("U0BOB", "bob@example.com", true))
	s := testenv.Start(t, testenv.Options{Env: env, Mutate: func(c *config.Loaded) {
		c.Notifiers = []string{"slack"}
		c.Slack = config.Slack{TeamID: f.TeamID(), DefaultChannel: "#approvals"}
	}})
	code, body := s.Do(http.MethodPost, "/v1/approvals", "dev-alice", `{"title":"Rotate secret","environment":"staging"}`)
	require.Equal(t, http.StatusOK, code, string(body))
	id := decodeApproval(t, body).GetId()
	require.True(t, f.Wait(60*time.Second, func() bool { return len(f.Messages()) >= 1 }), "no prompt")
	prompt := f.Messages()[0]

	s.StopGateway()
	s.StartGateway()
	// Slack opens new connections; the test client's kept-alive ones died
	// with the old gateway.
	http.DefaultClient.CloseIdleConnections()

	approve, ok := slackfake.Find(prompt.Blocks, "Approve")
	require.True(t, ok)
	click := slackfake.Click{TeamID: f.TeamID(), UserID: "U0BOB", ChannelID: prompt.Channel, MessageTS: prompt.TS,
		Blocks: prompt.Blocks, ResponseURL: f.ResponseURL(), Control: approve}
	require.Equal(t, http.StatusOK, postSlack(t, s, "/slack/interactions", slackSigningSecret,
		slackfake.InteractionBody(slackfake.BlockActions(click))))
	final := waitClosed(t, s, id)
	require.Equal(t, pb.Status_STATUS_APPROVED, final.GetStatus())
	require.Equal(t, []string{"bob"}, final.GetApprovedBy())
}

// TestWorkerKilled: the worker process is SIGKILLed while approvals are
// pending and while one's action is in flight (the receiver applied it; the
// answer never came back). A new worker process finishes everything: every
// approval completes, each action is applied once (the receiver dedups by
// Idempotency-Key), and each Slack prompt is updated with the outcome once.
func TestWorkerKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("slow")
	}
	const n = 12
	opts := testenv.Options{NoWorker: true, Mutate: func(c *config.Loaded) {
		c.Notifiers = []string{"slack"}
		c.Slack = config.Slack{TeamID: slackfake.DefaultTeamID, DefaultChannel: "#approvals"}
	}}
	// In the worker processes this test starts, the test is the worker;
	// they inherit the environment set below.
	if testenv.ServeWorkerProcess(t, opts) {
		return
	}
	f, env := startSlackFake(t)
	setEnv(t, env)
	f.SetUser(slackUser("U0BOB", "bob@example.com", true))
	t.Setenv("SIGNOFF_WEBHOOK_SECRET", e2eWebhookSecret)
	rc, receiverURL, release := startOnceReceiver(t)

	s := testenv.Start(t, opts)
	first := s.StartWorkerProcess("TestWorkerKilled")
	ids, hashes := make([]string, n), make([]string, n)
	for i := range ids {
		code, body := s.Do(http.MethodPost, "/v1/approvals", "dev-alice",
			createBody(fmt.Sprintf("Deploy api kill-%d", i), "staging", map[string]any{"type": "webhook", "url": receiverURL + "/deploy"}))
		require.Equal(t, http.StatusOK, code, string(body))
		a := decodeApproval(t, body)
		ids[i], hashes[i] = a.GetId(), a.GetRequestHash()
	}
	require.True(t, f.Wait(90*time.Second, func() bool { return len(f.Messages()) >= n }), "prompts not posted: %d", len(f.Messages()))

	code, body := s.Do(http.MethodPost, "/v1/approvals/"+ids[0]+":decide", "dev-bob", s.DecideBody("dev-bob", ids[0], "DECISION_APPROVE"))
	require.Equal(t, http.StatusOK, code, string(body))
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

	// Slack clicks while no worker runs are acknowledged and wait in
	// history; the API, which answers with the verdict, says to retry.
	// (No worker can answer a read now: bob decides on what the prompt showed.)
	code, body = s.Do(http.MethodPost, "/v1/approvals/"+ids[1]+":decide", "dev-bob",
		`{"decision":"DECISION_APPROVE","request_hash":"`+hashes[1]+`"}`)
	require.Equal(t, http.StatusServiceUnavailable, code, string(body))
	for _, m := range f.Messages() {
		approve, ok := slackfake.Find(m.Blocks, "Approve")
		if !ok || approve.ActionID == "signoff:approve:"+ids[0] {
			continue
		}
		click := slackfake.Click{TeamID: f.TeamID(), UserID: "U0BOB", ChannelID: m.Channel, MessageTS: m.TS,
			Blocks: m.Blocks, ResponseURL: f.ResponseURL(), Control: approve}
		require.Equal(t, http.StatusOK, postSlack(t, s, "/slack/interactions", slackSigningSecret,
			slackfake.InteractionBody(slackfake.BlockActions(click))))
	}
	s.StartWorkerProcess("TestWorkerKilled")

	for _, id := range ids {
		// The killed call is retried once its heartbeat times out (30 s).
		got := waitAction(t, s, id, 2*time.Minute)
		require.Equal(t, pb.Status_STATUS_APPROVED, got.GetStatus())
		require.True(t, got.GetActionResult().GetSuccess(), got.GetActionResult().String())
	}
	calls, distinct, applied, badSigned := rc.snapshot()
	require.Greater(t, calls, n, "the killed call was retried")
	require.Len(t, distinct, n)
	want := map[string]int{}
	for _, id := range ids {
		want[id] = 1
	}
	require.Equal(t, want, applied, "each action applied exactly once")
	require.Zero(t, badSigned)

	var prompts []slackfake.Message
	for _, m := range f.Messages() {
		if _, ok := slackfake.Find(m.Blocks, "Approve"); ok {
			prompts = append(prompts, m)
		}
	}
	require.Equal(t, n, len(prompts), "one prompt per approval, none posted twice")
	require.True(t, f.Wait(60*time.Second, func() bool { return len(f.Updates()) >= n }), "outcomes not posted")
	updates := map[string]int{}
	for _, u := range f.Updates() {
		updates[u.Channel+"/"+u.TS]++
		require.True(t, strings.Contains(slackfake.Text(u.Blocks), "Approved"), "the update of %s shows the outcome", u.TS)
	}
	for _, m := range prompts {
		require.Equal(t, 1, updates[m.Channel+"/"+m.TS], "prompt %s updated once", m.TS)
	}
}
