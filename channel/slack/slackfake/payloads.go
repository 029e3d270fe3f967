package slackfake

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Sign computes X-Slack-Signature for body sent at unix time ts:
// "v0=" + hex(HMAC-SHA256(secret, "v0:<ts>:<body>")).
func Sign(secret string, ts int64, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte("v0:" + strconv.FormatInt(ts, 10) + ":"))
	mac.Write(body)
	return "v0=" + hex.EncodeToString(mac.Sum(nil))
}

// Header is what Slack sends with a form body signed at t.
func Header(secret string, t time.Time, body []byte) http.Header {
	h := http.Header{}
	h.Set("Content-Type", "application/x-www-form-urlencoded")
	h.Set("X-Slack-Request-Timestamp", strconv.FormatInt(t.Unix(), 10))
	h.Set("X-Slack-Signature", Sign(secret, t.Unix(), body))
	h.Set("User-Agent", "Slackbot 1.0 (+https://api.slack.com/robots)")
	return h
}

// Request builds a signed POST of form body to url, as Slack sends it.
func Request(url, secret string, body string) (*http.Request, error) {
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header = Header(secret, time.Now(), []byte(body))
	return req, nil
}

// InteractionBody is the form body of an interaction: payload=<json>.
func InteractionBody(payload []byte) string {
	return url.Values{"payload": {string(payload)}}.Encode()
}

// Control is an interactive element found in a message's blocks.
type Control struct {
	BlockID  string
	ActionID string
	Type     string // button, static_select, multi_static_select
	Value    string
	Text     string
	Style    string
	Confirm  bool
	// Options are the values and labels of a select's options.
	Options []SelectOption
}

// SelectOption is one option of a select.
type SelectOption struct {
	Value string
	Label string
}

type rawText struct {
	Text string `json:"text"`
}

type rawElement struct {
	Type     string          `json:"type"`
	ActionID string          `json:"action_id"`
	Value    string          `json:"value"`
	Text     *rawText        `json:"text"`
	Style    string          `json:"style"`
	Confirm  json.RawMessage `json:"confirm"`
	Options  []struct {
		Text  rawText `json:"text"`
		Value string  `json:"value"`
	} `json:"options"`
}

type rawBlock struct {
	Type     string            `json:"type"`
	BlockID  string            `json:"block_id"`
	Text     *rawText          `json:"text"`
	Fields   []rawText         `json:"fields"`
	Elements []json.RawMessage `json:"elements"`
}

// Controls lists the interactive elements of blocks in order.
func Controls(blocks json.RawMessage) []Control {
	var bs []rawBlock
	if json.Unmarshal(blocks, &bs) != nil {
		return nil
	}
	var out []Control
	for _, b := range bs {
		if b.Type != "actions" {
			continue
		}
		for _, raw := range b.Elements {
			var e rawElement
			if json.Unmarshal(raw, &e) != nil {
				continue
			}
			c := Control{BlockID: b.BlockID, ActionID: e.ActionID, Type: e.Type, Value: e.Value, Style: e.Style,
				Confirm: len(e.Confirm) > 0 && string(e.Confirm) != "null"}
			if e.Text != nil {
				c.Text = e.Text.Text
			}
			for _, o := range e.Options {
				c.Options = append(c.Options, SelectOption{Value: o.Value, Label: o.Text.Text})
			}
			out = append(out, c)
		}
	}
	return out
}

// Find returns the first control whose text (buttons) or action ID starts
// with prefix.
func Find(blocks json.RawMessage, textOrActionPrefix string) (Control, bool) {
	for _, c := range Controls(blocks) {
		if c.Text == textOrActionPrefix || strings.HasPrefix(c.ActionID, textOrActionPrefix) {
			return c, true
		}
	}
	return Control{}, false
}

// Text is every text of blocks (sections, fields, context, headers), one
// per line, for assertions.
func Text(blocks json.RawMessage) string {
	var bs []rawBlock
	if json.Unmarshal(blocks, &bs) != nil {
		return ""
	}
	var lines []string
	for _, b := range bs {
		if b.Text != nil {
			lines = append(lines, b.Text.Text)
		}
		for _, f := range b.Fields {
			lines = append(lines, f.Text)
		}
		if b.Type == "context" {
			for _, e := range b.Elements {
				var t rawText
				if json.Unmarshal(e, &t) == nil && t.Text != "" {
					lines = append(lines, t.Text)
				}
			}
		}
	}
	return strings.Join(lines, "\n")
}

// Click is one person's click on a control of a posted message.
type Click struct {
	TeamID    string
	UserID    string
	UserName  string
	ChannelID string
	// MessageTS and Blocks are the clicked message's; Blocks are echoed in
	// payload.message as Slack does.
	MessageTS   string
	Blocks      json.RawMessage
	ResponseURL string
	TriggerID   string
	ActionTS    string
	Control     Control
	// Selected are chosen option values by action ID: the clicked select's
	// choice, and the state of other selects in the message (a
	// multiselect before Submit).
	Selected map[string][]string
	// Ephemeral marks a click on an ephemeral message (/signoff list).
	Ephemeral bool
}

func optionJSON(c Control, values []string) []map[string]any {
	out := make([]map[string]any, 0, len(values))
	for _, v := range values {
		label := v
		for _, o := range c.Options {
			if o.Value == v {
				label = o.Label
			}
		}
		out = append(out, map[string]any{"text": map[string]any{"type": "plain_text", "text": label, "emoji": true}, "value": v})
	}
	return out
}

// BlockActions is the payload of a block_actions interaction with exactly
// the shape Slack sends.
func BlockActions(c Click) []byte {
	if c.ActionTS == "" {
		c.ActionTS = strconv.FormatFloat(float64(time.Now().UnixMicro())/1e6, 'f', 6, 64)
	}
	if c.TriggerID == "" {
		c.TriggerID = "1234567890.123." + strings.ReplaceAll(c.ActionTS, ".", "")
	}
	if c.UserName == "" {
		c.UserName = strings.ToLower(c.UserID)
	}
	action := map[string]any{
		"type": c.Control.Type, "action_id": c.Control.ActionID, "block_id": c.Control.BlockID, "action_ts": c.ActionTS,
	}
	switch c.Control.Type {
	case "button":
		action["text"] = map[string]any{"type": "plain_text", "text": c.Control.Text, "emoji": true}
		action["value"] = c.Control.Value
		if c.Control.Style != "" {
			action["style"] = c.Control.Style
		}
	case "static_select":
		if v := c.Selected[c.Control.ActionID]; len(v) > 0 {
			action["selected_option"] = optionJSON(c.Control, v[:1])[0]
		}
	case "multi_static_select":
		action["selected_options"] = optionJSON(c.Control, c.Selected[c.Control.ActionID])
	}
	state := map[string]any{}
	for _, ctl := range Controls(c.Blocks) {
		vals, ok := c.Selected[ctl.ActionID]
		if !ok {
			continue
		}
		entry := map[string]any{"type": ctl.Type}
		if ctl.Type == "static_select" && len(vals) > 0 {
			entry["selected_option"] = optionJSON(ctl, vals[:1])[0]
		} else {
			entry["selected_options"] = optionJSON(ctl, vals)
		}
		blk, _ := state[ctl.BlockID].(map[string]any)
		if blk == nil {
			blk = map[string]any{}
			state[ctl.BlockID] = blk
		}
		blk[ctl.ActionID] = entry
	}
	p := map[string]any{
		"type":       "block_actions",
		"user":       map[string]any{"id": c.UserID, "username": c.UserName, "name": c.UserName, "team_id": c.TeamID},
		"api_app_id": "A0SIGNOFF",
		"token":      "legacy-verification-token",
		"container": map[string]any{
			"type": "message", "message_ts": c.MessageTS, "channel_id": c.ChannelID, "is_ephemeral": c.Ephemeral,
		},
		"trigger_id":            c.TriggerID,
		"team":                  map[string]any{"id": c.TeamID, "domain": "signoff-test"},
		"enterprise":            nil,
		"is_enterprise_install": false,
		"channel":               map[string]any{"id": c.ChannelID, "name": "approvals"},
		"state":                 map[string]any{"values": state},
		"response_url":          c.ResponseURL,
		"actions":               []any{action},
	}
	if !c.Ephemeral {
		p["message"] = map[string]any{
			"type": "message", "subtype": "bot_message", "text": "Approval requested", "ts": c.MessageTS,
			"bot_id": "B0SIGNOFF", "blocks": json.RawMessage(orEmpty(c.Blocks)),
		}
	}
	b, _ := json.Marshal(p)
	return b
}

func orEmpty(b json.RawMessage) []byte {
	if len(b) == 0 {
		return []byte("[]")
	}
	return b
}

// Submission is a modal's view_submission.
type Submission struct {
	TeamID          string
	UserID          string
	ViewID          string
	CallbackID      string
	PrivateMetadata string
	// Values are the inputs: block ID → action ID → text.
	Values    map[string]map[string]string
	TriggerID string
}

// ViewSubmission is the payload of a view_submission with Slack's shape.
func ViewSubmission(s Submission) []byte {
	values := map[string]any{}
	for blk, acts := range s.Values {
		m := map[string]any{}
		for act, v := range acts {
			m[act] = map[string]any{"type": "plain_text_input", "value": v}
		}
		values[blk] = m
	}
	if s.TriggerID == "" {
		s.TriggerID = "1234567890.456." + s.ViewID
	}
	p := map[string]any{
		"type":       "view_submission",
		"team":       map[string]any{"id": s.TeamID, "domain": "signoff-test"},
		"user":       map[string]any{"id": s.UserID, "username": strings.ToLower(s.UserID), "name": strings.ToLower(s.UserID), "team_id": s.TeamID},
		"api_app_id": "A0SIGNOFF",
		"token":      "legacy-verification-token",
		"trigger_id": s.TriggerID,
		"view": map[string]any{
			"id": s.ViewID, "team_id": s.TeamID, "type": "modal", "callback_id": s.CallbackID,
			"private_metadata": s.PrivateMetadata, "hash": "156663117.cd33ad1f",
			"state": map[string]any{"values": values},
		},
		"response_urls":         []any{},
		"is_enterprise_install": false,
		"enterprise":            nil,
	}
	b, _ := json.Marshal(p)
	return b
}

// Command is a slash command invocation.
type Command struct {
	TeamID      string
	UserID      string
	ChannelID   string
	Command     string // default "/signoff"
	Text        string
	ResponseURL string
	TriggerID   string
}

// Form is the command's form fields, as Slack posts them.
func (c Command) Form() url.Values {
	if c.Command == "" {
		c.Command = "/signoff"
	}
	if c.TriggerID == "" {
		c.TriggerID = "1234567890.789.cmd"
	}
	return url.Values{
		"token": {"legacy-verification-token"}, "team_id": {c.TeamID}, "team_domain": {"signoff-test"},
		"channel_id": {c.ChannelID}, "channel_name": {"approvals"}, "user_id": {c.UserID},
		"user_name": {strings.ToLower(c.UserID)}, "command": {c.Command}, "text": {c.Text},
		"api_app_id": {"A0SIGNOFF"}, "is_enterprise_install": {"false"},
		"response_url": {c.ResponseURL}, "trigger_id": {c.TriggerID},
	}
}

// JSON is the command as a Socket Mode payload.
func (c Command) JSON() []byte {
	m := map[string]string{}
	for k, v := range c.Form() {
		m[k] = v[0]
	}
	b, _ := json.Marshal(m)
	return b
}
