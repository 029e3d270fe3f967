package callbacks

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/slack-go/slack"
	"golang.org/x/sync/errgroup"

	"github.com/signoff/signoff/approval"
	"github.com/signoff/signoff/approval/access"
	"github.com/signoff/signoff/channel/slack/slackmsg"
	"github.com/signoff/signoff/store/approvalstore"
)

// How many approvals /signoff list shows (Slack allows 50 blocks).
const (
	listScan = 200
	listShow = 10
)

const helpText = "*/signoff* — Signoff approvals\n" +
	"• `/signoff list` — pending approvals you may decide, with their buttons\n" +
	"• `/signoff status <id>` — where an approval stands\n" +
	"• `/signoff delegate @person until 2026-12-24 [reason]` — let someone decide in your place\n" +
	"• `/signoff delegations`, `/signoff undelegate <id>` — see and end delegations\n" +
	"• `/signoff extend <id> 1h [justification]` — ask for more time on access an approval granted you\n" +
	"• `/signoff help` — this help"

// ServeCommands handles POST /slack/commands.
func (h *Handler) ServeCommands(w http.ResponseWriter, r *http.Request) {
	body, ok := h.verified(w, r)
	if !ok {
		return
	}
	cmd, err := ParseCommand(body)
	if err != nil {
		h.logger.WarnContext(r.Context(), "slack command unreadable", "error", err)
		http.Error(w, "malformed slash command", http.StatusBadRequest)
		return
	}
	writeResponse(w, h.Command(r.Context(), cmd))
}

func ephemeral(text string, blocks ...slack.Block) *slack.WebhookMessage {
	m := &slack.WebhookMessage{ResponseType: slack.ResponseTypeEphemeral, Text: text}
	if len(blocks) > 0 {
		m.Blocks = &slack.Blocks{BlockSet: blocks}
	}
	return m
}

// Command answers a verified slash command. Work that may outlast Slack's
// 3 s goes on in the background and is posted to the response_url.
func (h *Handler) Command(ctx context.Context, cmd slack.SlashCommand) any {
	args := strings.Fields(cmd.Text)
	sub := ""
	if len(args) > 0 {
		sub = strings.ToLower(args[0])
	}
	var work func(ctx context.Context, p Person) *slack.WebhookMessage
	switch sub {
	case "list":
		work = h.list
	case "status":
		if len(args) != 2 || !slackmsg.ValidApprovalID(args[1]) {
			return ephemeral("Usage: `/signoff status <approval id>` (26 letters and digits).")
		}
		id := args[1]
		work = func(ctx context.Context, p Person) *slack.WebhookMessage { return h.status(ctx, p, id) }
	case "delegate":
		if work = h.delegateCommand(args); work == nil {
			return ephemeral(delegateUsage)
		}
	case "extend":
		if work = h.extendCommand(cmd, args); work == nil {
			return ephemeral(extendUsage)
		}
	case "delegations":
		work = h.delegationsCommand
	case "undelegate":
		if len(args) != 2 || !slackmsg.ValidApprovalID(args[1]) {
			return ephemeral("Usage: `/signoff undelegate <delegation id>`.")
		}
		work = h.undelegateCommand(args[1])
	case "", "help":
		return ephemeral(helpText)
	default:
		return ephemeral("Unknown command `" + slackmsg.Escape(slackmsg.Truncate(sub, 40)) + "`.\n" + helpText)
	}
	done := make(chan *slack.WebhookMessage, 1)
	h.bg.Add(1)
	go func() {
		defer h.bg.Done()
		bctx, cancel := context.WithTimeout(h.ctx, 30*time.Second)
		defer cancel()
		p, err := h.users.Resolve(bctx, cmd.UserID, cmd.TeamID)
		if err != nil {
			h.logger.WarnContext(bctx, "slack identity unverifiable", "error", h.redact.Redact(err.Error()))
		}
		if p.Refusal != "" {
			done <- ephemeral("❌ " + p.Refusal + ".")
			return
		}
		done <- work(bctx, p)
	}()
	t := time.NewTimer(h.ackBudget)
	defer t.Stop()
	select {
	case msg := <-done:
		return msg
	case <-t.C:
	case <-ctx.Done():
	}
	// Too slow for the HTTP answer: post the result when it comes.
	h.bg.Add(1)
	go func() {
		defer h.bg.Done()
		select {
		case msg := <-done:
			h.reply(h.ctx, cmd.ResponseURL, cmd.ChannelID, cmd.UserID, msg)
		case <-h.ctx.Done():
		}
	}()
	return ephemeral("⏳ Working on it…")
}

// list shows the pending approvals p may decide now, soonest deadline
// first, with their controls.
func (h *Handler) list(ctx context.Context, p Person) *slack.WebhookMessage {
	states, err := h.pending(ctx, listScan)
	if err != nil {
		h.logger.WarnContext(ctx, "slack list failed", "error", err)
		return ephemeral("❌ Pending approvals could not be listed right now: try again.")
	}
	var mine []*approval.State
	for _, st := range states {
		if slices.Contains(st.Pending(), p.User.Name) {
			mine = append(mine, st)
		}
	}
	if len(mine) == 0 {
		return ephemeral("Nothing is waiting for you. 🎉")
	}
	slices.SortFunc(mine, func(a, b *approval.State) int { return a.Deadline.Compare(b.Deadline) })
	text := fmt.Sprintf("%d approval(s) waiting for you", len(mine))
	blocks := []slack.Block{slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, "*"+text+"*", false, false), nil, nil)}
	for i, st := range mine {
		if i == listShow {
			blocks = append(blocks, slack.NewContextBlock("", slack.NewTextBlockObject(slack.MarkdownType,
				fmt.Sprintf("…and %d more.", len(mine)-listShow), false, false)))
			break
		}
		blocks = append(blocks, slack.NewDividerBlock())
		blocks = append(blocks, h.render.SummaryBlocks(st, true)...)
	}
	return ephemeral(text, blocks...)
}

// status shows one approval to a person who may read it (access.CanRead);
// its controls too when p may decide it now. Anyone else is told it does
// not exist, as for an unknown ID.
func (h *Handler) status(ctx context.Context, p Person, id string) *slack.WebhookMessage {
	st, err := h.approvals.Get(ctx, id)
	if err == nil && !access.CanRead(st, p.User) {
		err = approvalstore.ErrNotFound
	}
	if errors.Is(err, approvalstore.ErrNotFound) {
		return ephemeral(fmt.Sprintf("There is no approval `%s`.", id))
	}
	if err != nil {
		h.logger.WarnContext(ctx, "slack status failed", "approval_id", id, "error", err)
		return ephemeral("❌ The approval could not be read right now: try again.")
	}
	canDecide := slices.Contains(st.Pending(), p.User.Name)
	return ephemeral(fmt.Sprintf("%s: %s", st.Status, st.Request.Title), h.render.SummaryBlocks(st, canDecide)...)
}

// pending reads the pending approvals, at most limit, a few at a time.
// The index may list one that is gone or unreadable: it is left out.
func (h *Handler) pending(ctx context.Context, limit int) ([]*approval.State, error) {
	page, err := h.approvals.List(ctx, approvalstore.Query{Status: approval.StatusPending, Open: true, PageSize: limit})
	if err != nil {
		return nil, fmt.Errorf("list pending approvals: %w", err)
	}
	found := page.Approvals
	if len(found) > limit {
		found = found[:limit]
	}
	out := make([]*approval.State, len(found))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for i, s := range found {
		g.Go(func() error {
			if st, err := h.approvals.Get(gctx, s.ID); err == nil {
				out[i] = st
			}
			return nil
		})
	}
	_ = g.Wait()
	return slices.DeleteFunc(out, func(st *approval.State) bool { return st == nil }), nil
}
