package slackmsg

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/slack-go/slack"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signoff/signoff/approval"
)

const testID = "abcdefghijklmnopqrstuvwxyz"

var created = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func testState(in approval.Input) *approval.State {
	st := approval.New(testID, "alice", approval.Request{
		Title: "Deploy api <v2> & friends", Environment: "production", Resource: "api",
		Description: "Ship it\n<!channel> please",
		Fields:      map[string]string{"version": "2.3.0", "commit": "abc123", "approver_note": "<@U0EVIL>"},
		Action:      approval.Action{Type: "noop"}, Input: in,
	}, approval.Policy{Name: "production", Version: "v1", Approvers: []string{"bob", "carol"}, RequiredApprovals: 2, Deadline: 24 * time.Hour}, created)
	return st
}

var render = Render{PublicURL: "https://signoff.example.com/", SlackID: func(n string) string {
	return map[string]string{"alice": "U0ALICE", "bob": "U0BOB", "carol": "U0CAROL"}[n]
}}

// blocksJSON renders blocks as Slack receives them.
func blocksJSON(t *testing.T, blocks []slack.Block) string {
	t.Helper()
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	require.NoError(t, enc.Encode(blocks))
	// Blocks with their own MarshalJSON escape HTML anyway; read as Slack does.
	return strings.NewReplacer(`\u003c`, "<", `\u003e`, ">", `\u0026`, "&").Replace(strings.TrimSpace(b.String()))
}

type element struct {
	Type     string `json:"type"`
	ActionID string `json:"action_id"`
	Value    string `json:"value"`
	Style    string `json:"style"`
	Text     struct {
		Text string `json:"text"`
	} `json:"text"`
	Confirm *json.RawMessage `json:"confirm"`
	Options []struct {
		Value string `json:"value"`
	} `json:"options"`
}

func controls(t *testing.T, blocks []slack.Block) []element {
	t.Helper()
	var raw []struct {
		Type     string            `json:"type"`
		BlockID  string            `json:"block_id"`
		Elements []json.RawMessage `json:"elements"`
	}
	require.NoError(t, json.Unmarshal([]byte(blocksJSON(t, blocks)), &raw))
	var out []element
	seen := map[string]bool{}
	for _, b := range raw {
		require.False(t, seen[b.BlockID] && b.BlockID != "", "block IDs must be unique: %s", b.BlockID)
		seen[b.BlockID] = true
		if b.Type != "actions" {
			continue
		}
		for _, e := range b.Elements {
			var el element
			require.NoError(t, json.Unmarshal(e, &el))
			out = append(out, el)
		}
	}
	return out
}

func TestPromptShowsTheRequestEscaped(t *testing.T) {
	st := testState(approval.Input{})
	js := blocksJSON(t, render.PromptBlocks(st))
	for _, want := range []string{
		"Approval requested: Deploy api <v2> & friends", // header is plain text: no escaping
		"<@U0ALICE> asks for approval",
		"&gt; Ship it\\n&gt; &lt;!channel&gt; please", // no broadcast from a description
		"*Environment*\\n`production`", "*Resource*\\n`api`",
		"*Progress*\\n0 of 2 approvals",
		"*Waiting for*\\n<@U0BOB> and <@U0CAROL>",
		"<!date^" + itoa(st.Deadline.Unix()) + "^",
		"&lt;@U0EVIL&gt;", // a field cannot mention anyone
		"<https://signoff.example.com/approvals/" + testID + "|Open in Signoff>",
	} {
		assert.Contains(t, js, want)
	}
	assert.NotContains(t, js, "<!channel>")
	assert.NotContains(t, js, "<@U0EVIL>")
	// Fields are sorted by name after the fixed ones.
	assert.Less(t, strings.Index(js, "*approver_note*"), strings.Index(js, "*commit*"))
	assert.Less(t, strings.Index(js, "*commit*"), strings.Index(js, "*version*"))
}

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }

func TestDefaultControlsApproveAndConfirmedReject(t *testing.T) {
	els := controls(t, render.PromptBlocks(testState(approval.Input{})))
	require.Len(t, els, 2)
	assert.Equal(t, "Approve", els[0].Text.Text)
	assert.Equal(t, "primary", els[0].Style)
	assert.Equal(t, "signoff:approve:"+testID, els[0].ActionID)
	assert.Nil(t, els[0].Confirm)
	assert.Equal(t, "Reject", els[1].Text.Text)
	assert.Equal(t, "danger", els[1].Style)
	assert.Equal(t, "signoff:reject:"+testID, els[1].ActionID)
	require.NotNil(t, els[1].Confirm, "reject asks for confirmation")
	for _, e := range els {
		a, err := ParseAction(e.ActionID)
		require.NoError(t, err)
		assert.Equal(t, testID, a.ApprovalID)
	}
}

func TestCommentRequiredOpensAModal(t *testing.T) {
	st := testState(approval.Input{})
	st.Policy.RequireComment = approval.CommentRule{Approve: true, Reject: true}
	els := controls(t, render.PromptBlocks(st))
	require.Len(t, els, 2)
	assert.Equal(t, "signoff:approve_comment:"+testID, els[0].ActionID)
	assert.Equal(t, "signoff:reject_comment:"+testID, els[1].ActionID)
	assert.Nil(t, els[1].Confirm, "the modal is the confirmation")
}

func TestInputControls(t *testing.T) {
	opts := []approval.Option{
		{Label: "Blue", Value: "blue", Style: "primary", Decision: approval.DecisionApprove},
		{Label: "Green", Value: "green", Decision: approval.DecisionApprove},
		{Label: "Abort", Value: "abort", Style: "danger", Decision: approval.DecisionReject},
	}
	t.Run("buttons", func(t *testing.T) {
		els := controls(t, render.PromptBlocks(testState(approval.Input{Type: approval.InputButton, Options: opts})))
		require.Len(t, els, 3)
		for i, e := range els {
			assert.Equal(t, "button", e.Type)
			assert.Equal(t, opts[i].Label, e.Text.Text)
			assert.Equal(t, opts[i].Value, e.Value)
			assert.Equal(t, opts[i].Style, e.Style)
			a, err := ParseAction(e.ActionID)
			require.NoError(t, err)
			assert.Equal(t, Action{Verb: VerbOption, ApprovalID: testID, Index: i}, a)
		}
		assert.NotNil(t, els[2].Confirm, "a rejecting option asks for confirmation")
		assert.Nil(t, els[0].Confirm)
	})
	t.Run("select", func(t *testing.T) {
		els := controls(t, render.PromptBlocks(testState(approval.Input{Type: approval.InputSelect, Options: opts})))
		require.Len(t, els, 1)
		assert.Equal(t, "static_select", els[0].Type)
		assert.Equal(t, "signoff:select:"+testID, els[0].ActionID)
		require.Len(t, els[0].Options, 3)
		assert.Equal(t, "abort", els[0].Options[2].Value)
	})
	t.Run("multiselect with submit", func(t *testing.T) {
		els := controls(t, render.PromptBlocks(testState(approval.Input{Type: approval.InputMultiselect, Options: opts})))
		require.Len(t, els, 3)
		assert.Equal(t, "multi_static_select", els[0].Type)
		assert.Equal(t, "signoff:multi:"+testID, els[0].ActionID)
		assert.Equal(t, "signoff:submit:"+testID, els[1].ActionID)
		assert.Equal(t, "signoff:reject:"+testID, els[2].ActionID)
	})
	t.Run("text", func(t *testing.T) {
		els := controls(t, render.PromptBlocks(testState(approval.Input{Type: approval.InputText, Prompt: "Which ticket?"})))
		require.Len(t, els, 2)
		assert.Equal(t, "signoff:respond:"+testID, els[0].ActionID)
		assert.True(t, Action{Verb: VerbRespond}.Opens())
	})
}

func TestOutcomeDropsControlsAndRenewsBlockIDs(t *testing.T) {
	st := testState(approval.Input{})
	prompt := render.PromptBlocks(st)
	closed := created.Add(time.Hour)
	st.Decide(approval.Attempt{ID: "1", User: "bob", Decision: approval.DecisionApprove}, closed)
	st.Decide(approval.Attempt{ID: "2", User: "carol", Decision: approval.DecisionApprove}, closed)
	require.Equal(t, approval.StatusApproved, st.Status)
	outcome := render.OutcomeBlocks(st)
	assert.Empty(t, controls(t, outcome))
	ids := map[string]bool{}
	for _, b := range prompt {
		ids[b.ID()] = true
	}
	for _, b := range outcome {
		assert.False(t, ids[b.ID()], "block %s reused", b.ID())
	}
	js := blocksJSON(t, outcome)
	assert.Contains(t, js, "✅ *Approved* by <@U0BOB> and <@U0CAROL> at <!date^"+itoa(closed.Unix()))
	assert.NotContains(t, js, "Waiting for")
}

func TestOutcomeLines(t *testing.T) {
	at := created.Add(time.Hour)
	t.Run("rejected with reason", func(t *testing.T) {
		st := testState(approval.Input{})
		st.Decide(approval.Attempt{ID: "1", User: "bob", Decision: approval.DecisionReject, Comment: "not <today>"}, at)
		assert.Equal(t, "❌ *Rejected* by <@U0BOB> at "+Date(at)+": not &lt;today&gt;", render.OutcomeLine(st))
	})
	t.Run("expired", func(t *testing.T) {
		st := testState(approval.Input{})
		st.DeadlinePassed(at)
		assert.Contains(t, render.OutcomeLine(st), "⌛ *Expired*")
	})
	t.Run("cancelled", func(t *testing.T) {
		st := testState(approval.Input{})
		require.NoError(t, st.Cancel(approval.Actor{User: "alice"}, "wrong build", at))
		assert.Equal(t, "🚫 *Cancelled* by <@U0ALICE> at "+Date(at)+": wrong build", render.OutcomeLine(st))
	})
	t.Run("approved with the chosen option", func(t *testing.T) {
		st := testState(approval.Input{Type: approval.InputSelect, Options: []approval.Option{{Label: "Blue", Value: "blue", Decision: approval.DecisionApprove}}})
		st.Policy.RequiredApprovals = 1
		st.Decide(approval.Attempt{ID: "1", User: "bob", Decision: approval.DecisionApprove, Values: []string{"blue"}}, at)
		assert.Contains(t, render.OutcomeLine(st), "<@U0BOB> (*Blue*)")
	})
	t.Run("unknown slack user", func(t *testing.T) {
		assert.Equal(t, "<@U0EVE>", render.Person("slack:U0EVE"))
		assert.Equal(t, "dana", render.Person("dana"))
	})
}

func TestActionResultText(t *testing.T) {
	assert.Equal(t, "", ActionResultText(nil))
	ok := ActionResultText(&approval.ActionResult{Type: "webhook", Success: true, Output: "status 200 <ok>"})
	assert.Equal(t, "⚙️ Action `webhook` succeeded.\n```status 200 &lt;ok&gt;```", ok)
	assert.Contains(t, ActionResultText(&approval.ActionResult{Type: "iam", Error: "denied"}), "⚠️ Action `iam` failed: denied")
}

func TestParseAction(t *testing.T) {
	for _, a := range []Action{
		{Verb: VerbApprove, ApprovalID: testID}, {Verb: VerbReject, ApprovalID: testID},
		{Verb: VerbOption, ApprovalID: testID, Index: 24}, {Verb: VerbSubmit, ApprovalID: testID},
	} {
		got, err := ParseAction(a.ID())
		require.NoError(t, err)
		assert.Equal(t, a, got)
	}
	for _, bad := range []string{
		"", "approve", "signoff:approve", "signoff:approve:short", "signoff:approve:" + testID + ":1",
		"signoff:option:" + testID, "signoff:option:" + testID + ":01", "signoff:option:" + testID + ":-1",
		"signoff:delete:" + testID, "other:approve:" + testID, "signoff:approve:ABCDEFGHIJKLMNOPQRSTUVWXYZ",
	} {
		_, err := ParseAction(bad)
		assert.ErrorIs(t, err, ErrNotOurs, bad)
	}
}

func TestModalMetadata(t *testing.T) {
	m := ModalMetadata{ApprovalID: testID, Verb: VerbRejectComment, Channel: "C1", MessageTS: "1.2"}
	got, err := ParseModalMetadata(m.Encode())
	require.NoError(t, err)
	assert.Equal(t, m, got)
	for _, bad := range []string{"", "{}", `{"a":"x","v":"reject_comment"}`, `{"a":"` + testID + `","v":"approve"}`} {
		_, err := ParseModalMetadata(bad)
		assert.Error(t, err, bad)
	}
	view := DecisionModal(m, "Deploy")
	assert.Equal(t, ModalCallbackID, view.CallbackID)
	assert.Equal(t, m.Encode(), view.PrivateMetadata)
}

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want Class
	}{
		{slack.SlackErrorResponse{Err: "invalid_auth"}, Fatal},
		{slack.SlackErrorResponse{Err: "account_inactive"}, Fatal},
		{slack.SlackErrorResponse{Err: "channel_not_found"}, Target},
		{slack.SlackErrorResponse{Err: "not_in_channel"}, Target},
		{slack.SlackErrorResponse{Err: "internal_error"}, Transient},
		{&slack.RateLimitedError{RetryAfter: time.Second}, Transient},
		{slack.StatusCodeError{Code: 503}, Transient},
		{slack.StatusCodeError{Code: 404}, Fatal},
		{errors.New("connection refused"), Transient},
	} {
		got, msg := Classify(tc.err)
		assert.Equal(t, tc.want, got, "%v", tc.err)
		assert.NotEmpty(t, msg)
	}
	_, msg := Classify(slack.SlackErrorResponse{Err: "missing_scope", Needed: "chat:write"})
	assert.Contains(t, msg, "needed: chat:write")
}

func TestRedactor(t *testing.T) {
	r := Redactor{"xoxb-secret-token", "short"}
	assert.Equal(t, "token [redacted] leaked; short stays", r.Redact("token xoxb-secret-token leaked; short stays"))
}

func TestBlockRevision(t *testing.T) {
	st := testState(approval.Input{})
	st.Revision = 3
	rev, ok := BlockRevision(ControlsBlock("p", st).BlockID)
	require.True(t, ok)
	assert.Equal(t, 3, rev)
	for _, bad := range []string{"", "signoff:p:controls:x", "other:p:c:x:r1", "signoff:p:c:x:r", "signoff:p:c:x:r-1", "signoff:p:c:x:r01"} {
		_, ok := BlockRevision(bad)
		assert.False(t, ok, bad)
	}
}

// sectionTexts are the mrkdwn texts of blocks' sections, as Slack reads
// them.
func sectionTexts(t *testing.T, blocks []slack.Block) []string {
	t.Helper()
	var raw []struct {
		Type string `json:"type"`
		Text *struct {
			Text string `json:"text"`
		} `json:"text"`
	}
	require.NoError(t, json.Unmarshal([]byte(blocksJSON(t, blocks)), &raw))
	var out []string
	for _, b := range raw {
		if b.Type == "section" && b.Text != nil {
			out = append(out, b.Text.Text)
		}
	}
	return out
}

func withAction(a approval.Action) *approval.State {
	st := testState(approval.Input{})
	st.Request.Action = a
	return st
}

// Approvers see what runs: the action's type, target and every parameter,
// escaped so a value can neither mention, broadcast nor link.
func TestPromptShowsTheAction(t *testing.T) {
	st := withAction(approval.Action{Type: "webhook", URL: "https://hooks.example.com/deploy?env=prod&x=<1>",
		Params: map[string]string{"service": "api", "note": "ship <it> & go <!channel> <@U0EVIL>", "multi": "a\n• *ref*: evil"}})
	for name, blocks := range map[string][]slack.Block{"prompt": render.PromptBlocks(st), "outcome": render.OutcomeBlocks(st)} {
		text := strings.Join(sectionTexts(t, blocks), "\n")
		for _, want := range []string{
			"*Action:* webhook → https://hooks.example.com/deploy?env=prod&amp;x=&lt;1&gt;",
			"• *multi*: a\\n• *ref*: evil", // one line: the value cannot pass for a parameter
			"• *note*: ship &lt;it&gt; &amp; go &lt;!channel&gt; &lt;@U0EVIL&gt;",
			"• *service*: api",
		} {
			assert.Contains(t, text, want, name)
		}
		assert.NotContains(t, text, "<!channel>", name)
		assert.NotContains(t, text, "<@U0EVIL>", name)
		assert.Less(t, strings.Index(text, "*multi*"), strings.Index(text, "*note*"), "params sorted")
	}
	summary := strings.Join(sectionTexts(t, render.SummaryBlocks(st, true)), "\n")
	assert.Contains(t, summary, "*Action:* webhook → https://hooks.example.com/deploy?env=prod&amp;x=&lt;1&gt;")
	assert.Contains(t, summary, "• *service*: api")
	assert.Contains(t, summary, "approval `"+testID+"`")
}

func TestPromptActionTargets(t *testing.T) {
	for _, c := range []struct {
		act  approval.Action
		want []string
	}{
		{approval.Action{Type: "noop"}, []string{"*Action:* noop → nothing runs"}},
		{approval.Action{Type: "github_workflow_dispatch", Params: map[string]string{
			"owner": "acme", "repo": "api", "workflow": "deploy.yml", "ref": "main", "input.version": "2.3.0"}},
			[]string{"*Action:* github_workflow_dispatch → acme/api, workflow deploy.yml at ref main",
				"• *input.version*: 2.3.0", "• *owner*: acme", "• *ref*: main", "• *repo*: api", "• *workflow*: deploy.yml"}},
		{approval.Action{Type: "aws_iam_deactivate_key", Params: map[string]string{"user_name": "ci-bot", "access_key_id": "AKIAIOSFODNN7EXAMPLE"}},
			[]string{"*Action:* aws_iam_deactivate_key → IAM user ci-bot, access key AKIAIOSFODNN7EXAMPLE",
				"• *access_key_id*: AKIAIOSFODNN7EXAMPLE", "• *user_name*: ci-bot"}},
	} {
		text := strings.Join(sectionTexts(t, render.PromptBlocks(withAction(c.act))), "\n")
		for _, w := range c.want {
			assert.Contains(t, text, w, c.act.Type)
		}
	}
}

// Long values are cut visibly, sections stay within Slack's limits, and
// parameters that do not fit are counted rather than dropped.
func TestPromptActionWithinSlackLimits(t *testing.T) {
	params := map[string]string{"long": strings.Repeat("&", 5000)}
	for i := range 40 {
		params[fmt.Sprintf("p%02d", i)] = strings.Repeat("<", 290)
	}
	st := withAction(approval.Action{Type: "webhook", URL: "https://hooks.example.com/" + strings.Repeat("x", 2000), Params: params})
	blocks := render.PromptBlocks(st)
	assert.LessOrEqual(t, len(blocks), 50)
	controls(t, blocks) // block IDs unique
	texts := sectionTexts(t, blocks)
	all := strings.Join(texts, "\n")
	for _, s := range texts {
		assert.LessOrEqual(t, utf8.RuneCountInString(s), maxSectionText)
	}
	assert.Contains(t, all, "https://hooks.example.com/xxx")
	assert.Contains(t, all, "x…", "the long URL is cut visibly")
	assert.Contains(t, all, "• *long*: &amp;&amp;")
	assert.Contains(t, all, "&amp;…", "the long value is cut visibly")
	assert.Regexp(t, `…and \d+ more parameters: open the approval in Signoff`, all)
	assert.NotContains(t, all, "&amp…")

	// A handful of parameters all fit.
	few := withAction(approval.Action{Type: "webhook", URL: "https://h.example.com/x", Params: map[string]string{"a": "1", "b": "2"}})
	assert.NotContains(t, strings.Join(sectionTexts(t, render.PromptBlocks(few)), "\n"), "more parameters")
}
