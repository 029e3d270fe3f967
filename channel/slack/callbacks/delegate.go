package callbacks

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/slack-go/slack"

	"github.com/signoff/signoff/channel/slack/slackmsg"
	"github.com/signoff/signoff/intake"
	"github.com/signoff/signoff/people"
	"github.com/signoff/signoff/store/approvalstore"
	"github.com/signoff/signoff/store/peoplestore"
)

const delegateUsage = "Usage: `/signoff delegate @person until 2026-12-24 [reason…]` (a date, an RFC 3339 time or a duration such as `3d`)."

// mention is a user as Slack escapes it in slash commands (<@U123|name>).
var mention = regexp.MustCompile(`^<@([UW][A-Z0-9]+)(\|[^>]*)?>$`)

// delegateCommand parses `/signoff delegate <who> until <when> [reason]`.
func (h *Handler) delegateCommand(args []string) func(ctx context.Context, p Person) *slack.WebhookMessage {
	if len(args) < 4 || strings.ToLower(args[2]) != "until" {
		return nil
	}
	who, when, reason := args[1], args[3], strings.Join(args[4:], " ")
	return func(ctx context.Context, p Person) *slack.WebhookMessage {
		if h.people == nil {
			return ephemeral("❌ Delegation is not available here.")
		}
		dir := h.dir()
		var to string
		if m := mention.FindStringSubmatch(who); m != nil {
			u, ok := dir.BySlackID(m[1])
			if !ok {
				return ephemeral("❌ That person is not a Signoff user.")
			}
			to = u.Name
		} else if u, ok := dir.Lookup(strings.TrimPrefix(who, "@")); ok {
			to = u.Name
		} else {
			return ephemeral("❌ `" + slackmsg.Escape(slackmsg.Truncate(who, 40)) + "` is not a Signoff user. " + delegateUsage)
		}
		now := h.now()
		end, err := people.ParseWhen(when, now, true)
		if err != nil {
			return ephemeral("❌ " + slackmsg.Escape(err.Error()) + ". " + delegateUsage)
		}
		d, err := peoplestore.Create(ctx, h.people, dir, peoplestore.Request{
			By: p.User, ID: intake.NewID(), To: to, End: end, Reason: slackmsg.Truncate(reason, 500),
		}, now)
		switch {
		case errors.Is(err, people.ErrInvalid):
			return ephemeral("❌ " + slackmsg.Escape(err.Error()))
		case err != nil:
			h.logger.WarnContext(ctx, "slack delegate failed", "user", p.User.Name, "error", err)
			return ephemeral("❌ The delegation could not be saved right now: try again.")
		}
		n, err := approvalstore.AnnounceDelegation(ctx, h.approvals, h.proofs, d, now)
		if err != nil {
			h.logger.WarnContext(ctx, "delegation not announced to every pending approval", "id", d.ID, "error", err)
		}
		h.logger.InfoContext(ctx, "delegation created", "id", d.ID, "from", d.From, "to", d.To, "end", d.End, "via", "slack",
			"pending_approvals_told", n)
		told := ""
		if n > 0 {
			told = fmt.Sprintf(" They are asked on the %d approval(s) waiting for you now.", n)
		}
		return ephemeral(fmt.Sprintf("✅ %s decides for you until %s (delegation `%s`; `/signoff undelegate %s` ends it).%s",
			slackmsg.Escape(d.To), d.End.UTC().Format("Mon 2 Jan 2006 15:04 MST"), d.ID, d.ID, told))
	}
}

// delegationsCommand lists the caller's delegations.
func (h *Handler) delegationsCommand(ctx context.Context, p Person) *slack.WebhookMessage {
	if h.people == nil {
		return ephemeral("❌ Delegation is not available here.")
	}
	st, err := h.people.State(ctx)
	if err != nil {
		return ephemeral("❌ Delegations could not be read right now: try again.")
	}
	now := h.now()
	var b strings.Builder
	for _, d := range st.Involving(p.User.Name) {
		if !d.RevokedAt.IsZero() || !now.Before(d.End) {
			continue // over
		}
		state := "from " + d.Start.UTC().Format("2 Jan 15:04")
		if d.Active(now) {
			state = "active"
		}
		fmt.Fprintf(&b, "• `%s` %s → %s until %s (%s)\n", d.ID, slackmsg.Escape(d.From), slackmsg.Escape(d.To),
			d.End.UTC().Format("Mon 2 Jan 2006 15:04 MST"), state)
	}
	if b.Len() == 0 {
		return ephemeral("No delegations by you or to you.")
	}
	return ephemeral("*Delegations*\n" + b.String())
}

// undelegateCommand ends a delegation.
func (h *Handler) undelegateCommand(id string) func(ctx context.Context, p Person) *slack.WebhookMessage {
	return func(ctx context.Context, p Person) *slack.WebhookMessage {
		if h.people == nil {
			return ephemeral("❌ Delegation is not available here.")
		}
		d, err := h.people.Revoke(ctx, id, p.User.Name, p.User.Admin)
		switch {
		case errors.Is(err, people.ErrNotFound):
			return ephemeral("❌ No such delegation.")
		case errors.Is(err, people.ErrNotYours):
			return ephemeral("❌ " + people.ErrNotYours.Error() + ".")
		case err != nil:
			return ephemeral("❌ The delegation could not be ended right now: try again.")
		}
		return ephemeral(fmt.Sprintf("✅ Delegation `%s` from %s to %s ended.", d.ID, slackmsg.Escape(d.From), slackmsg.Escape(d.To)))
	}
}
