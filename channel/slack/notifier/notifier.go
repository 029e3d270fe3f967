// Package notifier is the Slack notifier: it posts Block Kit prompts to the
// configured channels and approvers' direct messages, and when the approval
// ends replaces their controls with the outcome and replies in thread with
// the action's result. Before granted access ends it tells the grantee, in
// the same thread, and how to ask for more time.
//
// chat.postMessage has no idempotency key, and the activity may be retried.
// Each posted target is recorded in the activity's heartbeat details and
// skipped on a retry. What remains: if the worker dies after Slack accepted
// a post but before the heartbeat reached Temporal (heartbeats are batched,
// and flushed when an attempt fails), or if Slack's answer is lost on the
// network, the retry posts that target again. Outcome updates are naturally
// idempotent; thread replies use the same heartbeat record.
package notifier

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	slackapi "github.com/slack-go/slack"
	"go.temporal.io/sdk/temporal"

	"github.com/signoff/signoff/activities"
	"github.com/signoff/signoff/activities/progress"
	"github.com/signoff/signoff/approval"
	"github.com/signoff/signoff/channel/slack/slackmsg"
	"github.com/signoff/signoff/config"
	"github.com/signoff/signoff/config/identity"
)

// Name is the notifier's name in config and in MessageRef.Notifier.
const Name = "slack"

// Error types of the notifier's failures, as temporal ApplicationError types.
const (
	ErrTypeConfig    = "SlackConfig"
	ErrTypeTarget    = "SlackTarget"
	ErrTypeTransient = "SlackTransient"
)

// Options build a Notifier.
type Options struct {
	Config    config.Slack
	BotToken  string
	PublicURL string
	Directory *identity.Directory
	Logger    *slog.Logger
	// HTTPClient defaults to one with a 15 s timeout.
	HTTPClient *http.Client
}

// Notifier posts prompts and outcomes to Slack.
type Notifier struct {
	api    *slackapi.Client
	cfg    config.Slack
	dir    *identity.Directory
	render slackmsg.Render
	logger *slog.Logger
	redact slackmsg.Redactor
	// pacer spaces posts to a channel Slack has rate-limited a little
	// slower than Slack's rate (about one message per second): spaced at
	// exactly the limit, every other post lands in the same second as the
	// previous one and is refused again.
	pacer *slackmsg.Pacer
}

var (
	_ activities.Notifier      = (*Notifier)(nil)
	_ activities.GrantNotifier = (*Notifier)(nil)
)

// New returns a Notifier; it makes no call yet.
func New(o Options) (*Notifier, error) {
	if o.BotToken == "" {
		return nil, errors.New("slack notifier: no bot token")
	}
	if o.Directory == nil {
		return nil, errors.New("slack notifier: no user directory")
	}
	hc := o.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: 15 * time.Second}
	}
	logger := o.Logger
	if logger == nil {
		logger = slog.Default()
	}
	dir := o.Directory
	return &Notifier{
		api: slackapi.New(o.BotToken, slackapi.OptionAPIURL(o.Config.ResolvedAPIURL()), slackapi.OptionHTTPClient(hc)),
		cfg: o.Config,
		dir: dir,
		render: slackmsg.Render{PublicURL: o.PublicURL, SlackID: func(name string) string {
			if u, ok := dir.Lookup(name); ok {
				return u.SlackID
			}
			return ""
		}},
		logger: logger,
		redact: slackmsg.Redactor{o.BotToken},
		pacer:  slackmsg.NewPacer(1100*time.Millisecond, 30*time.Second),
	}, nil
}

// target is one place a prompt goes.
type target struct {
	key     string // stable, for the heartbeat record
	channel string // what chat.postMessage is given
	user    string // configured user of a direct message
	label   string // for the audit trail
}

// targets are the policy's channel (or the default one) and, when
// configured, a direct message to each pending approver (and delegate)
// with a Slack ID.
func (n *Notifier) targets(st *approval.State) []target {
	var out []target
	if ch := n.cfg.ChannelFor(st.Policy.Name); ch != "" {
		out = append(out, target{key: "channel:" + ch, channel: ch, label: "slack:" + ch})
	}
	if n.cfg.DMApprovers {
		// Delegates too: they decide in their approver's place.
		for _, name := range st.Prompted() {
			u, ok := n.dir.Lookup(name)
			if !ok || u.SlackID == "" {
				n.logger.Warn("approver has no slack_id: no direct message", "approval_id", st.ID, "user", name)
				continue
			}
			out = append(out, target{key: "dm:" + name, channel: u.SlackID, user: name, label: "slack:@" + name})
		}
	}
	return out
}

// heartbeater records p as the activity's heartbeat, for slackmsg's
// waits.
func heartbeater(ctx context.Context, p *progress.Progress) slackmsg.Heartbeat {
	return func() { p.Record(ctx) }
}

// Prompt posts the prompt to every target not already posted by an
// earlier attempt.
func (n *Notifier) Prompt(ctx context.Context, st *approval.State) (approval.Delivery, error) {
	targets := n.targets(st)
	if len(targets) == 0 {
		return approval.Delivery{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("slack: nowhere to post approval %s: no channel for policy %q and no approver with a slack_id", st.ID, st.Policy.Name),
			ErrTypeConfig, nil)
	}
	return n.post(ctx, st, targets, n.render.PromptBlocks(st), slackmsg.PromptText(st))
}

// Remind posts the prompt again where it went first: the channel and the
// approvers still awaited.
func (n *Notifier) Remind(ctx context.Context, st *approval.State) (approval.Delivery, error) {
	return n.Prompt(ctx, st)
}

// Escalate posts the prompt to the level's channels and people: those it
// adds as approvers can decide from it, the others see it.
func (n *Notifier) Escalate(ctx context.Context, st *approval.State, esc approval.Escalation) (approval.Delivery, error) {
	var targets []target
	for _, ch := range esc.Notify.Channels {
		targets = append(targets, target{key: "channel:" + ch, channel: ch, label: "slack:" + ch})
	}
	seen := map[string]bool{}
	for _, name := range append(append([]string(nil), esc.Notify.Users...), esc.AddApprovers...) {
		if seen[name] {
			continue
		}
		seen[name] = true
		u, ok := n.dir.Lookup(name)
		if !ok || u.SlackID == "" {
			continue
		}
		targets = append(targets, target{key: "dm:" + name, channel: u.SlackID, user: name, label: "slack:@" + name})
	}
	if len(targets) == 0 {
		return n.Prompt(ctx, st)
	}
	return n.post(ctx, st, targets, n.render.PromptBlocks(st), "Escalated: "+slackmsg.PromptText(st))
}

// Delegated sends the prompt to a delegate added after the approval was
// created, when direct messages are on; the channel has it already.
func (n *Notifier) Delegated(ctx context.Context, st *approval.State, delegate string) (approval.Delivery, error) {
	u, ok := n.dir.Lookup(delegate)
	if !n.cfg.DMApprovers || !ok || u.SlackID == "" {
		return approval.Delivery{}, nil
	}
	t := target{key: "dm:" + delegate, channel: u.SlackID, user: delegate, label: "slack:@" + delegate}
	return n.post(ctx, st, []target{t}, n.render.PromptBlocks(st), "Delegated to you: "+slackmsg.PromptText(st))
}

// BreakGlass tells the policy's channel and every approver at once that the
// requester bypassed approval, and why.
func (n *Notifier) BreakGlass(ctx context.Context, st *approval.State) (approval.Delivery, error) {
	text := fmt.Sprintf(":rotating_light: Break-glass: %s bypassed approval of *%s* (%s). Reason: %s",
		slackmsg.Escape(st.BypassedBy), slackmsg.Escape(st.Request.Title), slackmsg.Escape(st.Request.Environment),
		slackmsg.Escape(st.BypassReason))
	var targets []target
	if ch := n.cfg.ChannelFor(st.Policy.Name); ch != "" {
		targets = append(targets, target{key: "channel:" + ch, channel: ch, label: "slack:" + ch})
	}
	for _, name := range st.Policy.AllApprovers() {
		if u, ok := n.dir.Lookup(name); ok && u.SlackID != "" {
			targets = append(targets, target{key: "dm:" + name, channel: u.SlackID, user: name, label: "slack:@" + name})
		}
	}
	d, err := n.post(ctx, st, targets, nil, text)
	// These are alerts, not prompts: nothing to update at the end.
	d.Messages = nil
	return d, err
}

// postPaced posts to channel in its turn (see slackmsg.Pacer), waiting out
// rate limits.
func (n *Notifier) postPaced(ctx context.Context, hb slackmsg.Heartbeat, channel string, opts ...slackapi.MsgOption) (ch, ts string, err error) {
	err = slackmsg.Call(ctx, hb, func(ctx context.Context) error {
		if err := n.pacer.Wait(ctx, channel, hb); err != nil {
			return err
		}
		var err error
		ch, ts, err = n.api.PostMessageContext(ctx, channel, opts...)
		if d, ok := slackmsg.RetryAfter(err); ok {
			n.pacer.Backoff(channel, d)
			countRateLimited(ctx, "chat.postMessage", err)
		}
		return err
	})
	return ch, ts, err
}

// post sends blocks (or text alone) to every target not already posted by
// an earlier attempt of this activity.
func (n *Notifier) post(ctx context.Context, st *approval.State, targets []target, blocks []slackapi.Block, text string) (approval.Delivery, error) {
	prog := progress.Load(ctx, n.logger)
	var d approval.Delivery
	var failed []string
	for _, t := range targets {
		if ref, ok := prog.Posted[t.key]; ok {
			d.Targets = append(d.Targets, t.label)
			d.Messages = append(d.Messages, ref)
			continue
		}
		opts := []slackapi.MsgOption{
			slackapi.MsgOptionText(text, blocks == nil),
			slackapi.MsgOptionDisableLinkUnfurl(),
			slackapi.MsgOptionDisableMediaUnfurl(),
		}
		if blocks != nil {
			opts = append(opts, slackapi.MsgOptionBlocks(blocks...))
		}
		ch, ts, err := n.postPaced(ctx, heartbeater(ctx, prog), t.channel, opts...)
		if err != nil {
			if ferr := n.fail(ctx, "chat.postMessage", t.label, err, &failed); ferr != nil {
				return approval.Delivery{}, ferr
			}
			continue
		}
		ref := approval.MessageRef{Notifier: Name, Channel: ch, ID: ts, User: t.user}
		prog.Posted[t.key] = ref
		prog.Record(ctx)
		d.Targets = append(d.Targets, t.label)
		d.Messages = append(d.Messages, ref)
		n.logger.InfoContext(ctx, "slack message posted", "approval_id", st.ID, "target", t.label, "channel", ch, "ts", ts)
	}
	if len(d.Messages) == 0 && len(targets) > 0 {
		return approval.Delivery{}, temporal.NewNonRetryableApplicationError(
			"slack: nothing could be posted: "+strings.Join(failed, "; "), ErrTypeTarget, nil)
	}
	for _, f := range failed {
		d.Targets = append(d.Targets, "failed "+f)
	}
	return d, nil
}

// fail handles one call's error: a target failure is noted and the caller
// goes on; anything else becomes the activity's error — non-retryable for
// configuration problems, retryable (after Retry-After when Slack said so)
// for the rest. Progress is already in the heartbeat, so a retry resumes.
func (n *Notifier) fail(ctx context.Context, method, label string, err error, failed *[]string) error {
	class, msg := slackmsg.Classify(err)
	msg = n.redact.Redact(fmt.Sprintf("slack %s to %s: %s", method, label, msg))
	switch class {
	case slackmsg.Target:
		n.logger.WarnContext(ctx, "slack target failed", "error", msg)
		*failed = append(*failed, msg)
		return nil
	case slackmsg.Fatal:
		n.logger.ErrorContext(ctx, "slack misconfigured", "error", msg)
		return temporal.NewNonRetryableApplicationError(msg, ErrTypeConfig, nil)
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	opts := temporal.ApplicationErrorOptions{}
	if wait, ok := slackmsg.RetryAfter(err); ok {
		opts.NextRetryDelay = wait
	}
	n.logger.WarnContext(ctx, "slack call failed: will retry", "error", msg)
	return temporal.NewApplicationErrorWithOptions(msg, ErrTypeTransient, opts)
}

// Outcome replaces every Slack prompt of the approval with its outcome
// (controls gone, new block IDs) and replies in each channel's thread with
// the action's result. While access it granted may still be ended early,
// the outcome offers "Revoke now" (slackmsg.RevokeOffered); the workflow
// sends an outcome again when the revoke fails and when it is done, which
// updates the same messages.
func (n *Notifier) Outcome(ctx context.Context, st *approval.State) (approval.Delivery, error) {
	prog := progress.Load(ctx, n.logger)
	blocks := n.render.OutcomeBlocks(st)
	// A grant is told three times at most (granted, revoke failing,
	// revoked): each notice replies with its own news.
	reply := slackmsg.OutcomeReplyText(st)
	var d approval.Delivery
	var failed []string
	seen := map[string]bool{}
	for _, m := range st.Messages {
		key := m.Channel + ":" + m.ID
		if m.Notifier != Name || seen[key] {
			continue
		}
		seen[key] = true
		label := "slack:" + key
		if k := "update:" + key; !prog.Done[k] {
			err := slackmsg.Call(ctx, heartbeater(ctx, prog), func(ctx context.Context) error {
				_, _, _, err := n.api.UpdateMessageContext(ctx, m.Channel, m.ID,
					slackapi.MsgOptionText(slackmsg.OutcomeText(st), true),
					slackapi.MsgOptionBlocks(blocks...),
				)
				countRateLimited(ctx, "chat.update", err)
				return err
			})
			if err != nil {
				if ferr := n.fail(ctx, "chat.update", label, err, &failed); ferr != nil {
					return approval.Delivery{}, ferr
				}
				continue
			}
			prog.Done[k] = true
			prog.Record(ctx)
		}
		d.Targets = append(d.Targets, "updated "+label)
		if reply == "" || m.User != "" {
			continue
		}
		if k := "reply:" + key; !prog.Done[k] {
			_, _, err := n.postPaced(ctx, heartbeater(ctx, prog), m.Channel,
				slackapi.MsgOptionText(reply, false),
				slackapi.MsgOptionTS(m.ID),
				slackapi.MsgOptionDisableLinkUnfurl(),
				slackapi.MsgOptionDisableMediaUnfurl(),
			)
			if err != nil {
				if ferr := n.fail(ctx, "chat.postMessage (thread)", label, err, &failed); ferr != nil {
					return approval.Delivery{}, ferr
				}
				continue
			}
			prog.Done[k] = true
			prog.Record(ctx)
		}
		d.Targets = append(d.Targets, "replied "+label)
	}
	for _, f := range failed {
		d.Targets = append(d.Targets, "failed "+f)
	}
	n.logger.InfoContext(ctx, "slack outcome posted", "approval_id", st.ID, "status", string(st.Status), "targets", len(d.Targets))
	return d, nil
}

// GrantEnding tells the grantee their access ends soon, and how to ask for
// more (/signoff extend, the approval's page): a reply in the thread of
// each channel message of the approval, mentioning them; when the approval
// has no channel message, a direct message to them. The replies are not
// returned as messages to update later.
func (n *Notifier) GrantEnding(ctx context.Context, st *approval.State) (approval.Delivery, error) {
	if st.Grant == nil {
		return approval.Delivery{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("slack: approval %s grants no access", st.ID), ErrTypeConfig, nil)
	}
	type reply struct {
		target
		thread string
	}
	var replies []reply
	seen := map[string]bool{}
	for _, m := range st.Messages {
		key := m.Channel + ":" + m.ID
		if m.Notifier != Name || m.User != "" || seen[key] {
			continue
		}
		seen[key] = true
		replies = append(replies, reply{target: target{key: "ending:" + key, channel: m.Channel, label: "slack:" + key}, thread: m.ID})
	}
	if len(replies) == 0 {
		if u, ok := n.dir.Lookup(st.Requester); ok && u.SlackID != "" {
			replies = append(replies, reply{target: target{key: "ending:dm:" + u.Name, channel: u.SlackID, user: u.Name, label: "slack:@" + u.Name}})
		}
	}
	if len(replies) == 0 {
		return approval.Delivery{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("slack: nowhere to tell %s that approval %s's access ends: no channel message and no slack_id", st.Requester, st.ID),
			ErrTypeConfig, nil)
	}
	text := n.render.GrantEndingText(st)
	prog := progress.Load(ctx, n.logger)
	var d approval.Delivery
	var failed []string
	for _, r := range replies {
		if !prog.Done[r.key] {
			opts := []slackapi.MsgOption{
				slackapi.MsgOptionText(text, false),
				slackapi.MsgOptionDisableLinkUnfurl(),
				slackapi.MsgOptionDisableMediaUnfurl(),
			}
			if r.thread != "" {
				opts = append(opts, slackapi.MsgOptionTS(r.thread))
			}
			if _, _, err := n.postPaced(ctx, heartbeater(ctx, prog), r.channel, opts...); err != nil {
				if ferr := n.fail(ctx, "chat.postMessage (grant ending)", r.label, err, &failed); ferr != nil {
					return approval.Delivery{}, ferr
				}
				continue
			}
			prog.Done[r.key] = true
			prog.Record(ctx)
		}
		d.Targets = append(d.Targets, "told "+r.label)
	}
	if len(d.Targets) == 0 {
		return approval.Delivery{}, temporal.NewNonRetryableApplicationError(
			"slack: the grantee could not be told: "+strings.Join(failed, "; "), ErrTypeTarget, nil)
	}
	for _, f := range failed {
		d.Targets = append(d.Targets, "failed "+f)
	}
	n.logger.InfoContext(ctx, "slack grant ending told", "approval_id", st.ID, "revoke_at", st.Grant.RevokeAt, "targets", len(d.Targets))
	return d, nil
}
