package notifier

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/testsuite"

	"github.com/signoff/signoff/activities"
	"github.com/signoff/signoff/activities/progress"
	"github.com/signoff/signoff/approval"
	"github.com/signoff/signoff/channel/slack/slackfake"
	"github.com/signoff/signoff/channel/slack/slackmsg"
	"github.com/signoff/signoff/config"
	"github.com/signoff/signoff/workflows"
)

// granted is alice's access to orders, approved by bob and carol and
// granted for two hours, with its prompts in refs.
func granted(id string, refs []approval.MessageRef) *approval.State {
	st := pending(id)
	st.Request.Duration = 2 * time.Hour
	st.Request.Action = approval.Action{Type: "postgres_role", Params: map[string]string{"target": "orders", "role": "orders_read", "user": "alice_db"}}
	st.Messages = refs
	at := st.CreatedAt.Add(10 * time.Minute)
	st.Decide(approval.Attempt{ID: "a1", User: "bob", Decision: approval.DecisionApprove}, at)
	st.Decide(approval.Attempt{ID: "a2", User: "carol", Decision: approval.DecisionApprove}, at)
	st.StartGrant(st.ClosedAt)
	st.ActionResult = &approval.ActionResult{Type: "postgres_role", Success: true, Output: "alice_db is a member of orders_read"}
	st.MarkGranted(at.Add(time.Second), st.ActionResult.Output)
	return st
}

func unix(t time.Time) string { return strconv.FormatInt(t.Unix(), 10) }

// TestOutcomeOfAGrant: while access is granted, every prompt shows until
// when and offers "Revoke now" (danger, confirmed); once a revoke is asked
// for, is failing or is done, the button is gone and the message says so.
// Each notice replies in the channel's thread with its own news.
func TestOutcomeOfAGrant(t *testing.T) {
	f := slackfake.New()
	defer f.Close()
	n := newNotifier(t, f, prodConfig, f.Token())
	d, err := n.Prompt(context.Background(), pending(ids[0]))
	require.NoError(t, err)
	revokeAt := pending(ids[0]).CreatedAt.Add(10*time.Minute + 2*time.Hour)

	// outcome runs one notice and returns its updates and thread reply.
	outcome := func(t *testing.T, st *approval.State) ([]slackfake.Update, string) {
		t.Helper()
		updates, msgs := len(f.Updates()), len(f.Messages())
		_, err := n.Outcome(context.Background(), st)
		require.NoError(t, err)
		got := f.Updates()[updates:]
		require.Len(t, got, 3, "every prompt updated")
		replies := f.Messages()[msgs:]
		require.Len(t, replies, 1, "one thread reply, in the channel")
		assert.Equal(t, d.Messages[0].ID, replies[0].ThreadTS)
		return got, replies[0].Text
	}

	t.Run("granted", func(t *testing.T) {
		st := granted(ids[0], d.Messages)
		updates, reply := outcome(t, st)
		for _, u := range updates {
			text := slackfake.Text(u.Blocks)
			assert.Contains(t, text, "🔓 *Access granted* until <!date^"+unix(revokeAt)+"^{date_short_pretty} at {time}|"+
				revokeAt.UTC().Format("2006-01-02 15:04 UTC")+"> · approved by <@U0BOB> and <@U0CAROL> at <!date^")
			ctls := slackfake.Controls(u.Blocks)
			require.Len(t, ctls, 1, "Revoke now, nothing else")
			assert.Equal(t, "Revoke now", ctls[0].Text)
			assert.Equal(t, "signoff:revoke:"+ids[0], ctls[0].ActionID)
			assert.Equal(t, "danger", ctls[0].Style)
			assert.True(t, ctls[0].Confirm, "confirm dialog")
			act, err := slackmsg.ParseAction(ctls[0].ActionID)
			require.NoError(t, err, "the gateway reads it")
			assert.Equal(t, slackmsg.VerbRevoke, act.Verb)
			assert.Equal(t, "Granted: Deploy api (production)", u.Text)
		}
		assert.Equal(t, "⚙️ Action `postgres_role` succeeded.\n```alice_db is a member of orders_read```", reply)
	})

	t.Run("revoke asked for", func(t *testing.T) {
		st := granted(ids[0], d.Messages)
		at := revokeAt.Add(-time.Hour)
		require.NoError(t, st.RequestRevoke(approval.Actor{User: "alice", Proof: "test"}, "done early", at))
		require.False(t, slackmsg.RevokeOffered(st))
		// No notice is sent for the request itself; should one be, it
		// shows the revoke under way.
		for _, b := range n.render.OutcomeBlocks(st) {
			assert.NotEqual(t, "actions", string(b.BlockType()))
		}
		assert.Contains(t, n.render.OutcomeLine(st), "⏳ Revoke asked by <@U0ALICE> at "+slackmsg.Date(at)+": done early")
	})

	t.Run("revoke failing", func(t *testing.T) {
		st := granted(ids[0], d.Messages)
		st.RevokeFailed(revokeAt, "connection refused")
		updates, reply := outcome(t, st)
		for _, u := range updates {
			assert.Empty(t, slackfake.Controls(u.Blocks), "the revoke is under way: no button")
			assert.Contains(t, slackfake.Text(u.Blocks), "⚠️ The revoke failed once so far")
		}
		assert.Equal(t, "⚠️ The revoke of this access (`postgres_role`) failed once so far: it is tried again until it is verified.", reply)
	})

	t.Run("revoked early", func(t *testing.T) {
		st := granted(ids[0], d.Messages)
		asked, done := revokeAt.Add(-time.Hour), revokeAt.Add(-time.Hour+3*time.Second)
		require.NoError(t, st.RequestRevoke(approval.Actor{User: "alice", Proof: "test"}, "", asked))
		st.MarkRevoked(done, "alice_db is not a member of orders_read <pg_auth_members>")
		updates, reply := outcome(t, st)
		for _, u := range updates {
			assert.Empty(t, slackfake.Controls(u.Blocks), "no button once revoked")
			text := slackfake.Text(u.Blocks)
			assert.Contains(t, text, "🔒 *Access revoked* at "+slackmsg.Date(done)+", early: asked by <@U0ALICE>\n"+
				"Scheduled to end "+slackmsg.Date(revokeAt)+" · approved by <@U0BOB> and <@U0CAROL> at <!date^")
			assert.Contains(t, text, "*How it was verified:* ```alice_db is not a member of orders_read &lt;pg_auth_members&gt;```")
			assert.Equal(t, "Revoked: Deploy api (production)", u.Text)
		}
		assert.Equal(t, "🔒 Access revoked (`postgres_role`).\n```alice_db is not a member of orders_read &lt;pg_auth_members&gt;```", reply)
	})

	t.Run("revoked on time", func(t *testing.T) {
		st := granted(ids[0], d.Messages)
		st.MarkRevoked(revokeAt, "alice_db is not a member of orders_read")
		assert.Contains(t, n.render.OutcomeLine(st), "🔒 *Access revoked* at "+slackmsg.Date(revokeAt)+", as scheduled")
	})
}

// notify runs one notice through the activity's dispatch, as the worker
// does.
func notify(t *testing.T, n *Notifier, kind workflows.NoticeKind, st *approval.State) (approval.Delivery, error) {
	t.Helper()
	acts := &activities.Activities{Notifiers: map[string]activities.Notifier{Name: n}}
	return acts.Notify(context.Background(), workflows.NotifyInput{Notifier: Name, Kind: kind, Approval: *st})
}

// TestGrantEndingRepliesInTheThread: before the end the grantee is told,
// by mention, in the thread of the approval's channel message (never in
// the approvers' DMs), when the access ends and how to ask for more: the
// slash command and the approval's page. Nothing is updated, and the
// reply is no message for the outcome to update later.
func TestGrantEndingRepliesInTheThread(t *testing.T) {
	f := slackfake.New()
	defer f.Close()
	n := newNotifier(t, f, prodConfig, f.Token())
	d, err := n.Prompt(context.Background(), pending(ids[0]))
	require.NoError(t, err)
	st := granted(ids[0], d.Messages)
	st.Policy.MaxDuration = 8 * time.Hour
	msgs, updates := len(f.Messages()), len(f.Updates())

	got, err := notify(t, n, workflows.NoticeGrantEnding, st)
	require.NoError(t, err)
	replies := f.Messages()[msgs:]
	require.Len(t, replies, 1, "one reply, in the channel's thread")
	r := replies[0]
	assert.Equal(t, d.Messages[0].Channel, r.Channel)
	assert.Equal(t, d.Messages[0].ID, r.ThreadTS)
	assert.Equal(t, "false", r.UnfurlLinks)
	assert.Equal(t, "⏰ <@U0ALICE>, your access (`postgres_role`) ends at "+slackmsg.Date(st.Grant.RevokeAt)+".\n"+
		"Need more time? Ask with `/signoff extend "+ids[0]+" 1h [why]`, or *Ask for more time* on "+
		"<https://signoff.example.com/approvals/"+ids[0]+"|the approval's page>. The policy's approvers decide (at most 8h at a time).", r.Text)
	assert.Contains(t, r.Text, "|"+st.Grant.RevokeAt.UTC().Format("2006-01-02 15:04 UTC")+">", "UTC fallback")
	assert.Len(t, f.Updates(), updates, "nothing updated")
	assert.Empty(t, got.Messages)
	assert.Equal(t, []string{"told slack:" + d.Messages[0].Channel + ":" + d.Messages[0].ID}, got.Targets)

	t.Run("a policy allowing less than an hour", func(t *testing.T) {
		st := granted(ids[0], d.Messages)
		st.Policy.MaxDuration = 30 * time.Minute
		assert.Contains(t, n.render.GrantEndingText(st), "`/signoff extend "+ids[0]+" 30m [why]`")
		assert.Contains(t, n.render.GrantEndingText(st), "(at most 30m at a time)")
	})
}

// TestGrantEndingWithoutAChannel: with no channel message the grantee is
// told in a direct message; with no Slack ID either, the notice fails for
// good (the audit trail says why).
func TestGrantEndingWithoutAChannel(t *testing.T) {
	f := slackfake.New()
	defer f.Close()
	n := newNotifier(t, f, config.Slack{DMApprovers: true}, f.Token())
	d, err := n.Prompt(context.Background(), pending(ids[0]))
	require.NoError(t, err)
	require.Len(t, d.Messages, 2, "the approvers' DMs only")
	st := granted(ids[0], d.Messages)
	before := len(f.Messages())
	got, err := n.GrantEnding(context.Background(), st)
	require.NoError(t, err)
	msgs := f.Messages()[before:]
	require.Len(t, msgs, 1)
	assert.Equal(t, "U0ALICE", msgs[0].Requested)
	assert.Empty(t, msgs[0].ThreadTS)
	assert.Contains(t, msgs[0].Text, "your access (`postgres_role`) ends at "+slackmsg.Date(st.Grant.RevokeAt))
	assert.Equal(t, []string{"told slack:@alice"}, got.Targets)

	st.Requester = "dave" // no slack_id
	_, err = n.GrantEnding(context.Background(), st)
	app := requireAppError(t, err, ErrTypeConfig, true)
	assert.Contains(t, app.Message(), "nowhere to tell dave")
}

// TestRetriedGrantEndingRepliesOnce: a retry skips the replies its
// heartbeat says were posted.
func TestRetriedGrantEndingRepliesOnce(t *testing.T) {
	f := slackfake.New()
	defer f.Close()
	n := newNotifier(t, f, prodConfig, f.Token())
	d, err := n.Prompt(context.Background(), pending(ids[0]))
	require.NoError(t, err)
	st := granted(ids[0], d.Messages)
	var ts testsuite.WorkflowTestSuite
	env := ts.NewTestActivityEnvironment()
	env.RegisterActivityWithOptions(func(ctx context.Context, st approval.State) (approval.Delivery, error) {
		return n.GrantEnding(ctx, &st)
	}, activity.RegisterOptions{Name: "GrantEnding"})
	env.SetHeartbeatDetails(progress.Progress{Done: map[string]bool{"ending:" + d.Messages[0].Channel + ":" + d.Messages[0].ID: true}})
	before := len(f.Messages())
	v, err := env.ExecuteActivity("GrantEnding", *st)
	require.NoError(t, err)
	var got approval.Delivery
	require.NoError(t, v.Get(&got))
	assert.Len(t, f.Messages(), before, "posted by the earlier attempt")
	assert.Equal(t, []string{"told slack:" + d.Messages[0].Channel + ":" + d.Messages[0].ID}, got.Targets)
}

// TestOutcomeOfAnExtendedGrant: once an extension moves the end, the
// outcome notice updates every prompt to the new end, says which approval
// extended it, still offers "Revoke now", and replies with the news
// rather than the grant's action result again.
func TestOutcomeOfAnExtendedGrant(t *testing.T) {
	f := slackfake.New()
	defer f.Close()
	n := newNotifier(t, f, prodConfig, f.Token())
	d, err := n.Prompt(context.Background(), pending(ids[0]))
	require.NoError(t, err)
	st := granted(ids[0], d.Messages)
	was := st.Grant.RevokeAt
	at, to := was.Add(-10*time.Minute), was.Add(50*time.Minute)
	const ext = "eeeeeeeeeeeeeeeeeeeeeeeeee"
	require.NoError(t, st.Extend(approval.Actor{User: "signoff", Proof: "test"}, ext, to, at))
	updates, msgs := len(f.Updates()), len(f.Messages())

	_, err = n.Outcome(context.Background(), st)
	require.NoError(t, err)
	got := f.Updates()[updates:]
	require.Len(t, got, 3, "every prompt updated")
	for _, u := range got {
		text := slackfake.Text(u.Blocks)
		assert.Contains(t, text, "🔓 *Access granted* until "+slackmsg.Date(to)+" · approved by <@U0BOB> and <@U0CAROL>")
		assert.Contains(t, text, "⏩ Access extended by approval <https://signoff.example.com/approvals/"+ext+"|`"+ext+"`> at "+
			slackmsg.Date(at)+" (it was to end "+slackmsg.Date(was)+")")
		ctls := slackfake.Controls(u.Blocks)
		require.Len(t, ctls, 1)
		assert.Equal(t, "Revoke now", ctls[0].Text)
	}
	replies := f.Messages()[msgs:]
	require.Len(t, replies, 1)
	assert.Equal(t, "⏩ Access extended until "+slackmsg.Date(to)+" by approval `"+ext+"`.", replies[0].Text)

	t.Run("twice, then revoked", func(t *testing.T) {
		const ext2 = "ffffffffffffffffffffffffff"
		later := to.Add(time.Hour)
		require.NoError(t, st.Extend(approval.Actor{User: "signoff", Proof: "test"}, ext2, later, to.Add(-time.Minute)))
		assert.Contains(t, n.render.OutcomeLine(st), "⏩ Access extended 2 times, last by approval <https://signoff.example.com/approvals/"+ext2+"|`"+ext2+"`>")
		st.MarkRevoked(later, "alice_db is not a member of orders_read")
		line := n.render.OutcomeLine(st)
		assert.Contains(t, line, "Scheduled to end "+slackmsg.Date(later))
		assert.Contains(t, line, "⏩ Access extended 2 times")
		assert.Equal(t, "🔒 Access revoked (`postgres_role`).\n```alice_db is not a member of orders_read```", slackmsg.OutcomeReplyText(st))
	})
}
