package callbacks

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/slack-go/slack"

	"github.com/signoff/signoff/approval"
	"github.com/signoff/signoff/channel/slack/slackmsg"
	"github.com/signoff/signoff/intake"
	"github.com/signoff/signoff/policy"
	"github.com/signoff/signoff/store/approvalstore"
)

const extendUsage = "Usage: `/signoff extend <approval id> <duration> [justification…]`, e.g. `/signoff extend " +
	"abcdefghijklmnopqrstuvwxyz 1h finishing the migration` (a duration such as `30m`, `2h` or `1d`)."

// maxExtendDuration bounds what the command reads; the policy's
// max_duration binds after.
const maxExtendDuration = 90 * 24 * time.Hour

// maxJustification is the API's bound on a justification.
const maxJustification = 4000

// extendCommand parses `/signoff extend <id> <duration> [justification…]`
// (nil when malformed): the caller, the Slack user verified and mapped to
// a Signoff person as for every command, asks for more time on the access
// that approval granted them. The extension is an approval of its own,
// which the grant's policy's approvers decide.
func (h *Handler) extendCommand(cmd slack.SlashCommand, args []string) func(ctx context.Context, p Person) *slack.WebhookMessage {
	if len(args) < 3 || !slackmsg.ValidApprovalID(args[1]) {
		return nil
	}
	var v policy.Duration
	if err := v.UnmarshalText([]byte(args[2])); err != nil || v <= 0 || v.Std() > maxExtendDuration {
		return nil
	}
	id, d := args[1], v.Std()
	justification := slackmsg.Truncate(strings.TrimSpace(afterFields(cmd.Text, 3)), maxJustification)
	requestID := ""
	if cmd.TriggerID != "" {
		// One command, one extension, however often it is delivered.
		requestID = "slack:extend:" + cmd.TriggerID
	}
	return func(ctx context.Context, p Person) *slack.WebhookMessage {
		if h.extend == nil {
			return ephemeral("❌ Asking for more time is not available here: use `signoff extend` or the approval's page.")
		}
		if p.User == nil {
			return ephemeral("❌ " + RefusedUnknownUser + ".") // Resolve never leaves it so; never trust that blindly
		}
		st, err := h.extend(ctx, p.User, id, d, justification, requestID)
		if err != nil {
			return ephemeral(h.extendRefused(ctx, p, id, err))
		}
		h.logger.InfoContext(ctx, "extension asked", "approval_id", st.ID, "extends", id, "user", p.User.Name,
			"duration", d.String(), "via", "slack")
		return ephemeral(h.extendAsked(st, d))
	}
}

// extendAsked tells the grantee which approval asks for the extension and
// who is asked to decide it.
func (h *Handler) extendAsked(st *approval.State, d time.Duration) string {
	text := fmt.Sprintf("✅ Asked for %s more: approval `%s` (<%s|%s>).", approval.ShortDuration(d), st.ID, h.render.URL(st),
		slackmsg.Escape(slackmsg.Truncate(st.Request.Title, 150)))
	switch pending := st.Pending(); {
	case st.Status != approval.StatusPending:
		text += fmt.Sprintf(" It is %s already.", strings.ToLower(string(st.Status)))
	case len(pending) > 0:
		people := make([]string, len(pending))
		for i, name := range pending {
			people[i] = h.render.Person(name)
		}
		text += " Waiting for " + approval.JoinAnd(people) + " (" + slackmsg.Progress(st) + ")."
	}
	return text + " Your access ends when it did until the extension is approved; then it lasts " +
		approval.ShortDuration(d) + " from that approval."
}

// extendRefused says why nothing was asked.
func (h *Handler) extendRefused(ctx context.Context, p Person, id string, err error) string {
	log := h.logger.With("approval_id", id, "user", p.User.Name)
	switch {
	case errors.Is(err, approvalstore.ErrNotFound):
		// The words of /signoff status for an unknown approval.
		return fmt.Sprintf("There is no approval `%s`.", id)
	case errors.Is(err, intake.ErrDenied):
		log.InfoContext(ctx, "slack extend refused", "reason", err.Error())
		return "❌ Not extended: " + slackmsg.Escape(strings.TrimPrefix(err.Error(), intake.ErrDenied.Error()+": ")) + "."
	case errors.Is(err, intake.ErrInvalid):
		log.InfoContext(ctx, "slack extend refused", "reason", err.Error())
		return "❌ Not extended: " + slackmsg.Escape(strings.TrimPrefix(err.Error(), intake.ErrInvalid.Error()+": ")) + "."
	case errors.Is(err, intake.ErrConflict):
		return "❌ Not extended: this command was already used for another request."
	case errors.Is(err, intake.ErrUnavailable):
		log.WarnContext(ctx, "slack extend unavailable", "error", err)
		return "❌ The policy's approver groups could not be read right now (Slack): nothing was asked; try again later."
	}
	log.ErrorContext(ctx, "slack extend failed", "error", h.redact.Redact(err.Error()))
	return "❌ Your request for more time could not be sent right now: try again."
}

// afterFields is text without its first n whitespace-separated fields,
// the rest as written.
func afterFields(text string, n int) string {
	s := strings.TrimLeft(text, " \t\n")
	for range n {
		i := strings.IndexAny(s, " \t\n")
		if i < 0 {
			return ""
		}
		s = strings.TrimLeft(s[i:], " \t\n")
	}
	return s
}
