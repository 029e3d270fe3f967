package callbacks

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/slack-go/slack"

	"github.com/signoff/signoff/approval"
	"github.com/signoff/signoff/channel/ballot"
	"github.com/signoff/signoff/channel/slack/slackmsg"
)

// Limits on what a click may carry into a decision: the workflow's own.
const (
	maxValues = approval.MaxValues
	maxValue  = approval.MaxOptionValueBytes
)

// ParseInteraction reads the interaction of a verified form body: its
// `payload` field, JSON. The query string is never consulted.
func ParseInteraction(body []byte) (slack.InteractionCallback, error) {
	var ic slack.InteractionCallback
	raw, err := formValue(body, "payload")
	if err != nil {
		return ic, err
	}
	if err := json.Unmarshal([]byte(raw), &ic); err != nil {
		return ic, fmt.Errorf("payload is not an interaction: %w", err)
	}
	if ic.Type == "" {
		return ic, errors.New("payload has no type")
	}
	return ic, nil
}

// ParseCommand reads a slash command from a verified form body.
func ParseCommand(body []byte) (slack.SlashCommand, error) {
	vals, err := url.ParseQuery(string(body))
	if err != nil {
		return slack.SlashCommand{}, fmt.Errorf("malformed form body: %w", err)
	}
	// slack.SlashCommandParse reads PostForm; feed it the body alone.
	cmd := slack.SlashCommand{
		TeamID: vals.Get("team_id"), TeamDomain: vals.Get("team_domain"), EnterpriseID: vals.Get("enterprise_id"),
		ChannelID: vals.Get("channel_id"), ChannelName: vals.Get("channel_name"), UserID: vals.Get("user_id"),
		UserName: vals.Get("user_name"), Command: vals.Get("command"), Text: vals.Get("text"),
		ResponseURL: vals.Get("response_url"), TriggerID: vals.Get("trigger_id"), APIAppID: vals.Get("api_app_id"),
	}
	if cmd.UserID == "" || cmd.Command == "" {
		return cmd, errors.New("not a slash command: no user_id or command")
	}
	return cmd, nil
}

// click is one decision attempt read from an interaction: which approval,
// what was chosen, by whom, where.
type click struct {
	Action slackmsg.Action
	// Values are the chosen option values (button value, select choice,
	// multiselect state) or the text written in a modal.
	Values  []string
	Comment string
	// Text marks Values as free text (a "text" input): it is not matched
	// against options.
	Text bool

	SlackUser   string
	Team        string
	Channel     string
	MessageTS   string
	ResponseURL string
	// Key identifies this click for deduplication: the action's action_ts
	// (or the modal's view ID), the same when Slack retries.
	Key string
	// Revision is the request revision the clicked prompt showed, -1 when
	// unknown.
	Revision int
}

// errIgnored marks interactions that need nothing but a 200: controls that
// are not Signoff's, selection changes of a multiselect, closed modals.
var errIgnored = errors.New("nothing to do")

// readClick turns a block_actions interaction into a click.
func readClick(ic *slack.InteractionCallback) (click, error) {
	if len(ic.ActionCallback.BlockActions) == 0 {
		return click{}, errIgnored
	}
	ba := ic.ActionCallback.BlockActions[0]
	act, err := slackmsg.ParseAction(ba.ActionID)
	if err != nil || act.Verb == slackmsg.VerbMulti {
		return click{}, errIgnored
	}
	c := click{
		Action: act, SlackUser: ic.User.ID, Team: teamOf(ic), Channel: channelOf(ic),
		MessageTS: ic.Container.MessageTs, ResponseURL: ic.ResponseURL, Key: ba.ActionTs, Revision: -1,
	}
	if rev, ok := slackmsg.BlockRevision(ba.BlockID); ok {
		c.Revision = rev
	}
	if c.MessageTS == "" {
		c.MessageTS = ic.Message.Timestamp
	}
	if c.Key == "" {
		c.Key = ic.TriggerID
	}
	switch act.Verb {
	case slackmsg.VerbOption:
		c.Values = []string{ba.Value}
	case slackmsg.VerbSelect:
		if ba.SelectedOption.Value == "" {
			return click{}, errIgnored
		}
		c.Values = []string{ba.SelectedOption.Value}
	case slackmsg.VerbSubmit:
		c.Values = multiState(ic, act.ApprovalID)
	}
	if err := checkValues(c.Values); err != nil {
		return click{}, err
	}
	return c, nil
}

// multiState reads the multiselect's selection from the message's state
// at the time Submit was clicked.
func multiState(ic *slack.InteractionCallback, approvalID string) []string {
	if ic.BlockActionState == nil {
		return nil
	}
	want := slackmsg.Action{Verb: slackmsg.VerbMulti, ApprovalID: approvalID}.ID()
	var out []string
	blocks := make([]string, 0, len(ic.BlockActionState.Values))
	for b := range ic.BlockActionState.Values {
		blocks = append(blocks, b)
	}
	slices.Sort(blocks)
	for _, b := range blocks {
		if st, ok := ic.BlockActionState.Values[b][want]; ok {
			for _, o := range st.SelectedOptions {
				if !slices.Contains(out, o.Value) {
					out = append(out, o.Value)
				}
			}
		}
	}
	return out
}

// readSubmission turns a view_submission of Signoff's modal into a click.
func readSubmission(ic *slack.InteractionCallback) (click, error) {
	if ic.View.CallbackID != slackmsg.ModalCallbackID {
		return click{}, errIgnored
	}
	meta, err := slackmsg.ParseModalMetadata(ic.View.PrivateMetadata)
	if err != nil {
		return click{}, err
	}
	var text string
	if ic.View.State != nil {
		text = strings.TrimSpace(ic.View.State.Values[slackmsg.ModalBlockID][slackmsg.ModalActionID].Value)
	}
	if err := ballot.CheckText("text", text, ballot.MaxComment); err != nil {
		return click{}, err
	}
	c := click{
		Action:    slackmsg.Action{Verb: meta.Verb, ApprovalID: meta.ApprovalID},
		SlackUser: ic.User.ID, Team: teamOf(ic), Channel: meta.Channel, MessageTS: meta.MessageTS,
		Key: "view:" + ic.View.ID, Revision: meta.Revision,
	}
	if ic.View.ID == "" {
		c.Key = "trigger:" + ic.TriggerID
	}
	if meta.Verb == slackmsg.VerbRespond {
		c.Values, c.Text = []string{text}, true
	} else {
		c.Comment = text
	}
	return c, nil
}

func checkValues(vs []string) error {
	if len(vs) > maxValues {
		return fmt.Errorf("at most %d values", maxValues)
	}
	for _, v := range vs {
		if len(v) > maxValue || !utf8.ValidString(v) {
			return fmt.Errorf("values must be valid UTF-8 of at most %d bytes", maxValue)
		}
	}
	return nil
}

// teamOf is the workspace the person clicked from.
func teamOf(ic *slack.InteractionCallback) string {
	if ic.Team.ID != "" {
		return ic.Team.ID
	}
	return ic.User.TeamID
}

// channelOf is the channel of the clicked message.
func channelOf(ic *slack.InteractionCallback) string {
	if ic.Container.ChannelID != "" {
		return ic.Container.ChannelID
	}
	return ic.Channel.ID
}
