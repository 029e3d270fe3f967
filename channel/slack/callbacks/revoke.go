package callbacks

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/signoff/signoff/approval"
	"github.com/signoff/signoff/channel/slack/slackmsg"
	"github.com/signoff/signoff/store/approvalstore"
	"github.com/signoff/signoff/workflows"
)

// revokeReason is the reason recorded for a revoke asked for in Slack.
const revokeReason = "“Revoke now” in Slack"

// revokeClick answers "Revoke now" on a granted approval's message. Like a
// decision it runs in the background, once per click however often Slack
// delivers it, and Slack hears back within the ack budget; the clicker is
// told the workflow's answer ephemerally.
func (h *Handler) revokeClick(ctx context.Context, c click) {
	// The update ID is derived from the click: Slack's retries of it, here
	// or on another gateway, are the same update, which Temporal applies
	// once.
	id := workflows.UpdateRevoke + ":" + attemptID(c)
	h.inFlight(ctx, c, id, func(ctx context.Context, _ *flight) {
		h.tell(ctx, c, h.revoke(ctx, c, id))
	})
}

// revoke asks the approval's workflow to revoke its granted access now for
// the person who clicked, and says what became of it. Who they are comes
// from Slack's verified user ID alone, mapped to a configured user as for
// decisions; someone mapped to nobody (or refused by Slack's account
// checks) is refused here and nothing is sent. The workflow judges the
// rest (the grantee or an admin, while access is granted) and records
// refusals.
func (h *Handler) revoke(ctx context.Context, c click, attemptID string) string {
	aid := c.Action.ApprovalID
	log := h.logger.With("approval_id", aid, "attempt_id", attemptID, "slack_user", c.SlackUser)
	person, err := h.users.Resolve(ctx, c.SlackUser, c.Team)
	if err != nil {
		log.WarnContext(ctx, "slack identity unverifiable", "error", h.redact.Redact(err.Error()))
	}
	if person.Refusal == "" && person.User == nil {
		person.Refusal = RefusedUnknownUser // Resolve never leaves it so; never trust that blindly
	}
	if person.Refusal != "" {
		log.InfoContext(ctx, "slack revoke refused", "refusal", person.Refusal)
		return "❌ Not revoked: " + slackmsg.Escape(person.Refusal) + "."
	}
	u := person.User
	// The admin flag is the configured user's, as the API's RevokeGrant
	// sends it (identity.User.Admin): Slack's own workspace admins are not
	// Signoff admins.
	req := workflows.Stamp(h.proofs, aid, workflows.RevokeRequest{
		AttemptID: attemptID, User: u.Name, Admin: u.Admin, Reason: revokeReason,
	}, h.now())
	rctx, cancel := context.WithTimeout(ctx, h.resultTTL)
	st, err := h.approvals.Revoke(rctx, aid, req)
	cancel()
	var ref approval.Refusal
	switch {
	case err == nil:
		log.InfoContext(ctx, "approval revoke", "user", u.Name, "via", "slack", "status", string(st.Status))
		return fmt.Sprintf("✅ Revoke requested: the access granted by %s is being taken back now.", titleOf(st))
	case errors.Is(err, approvalstore.ErrClosed), errors.Is(err, approvalstore.ErrNotFound),
		errors.As(err, &ref) && ref.Code == approval.CodeNotGranted:
		// Over, or not granted now: most often a revoke already asked for
		// (a second click, someone else's) or done.
		log.InfoContext(ctx, "slack revoke refused", "user", u.Name, "error", err)
		return h.notGranted(ctx, aid)
	case errors.As(err, &ref):
		log.InfoContext(ctx, "slack revoke refused", "user", u.Name, "code", string(ref.Code), "reason", ref.Message)
		return "❌ Not revoked: " + slackmsg.Escape(ref.Message) + "."
	case errors.Is(err, approvalstore.ErrUnavailable):
		log.WarnContext(ctx, "slack revoke unanswered", "user", u.Name, "error", err)
		return "⏳ No answer in time: your revoke may still be applied. Click again to see where it stands."
	}
	log.ErrorContext(ctx, "slack revoke not delivered", "user", u.Name, "error", err)
	return "❌ Your revoke could not be delivered: try again."
}

// notGranted tells the clicker why there is nothing to revoke: a revoke
// already under way, done, or no grant at all.
func (h *Handler) notGranted(ctx context.Context, id string) string {
	gctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	st, err := h.approvals.Get(gctx, id)
	cancel()
	switch {
	case errors.Is(err, approvalstore.ErrNotFound):
		return fmt.Sprintf("❌ There is no approval `%s`.", id)
	case err != nil || st.Grant == nil:
		return "❌ Not revoked: " + approval.ErrNotGranted.Error() + "."
	}
	g := st.Grant
	switch {
	case st.Status == approval.StatusGranted && !g.RevokeRequestedAt.IsZero():
		return fmt.Sprintf("⏳ Already being revoked: %s asked at %s. (%s)",
			h.render.Person(g.RevokeRequestedBy), slackmsg.Date(g.RevokeRequestedAt), titleOf(st))
	case st.Status == approval.StatusRevoked && !g.RevokedAt.IsZero():
		return fmt.Sprintf("❌ Not revoked: the access was revoked already, at %s. (%s)", slackmsg.Date(g.RevokedAt), titleOf(st))
	}
	return fmt.Sprintf("❌ Not revoked: %s. (%s)", approval.ErrNotGranted.Error(), titleOf(st))
}

// titleOf is the approval's title as the answers show it.
func titleOf(st *approval.State) string {
	return "*" + slackmsg.Escape(slackmsg.Truncate(st.Request.Title, 150)) + "*"
}
