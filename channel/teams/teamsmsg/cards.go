package teamsmsg

import (
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/signoff/signoff/approval"
	"github.com/signoff/signoff/channel/wording"
)

// Verbs of the cards' Action.Execute buttons, and the keys of their data
// (inputs are merged into the data by Teams under their IDs).
const (
	VerbApprove = "approve"
	VerbReject  = "reject"
	// VerbOption is a button of an input of type button: its option
	// approves or rejects.
	VerbOption = "option"
	// VerbRefresh asks for the card as it stands now (the card's refresh
	// action, and a click on a card that is out of date).
	VerbRefresh = "refresh"

	DataApprovalID  = "approval_id"
	DataRequestHash = "request_hash"
	DataOption      = "option"
	DataValues      = "values"
	DataText        = "text"
	DataComment     = "comment"
)

// Limits that keep a card well under Teams' message size (about 28 KB).
const (
	maxTitle   = 150
	maxText    = 2000
	maxFact    = 500
	maxParams  = 25
	maxOptions = 50
)

// Card is an Adaptive Card, as Teams renders it (schema 1.4: Universal
// Actions).
type Card map[string]any

// Render builds the cards of an approval.
type Render struct {
	// PublicURL is the gateway's public base URL, for "Open in Signoff".
	PublicURL string
}

// URL is the approval's page on the gateway.
func (r Render) URL(id string) string {
	return strings.TrimRight(r.PublicURL, "/") + "/approvals/" + id
}

// PromptCard asks for a decision: the request, the action that will run,
// the controls of its input and a comment. status, when set, is a line for
// the person who just clicked (what became of their attempt).
func (r Render) PromptCard(st *approval.State, status string) Card {
	if st.Status.Final() {
		return r.OutcomeCard(st, status)
	}
	body := r.requestBody(st, "Approval requested: ")
	body = append(body, inputs(st)...)
	if status != "" {
		body = append(body, statusBlock(status))
	}
	body = append(body, r.footer(st))
	return card(st, body, append(controls(st), r.openAction(st)))
}

// OutcomeCard shows a finished approval without controls: the request and
// how it ended.
func (r Render) OutcomeCard(st *approval.State, status string) Card {
	body := r.requestBody(st, string(st.Status)+": ")
	body = append(body, textBlock(OutcomeLine(st), "Bolder", ""))
	if res := st.ActionResult; res != nil && st.Grant == nil {
		body = append(body, textBlock(actionResultLine(res), "", "Small"))
	}
	if status != "" {
		body = append(body, statusBlock(status))
	}
	body = append(body, r.footer(st))
	return card(st, body, []any{r.openAction(st)})
}

// Summary is an activity's notification text.
func Summary(st *approval.State) string {
	if st.Status.Final() {
		return truncate(fmt.Sprintf("%s: %s (%s)", st.Status, st.Request.Title, st.Request.Environment), maxTitle)
	}
	return truncate(fmt.Sprintf("Approval requested: %s (%s)", st.Request.Title, st.Request.Environment), maxTitle)
}

// Message is an activity carrying the card.
func Message(st *approval.State, c Card) Activity {
	return Activity{Type: TypeMessage, Summary: Summary(st), Attachments: []Attachment{{ContentType: ContentTypeAdaptiveCard, Content: c}}}
}

func card(st *approval.State, body, actions []any) Card {
	return Card{
		"type":    "AdaptiveCard",
		"$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
		"version": "1.4",
		// Whoever opens the card later is shown it as it stands: Teams
		// asks the bot (verb refresh), which answers only people who may
		// read the approval.
		"refresh": map[string]any{"action": map[string]any{
			"type": "Action.Execute", "verb": VerbRefresh, "data": map[string]any{DataApprovalID: st.ID},
		}},
		"body":    body,
		"actions": actions,
	}
}

// requestBody describes what is asked: title, requester, description,
// justification, facts (where, policy, progress, who is awaited, the
// request's fields) and the action with every parameter.
func (r Render) requestBody(st *approval.State, prefix string) []any {
	req := st.Request
	body := []any{
		textBlock(prefix+Escape(truncate(req.Title, maxTitle)), "Bolder", "Medium"),
		textBlock(Escape(st.Requester)+" asks for approval", "", ""),
	}
	if req.Description != "" {
		body = append(body, subtle(truncate(req.Description, maxText)))
	}
	if st.Justification != "" {
		body = append(body, textBlock("Justification: "+Escape(truncate(st.Justification, maxText)), "", ""))
	}
	facts := []any{fact("Environment", req.Environment)}
	if req.Resource != "" {
		facts = append(facts, fact("Resource", req.Resource))
	}
	facts = append(facts, fact("Policy", st.Policy.Name))
	if !st.Status.Final() {
		facts = append(facts, fact("Deadline", date(st.Deadline)), fact("Progress", wording.Progress(st, format)))
		if pending := st.Pending(); len(pending) > 0 {
			facts = append(facts, fact("Waiting for", approval.JoinAnd(pending)))
		}
	}
	for _, k := range sortedKeys(req.Fields) {
		facts = append(facts, fact(k, req.Fields[k]))
	}
	body = append(body, map[string]any{"type": "FactSet", "facts": facts})
	v := req.Action.View()
	body = append(body, textBlock("Action: "+Escape(truncate(v.Headline(), maxFact)), "Bolder", ""))
	if len(v.Params) > 0 {
		var params []any
		for i, p := range v.Params {
			if i == maxParams {
				params = append(params, fact("…", fmt.Sprintf("and %d more parameters: open the approval in Signoff", len(v.Params)-i)))
				break
			}
			params = append(params, fact(p.Key, p.Value))
		}
		body = append(body, map[string]any{"type": "FactSet", "facts": params})
	}
	return body
}

// inputs are the controls a decision carries: the input's choice or text,
// and a comment.
func inputs(st *approval.State) []any {
	in := st.Request.Input
	var out []any
	choices := func() []any {
		var cs []any
		for i, o := range in.Options {
			if i == maxOptions {
				break
			}
			cs = append(cs, map[string]any{"title": truncate(o.Label, maxFact), "value": o.Value})
		}
		return cs
	}
	label := in.Prompt
	switch in.Type {
	case approval.InputSelect:
		out = append(out, map[string]any{"type": "Input.ChoiceSet", "id": DataOption, "style": "compact",
			"label": truncate(orDefault(label, "Choose one"), maxFact), "choices": choices()})
	case approval.InputMultiselect:
		out = append(out, map[string]any{"type": "Input.ChoiceSet", "id": DataValues, "isMultiSelect": true,
			"label": truncate(orDefault(label, "Choose"), maxFact), "choices": choices()})
	case approval.InputText:
		out = append(out, map[string]any{"type": "Input.Text", "id": DataText, "isMultiline": true, "maxLength": 3000,
			"label": truncate(orDefault(label, "Answer"), maxFact)})
	case approval.InputButton:
		if label != "" {
			out = append(out, textBlock(Escape(truncate(label, maxFact)), "", ""))
		}
	}
	placeholder := "Comment (optional)"
	if st.Policy.RequireComment.Approve || st.Policy.RequireComment.Reject {
		placeholder = "Comment (this policy needs one)"
	}
	return append(out, map[string]any{"type": "Input.Text", "id": DataComment, "isMultiline": true, "maxLength": 3000,
		"placeholder": placeholder, "label": "Comment"})
}

// controls are the card's buttons: each option of a button input, else
// Approve and Reject. Every one carries the request hash the card shows,
// so a decision binds to this content.
func controls(st *approval.State) []any {
	data := func(extra ...string) map[string]any {
		d := map[string]any{DataApprovalID: st.ID, DataRequestHash: st.RequestHash}
		for i := 0; i+1 < len(extra); i += 2 {
			d[extra[i]] = extra[i+1]
		}
		return d
	}
	execute := func(title, verb, style string, d map[string]any) map[string]any {
		a := map[string]any{"type": "Action.Execute", "title": truncate(title, 40), "verb": verb, "data": d}
		if style != "" {
			a["style"] = style
		}
		return a
	}
	if st.Request.Input.Type == approval.InputButton && len(st.Request.Input.Options) > 0 {
		var out []any
		for i, o := range st.Request.Input.Options {
			if i == 5 { // Teams shows at most a handful of buttons
				break
			}
			style := ""
			switch {
			case o.Style == "danger" || o.Decision == approval.DecisionReject:
				style = "destructive"
			case o.Style == "primary":
				style = "positive"
			}
			out = append(out, execute(o.Label, VerbOption, style, data(DataOption, o.Value)))
		}
		return out
	}
	return []any{
		execute("Approve", VerbApprove, "positive", data()),
		execute("Reject", VerbReject, "destructive", data()),
	}
}

func (r Render) openAction(st *approval.State) map[string]any {
	return map[string]any{"type": "Action.OpenUrl", "title": "Open in Signoff", "url": r.URL(st.ID)}
}

func (r Render) footer(st *approval.State) map[string]any {
	return textBlock(fmt.Sprintf("approval %s · policy %s %s", st.ID, Escape(st.Policy.Name), Escape(st.Policy.Version)), "", "Small")
}

func statusBlock(s string) map[string]any {
	b := textBlock(s, "Bolder", "")
	switch {
	case strings.HasPrefix(s, "✅"):
		b["color"] = "Good"
	case strings.HasPrefix(s, "❌"):
		b["color"] = "Attention"
	default:
		b["color"] = "Warning"
	}
	return b
}

// format is how cards write the shared wording: Teams markdown, plain
// names, facts cut at maxFact.
var format = wording.Format{Text: Escape, Time: date, Limit: maxFact}

// OutcomeLine says how the approval ended ("Approved by bob and carol for
// dana at …").
func OutcomeLine(st *approval.State) string {
	if line := wording.Outcome(st, format); line != "" {
		return line
	}
	switch st.Status {
	case approval.StatusGranted:
		if g := st.Grant; g != nil {
			line := "🔓 Granted until " + date(g.RevokeAt) + ", approved by " + wording.DecidersOrNobody(st, approval.DecisionApprove, format)
			if g.RevokeFailures > 0 {
				line += fmt.Sprintf(". ⚠️ The revoke failed %d times so far: it is tried again until it is verified", g.RevokeFailures)
			}
			return line
		}
	case approval.StatusRevoked:
		if g := st.Grant; g != nil && !g.RevokedAt.IsZero() {
			return "🔒 Revoked at " + date(g.RevokedAt)
		}
	}
	return string(st.Status) + " · " + wording.Progress(st, format)
}

func actionResultLine(res *approval.ActionResult) string {
	if res.Success {
		return "⚙️ Action " + Escape(res.Type) + " succeeded."
	}
	return "⚠️ Action " + Escape(res.Type) + " failed: " + Escape(truncate(res.Error, maxFact))
}

func textBlock(text, weight, size string) map[string]any {
	b := map[string]any{"type": "TextBlock", "text": text, "wrap": true}
	if weight != "" {
		b["weight"] = weight
	}
	if size != "" {
		b["size"] = size
	}
	return b
}

func subtle(text string) map[string]any {
	b := textBlock(Escape(text), "", "")
	b["isSubtle"] = true
	return b
}

// fact is one row of a FactSet; both sides are escaped.
func fact(title, value string) map[string]any {
	return map[string]any{"title": Escape(truncate(title, 100)), "value": Escape(truncate(value, maxFact))}
}

// Escape keeps text people wrote from being read as Markdown by Teams: a
// requester cannot dress a title up as a link, a heading or emphasis.
func Escape(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch r {
		case '\\', '*', '_', '[', ']', '(', ')', '<', '>', '#', '`', '~', '|', '!':
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

func date(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") }

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
