// Package notifier is the Microsoft Teams notifier: it posts Adaptive Card
// prompts (Approve/Reject as Action.Execute, Universal Actions) to the
// configured channel conversation and to approvers' personal chats, and
// when the approval ends replaces every card with its outcome. Clicks come
// back to the gateway's bot endpoint (channel/teams/callbacks).
//
// The Bot Connector has no idempotency key for a new activity; as the
// Slack notifier does, each posted target is recorded in the activity's
// heartbeat details and skipped on a retry. Card updates replace the whole
// card and are naturally idempotent.
package notifier

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"go.temporal.io/sdk/temporal"

	"github.com/signoff/signoff/activities"
	"github.com/signoff/signoff/activities/progress"
	"github.com/signoff/signoff/approval"
	"github.com/signoff/signoff/channel/teams/teamsmsg"
	"github.com/signoff/signoff/config"
	"github.com/signoff/signoff/config/identity"
)

// Name is the notifier's name in config and in MessageRef.Notifier.
const Name = config.NotifierTeams

// Error types of the notifier's failures, as temporal ApplicationError
// types.
const (
	ErrTypeConfig    = "TeamsConfig"
	ErrTypeTarget    = "TeamsTarget"
	ErrTypeTransient = "TeamsTransient"
)

// Options build a Notifier.
type Options struct {
	Config    config.Teams // after WithDefaults
	Connector *teamsmsg.Connector
	Directory *identity.Directory
	PublicURL string
	Logger    *slog.Logger
}

// Notifier posts prompts and outcomes to Teams.
type Notifier struct {
	cfg    config.Teams
	conn   *teamsmsg.Connector
	dir    *identity.Directory
	render teamsmsg.Render
	logger *slog.Logger
}

var (
	_ activities.Notifier = (*Notifier)(nil)
	_ activities.FollowUp = (*Notifier)(nil)
)

// New returns a Notifier; it makes no call yet.
func New(o Options) (*Notifier, error) {
	if o.Connector == nil || o.Directory == nil {
		return nil, errors.New("teams notifier: a connector and a user directory are required")
	}
	logger := o.Logger
	if logger == nil {
		logger = slog.Default()
	}
	return &Notifier{cfg: o.Config, conn: o.Connector, dir: o.Directory, render: teamsmsg.Render{PublicURL: o.PublicURL}, logger: logger}, nil
}

// target is one place a card goes: a channel conversation, or a person's
// personal chat (opened on first use).
type target struct {
	key          string // stable, for the heartbeat record
	conversation string // a channel's conversation ID
	entraID      string // a person's Entra object ID, for a personal chat
	user         string // the configured user of a personal chat
	label        string // for the audit trail
}

func (n *Notifier) channelTarget(conv string) target {
	return target{key: "conv:" + conv, conversation: conv, label: "teams:" + conv}
}

func (n *Notifier) personTarget(name string) (target, bool) {
	u, ok := n.dir.Lookup(name)
	if !ok || u.TeamsID == "" {
		return target{}, false
	}
	return target{key: "dm:" + name, entraID: u.TeamsID, user: name, label: "teams:@" + name}, true
}

// targets are the policy's conversation (or the default) and, when
// configured, each pending approver (and delegate) with a teams_id.
func (n *Notifier) targets(st *approval.State) []target {
	var out []target
	if c := n.cfg.ConversationFor(st.Policy.Name); c != "" {
		out = append(out, n.channelTarget(c))
	}
	if n.cfg.DMApprovers {
		for _, name := range st.Prompted() {
			if t, ok := n.personTarget(name); ok {
				out = append(out, t)
			} else {
				n.logger.Warn("approver has no teams_id: no personal message", "approval_id", st.ID, "user", name)
			}
		}
	}
	return out
}

// Prompt posts the prompt card to every target not posted by an earlier
// attempt.
func (n *Notifier) Prompt(ctx context.Context, st *approval.State) (approval.Delivery, error) {
	targets := n.targets(st)
	if len(targets) == 0 {
		return approval.Delivery{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("teams: nowhere to post approval %s: no conversation for policy %q and no approver with a teams_id", st.ID, st.Policy.Name),
			ErrTypeConfig, nil)
	}
	return n.post(ctx, st, targets, teamsmsg.Message(st, n.render.PromptCard(st, "")))
}

// Remind posts the prompt again where it went first.
func (n *Notifier) Remind(ctx context.Context, st *approval.State) (approval.Delivery, error) {
	return n.Prompt(ctx, st)
}

// Escalate posts the prompt to the level's conversations and people.
func (n *Notifier) Escalate(ctx context.Context, st *approval.State, esc approval.Escalation) (approval.Delivery, error) {
	var targets []target
	seen := map[string]bool{}
	for _, name := range append(append([]string(nil), esc.Notify.Users...), esc.AddApprovers...) {
		if t, ok := n.personTarget(name); ok && !seen[t.key] {
			seen[t.key] = true
			targets = append(targets, t)
		}
	}
	if len(targets) == 0 {
		return n.Prompt(ctx, st)
	}
	return n.post(ctx, st, targets, teamsmsg.Message(st, n.render.PromptCard(st, "")))
}

// Delegated sends the prompt card to a delegate added after the approval
// was created, when personal messages are on; the conversation has it.
func (n *Notifier) Delegated(ctx context.Context, st *approval.State, delegate string) (approval.Delivery, error) {
	t, ok := n.personTarget(delegate)
	if !n.cfg.DMApprovers || !ok {
		return approval.Delivery{}, nil
	}
	return n.post(ctx, st, []target{t}, teamsmsg.Message(st, n.render.PromptCard(st, "")))
}

// BreakGlass tells the policy's conversation and every approver that the
// requester bypassed approval, and why.
func (n *Notifier) BreakGlass(ctx context.Context, st *approval.State) (approval.Delivery, error) {
	text := fmt.Sprintf("🚨 Break-glass: %s bypassed approval of %s (%s). Reason: %s",
		teamsmsg.Escape(st.BypassedBy), teamsmsg.Escape(st.Request.Title), teamsmsg.Escape(st.Request.Environment),
		teamsmsg.Escape(st.BypassReason))
	var targets []target
	if c := n.cfg.ConversationFor(st.Policy.Name); c != "" {
		targets = append(targets, n.channelTarget(c))
	}
	for _, name := range st.Policy.AllApprovers() {
		if t, ok := n.personTarget(name); ok {
			targets = append(targets, t)
		}
	}
	msg := teamsmsg.Activity{Type: teamsmsg.TypeMessage, Text: text, TextFormat: "markdown"}
	d, err := n.post(ctx, st, targets, msg)
	d.Messages = nil // an alert, not a prompt: nothing to update later
	return d, err
}

// post sends msg to every target not already posted by an earlier attempt.
func (n *Notifier) post(ctx context.Context, st *approval.State, targets []target, msg teamsmsg.Activity) (approval.Delivery, error) {
	prog := progress.Load(ctx, n.logger)
	var d approval.Delivery
	var failed []string
	for _, t := range targets {
		if ref, ok := prog.Posted[t.key]; ok {
			d.Targets = append(d.Targets, t.label)
			d.Messages = append(d.Messages, ref)
			continue
		}
		conv := t.conversation
		if conv == "" {
			c, err := n.conn.CreateConversation(ctx, n.cfg.ServiceURL, teamsmsg.ConversationParameters{
				Bot:         &teamsmsg.ChannelAccount{ID: "28:" + n.cfg.AppID},
				Members:     []teamsmsg.ChannelAccount{{ID: t.entraID}},
				TenantID:    n.cfg.TenantID,
				ChannelData: &teamsmsg.ChannelData{Tenant: &teamsmsg.TenantInfo{ID: n.cfg.TenantID}},
			})
			if err != nil {
				if ferr := n.fail(ctx, "create conversation", t.label, err, &failed); ferr != nil {
					return approval.Delivery{}, ferr
				}
				continue
			}
			conv = c.ID
		}
		res, err := n.conn.SendActivity(ctx, n.cfg.ServiceURL, conv, msg)
		if err != nil {
			if ferr := n.fail(ctx, "send activity", t.label, err, &failed); ferr != nil {
				return approval.Delivery{}, ferr
			}
			continue
		}
		ref := approval.MessageRef{Notifier: Name, Channel: conv, ID: res.ID, User: t.user}
		prog.Posted[t.key] = ref
		prog.Record(ctx)
		d.Targets = append(d.Targets, t.label)
		d.Messages = append(d.Messages, ref)
		n.logger.InfoContext(ctx, "teams card posted", "approval_id", st.ID, "target", t.label, "activity_id", res.ID)
	}
	if len(d.Messages) == 0 && len(targets) > 0 {
		return approval.Delivery{}, temporal.NewNonRetryableApplicationError(
			"teams: nothing could be posted: "+strings.Join(failed, "; "), ErrTypeTarget, nil)
	}
	for _, f := range failed {
		d.Targets = append(d.Targets, "failed "+f)
	}
	return d, nil
}

// fail handles one call's error: a refused target is noted and the caller
// goes on; a refused credential or a call that could not be made (a
// service URL other than the configured one) is for a person to fix, not
// retried; anything else is retried, after Retry-After when the Bot
// Connector gave one. Progress is in the heartbeat already, so a retry
// resumes.
func (n *Notifier) fail(ctx context.Context, call, label string, err error, failed *[]string) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	msg := fmt.Sprintf("teams %s to %s: %v", call, label, err)
	var api *teamsmsg.APIError
	switch {
	case !errors.As(err, &api), api.Status == http.StatusUnauthorized:
		n.logger.ErrorContext(ctx, "teams misconfigured", "error", msg)
		return temporal.NewNonRetryableApplicationError(msg, ErrTypeConfig, nil)
	case api.Status == http.StatusForbidden, api.Status == http.StatusNotFound, api.Status == http.StatusBadRequest:
		n.logger.WarnContext(ctx, "teams target failed", "error", msg)
		*failed = append(*failed, msg)
		return nil
	case api.Status == http.StatusTooManyRequests:
		countRateLimited(ctx)
	}
	n.logger.WarnContext(ctx, "teams call failed: will retry", "error", msg)
	return temporal.NewApplicationErrorWithOptions(msg, ErrTypeTransient, temporal.ApplicationErrorOptions{NextRetryDelay: api.RetryAfter})
}

// Outcome replaces every Teams card of the approval with its outcome: the
// controls are gone for everyone, not only for whoever clicked last.
func (n *Notifier) Outcome(ctx context.Context, st *approval.State) (approval.Delivery, error) {
	prog := progress.Load(ctx, n.logger)
	msg := teamsmsg.Message(st, n.render.OutcomeCard(st, ""))
	var d approval.Delivery
	var failed []string
	seen := map[string]bool{}
	for _, m := range st.Messages {
		key := m.Channel + ":" + m.ID
		if m.Notifier != Name || seen[key] {
			continue
		}
		seen[key] = true
		label := "teams:" + key
		if k := "update:" + key; !prog.Done[k] {
			if err := n.conn.UpdateActivity(ctx, n.cfg.ServiceURL, m.Channel, m.ID, msg); err != nil {
				if ferr := n.fail(ctx, "update activity", label, err, &failed); ferr != nil {
					return approval.Delivery{}, ferr
				}
				continue
			}
			prog.Done[k] = true
			prog.Record(ctx)
		}
		d.Targets = append(d.Targets, "updated "+label)
	}
	for _, f := range failed {
		d.Targets = append(d.Targets, "failed "+f)
	}
	n.logger.InfoContext(ctx, "teams outcome posted", "approval_id", st.ID, "status", string(st.Status), "targets", len(d.Targets))
	return d, nil
}
