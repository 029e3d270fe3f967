package notifier

import (
	"context"
	"fmt"
	"strings"

	"go.temporal.io/sdk/temporal"

	"github.com/signoff/signoff/activities"
	"github.com/signoff/signoff/approval"
	"github.com/signoff/signoff/workflows"
)

var _ activities.GrantNotifier = (*Notifier)(nil)

// GrantEnding mails the grantee, and no one else, that their access ends
// soon: when, the approval's page where they may ask for more time, and
// the CLI command that does. One mail per end: after an extension the new
// end is told in a mail of its own (its own Message-ID).
func (n *Notifier) GrantEnding(ctx context.Context, st *approval.State) (approval.Delivery, error) {
	g := st.Grant
	if g == nil {
		return approval.Delivery{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("approval %s grants no access", st.ID), ErrTypeNoRecipient, nil)
	}
	end := formatTime(g.RevokeAt)
	rs := n.users(st, []string{st.Requester}, func(string) bool { return false })
	return n.deliver(ctx, st, workflows.NoticeGrantEnding, fmt.Sprintf("e%d", g.RevokeAt.Unix()), rs, true,
		func(c *content, r recipient) {
			c.Heading = "Your access ends soon"
			c.Intro = fmt.Sprintf("The access this approval granted you ends at %s: it is revoked then.", end)
			c.Extra = n.extendHelp(st)
		}, "Your access ends at "+end)
}

// extendHelp says how to ask for more time: the approval's page (signed
// in) or the CLI, within the policy's max_duration.
func (n *Notifier) extendHelp(st *approval.State) string {
	var b strings.Builder
	if ext := st.Grant.Extensions; len(ext) > 0 {
		fmt.Fprintf(&b, "It was extended already, last by approval %s.\n\n", ext[len(ext)-1].Approval)
	}
	b.WriteString("Need more time? Ask for it on the approval's page (sign in, then \"Ask for more time\"):\n")
	b.WriteString(n.publicURL + "/approvals/" + st.ID + "\n\n")
	b.WriteString("or with the CLI:\n")
	fmt.Fprintf(&b, "  signoff extend %s --duration %s --justification \"why\"\n\n", st.ID, st.SuggestedExtension())
	b.WriteString("The policy's approvers decide")
	if m := st.Policy.MaxDuration; m > 0 {
		fmt.Fprintf(&b, ", for at most %s at a time", approval.ShortDuration(m))
	}
	b.WriteString(". Nothing changes until they approve.")
	return b.String()
}

// outcomeSeq numbers a grant's outcome notices (granted, extended, revoke
// failing, revoked), so each is a mail of its own rather than a copy of
// the first (the same Message-ID, which mail clients drop).
func outcomeSeq(st *approval.State) string {
	g := st.Grant
	switch {
	case g == nil:
		return "1"
	case !g.RevokedAt.IsZero():
		return "revoked"
	case g.RevokeFailures > 0:
		return fmt.Sprintf("f%d", g.RevokeFailures)
	case len(g.Extensions) > 0:
		return fmt.Sprintf("x%d", len(g.Extensions))
	}
	return "1"
}

// grantIntro says where granted access stands, for the outcome mail.
func grantIntro(st *approval.State) string {
	g := st.Grant
	switch {
	case st.Status == approval.StatusRevoked && !g.RevokedAt.IsZero():
		return fmt.Sprintf("Your access was revoked at %s.", formatTime(g.RevokedAt))
	case st.Status != approval.StatusGranted:
		return ""
	case g.RevokeFailures > 0:
		return fmt.Sprintf("Your access was to end at %s; its revoke failed %d time(s) so far and is tried again until it is verified.",
			formatTime(g.RevokeAt), g.RevokeFailures)
	case len(g.Extensions) > 0:
		return fmt.Sprintf("Your access was extended by approval %s: it now ends at %s.",
			g.Extensions[len(g.Extensions)-1].Approval, formatTime(g.RevokeAt))
	}
	if len(st.ApprovedBy) == 0 {
		return "Your access is granted until " + formatTime(g.RevokeAt) + "."
	}
	return "Your request was approved by " + strings.Join(st.ApprovedBy, ", ") + ": access is granted until " + formatTime(g.RevokeAt) + "."
}
