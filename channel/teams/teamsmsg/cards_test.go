package teamsmsg

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signoff/signoff/approval"
)

const testID = "abcdefghijklmnopqrstuvwxyz"

var created = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

var render = Render{PublicURL: "https://signoff.example.com/"}

func testState(in approval.Input) *approval.State {
	return approval.New(testID, "alice", approval.Request{
		Title: "Deploy [api](https://evil.example) **now**", Environment: "production", Resource: "api",
		Description: "Ship it\n# heading",
		Fields:      map[string]string{"version": "2.3.0"},
		Action: approval.Action{Type: "webhook", URL: "https://deploy.example.com/hook",
			Params: map[string]string{"service": "api", "version": "2.3.0"}},
		Input: in,
	}, approval.Policy{Name: "production", Version: "v1", Approvers: []string{"bob", "carol"}, RequiredApprovals: 2, Deadline: 24 * time.Hour}, created)
}

// cardOf decodes a card as Teams receives it.
type cardOf struct {
	Version string `json:"version"`
	Refresh struct {
		Action execute `json:"action"`
	} `json:"refresh"`
	Body    []map[string]any `json:"body"`
	Actions []execute        `json:"actions"`
}

type execute struct {
	Type  string         `json:"type"`
	Title string         `json:"title"`
	Verb  string         `json:"verb"`
	Style string         `json:"style"`
	URL   string         `json:"url"`
	Data  map[string]any `json:"data"`
}

func decode(t *testing.T, c Card) (cardOf, string) {
	t.Helper()
	b, err := json.Marshal(c)
	require.NoError(t, err)
	var out cardOf
	require.NoError(t, json.Unmarshal(b, &out))
	return out, string(b)
}

func executes(c cardOf) []execute {
	var out []execute
	for _, a := range c.Actions {
		if a.Type == "Action.Execute" {
			out = append(out, a)
		}
	}
	return out
}

func inputIDs(c cardOf) map[string]map[string]any {
	out := map[string]map[string]any{}
	for _, b := range c.Body {
		if id, ok := b["id"].(string); ok {
			out[id] = b
		}
	}
	return out
}

// TestPromptCardShowsTheActionAndBindsTheContent: approvers see what will
// run, every parameter, and each button carries the request hash the card
// shows, so a decision binds to this content.
func TestPromptCardShowsTheActionAndBindsTheContent(t *testing.T) {
	st := testState(approval.Input{})
	c, raw := decode(t, render.PromptCard(st, ""))
	assert.Equal(t, "1.4", c.Version)
	assert.Contains(t, raw, "Action: webhook → https://deploy.example.com/hook")
	assert.Contains(t, raw, `"title":"service","value":"api"`)
	assert.Contains(t, raw, `"title":"version","value":"2.3.0"`)
	assert.Contains(t, raw, "Waiting for")
	ex := executes(c)
	require.Len(t, ex, 2)
	for i, verb := range []string{VerbApprove, VerbReject} {
		assert.Equal(t, verb, ex[i].Verb)
		assert.Equal(t, testID, ex[i].Data[DataApprovalID])
		assert.Equal(t, st.RequestHash, ex[i].Data[DataRequestHash])
	}
	assert.Equal(t, "positive", ex[0].Style)
	assert.Equal(t, "destructive", ex[1].Style)
	assert.Equal(t, VerbRefresh, c.Refresh.Action.Verb)
	assert.Equal(t, testID, c.Refresh.Action.Data[DataApprovalID])
	open := c.Actions[len(c.Actions)-1]
	assert.Equal(t, "Action.OpenUrl", open.Type)
	assert.Equal(t, "https://signoff.example.com/approvals/"+testID, open.URL)
	_, ok := inputIDs(c)[DataComment]
	assert.True(t, ok, "a comment box")
}

// TestCardsEscapeWhatPeopleWrote: a requester cannot dress the title up as
// a link, a heading or emphasis.
func TestCardsEscapeWhatPeopleWrote(t *testing.T) {
	_, raw := decode(t, render.PromptCard(testState(approval.Input{}), ""))
	assert.NotContains(t, raw, "[api](https://evil.example)")
	assert.Contains(t, raw, `\\[api\\]\\(https://evil.example\\) \\*\\*now\\*\\*`)
	assert.Contains(t, raw, `\\# heading`)
	assert.Equal(t, `a\\b \[x\]`, Escape(`a\b [x]`))
}

// TestControlsFollowTheInput: each input type gets its controls, with the
// IDs the endpoint reads.
func TestControlsFollowTheInput(t *testing.T) {
	opts := []approval.Option{
		{Label: "Ship", Value: "ship", Decision: approval.DecisionApprove, Style: "primary"},
		{Label: "Hold", Value: "hold", Decision: approval.DecisionReject},
	}
	t.Run("button", func(t *testing.T) {
		c, _ := decode(t, render.PromptCard(testState(approval.Input{Type: approval.InputButton, Options: opts}), ""))
		ex := executes(c)
		require.Len(t, ex, 2)
		assert.Equal(t, VerbOption, ex[0].Verb)
		assert.Equal(t, "ship", ex[0].Data[DataOption])
		assert.Equal(t, "positive", ex[0].Style)
		assert.Equal(t, "hold", ex[1].Data[DataOption])
		assert.Equal(t, "destructive", ex[1].Style)
	})
	t.Run("select", func(t *testing.T) {
		c, _ := decode(t, render.PromptCard(testState(approval.Input{Type: approval.InputSelect, Options: opts}), ""))
		in := inputIDs(c)[DataOption]
		require.NotNil(t, in)
		assert.Equal(t, "Input.ChoiceSet", in["type"])
		assert.Len(t, in["choices"], 2)
		assert.Len(t, executes(c), 2)
	})
	t.Run("multiselect", func(t *testing.T) {
		c, _ := decode(t, render.PromptCard(testState(approval.Input{Type: approval.InputMultiselect, Options: opts}), ""))
		in := inputIDs(c)[DataValues]
		require.NotNil(t, in)
		assert.Equal(t, true, in["isMultiSelect"])
	})
	t.Run("text", func(t *testing.T) {
		c, _ := decode(t, render.PromptCard(testState(approval.Input{Type: approval.InputText, Prompt: "Ticket?"}), ""))
		in := inputIDs(c)[DataText]
		require.NotNil(t, in)
		assert.Equal(t, "Input.Text", in["type"])
	})
}

// TestOutcomeCardHasNoControls: once decided, the card says how and by
// whom, and nobody can click any more.
func TestOutcomeCardHasNoControls(t *testing.T) {
	st := testState(approval.Input{})
	closed := created.Add(time.Hour)
	st.Decide(approval.Attempt{ID: "1", User: "bob", Decision: approval.DecisionApprove}, closed)
	st.Decide(approval.Attempt{ID: "2", User: "carol", Decision: approval.DecisionApprove}, closed)
	require.Equal(t, approval.StatusApproved, st.Status)
	for _, c := range []Card{render.OutcomeCard(st, ""), render.PromptCard(st, "✅ Counted")} {
		card, raw := decode(t, c)
		assert.Empty(t, executes(card))
		assert.Contains(t, raw, "Approved by bob and carol at 2026-03-01 13:00 UTC")
		assert.NotContains(t, raw, "Waiting for")
	}
	_, raw := decode(t, render.PromptCard(st, "✅ Counted"))
	assert.Contains(t, raw, `"color":"Good"`)
	assert.True(t, strings.HasPrefix(Summary(st), "Approved: "), Summary(st))
}
