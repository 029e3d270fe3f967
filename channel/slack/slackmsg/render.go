package slackmsg

import (
	"fmt"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/slack-go/slack"

	"github.com/signoff/signoff/approval"
	"github.com/signoff/signoff/channel/wording"
)

// Slack's Block Kit limits, in characters.
const (
	maxHeader      = 150
	maxSectionText = 3000
	maxField       = 2000
	maxButtonText  = 75
	maxOptionText  = 75
	maxFields      = 10 // fields per section
	maxConfirmText = 300
	maxOutput      = 2500
)

// Limits of the action's rendering, in characters before escaping (which
// can make a character five). A line stays well under maxSectionText, and
// the sections are capped so a message stays under Slack's 50 blocks.
const (
	maxActionTarget   = 400
	maxParamKey       = 100
	maxParamValue     = 300
	maxActionSections = 4
)

// Render says how people and links are shown.
type Render struct {
	// PublicURL is the gateway's public base URL, for the "Open" link.
	PublicURL string
	// SlackID maps a configured user name to a Slack user ID ("" if none),
	// so people are @-mentioned.
	SlackID func(name string) string
}

// Escape makes text safe inside mrkdwn: it cannot open a link, a mention
// or a <!channel> broadcast.
func Escape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// Truncate cuts s to at most n characters, marking the cut.
func Truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// Person shows a configured user: a mention when their Slack ID is known.
func (r Render) Person(name string) string {
	if r.SlackID != nil {
		if id := r.SlackID(name); id != "" {
			return "<@" + id + ">"
		}
	}
	if strings.HasPrefix(name, "slack:") {
		return "<@" + Escape(strings.TrimPrefix(name, "slack:")) + ">"
	}
	return Escape(name)
}

func (r Render) people(names []string) string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = r.Person(n)
	}
	return approval.JoinAnd(out)
}

// Date is a Slack date token, shown in the reader's time zone, with a UTC
// fallback for clients that cannot render it.
func Date(t time.Time) string {
	return fmt.Sprintf("<!date^%d^{date_short_pretty} at {time}|%s>", t.Unix(), t.UTC().Format("2006-01-02 15:04 UTC"))
}

func mrkdwn(s string) *slack.TextBlockObject {
	return slack.NewTextBlockObject(slack.MarkdownType, s, false, false)
}

func plain(s string) *slack.TextBlockObject {
	return slack.NewTextBlockObject(slack.PlainTextType, s, true, false)
}

// Progress reads "1 of 2 approvals", with the stage when there are several.
func Progress(st *approval.State) string { return wording.Progress(st, wording.Format{Text: Escape}) }

// URL is the approval's page on the gateway: people who open it sign in there.
func (r Render) URL(st *approval.State) string {
	return r.ApprovalURL(st.ID)
}

// ApprovalURL is the page of the approval with ID id.
func (r Render) ApprovalURL(id string) string {
	return strings.TrimRight(r.PublicURL, "/") + "/approvals/" + id
}

// blockID keeps block IDs unique per message and new after each change:
// Slack keeps a control's state per block ID, so an updated message must not
// reuse them.
func blockID(kind, part string, st *approval.State) string {
	return fmt.Sprintf("signoff:%s:%s:%s:r%d", kind, part, st.ID, st.Revision)
}

// requestBlocks describe what is asked: requester, description, where,
// fields (sorted) and, while pending, progress and who is awaited.
func (r Render) requestBlocks(kind string, st *approval.State) []slack.Block {
	req := st.Request
	text := fmt.Sprintf("%s asks for approval", r.Person(st.Requester))
	if req.Description != "" {
		text += "\n" + quote(Escape(req.Description))
	}
	if st.Justification != "" {
		text += "\n*Justification:* " + Escape(st.Justification)
	}
	blocks := []slack.Block{
		slack.NewSectionBlock(mrkdwn(Truncate(text, maxSectionText)), nil, nil, slack.SectionBlockOptionBlockID(blockID(kind, "request", st))),
	}
	fields := []*slack.TextBlockObject{mrkdwn("*Environment*\n`" + Escape(req.Environment) + "`")}
	if req.Resource != "" {
		fields = append(fields, mrkdwn("*Resource*\n`"+Escape(req.Resource)+"`"))
	}
	fields = append(fields, mrkdwn("*Policy*\n"+Escape(st.Policy.Name)))
	if !st.Status.Final() {
		fields = append(fields,
			mrkdwn("*Deadline*\n"+Date(st.Deadline)),
			mrkdwn("*Progress*\n"+Progress(st)),
		)
		if pending := st.Pending(); len(pending) > 0 {
			fields = append(fields, mrkdwn(Truncate("*Waiting for*\n"+r.people(pending), maxField)))
		}
	}
	keys := make([]string, 0, len(req.Fields))
	for k := range req.Fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fields = append(fields, mrkdwn(Truncate("*"+Escape(k)+"*\n"+Escape(req.Fields[k]), maxField)))
	}
	for i := 0; i < len(fields); i += maxFields {
		part := fields[i:min(i+maxFields, len(fields))]
		blocks = append(blocks, slack.NewSectionBlock(nil, part, nil,
			slack.SectionBlockOptionBlockID(blockID(kind, fmt.Sprintf("fields%d", i/maxFields), st))))
	}
	return append(blocks, actionBlocks(kind, st)...)
}

// ActionLine reads "*Action:* webhook → https://…": what runs once granted.
func ActionLine(v approval.ActionView) string {
	return "*Action:* " + Escape(Truncate(v.Type, maxParamKey)) + " → " + Escape(Truncate(v.Target, maxActionTarget))
}

// paramLine is one action parameter. View put each value on one line, so
// a value cannot pass for another parameter.
func paramLine(p approval.Param) string {
	return "• *" + Escape(Truncate(p.Key, maxParamKey)) + "*: " + Escape(Truncate(p.Value, maxParamValue))
}

// actionLines are the action's line and one line per parameter.
func actionLines(v approval.ActionView) []string {
	lines := []string{ActionLine(v)}
	for _, p := range v.Params {
		lines = append(lines, paramLine(p))
	}
	return lines
}

// actionBlocks show the action and every parameter, as many lines per
// section as fit. Parameters beyond the last section are counted, never
// dropped silently.
func actionBlocks(kind string, st *approval.State) []slack.Block {
	lines := actionLines(st.Request.Action.View())
	var blocks []slack.Block
	for i := 0; len(lines) > 0; i++ {
		var text string
		if i == maxActionSections-1 {
			text, lines = fit(lines, maxSectionText), nil
		} else {
			n := take(lines, maxSectionText)
			text, lines = strings.Join(lines[:n], "\n"), lines[n:]
		}
		blocks = append(blocks, slack.NewSectionBlock(mrkdwn(Truncate(text, maxSectionText)), nil, nil,
			slack.SectionBlockOptionBlockID(blockID(kind, fmt.Sprintf("action%d", i), st))))
	}
	return blocks
}

// moreLines counts the lines that did not fit.
const moreLines = "\n…and %d more parameters: open the approval in Signoff"

// fit joins the lines that fit in room bytes (no fewer characters) and
// counts the rest.
func fit(lines []string, room int) string {
	if take(lines, room) == len(lines) {
		return strings.Join(lines, "\n")
	}
	n := take(lines, room-len(moreLines)-4) // 4: the count's digits
	return strings.Join(lines[:n], "\n") + fmt.Sprintf(moreLines, len(lines)-n)
}

// take is how many lines, joined by newlines, fit in room bytes. It takes
// at least one: a line too long is truncated visibly by the caller.
func take(lines []string, room int) int {
	size := -1
	for i, l := range lines {
		size += 1 + len(l)
		if i > 0 && size > room {
			return i
		}
	}
	return len(lines)
}

func quote(s string) string {
	return "&gt; " + strings.ReplaceAll(s, "\n", "\n&gt; ")
}

func (r Render) footer(kind string, st *approval.State) slack.Block {
	return slack.NewContextBlock(blockID(kind, "footer", st),
		mrkdwn(fmt.Sprintf("<%s|Open in Signoff> · approval `%s` · policy `%s` %s",
			r.URL(st), st.ID, Escape(st.Policy.Name), Escape(st.Policy.Version))))
}

// PromptText is the notification text of a prompt (and the fallback of
// clients without blocks).
func PromptText(st *approval.State) string {
	return Truncate(fmt.Sprintf("Approval requested: %s (%s)", st.Request.Title, st.Request.Environment), maxHeader)
}

// PromptBlocks render a pending approval with the controls of its input.
func (r Render) PromptBlocks(st *approval.State) []slack.Block {
	blocks := []slack.Block{
		slack.NewHeaderBlock(plain(Truncate("Approval requested: "+st.Request.Title, maxHeader)),
			slack.HeaderBlockOptionBlockID(blockID("p", "header", st))),
	}
	blocks = append(blocks, r.requestBlocks("p", st)...)
	if p := st.Request.Input.Prompt; p != "" {
		blocks = append(blocks, slack.NewSectionBlock(mrkdwn("*"+Escape(Truncate(p, maxSectionText-2))+"*"), nil, nil,
			slack.SectionBlockOptionBlockID(blockID("p", "prompt", st))))
	}
	blocks = append(blocks, ControlsBlock("p", st), r.footer("p", st))
	return blocks
}

// ControlsBlock holds the controls of st's input: Approve/Reject buttons by
// default, a button per option, a select, a multiselect with Submit, or
// Respond (a text modal). Reject asks for confirmation; a decision the
// policy wants a comment on opens a modal instead.
func ControlsBlock(kind string, st *approval.State) *slack.ActionBlock {
	id := st.ID
	in := st.Request.Input
	var els []slack.BlockElement
	reject := func() slack.BlockElement {
		if st.Policy.RequireComment.Reject {
			return slack.NewButtonBlockElement(Action{Verb: VerbRejectComment, ApprovalID: id}.ID(), id, plain("Reject…")).
				WithStyle(slack.StyleDanger)
		}
		return slack.NewButtonBlockElement(Action{Verb: VerbReject, ApprovalID: id}.ID(), id, plain("Reject")).
			WithStyle(slack.StyleDanger).WithConfirm(confirm("Reject this request?", st, "Reject"))
	}
	switch in.Type {
	case approval.InputButton:
		for i, o := range in.Options {
			b := slack.NewButtonBlockElement(Action{Verb: VerbOption, ApprovalID: id, Index: i}.ID(), o.Value,
				plain(Truncate(o.Label, maxButtonText)))
			if o.Style == "primary" || o.Style == "danger" {
				b = b.WithStyle(slack.Style(o.Style))
			}
			if o.Decision == approval.DecisionReject {
				b = b.WithConfirm(confirm("Choose "+Truncate(o.Label, maxButtonText)+"?", st, Truncate(o.Label, 30)))
			}
			els = append(els, b)
		}
	case approval.InputSelect:
		sel := slack.NewOptionsSelectBlockElement(slack.OptTypeStatic, plain("Choose…"),
			Action{Verb: VerbSelect, ApprovalID: id}.ID(), options(in.Options)...)
		sel.Confirm = confirm("Submit your choice?", st, "Submit")
		els = append(els, sel)
	case approval.InputMultiselect:
		els = append(els,
			slack.NewOptionsMultiSelectBlockElement(slack.MultiOptTypeStatic, plain("Choose…"),
				Action{Verb: VerbMulti, ApprovalID: id}.ID(), options(in.Options)...),
			slack.NewButtonBlockElement(Action{Verb: VerbSubmit, ApprovalID: id}.ID(), id, plain("Submit")).
				WithStyle(slack.StylePrimary),
			reject())
	case approval.InputText:
		els = append(els,
			slack.NewButtonBlockElement(Action{Verb: VerbRespond, ApprovalID: id}.ID(), id, plain("Respond…")).
				WithStyle(slack.StylePrimary),
			reject())
	default:
		approve := slack.NewButtonBlockElement(Action{Verb: VerbApprove, ApprovalID: id}.ID(), id, plain("Approve")).
			WithStyle(slack.StylePrimary)
		if st.Policy.RequireComment.Approve {
			approve = slack.NewButtonBlockElement(Action{Verb: VerbApproveComment, ApprovalID: id}.ID(), id, plain("Approve…")).
				WithStyle(slack.StylePrimary)
		}
		els = append(els, approve, reject())
	}
	return slack.NewActionBlock(blockID(kind, "controls", st), els...)
}

func options(opts []approval.Option) []*slack.OptionBlockObject {
	out := make([]*slack.OptionBlockObject, len(opts))
	for i, o := range opts {
		out[i] = slack.NewOptionBlockObject(o.Value, plain(Truncate(o.Label, maxOptionText)), nil)
	}
	return out
}

func confirm(title string, st *approval.State, yes string) *slack.ConfirmationBlockObject {
	c := slack.NewConfirmationBlockObject(
		plain(Truncate(title, 100)),
		mrkdwn(Truncate(Escape(st.Request.Title)+" ("+Escape(st.Request.Environment)+")", maxConfirmText)),
		plain(yes), plain("Cancel"))
	return c.WithStyle(slack.StyleDanger)
}

// OutcomeText is the notification text of the updated prompt.
func OutcomeText(st *approval.State) string {
	return Truncate(fmt.Sprintf("%s: %s (%s)", st.Status, st.Request.Title, st.Request.Environment), maxHeader)
}

// OutcomeBlocks render a finished approval: the request, the outcome and
// no controls, except "Revoke now" while access it granted may be ended
// early (RevokeOffered). Every block ID is new, so Slack drops any stale
// state.
func (r Render) OutcomeBlocks(st *approval.State) []slack.Block {
	blocks := []slack.Block{
		slack.NewHeaderBlock(plain(Truncate(string(st.Status)+": "+st.Request.Title, maxHeader)),
			slack.HeaderBlockOptionBlockID(blockID("o", "header", st))),
	}
	blocks = append(blocks, r.requestBlocks("o", st)...)
	blocks = append(blocks,
		slack.NewSectionBlock(mrkdwn(Truncate(r.OutcomeLine(st), maxSectionText)), nil, nil,
			slack.SectionBlockOptionBlockID(blockID("o", "outcome", st))))
	if RevokeOffered(st) {
		blocks = append(blocks, RevokeBlock("o", st))
	}
	return append(blocks, r.footer("o", st))
}

// RevokeOffered reports whether st's messages offer "Revoke now": access
// is granted, nobody has asked for the revoke yet, and no revoke attempt
// has failed (then the revoke is under way already, and retried until it
// is verified). The workflow judges every request again: this only
// chooses what is shown.
func RevokeOffered(st *approval.State) bool {
	g := st.Grant
	return st.Status == approval.StatusGranted && g != nil &&
		g.RevokeRequestedAt.IsZero() && g.RevokedAt.IsZero() && g.RevokeFailures == 0
}

// RevokeBlock holds "Revoke now" (danger, confirmed): the grantee or an
// admin ends the access early; anyone else who clicks is told they may not.
func RevokeBlock(kind string, st *approval.State) *slack.ActionBlock {
	c := confirm("Revoke this access now?", st, "Revoke now")
	if st.Grant != nil {
		// Plain UTC: a confirm dialog may not render date tokens.
		c.Text = mrkdwn(Truncate(Escape(st.Request.Title)+" ("+Escape(st.Request.Environment)+"): the access granted until "+
			st.Grant.RevokeAt.UTC().Format("2006-01-02 15:04 UTC")+" ends now.", maxConfirmText))
	}
	b := slack.NewButtonBlockElement(Action{Verb: VerbRevoke, ApprovalID: st.ID}.ID(), st.ID, plain("Revoke now")).
		WithStyle(slack.StyleDanger).WithConfirm(c)
	return slack.NewActionBlock(blockID(kind, "revoke", st), b)
}

// OutcomeLine says how the approval ended, e.g. "✅ *Approved* by @bob and
// @carol at …".
func (r Render) OutcomeLine(st *approval.State) string {
	if line := wording.Outcome(st, r.format()); line != "" {
		return line
	}
	icon := wording.Icons[st.Status]
	at := ""
	if !st.ClosedAt.IsZero() {
		at = " at " + Date(st.ClosedAt)
	}
	if g := st.Grant; g != nil && !g.StartAt.IsZero() && g.GrantedAt.IsZero() && (st.Status == approval.StatusApproved || st.Status == approval.StatusBypassed) {
		return fmt.Sprintf("%s *%s*%s · access from %s until %s", icon, Escape(string(st.Status)), at, Date(g.StartAt), Date(g.RevokeAt))
	}
	switch st.Status {
	case approval.StatusGranted, approval.StatusRevoked:
		if st.Grant != nil {
			return r.grantLines(st, icon, at)
		}
	}
	return fmt.Sprintf("*%s* · %s", Escape(string(st.Status)), Progress(st))
}

// maxRevokeOutput bounds the revoke's report in the outcome.
const maxRevokeOutput = 1000

// grantLines say where granted access stands: granted until when, by whose
// approval; a revoke asked for or failing; once revoked, when, why and how
// it was verified.
func (r Render) grantLines(st *approval.State, icon, at string) string {
	g := st.Grant
	by := "approved by " + r.deciders(st, approval.DecisionApprove)
	switch {
	case st.BypassedBy != "":
		by = "break-glass by " + r.Person(st.BypassedBy)
	case len(st.Counting(approval.DecisionApprove)) == 0:
		by = "approved"
	}
	by += at
	if st.Status == approval.StatusRevoked {
		line := fmt.Sprintf("%s *Access revoked*", icon)
		if !g.RevokedAt.IsZero() {
			line += " at " + Date(g.RevokedAt)
		}
		if g.RevokeRequestedBy != "" {
			line += ", early: asked by " + r.Person(g.RevokeRequestedBy)
			if g.RevokeReason != "" {
				line += " (" + Escape(Truncate(g.RevokeReason, 300)) + ")"
			}
		} else {
			line += ", as scheduled"
		}
		lines := []string{line, fmt.Sprintf("Scheduled to end %s · %s", Date(g.RevokeAt), by)}
		if ext := r.extensionLine(g); ext != "" {
			lines = append(lines, ext)
		}
		if g.RevokeOutput != "" {
			lines = append(lines, "*How it was verified:* "+codeBlock(g.RevokeOutput, maxRevokeOutput))
		}
		return strings.Join(lines, "\n")
	}
	lines := []string{fmt.Sprintf("%s *Access granted* until %s · %s", icon, Date(g.RevokeAt), by)}
	if ext := r.extensionLine(g); ext != "" {
		lines = append(lines, ext)
	}
	if !g.RevokeRequestedAt.IsZero() {
		line := fmt.Sprintf("⏳ Revoke asked by %s at %s", r.Person(g.RevokeRequestedBy), Date(g.RevokeRequestedAt))
		if g.RevokeReason != "" {
			line += ": " + Escape(Truncate(g.RevokeReason, 300))
		}
		lines = append(lines, line)
	}
	if g.RevokeFailures > 0 {
		lines = append(lines, fmt.Sprintf("⚠️ The revoke failed %s so far: it is tried again until it is verified.", times(g.RevokeFailures)))
	}
	return strings.Join(lines, "\n")
}

func times(n int) string {
	if n == 1 {
		return "once"
	}
	return fmt.Sprintf("%d times", n)
}

// codeBlock shows untrusted output verbatim, escaped, that cannot close
// its block early.
func codeBlock(s string, n int) string {
	return "```" + strings.ReplaceAll(Escape(Truncate(s, n)), "```", "ˋˋˋ") + "```"
}

// format is how Slack writes the shared wording: mrkdwn, mentions, Slack
// dates, options in bold.
func (r Render) format() wording.Format {
	return wording.Format{Text: Escape, Person: r.Person, Time: Date, Strong: func(s string) string { return "*" + s + "*" },
		Chosen: chosen, Limit: 500}
}

// deciders lists who decided d, each with the options they chose.
func (r Render) deciders(st *approval.State, d approval.Decision) string {
	return wording.Deciders(st, d, r.format())
}

func chosen(st *approval.State, a approval.Attempt) string {
	if len(a.Values) == 0 {
		return ""
	}
	var labels []string
	for _, v := range a.Values {
		if o, ok := st.Request.Input.Option(v); ok {
			labels = append(labels, "*"+Escape(o.Label)+"*")
		} else {
			labels = append(labels, "“"+Escape(Truncate(v, 200))+"”")
		}
	}
	return strings.Join(labels, ", ")
}

// ActionResultText is the thread reply with the action's result (already
// redacted by the action runner).
func ActionResultText(res *approval.ActionResult) string {
	if res == nil {
		return ""
	}
	if res.Success {
		s := fmt.Sprintf("⚙️ Action `%s` succeeded.", Escape(res.Type))
		if res.Output != "" {
			s += "\n" + codeBlock(res.Output, maxOutput)
		}
		return s
	}
	return fmt.Sprintf("⚠️ Action `%s` failed: %s", Escape(res.Type), Escape(Truncate(res.Error, maxOutput)))
}

// OutcomeReplyText is the thread reply of an outcome notice: the action's
// result, except for a grant's later notices (an extension, a failed
// revoke, the revoke), which tell their own news rather than repeat the
// grant's.
func OutcomeReplyText(st *approval.State) string {
	g := st.Grant
	switch {
	case g == nil:
	case st.Status == approval.StatusRevoked:
		s := fmt.Sprintf("🔒 Access revoked (`%s`).", Escape(st.Request.Action.Type))
		if g.RevokeOutput != "" {
			s += "\n" + codeBlock(g.RevokeOutput, maxOutput)
		}
		return s
	case st.Status == approval.StatusGranted && g.RevokeFailures > 0:
		return fmt.Sprintf("⚠️ The revoke of this access (`%s`) failed %s so far: it is tried again until it is verified.",
			Escape(st.Request.Action.Type), times(g.RevokeFailures))
	case st.Status == approval.StatusGranted && len(g.Extensions) > 0:
		// Granted, nothing failing: this notice is the latest extension's.
		return ExtendedReplyText(st)
	}
	return ActionResultText(st.ActionResult)
}

// SummaryBlocks render one approval for /signoff: a line and, while the
// caller may decide, its controls.
func (r Render) SummaryBlocks(st *approval.State, withControls bool) []slack.Block {
	line := fmt.Sprintf("*<%s|%s>* (`%s`) by %s\n", r.URL(st), Escape(Truncate(st.Request.Title, 150)),
		Escape(st.Request.Environment), r.Person(st.Requester))
	if st.Status.Final() {
		line += r.OutcomeLine(st)
	} else {
		line += fmt.Sprintf("%s · deadline %s", Progress(st), Date(st.Deadline))
		if pending := st.Pending(); len(pending) > 0 {
			line += " · waiting for " + r.people(pending)
		}
	}
	trailer := fmt.Sprintf("\napproval `%s`", st.ID)
	// The action shares the summary's section: /signoff list must stay
	// under Slack's 50 blocks.
	line += "\n" + fit(actionLines(st.Request.Action.View()), maxSectionText-len(line)-len(trailer)-1) + trailer
	blocks := []slack.Block{slack.NewSectionBlock(mrkdwn(Truncate(line, maxSectionText)), nil, nil,
		slack.SectionBlockOptionBlockID(blockID("s", "summary", st)))}
	if withControls && !st.Status.Final() {
		blocks = append(blocks, ControlsBlock("s", st))
	}
	return blocks
}

// DecisionModal asks for the comment a decision needs, or the text of a
// "text" input.
func DecisionModal(meta ModalMetadata, title string) slack.ModalViewRequest {
	label, submit := "Comment", "Submit"
	switch meta.Verb {
	case VerbApproveComment:
		label, submit = "Why do you approve?", "Approve"
	case VerbRejectComment:
		label, submit = "Why do you reject?", "Reject"
	case VerbRespond:
		label = "Your answer"
	}
	input := slack.NewPlainTextInputBlockElement(plain("Write here"), ModalActionID)
	input.Multiline = true
	input.MaxLength = 2000
	input.FocusOnLoad = true
	return slack.ModalViewRequest{
		Type:       slack.VTModal,
		Title:      plain("Signoff"),
		Submit:     plain(submit),
		Close:      plain("Cancel"),
		CallbackID: ModalCallbackID,
		Blocks: slack.Blocks{BlockSet: []slack.Block{
			slack.NewSectionBlock(mrkdwn(Truncate("*"+Escape(title)+"*", maxSectionText)), nil, nil),
			slack.NewInputBlock(ModalBlockID, plain(label), nil, input),
		}},
		PrivateMetadata: meta.Encode(),
	}
}
