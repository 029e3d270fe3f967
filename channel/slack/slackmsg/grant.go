package slackmsg

import (
	"fmt"

	"github.com/signoff/signoff/approval"
)

// extensionLine says the grant's end moved, and by whose approval: the
// latest extension, with a count when there were several. Empty when the
// grant was never extended.
func (r Render) extensionLine(g *approval.Grant) string {
	n := len(g.Extensions)
	if n == 0 {
		return ""
	}
	last := g.Extensions[n-1]
	by := fmt.Sprintf("extended by approval <%s|`%s`>", r.ApprovalURL(last.Approval), Escape(last.Approval))
	if n > 1 {
		by = fmt.Sprintf("extended %d times, last by approval <%s|`%s`>", n, r.ApprovalURL(last.Approval), Escape(last.Approval))
	}
	return fmt.Sprintf("⏩ Access %s at %s (it was to end %s)", by, Date(last.At), Date(last.From))
}

// ExtendedReplyText is the thread reply of the outcome notice an
// extension sends: the grant's new end and the approval that moved it.
func ExtendedReplyText(st *approval.State) string {
	g := st.Grant
	if g == nil || len(g.Extensions) == 0 {
		return ""
	}
	last := g.Extensions[len(g.Extensions)-1]
	return fmt.Sprintf("⏩ Access extended until %s by approval `%s`.", Date(g.RevokeAt), Escape(last.Approval))
}

// GrantEndingText tells the grantee, by mention, that their access ends
// soon and how to ask for more: the slash command, or the approval's page.
// The same policy's approvers decide an extension.
func (r Render) GrantEndingText(st *approval.State) string {
	end := "soon"
	if st.Grant != nil {
		end = "at " + Date(st.Grant.RevokeAt)
	}
	what := Escape(Truncate(st.Request.Action.Type, maxParamKey))
	if st.Request.Action.Type == "" {
		what = "access"
	}
	text := fmt.Sprintf("⏰ %s, your access (`%s`) ends %s.\n", r.Person(st.Requester), what, end)
	text += fmt.Sprintf("Need more time? Ask with `/signoff extend %s %s [why]`, or *Ask for more time* on <%s|the approval's page>.",
		st.ID, st.SuggestedExtension(), r.URL(st))
	if m := st.Policy.MaxDuration; m > 0 {
		text += fmt.Sprintf(" The policy's approvers decide (at most %s at a time).", approval.ShortDuration(m))
	} else {
		text += " The policy's approvers decide."
	}
	return text
}
