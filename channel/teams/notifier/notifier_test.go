package notifier

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"

	"github.com/signoff/signoff/approval"
	"github.com/signoff/signoff/channel/teams/teamsfake"
	"github.com/signoff/signoff/channel/teams/teamsmsg"
	"github.com/signoff/signoff/config"
	"github.com/signoff/signoff/config/identity"
)

const (
	bobOID   = "00000000-0000-0000-0000-00000000b0b0"
	carolOID = "00000000-0000-0000-0000-0000000ca201"
	channel  = "19:approvals@thread.tacv2"
)

func newNotifier(t *testing.T, f *teamsfake.Server, password string) *Notifier {
	t.Helper()
	dir, err := identity.NewDirectory([]identity.User{
		{Name: "alice"},
		{Name: "bob", TeamsID: bobOID},
		{Name: "carol", TeamsID: carolOID},
		{Name: "dave"}, // no teams_id: no personal message
	})
	require.NoError(t, err)
	cfg := config.Teams{AppID: f.AppID(), TenantID: f.TenantID(), ServiceURL: f.ServiceURL(), TokenURL: f.TokenURL(),
		DefaultConversation: channel, DMApprovers: true}.WithDefaults()
	require.NoError(t, cfg.Validate())
	conn, err := teamsmsg.NewConnector(teamsmsg.ConnectorOptions{AppID: cfg.AppID, AppPassword: password, TokenURL: cfg.TokenURL,
		Scope: config.TeamsScope, ServiceURL: cfg.ServiceURL})
	require.NoError(t, err)
	n, err := New(Options{Config: cfg, Connector: conn, Directory: dir, PublicURL: "https://signoff.example.com",
		Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	return n
}

func newFake(t *testing.T) *teamsfake.Server {
	f := teamsfake.New(teamsfake.Options{})
	t.Cleanup(f.Close)
	f.AddChannel(channel)
	f.AddUser(teamsfake.User{TeamsID: "29:bob", AADObjectID: bobOID, Name: "Bob", Email: "bob@example.com"})
	f.AddUser(teamsfake.User{TeamsID: "29:carol", AADObjectID: carolOID, Name: "Carol", Email: "carol@example.com"})
	return f
}

func pending() *approval.State {
	return approval.New("aaaaaaaaaaaaaaaaaaaaaaaaaa", "alice", approval.Request{Title: "Deploy api", Environment: "production",
		Action: approval.Action{Type: "webhook", URL: "https://deploy.example.com/hook", Params: map[string]string{"version": "2.3.0"}}},
		approval.Policy{Name: "production", Approvers: []string{"bob", "carol", "dave"}, RequiredApprovals: 2, Deadline: time.Hour},
		time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
}

func cardText(t *testing.T, a teamsmsg.Activity) string {
	t.Helper()
	require.Len(t, a.Attachments, 1)
	assert.Equal(t, teamsmsg.ContentTypeAdaptiveCard, a.Attachments[0].ContentType)
	b, err := json.Marshal(a.Attachments[0].Content)
	require.NoError(t, err)
	return string(b)
}

// TestPromptPostsToTheChannelAndEachApprover: the card goes to the
// channel and to a personal chat with each approver who has a teams_id,
// through the Bot Connector with the bot's token; each post comes back as
// a MessageRef to update later.
func TestPromptPostsToTheChannelAndEachApprover(t *testing.T) {
	f := newFake(t)
	n := newNotifier(t, f, f.AppPassword())
	st := pending()
	d, err := n.Prompt(context.Background(), st)
	require.NoError(t, err)
	assert.Equal(t, []string{"teams:" + channel, "teams:@bob", "teams:@carol"}, d.Targets)
	require.Len(t, d.Messages, 3)
	msgs := f.Messages()
	require.Len(t, msgs, 3)
	for i, m := range msgs {
		assert.Equal(t, approval.MessageRef{Notifier: Name, Channel: m.ConversationID, ID: m.ActivityID, User: []string{"", "bob", "carol"}[i]}, d.Messages[i])
		text := cardText(t, m.Activity)
		assert.Contains(t, text, "Action: webhook → https://deploy.example.com/hook")
		assert.Contains(t, text, `"verb":"approve"`)
		assert.Contains(t, text, st.RequestHash)
	}
	assert.Equal(t, channel, msgs[0].ConversationID)
	assert.Equal(t, 1, f.TokensIssued(), "one token for every call")

	// The approval ends: every card loses its buttons.
	st.Messages = d.Messages
	st.Decide(approval.Attempt{ID: "1", User: "bob", Decision: approval.DecisionApprove}, st.CreatedAt.Add(time.Minute))
	st.Decide(approval.Attempt{ID: "2", User: "carol", Decision: approval.DecisionApprove}, st.CreatedAt.Add(time.Minute))
	require.Equal(t, approval.StatusApproved, st.Status)
	out, err := n.Outcome(context.Background(), st)
	require.NoError(t, err)
	assert.Len(t, out.Targets, 3)
	for _, m := range f.Messages() {
		assert.Equal(t, 1, m.Updates)
		text := cardText(t, m.Activity)
		assert.Contains(t, text, "Approved by bob and carol")
		assert.NotContains(t, text, `"verb":"approve"`)
	}
}

// TestDelegatedPostsToTheDelegateOnly: a delegate added while the
// approval waits gets the card in a personal chat; nobody else is posted
// to; a delegate without a teams_id gets nothing (the channel has it).
func TestDelegatedPostsToTheDelegateOnly(t *testing.T) {
	f := newFake(t)
	n := newNotifier(t, f, f.AppPassword())
	st := pending()
	st.Policy.Delegates = map[string]string{"dave": "carol"}
	d, err := n.Delegated(context.Background(), st, "carol")
	require.NoError(t, err)
	assert.Equal(t, []string{"teams:@carol"}, d.Targets)
	msgs := f.Messages()
	require.Len(t, msgs, 1)
	assert.Equal(t, approval.MessageRef{Notifier: Name, Channel: msgs[0].ConversationID, ID: msgs[0].ActivityID, User: "carol"}, d.Messages[0])
	assert.Contains(t, cardText(t, msgs[0].Activity), `"verb":"approve"`)

	d, err = n.Delegated(context.Background(), st, "alice")
	require.NoError(t, err)
	assert.Empty(t, d.Targets, "alice has no teams_id")
	assert.Len(t, f.Messages(), 1)
}

// TestFailuresAreClassified: a refused secret is not retried; the Bot
// Connector's 429 is, after its Retry-After; a person the bot cannot
// reach is noted while the others are prompted.
func TestFailuresAreClassified(t *testing.T) {
	t.Run("refused secret", func(t *testing.T) {
		f := newFake(t)
		_, err := newNotifier(t, f, "wrong").Prompt(context.Background(), pending())
		var app *temporal.ApplicationError
		require.True(t, errors.As(err, &app), "%v", err)
		assert.Equal(t, ErrTypeConfig, app.Type())
		assert.True(t, app.NonRetryable())
		assert.NotContains(t, err.Error(), "wrong")
	})
	t.Run("rate limited", func(t *testing.T) {
		f := newFake(t)
		f.RateLimitNext(1)
		_, err := newNotifier(t, f, f.AppPassword()).Prompt(context.Background(), pending())
		var app *temporal.ApplicationError
		require.True(t, errors.As(err, &app), "%v", err)
		assert.Equal(t, ErrTypeTransient, app.Type())
		assert.False(t, app.NonRetryable())
		assert.Equal(t, time.Second, app.NextRetryDelay())
	})
	t.Run("unreachable person", func(t *testing.T) {
		f := teamsfake.New(teamsfake.Options{})
		t.Cleanup(f.Close)
		f.AddChannel(channel)
		f.AddUser(teamsfake.User{TeamsID: "29:bob", AADObjectID: bobOID})
		// carol has no Teams account the bot knows (the app not installed).
		d, err := newNotifier(t, f, f.AppPassword()).Prompt(context.Background(), pending())
		require.NoError(t, err)
		assert.Len(t, d.Messages, 2)
		assert.Contains(t, d.Targets[2], "failed teams create conversation to teams:@carol")
	})
}
