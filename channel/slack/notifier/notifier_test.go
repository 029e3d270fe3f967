package notifier

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/signoff/signoff/activities/progress"
	"github.com/signoff/signoff/approval"
	"github.com/signoff/signoff/channel/slack/slackfake"
	"github.com/signoff/signoff/config"
	"github.com/signoff/signoff/config/identity"
)

var users = []identity.User{
	{Name: "alice", SlackID: "U0ALICE"},
	{Name: "bob", SlackID: "U0BOB", Groups: []string{"platform"}},
	{Name: "carol", SlackID: "U0CAROL", Groups: []string{"platform"}},
	{Name: "dave"}, // no slack_id: no DM
}

func newNotifier(t *testing.T, f *slackfake.Server, cfg config.Slack, token string) *Notifier {
	t.Helper()
	cfg.APIURL = f.APIURL()
	dir, err := identity.NewDirectory(users)
	require.NoError(t, err)
	n, err := New(Options{Config: cfg, BotToken: token, PublicURL: "https://signoff.example.com", Directory: dir,
		Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	return n
}

var ids = []string{"aaaaaaaaaaaaaaaaaaaaaaaaaa", "bbbbbbbbbbbbbbbbbbbbbbbbbb", "cccccccccccccccccccccccccc"}

func pending(id string) *approval.State {
	return approval.New(id, "alice", approval.Request{Title: "Deploy api", Environment: "production", Action: approval.Action{Type: "noop"}},
		approval.Policy{Name: "production", Approvers: []string{"bob", "carol", "dave"}, RequiredApprovals: 2, Deadline: time.Hour},
		time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
}

var prodConfig = config.Slack{
	DefaultChannel: "#approvals",
	PolicyChannels: map[string]string{"production": "#production-approvals"},
	DMApprovers:    true,
}

// TestPromptPostsToThePolicyChannelAndEachApprover: the policy's channel
// wins over the default one, each approver with a Slack ID gets a DM, and
// every post is returned as a MessageRef with unfurling off.
func TestPromptPostsToThePolicyChannelAndEachApprover(t *testing.T) {
	f := slackfake.New()
	defer f.Close()
	n := newNotifier(t, f, prodConfig, f.Token())
	d, err := n.Prompt(context.Background(), pending(ids[0]))
	require.NoError(t, err)

	msgs := f.Messages()
	require.Len(t, msgs, 3)
	assert.Equal(t, []string{"#production-approvals", "U0BOB", "U0CAROL"}, []string{msgs[0].Requested, msgs[1].Requested, msgs[2].Requested})
	assert.Equal(t, []string{"slack:#production-approvals", "slack:@bob", "slack:@carol"}, d.Targets)
	require.Len(t, d.Messages, 3)
	for i, m := range msgs {
		assert.Equal(t, "false", m.UnfurlLinks)
		assert.Equal(t, "false", m.UnfurlMedia)
		assert.Equal(t, approval.MessageRef{Notifier: "slack", Channel: m.Channel, ID: m.TS, User: []string{"", "bob", "carol"}[i]}, d.Messages[i])
		text := slackfake.Text(m.Blocks)
		assert.Contains(t, text, "0 of 2 approvals")
		assert.Contains(t, text, "https://signoff.example.com/approvals/"+ids[0])
		approve, ok := slackfake.Find(m.Blocks, "Approve")
		require.True(t, ok)
		assert.Equal(t, "signoff:approve:"+ids[0], approve.ActionID)
		assert.NotContains(t, string(m.Blocks), f.Token())
	}
	assert.Equal(t, f.ChannelID("production-approvals"), d.Messages[0].Channel)
}

// TestDelegatedDMsTheDelegateOnly: a delegate added after the prompt gets
// the prompt in a direct message, and nobody else is posted to again;
// with direct messages off, or no Slack ID, nothing is sent.
func TestDelegatedDMsTheDelegateOnly(t *testing.T) {
	f := slackfake.New()
	defer f.Close()
	st := pending(ids[0])
	st.Policy.Delegates = map[string]string{"bob": "alice"}
	n := newNotifier(t, f, prodConfig, f.Token())
	d, err := n.Delegated(context.Background(), st, "alice")
	require.NoError(t, err)
	msgs := f.Messages()
	require.Len(t, msgs, 1)
	assert.Equal(t, "U0ALICE", msgs[0].Requested)
	assert.Equal(t, []string{"slack:@alice"}, d.Targets)
	assert.Equal(t, []approval.MessageRef{{Notifier: "slack", Channel: msgs[0].Channel, ID: msgs[0].TS, User: "alice"}}, d.Messages)
	approve, ok := slackfake.Find(msgs[0].Blocks, "Approve")
	require.True(t, ok)
	assert.Equal(t, "signoff:approve:"+ids[0], approve.ActionID)

	d, err = n.Delegated(context.Background(), st, "dave")
	require.NoError(t, err)
	assert.Empty(t, d.Targets, "dave has no Slack ID")
	cfg := prodConfig
	cfg.DMApprovers = false
	d, err = newNotifier(t, f, cfg, f.Token()).Delegated(context.Background(), st, "alice")
	require.NoError(t, err)
	assert.Empty(t, d.Targets, "no direct messages: the channel has the prompt")
	assert.Len(t, f.Messages(), 1)
}

func TestPromptWithNowhereToPostFails(t *testing.T) {
	f := slackfake.New()
	defer f.Close()
	n := newNotifier(t, f, config.Slack{}, f.Token())
	_, err := n.Prompt(context.Background(), pending(ids[0]))
	requireAppError(t, err, ErrTypeConfig, true)
}

func requireAppError(t *testing.T, err error, typ string, nonRetryable bool) *temporal.ApplicationError {
	t.Helper()
	var app *temporal.ApplicationError
	require.ErrorAs(t, err, &app)
	assert.Equal(t, typ, app.Type())
	assert.Equal(t, nonRetryable, app.NonRetryable(), "non-retryable")
	return app
}

// promptActivity runs Prompt as a Temporal activity, so heartbeats are real.
func promptActivity(t *testing.T, n *Notifier, details any) (approval.Delivery, []progress.Progress, error) {
	t.Helper()
	var ts testsuite.WorkflowTestSuite
	env := ts.NewTestActivityEnvironment()
	env.RegisterActivityWithOptions(func(ctx context.Context, st approval.State) (approval.Delivery, error) {
		return n.Prompt(ctx, &st)
	}, activity.RegisterOptions{Name: "Prompt"})
	var mu sync.Mutex
	var beats []progress.Progress
	env.SetOnActivityHeartbeatListener(func(_ *activity.Info, d converter.EncodedValues) {
		var p progress.Progress
		require.NoError(t, d.Get(&p))
		mu.Lock()
		beats = append(beats, p)
		mu.Unlock()
	})
	if details != nil {
		env.SetHeartbeatDetails(details)
	}
	v, err := env.ExecuteActivity("Prompt", *pending(ids[0]))
	var d approval.Delivery
	if err == nil {
		require.NoError(t, v.Get(&d))
	}
	mu.Lock()
	defer mu.Unlock()
	return d, beats, err
}

// TestRetriedPromptSkipsTargetsAlreadyPosted: an attempt that fails after
// some posts records them in its heartbeat; the retry posts only the rest.
func TestRetriedPromptSkipsTargetsAlreadyPosted(t *testing.T) {
	f := slackfake.New()
	defer f.Close()
	n := newNotifier(t, f, prodConfig, f.Token())
	f.FailChannel("U0CAROL", "internal_error") // transient: the activity is retried

	_, beats, err := promptActivity(t, n, nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "internal_error")
	require.NotEmpty(t, beats, "progress must reach the heartbeat when the attempt fails")
	last := beats[len(beats)-1]
	assert.Len(t, last.Posted, 2, "channel and bob's DM were posted")
	require.Len(t, f.Messages(), 2)

	f.FailChannel("U0CAROL", "")
	d, _, err := promptActivity(t, n, last)
	require.NoError(t, err)
	msgs := f.Messages()
	require.Len(t, msgs, 3, "each target exactly once")
	assert.Equal(t, "U0CAROL", msgs[2].Requested)
	require.Len(t, d.Messages, 3, "the retry still returns every message, for the outcome")
	assert.Equal(t, msgs[0].TS, d.Messages[0].ID)
	assert.Equal(t, msgs[1].TS, d.Messages[1].ID)
}

// TestPermanentErrorsFailFast: a bad token or a missing channel is not
// retried; a channel that fails does not stop the DMs.
func TestPermanentErrorsFailFast(t *testing.T) {
	f := slackfake.New()
	defer f.Close()

	t.Run("invalid token", func(t *testing.T) {
		const wrong = "xoxb-wrong-token-1234567890"
		n := newNotifier(t, f, prodConfig, wrong)
		_, err := n.Prompt(context.Background(), pending(ids[0]))
		app := requireAppError(t, err, ErrTypeConfig, true)
		assert.Contains(t, app.Message(), "invalid_auth")
		assert.Contains(t, app.Message(), "SLACK_BOT_TOKEN")
		assert.NotContains(t, app.Error(), wrong)
		assert.Equal(t, 1, f.BadAuthCalls(), "the first refusal stops the prompt: no retry, no other recipient tried")
		assert.Empty(t, f.Messages())
	})
	t.Run("channel not found, DMs still go out", func(t *testing.T) {
		f.FailChannel("#production-approvals", "channel_not_found")
		defer f.FailChannel("#production-approvals", "")
		n := newNotifier(t, f, prodConfig, f.Token())
		d, err := n.Prompt(context.Background(), pending(ids[1]))
		require.NoError(t, err)
		assert.Len(t, d.Messages, 2)
		require.Len(t, d.Targets, 3)
		assert.Contains(t, d.Targets[2], "failed slack chat.postMessage to slack:#production-approvals: channel_not_found")
	})
	t.Run("nothing could be posted", func(t *testing.T) {
		f.FailChannel("#production-approvals", "not_in_channel")
		defer f.FailChannel("#production-approvals", "")
		cfg := prodConfig
		cfg.DMApprovers = false
		n := newNotifier(t, f, cfg, f.Token())
		_, err := n.Prompt(context.Background(), pending(ids[2]))
		app := requireAppError(t, err, ErrTypeTarget, true)
		assert.Contains(t, app.Message(), "/invite")
	})
}

// TestRateLimitsAreWaitedOut: past the channel's rate, Slack answers 429
// with Retry-After; every message still arrives, exactly once.
func TestRateLimitsAreWaitedOut(t *testing.T) {
	f := slackfake.New()
	defer f.Close()
	cfg := prodConfig
	cfg.DMApprovers = false
	n := newNotifier(t, f, cfg, f.Token())
	f.RateLimit(1)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	deliveries := make([]approval.Delivery, len(ids))
	errs := make([]error, len(ids))
	for i, id := range ids {
		wg.Go(func() { deliveries[i], errs[i] = n.Prompt(ctx, pending(id)) })
	}
	wg.Wait()
	for i := range ids {
		require.NoError(t, errs[i])
		require.Len(t, deliveries[i].Messages, 1)
	}
	assert.Positive(t, f.RateLimited(), "the limit must have been hit")
	msgs := f.Messages()
	require.Len(t, msgs, 3)
	seen := map[string]bool{}
	for _, m := range msgs {
		assert.False(t, seen[m.TS])
		seen[m.TS] = true
	}

	// The outcome's update and thread reply share the channel's budget too.
	st := approved(ids[0], deliveries[0].Messages)
	_, err := n.Outcome(ctx, st)
	require.NoError(t, err)
	assert.Len(t, f.Updates(), 1)
	assert.Len(t, f.Messages(), 4)
}

func approved(id string, refs []approval.MessageRef) *approval.State {
	st := pending(id)
	st.Messages = refs
	at := st.CreatedAt.Add(10 * time.Minute)
	st.Decide(approval.Attempt{ID: "a1", User: "bob", Decision: approval.DecisionApprove}, at)
	st.Decide(approval.Attempt{ID: "a2", User: "carol", Decision: approval.DecisionApprove}, at)
	st.ActionResult = &approval.ActionResult{Type: "noop", Success: true, Output: "done <ok>"}
	return st
}

// TestOutcomeUpdatesEveryPromptAndRepliesInThread: every prompt loses its
// buttons and shows who approved; channel prompts get the action's result
// as a thread reply, DMs do not.
func TestOutcomeUpdatesEveryPromptAndRepliesInThread(t *testing.T) {
	f := slackfake.New()
	defer f.Close()
	n := newNotifier(t, f, prodConfig, f.Token())
	d, err := n.Prompt(context.Background(), pending(ids[0]))
	require.NoError(t, err)

	st := approved(ids[0], append(d.Messages, approval.MessageRef{Notifier: "log", Channel: "x", ID: "y"}))
	out, err := n.Outcome(context.Background(), st)
	require.NoError(t, err)

	updates := f.Updates()
	require.Len(t, updates, 3)
	for i, u := range updates {
		assert.Equal(t, d.Messages[i].Channel, u.Channel)
		assert.Equal(t, d.Messages[i].ID, u.TS)
		assert.Empty(t, slackfake.Controls(u.Blocks), "buttons are gone")
		assert.Contains(t, slackfake.Text(u.Blocks), "✅ *Approved* by <@U0BOB> and <@U0CAROL> at <!date^")
	}
	msgs := f.Messages()
	require.Len(t, msgs, 4)
	reply := msgs[3]
	assert.Equal(t, d.Messages[0].Channel, reply.Channel)
	assert.Equal(t, d.Messages[0].ID, reply.ThreadTS)
	assert.Equal(t, "⚙️ Action `noop` succeeded.\n```done &lt;ok&gt;```", reply.Text)
	assert.Len(t, out.Targets, 4) // three updates, one reply

	t.Run("a deleted prompt does not stop the others", func(t *testing.T) {
		gone := append([]approval.MessageRef{{Notifier: "slack", Channel: d.Messages[0].Channel, ID: "1.000000"}}, d.Messages[1:]...)
		out, err := n.Outcome(context.Background(), approved(ids[0], gone))
		require.NoError(t, err)
		assert.True(t, strings.HasPrefix(out.Targets[len(out.Targets)-1], "failed "), out.Targets)
		assert.Contains(t, out.Targets[len(out.Targets)-1], "message_not_found")
	})
}

func TestOutcomeOfARejection(t *testing.T) {
	f := slackfake.New()
	defer f.Close()
	n := newNotifier(t, f, prodConfig, f.Token())
	d, err := n.Prompt(context.Background(), pending(ids[0]))
	require.NoError(t, err)
	st := pending(ids[0])
	st.Messages = d.Messages
	st.Decide(approval.Attempt{ID: "r", User: "carol", Decision: approval.DecisionReject, Comment: "freeze week"}, st.CreatedAt.Add(time.Minute))
	_, err = n.Outcome(context.Background(), st)
	require.NoError(t, err)
	for _, u := range f.Updates() {
		assert.Contains(t, slackfake.Text(u.Blocks), "❌ *Rejected* by <@U0CAROL>")
		assert.Contains(t, slackfake.Text(u.Blocks), ": freeze week")
	}
	assert.Len(t, f.Messages(), 3, "no action ran: no thread reply")
}

func TestTransientErrorAsksForRetryAfter(t *testing.T) {
	f := slackfake.New()
	defer f.Close()
	cfg := prodConfig
	cfg.DMApprovers = false
	n := newNotifier(t, f, cfg, f.Token())
	f.FailMethod("chat.postMessage", "http_503")
	_, err := n.Prompt(context.Background(), pending(ids[0]))
	requireAppError(t, err, ErrTypeTransient, false)

	// A 429 whose Retry-After outlasts the activity's deadline is handed
	// back to Temporal with that delay.
	f.FailMethod("chat.postMessage", "")
	f.RateLimit(1)
	_, err = n.Prompt(context.Background(), pending(ids[1]))
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err = n.Prompt(ctx, pending(ids[2]))
	app := requireAppError(t, err, ErrTypeTransient, false)
	assert.True(t, errors.As(err, &app))
	assert.Contains(t, app.Message(), "rate limited")
	assert.Equal(t, time.Second, app.NextRetryDelay(), "Temporal retries after Retry-After")
}
