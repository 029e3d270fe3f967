package ballot_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signoff/signoff/approval"
	"github.com/signoff/signoff/auth/proof"
	"github.com/signoff/signoff/channel/ballot"
	"github.com/signoff/signoff/config/identity"
	"github.com/signoff/signoff/store/approvalstore"
	"github.com/signoff/signoff/workflows"
)

// channelKind is how one channel hands its ballots in: every channel must
// pass the scenarios below (the contract of docs/architecture.md, "Adding
// a channel"). Prompted channels say where they were asked; the others
// bind the decision by the content hash the person saw.
type channelKind struct {
	name    string
	channel string
	// place is where a prompt of this channel was posted (nil: none).
	place func(conversation string) *approval.Place
	// posted is how its notifier records a prompt in a conversation.
	posted func(conversation string) approval.MessageRef
}

var channels = []channelKind{
	{name: "api", channel: "api"},
	{name: "email", channel: "email"},
	{name: "web", channel: "web"},
	{
		name: "slack", channel: "slack:C1",
		place: func(c string) *approval.Place {
			return &approval.Place{Notifier: approval.NotifierSlack, Channel: c, Revision: 0, Has2FA: true}
		},
		posted: func(c string) approval.MessageRef {
			return approval.MessageRef{Notifier: "slack", Channel: c, ID: "1.0"}
		},
	},
	{
		name: "teams", channel: "teams",
		place: func(c string) *approval.Place { return &approval.Place{Notifier: "teams", Channel: c, Revision: -1} },
		posted: func(c string) approval.MessageRef {
			return approval.MessageRef{Notifier: "teams", Channel: c, ID: "1"}
		},
	},
}

type fixture struct {
	box *ballot.Box
	mem *approvalstore.Memory
	id  string
	bob *identity.User
}

func newFixture(t *testing.T, k channelKind) *fixture {
	t.Helper()
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	keys := proof.Generate()
	mem := approvalstore.NewMemory(keys, func() time.Time { return now })
	id := "aaaaaaaaaaaaaaaaaaaaaaaaaa"
	require.NoError(t, mem.Start(context.Background(), workflows.Input{
		ID: id, Requester: "alice", CreatedAt: now.Add(-time.Minute), Rules: approval.RulesDelegation,
		Request: approval.Request{Title: "Deploy api", Environment: "production", Action: approval.Action{Type: "noop"}},
		Policy:  approval.Policy{Name: "production", Approvers: []string{"bob", "carol"}, RequiredApprovals: 2, Deadline: time.Hour},
	}))
	if k.posted != nil {
		mem.Posted(id, k.posted("C-asked"))
	}
	return &fixture{
		box: &ballot.Box{Approvals: mem, Proofs: keys, Now: func() time.Time { return now }},
		mem: mem, id: id, bob: &identity.User{Name: "bob"},
	}
}

// ballot is bob's approval as channel k receives it, asked in conversation.
func (f *fixture) ballot(t *testing.T, k channelKind, attempt, conversation string) ballot.Ballot {
	st, err := f.mem.Get(context.Background(), f.id)
	require.NoError(t, err)
	b := ballot.Ballot{
		ApprovalID: f.id, AttemptID: k.name + ":" + attempt, Person: f.bob, IdentifiedBy: "test", Channel: k.channel,
		Decision: approval.DecisionApprove, SeenHash: st.RequestHash,
	}
	if k.place != nil {
		b.Place = k.place(conversation)
	}
	return b
}

func TestEveryChannelPassesTheBallotScenarios(t *testing.T) {
	ctx := context.Background()
	for _, k := range channels {
		t.Run(k.name, func(t *testing.T) {
			t.Run("the asked approver decides", func(t *testing.T) {
				f := newFixture(t, k)
				v := f.box.Cast(ctx, f.ballot(t, k, "1", "C-asked"))
				require.Equal(t, ballot.Accepted, v.Outcome, "%v", v.Err)
				assert.True(t, v.Attempt.Accepted)
				assert.Equal(t, "bob", v.Attempt.User)
			})
			t.Run("a redelivery counts once", func(t *testing.T) {
				f := newFixture(t, k)
				b := f.ballot(t, k, "1", "C-asked")
				require.Equal(t, ballot.Accepted, f.box.Cast(ctx, b).Outcome)
				again := f.box.Cast(ctx, b)
				require.Equal(t, ballot.Accepted, again.Outcome, "%v", again.Err)
				st, err := f.mem.Get(ctx, f.id)
				require.NoError(t, err)
				assert.Len(t, st.Attempts, 1)
				approved, _ := st.Progress()
				assert.Equal(t, 1, approved)
			})
			t.Run("nobody decides for someone else", func(t *testing.T) {
				f := newFixture(t, k)
				b := f.ballot(t, k, "1", "C-asked")
				b.OnBehalfOf = "carol" // no delegation from carol
				v := f.box.Cast(ctx, b)
				require.Equal(t, ballot.Refused, v.Outcome)
				assert.Equal(t, approval.CodeNotDelegate, v.Refusal.Code, "%+v %v", v.Refusal, v.Err)
			})
			t.Run("an unknown sender is recorded, refused", func(t *testing.T) {
				f := newFixture(t, k)
				b := f.ballot(t, k, "1", "C-asked")
				b.Person, b.Name, b.Refusal = nil, k.name+":U999", "your account is not linked to a Signoff user"
				v := f.box.Cast(ctx, b)
				require.Equal(t, ballot.Refused, v.Outcome)
				st, err := f.mem.Get(ctx, f.id)
				require.NoError(t, err)
				require.Len(t, st.Attempts, 1, "the refused attempt is in the audit trail")
				assert.False(t, st.Attempts[0].Accepted)
			})
			t.Run("out of bounds sends nothing", func(t *testing.T) {
				f := newFixture(t, k)
				b := f.ballot(t, k, "1", "C-asked")
				b.Comment = strings.Repeat("x", ballot.MaxComment+1)
				v := f.box.Cast(ctx, b)
				require.Equal(t, ballot.Invalid, v.Outcome)
				var oob *ballot.OutOfBounds
				require.ErrorAs(t, v.Err, &oob)
				assert.Equal(t, "comment", oob.Field)
				st, err := f.mem.Get(ctx, f.id)
				require.NoError(t, err)
				assert.Empty(t, st.Attempts)
			})
			if k.place == nil {
				t.Run("content bound by the hash seen", func(t *testing.T) {
					f := newFixture(t, k)
					b := f.ballot(t, k, "1", "")
					b.SeenHash = strings.Repeat("0", 64)
					v := f.box.Cast(ctx, b)
					require.Equal(t, ballot.Refused, v.Outcome)
					assert.Equal(t, approval.CodeContentChanged, v.Refusal.Code)
				})
				return
			}
			t.Run("refused where it was not asked", func(t *testing.T) {
				f := newFixture(t, k)
				v := f.box.Cast(ctx, f.ballot(t, k, "1", "C-elsewhere"))
				require.Equal(t, ballot.Refused, v.Outcome, "a prompt copied to another conversation does not decide")
				assert.Equal(t, approval.CodeNotPromptedHere, v.Refusal.Code, v.Refusal.Message)
			})
		})
	}
}

func TestCheckBoundsWhatPeopleType(t *testing.T) {
	base := ballot.Ballot{ApprovalID: "a", AttemptID: "x"}
	for name, tc := range map[string]struct {
		mod   func(*ballot.Ballot)
		field string
	}{
		"fine":                {func(*ballot.Ballot) {}, ""},
		"comment too long":    {func(b *ballot.Ballot) { b.Comment = strings.Repeat("é", ballot.MaxComment+1) }, "comment"},
		"comment not UTF-8":   {func(b *ballot.Ballot) { b.Comment = "\xff" }, "comment"},
		"too many values":     {func(b *ballot.Ballot) { b.Values = make([]string, ballot.MaxValues+1) }, "values"},
		"long option value":   {func(b *ballot.Ballot) { b.Values = []string{"a", strings.Repeat("v", ballot.MaxValue+1)} }, "value"},
		"long text answer ok": {func(b *ballot.Ballot) { b.Values = []string{strings.Repeat("v", ballot.MaxComment)} }, ""},
		"malformed for whom":  {func(b *ballot.Ballot) { b.OnBehalfOf = "bob carol" }, "on_behalf_of"},
		"no approval":         {func(b *ballot.Ballot) { b.ApprovalID = "" }, "attempt_id"},
	} {
		t.Run(name, func(t *testing.T) {
			b := base
			tc.mod(&b)
			err := ballot.Check(b)
			if tc.field == "" {
				assert.NoError(t, err)
				return
			}
			var oob *ballot.OutOfBounds
			require.ErrorAs(t, err, &oob, fmt.Sprint(err))
			assert.Equal(t, tc.field, oob.Field)
		})
	}
}
