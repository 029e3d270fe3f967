package slack

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signoff/signoff/approval"
	"github.com/signoff/signoff/internal/slackfake"
	"github.com/signoff/signoff/slackkit"
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
			act, err := slackkit.ParseAction(ctls[0].ActionID)
			require.NoError(t, err, "the gateway reads it")
			assert.Equal(t, slackkit.VerbRevoke, act.Verb)
			assert.Equal(t, "Granted: Deploy api (production)", u.Text)
		}
		assert.Equal(t, "⚙️ Action `postgres_role` succeeded.\n```alice_db is a member of orders_read```", reply)
	})

	t.Run("revoke asked for", func(t *testing.T) {
		st := granted(ids[0], d.Messages)
		at := revokeAt.Add(-time.Hour)
		require.NoError(t, st.RequestRevoke(approval.Actor{User: "alice", Proof: "test"}, "done early", at))
		require.False(t, slackkit.RevokeOffered(st))
		// No notice is sent for the request itself; should one be, it
		// shows the revoke under way.
		for _, b := range n.render.OutcomeBlocks(st) {
			assert.NotEqual(t, "actions", string(b.BlockType()))
		}
		assert.Contains(t, n.render.OutcomeLine(st), "⏳ Revoke asked by <@U0ALICE> at "+slackkit.Date(at)+": done early")
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
			assert.Contains(t, text, "🔒 *Access revoked* at "+slackkit.Date(done)+", early: asked by <@U0ALICE>\n"+
				"Scheduled to end "+slackkit.Date(revokeAt)+" · approved by <@U0BOB> and <@U0CAROL> at <!date^")
			assert.Contains(t, text, "*How it was verified:* ```alice_db is not a member of orders_read &lt;pg_auth_members&gt;```")
			assert.Equal(t, "Revoked: Deploy api (production)", u.Text)
		}
		assert.Equal(t, "🔒 Access revoked (`postgres_role`).\n```alice_db is not a member of orders_read &lt;pg_auth_members&gt;```", reply)
	})

	t.Run("revoked on time", func(t *testing.T) {
		st := granted(ids[0], d.Messages)
		st.MarkRevoked(revokeAt, "alice_db is not a member of orders_read")
		assert.Contains(t, n.render.OutcomeLine(st), "🔒 *Access revoked* at "+slackkit.Date(revokeAt)+", as scheduled")
	})
}
