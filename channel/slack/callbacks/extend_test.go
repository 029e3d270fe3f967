package callbacks

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slack-go/slack"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signoff/signoff/approval"
	"github.com/signoff/signoff/approval/access"
	"github.com/signoff/signoff/channel/slack/slackfake"
	"github.com/signoff/signoff/config/identity"
	"github.com/signoff/signoff/intake"
	"github.com/signoff/signoff/store/approvalstore"
)

// extendCall is one request for more time the handler made.
type extendCall struct {
	User, Grant              string
	Duration                 time.Duration
	Justification, RequestID string
}

// fakeExtender starts extensions as the gateway's Service.Extend does,
// against the harness's approvals: the may-read check, intake.Extension's
// rules, the policy's max_duration, one approval per request ID.
type fakeExtender struct {
	apps  *fakeApprovals
	mu    sync.Mutex
	calls []extendCall
}

func (f *fakeExtender) extend(ctx context.Context, user *identity.User, grantID string, d time.Duration, justification, requestID string) (*approval.State, error) {
	f.mu.Lock()
	f.calls = append(f.calls, extendCall{User: user.Name, Grant: grantID, Duration: d, Justification: justification, RequestID: requestID})
	f.mu.Unlock()
	grant, err := f.apps.Get(ctx, grantID)
	if err != nil {
		return nil, err
	}
	if !access.CanRead(grant, user) {
		return nil, approvalstore.ErrNotFound
	}
	r, err := intake.Extension(grant, user.Name, d)
	if err != nil {
		return nil, err
	}
	if d > grant.Policy.MaxDuration {
		return nil, fmt.Errorf("%w: duration %s is longer than policy %q allows (%s)", intake.ErrInvalid, d, grant.Policy.Name, grant.Policy.MaxDuration)
	}
	id := intake.NewID()
	if requestID != "" {
		id = intake.ApprovalID(user.Name, requestID)
	}
	f.apps.mu.Lock()
	defer f.apps.mu.Unlock()
	if st, ok := f.apps.states[id]; ok {
		return clone(st), nil
	}
	st := approval.New(id, user.Name, r, grant.Policy, time.Now())
	st.Justification = justification
	f.apps.states[id] = st
	return clone(st), nil
}

func (f *fakeExtender) Calls() []extendCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]extendCall(nil), f.calls...)
}

// extendHarness serves alice's grant (at most 8h at a time) with the
// fake extender.
func extendHarness(t *testing.T) (*harness, *fakeExtender) {
	t.Helper()
	st := grantedApproval(t)
	st.Policy.MaxDuration = 8 * time.Hour
	fe := &fakeExtender{}
	hs := newHarness(t, func(o *Options) { o.Extend = fe.extend }, st)
	fe.apps = hs.apps
	return hs, fe
}

// commandWith sends a slash command with a trigger ID, as Slack does.
func (hs *harness) commandWith(user, text, trigger string) slack.WebhookMessage {
	hs.t.Helper()
	cmd := slackfake.Command{TeamID: team, UserID: user, ChannelID: prodCh, Text: text, ResponseURL: hs.fake.ResponseURL(), TriggerID: trigger}
	code, body := hs.post(PathCommands, cmd.Form().Encode())
	require.Equal(hs.t, http.StatusOK, code, body)
	var msg slack.WebhookMessage
	require.NoError(hs.t, json.Unmarshal([]byte(body), &msg), body)
	assert.Equal(hs.t, "ephemeral", msg.ResponseType, "only the caller sees it")
	return msg
}

// TestSlashExtend: the grantee, identified by their verified Slack user,
// asks for more time; the extension's approval is started in their name
// with the justification as written, once per command, and they are told
// its ID and who is asked.
func TestSlashExtend(t *testing.T) {
	hs, fe := extendHarness(t)
	msg := hs.commandWith("U0ALICE", "extend "+approvalA+" 1h finishing  the <migration>", "T1.1")
	calls := fe.Calls()
	require.Len(t, calls, 1)
	assert.Equal(t, extendCall{User: "alice", Grant: approvalA, Duration: time.Hour, Justification: "finishing  the <migration>",
		RequestID: "slack:extend:T1.1"}, calls[0])
	ext := intake.ApprovalID("alice", "slack:extend:T1.1")
	assert.Equal(t, "✅ Asked for 1h more: approval `"+ext+"` (<https://signoff.example.com/approvals/"+ext+"|Extend: Deploy api>). "+
		"Waiting for <@U0BOB>, <@U0CAROL>, dana, <@U0GUEST>, <@U0GONE> and <@U0EXT> (0 of 1 approvals). "+
		"Your access ends when it did until the extension is approved; then it lasts 1h from that approval.", msg.Text)
	st, err := hs.apps.Get(t.Context(), ext)
	require.NoError(t, err)
	assert.Equal(t, approvalA, st.Request.Extends)
	assert.Equal(t, "finishing  the <migration>", st.Justification)

	// Delivered again: the same extension, nothing new.
	again := hs.commandWith("U0ALICE", "extend "+approvalA+" 1h finishing  the <migration>", "T1.1")
	assert.Equal(t, msg.Text, again.Text)
	hs.apps.mu.Lock()
	n := len(hs.apps.states)
	hs.apps.mu.Unlock()
	assert.Equal(t, 2, n, "the grant and one extension")

	assert.Contains(t, hs.command("U0ALICE", "help").Text, "/signoff extend <id> 1h [justification]")
}

// TestSlashExtendRefusals: malformed commands get the usage; only the
// grantee may ask, for a grant granted now, within the policy's
// max_duration; people Slack's checks refuse, or mapped to nobody, are
// refused before anything is asked; a grant the caller may not read is
// not found.
func TestSlashExtendRefusals(t *testing.T) {
	hs, fe := extendHarness(t)
	for _, text := range []string{"extend", "extend " + approvalA, "extend nope 1h", "extend " + approvalA + " forever",
		"extend " + approvalA + " -1h", "extend " + approvalA + " 1000d"} {
		assert.True(t, strings.HasPrefix(hs.command("U0ALICE", text).Text, "Usage: `/signoff extend"), text)
	}
	assert.Empty(t, fe.Calls(), "nothing asked for malformed commands")

	for _, tc := range []struct{ name, user, text, want string }{
		{"an approver", "U0BOB", "extend " + approvalA + " 1h", "❌ Not extended: only the grantee (alice) may ask to extend this grant."},
		{"too long for the policy", "U0ALICE", "extend " + approvalA + " 9h",
			`❌ Not extended: duration 9h0m0s is longer than policy "production" allows (8h0m0s).`},
		{"an unknown approval", "U0ALICE", "extend " + approvalB + " 1h", "There is no approval `" + approvalB + "`."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, hs.command(tc.user, tc.text).Text)
		})
	}
	calls := len(fe.Calls())
	for user, want := range map[string]string{"U0EVE": RefusedUnknownUser, "U0GUEST": RefusedGuest, "U0GONE": RefusedDeleted} {
		assert.Equal(t, "❌ "+want+".", hs.command(user, "extend "+approvalA+" 1h").Text, user)
	}
	assert.Len(t, fe.Calls(), calls, "refused before anything is asked")

	t.Run("not granted now", func(t *testing.T) {
		hs.apps.mu.Lock()
		hs.apps.states[approvalA].MarkRevoked(time.Now(), "alice_db is not a member of orders_read")
		hs.apps.mu.Unlock()
		assert.Equal(t, "❌ Not extended: approval "+approvalA+" grants no access now (status Revoked): ask for new access instead.",
			hs.command("U0ALICE", "extend "+approvalA+" 1h").Text)
	})
}

// TestSlashExtendUnavailable: without a starter the command says so and
// asks nothing.
func TestSlashExtendUnavailable(t *testing.T) {
	hs := newHarness(t, nil, grantedApproval(t))
	assert.Contains(t, hs.command("U0ALICE", "extend "+approvalA+" 1h").Text, "not available here")
}
