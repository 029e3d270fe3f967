package callbacks

import (
	"encoding/json"
	"net/url"
	"testing"
	"unicode/utf8"

	"github.com/slack-go/slack"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signoff/signoff/approval"
	"github.com/signoff/signoff/channel/ballot"
	"github.com/signoff/signoff/channel/slack/slackfake"
	"github.com/signoff/signoff/channel/slack/slackmsg"
)

func samplePayloads() [][]byte {
	st := testApproval(approvalA, approval.Input{Type: approval.InputMultiselect, Options: []approval.Option{
		{Label: "Blue", Value: "blue"}, {Label: "Green", Value: "green"},
	}})
	blocks := prompt(st)
	var out [][]byte
	for _, c := range slackfake.Controls(blocks) {
		out = append(out, slackfake.BlockActions(slackfake.Click{
			TeamID: team, UserID: "U0BOB", ChannelID: prodCh, MessageTS: prodTS, Blocks: blocks,
			ResponseURL: "https://hooks.slack.com/actions/T0/1/x", Control: c, ActionTS: "1700000001.000001",
			Selected: map[string][]string{slackmsg.Action{Verb: slackmsg.VerbMulti, ApprovalID: approvalA}.ID(): {"blue", "green"}},
		}))
	}
	meta := slackmsg.ModalMetadata{ApprovalID: approvalA, Verb: slackmsg.VerbRejectComment, Channel: prodCh}.Encode()
	out = append(out, slackfake.ViewSubmission(slackfake.Submission{TeamID: team, UserID: "U0BOB", ViewID: "V1",
		CallbackID: slackmsg.ModalCallbackID, PrivateMetadata: meta,
		Values: map[string]map[string]string{slackmsg.ModalBlockID: {slackmsg.ModalActionID: "no"}}}))
	return out
}

func TestParseInteraction(t *testing.T) {
	payloads := samplePayloads()
	ic, err := ParseInteraction([]byte(slackfake.InteractionBody(payloads[0])))
	require.NoError(t, err)
	assert.Equal(t, slack.InteractionTypeBlockActions, ic.Type)
	c, err := readClick(&ic)
	require.ErrorIs(t, err, errIgnored, "a multiselect change decides nothing")

	ic, err = ParseInteraction([]byte(slackfake.InteractionBody(payloads[1])))
	require.NoError(t, err)
	c, err = readClick(&ic)
	require.NoError(t, err)
	assert.Equal(t, slackmsg.Action{Verb: slackmsg.VerbSubmit, ApprovalID: approvalA}, c.Action)
	assert.Equal(t, []string{"blue", "green"}, c.Values, "read from state.values")
	assert.Equal(t, "U0BOB", c.SlackUser)
	assert.Equal(t, team, c.Team)
	assert.Equal(t, prodCh, c.Channel)
	assert.Equal(t, prodTS, c.MessageTS)
	assert.Equal(t, "1700000001.000001", c.Key)

	ic, err = ParseInteraction([]byte(slackfake.InteractionBody(payloads[len(payloads)-1])))
	require.NoError(t, err)
	c, err = readSubmission(&ic)
	require.NoError(t, err)
	assert.Equal(t, "no", c.Comment)
	assert.Equal(t, "view:V1", c.Key)

	for _, bad := range []string{"", "payload=", "payload=%7B", "payload=%7B%7D", "other=1", "payload=[1,2]"} {
		_, err := ParseInteraction([]byte(bad))
		assert.Error(t, err, bad)
	}
}

func TestParseCommand(t *testing.T) {
	cmd, err := ParseCommand([]byte(slackfake.Command{TeamID: team, UserID: "U0BOB", ChannelID: prodCh, Text: "status x"}.Form().Encode()))
	require.NoError(t, err)
	assert.Equal(t, "/signoff", cmd.Command)
	assert.Equal(t, "status x", cmd.Text)
	_, err = ParseCommand([]byte("text=list"))
	assert.Error(t, err)
}

// FuzzParseInteraction: no form body, however mangled, panics the parser,
// and whatever becomes a click names a valid approval and bounded values.
func FuzzParseInteraction(f *testing.F) {
	for _, p := range samplePayloads() {
		f.Add([]byte(slackfake.InteractionBody(p)))
		f.Add(p) // not form-encoded
	}
	f.Add([]byte("payload=" + url.QueryEscape(`{"type":"block_actions","actions":[{"action_id":"signoff:option:aaaaaaaaaaaaaaaaaaaaaaaaaa:7","block_id":"b","value":"x"}]}`)))
	f.Add([]byte("payload=" + url.QueryEscape(`{"type":"view_submission","view":{"callback_id":"signoff:decide","private_metadata":"{\"a\":\"aaaaaaaaaaaaaaaaaaaaaaaaaa\",\"v\":\"respond\"}","state":{"values":{}}}}`)))
	f.Add([]byte("payload=%7B%22type%22%3A%22block_actions%22%2C%22state%22%3A5%7D"))
	f.Add([]byte("a=1&payload=%00&payload=2"))
	f.Fuzz(func(t *testing.T, body []byte) {
		ic, err := ParseInteraction(body)
		if err != nil {
			return
		}
		var c click
		switch ic.Type {
		case slack.InteractionTypeBlockActions:
			c, err = readClick(&ic)
		case slack.InteractionTypeViewSubmission:
			c, err = readSubmission(&ic)
		default:
			return
		}
		if err != nil {
			return
		}
		if !slackmsg.ValidApprovalID(c.Action.ApprovalID) {
			t.Fatalf("click for invalid approval %q", c.Action.ApprovalID)
		}
		if _, err := slackmsg.ParseAction(c.Action.ID()); err != nil && !c.Action.Opens() {
			t.Fatalf("click action %+v does not round-trip", c.Action)
		}
		if len(c.Values) > maxValues || utf8.RuneCountInString(c.Comment) > ballot.MaxComment {
			t.Fatalf("unbounded click: %d values, comment %d", len(c.Values), len(c.Comment))
		}
		for _, v := range c.Values {
			if !utf8.ValidString(v) || (!c.Text && len(v) > maxValue) {
				t.Fatalf("bad value %q", v)
			}
		}
		if _, err := json.Marshal(c); err != nil {
			t.Fatalf("click does not marshal: %v", err)
		}
	})
}
