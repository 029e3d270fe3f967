// Package notifier is the email notifier: it mails each pending approver a
// prompt with one signed link per option, reminds and escalates to the
// right people, tells approvers and security about break-glass, tells the
// requester the outcome and, before granted access ends, tells the grantee
// how to ask for more time.
//
// SMTP has no idempotency key and the activity may be retried. Every
// message has a Message-ID derived from the approval, the recipient and the
// notification (kind and sequence), and messages already accepted by the
// relay are recorded in the activity's heartbeat and skipped on a retry. If
// the worker dies between the relay's answer and the heartbeat reaching
// Temporal, the retry sends that message again with the same Message-ID
// and the same links (link IDs derive from the Message-ID), so a decision
// through either copy counts once.
package notifier

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/mail"
	"slices"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/signoff/signoff/activities"
	"github.com/signoff/signoff/approval"
	"github.com/signoff/signoff/channel/email/linktoken"
	"github.com/signoff/signoff/config"
	"github.com/signoff/signoff/config/identity"
	"github.com/signoff/signoff/workflows"
)

// Name is the notifier's name in config and in MessageRef.Notifier.
const Name = "email"

// Error types of the notifier's failures, as temporal ApplicationError types.
const (
	ErrTypeNoRecipient = "EmailNoRecipient"
	ErrTypeRefused     = "EmailRefused"
)

// Options build a Notifier.
type Options struct {
	Config  config.Email
	Secrets config.EmailSecrets
	Keys    *linktoken.Keys
	// PublicURL is where people reach the gateway's pages.
	PublicURL string
	Directory *identity.Directory
	Logger    *slog.Logger
	// Now defaults to time.Now; it only sets how long audit links work.
	Now func() time.Time
}

// Notifier sends approval emails through one SMTP relay.
type Notifier struct {
	cfg       config.Email
	relay     *relay
	keys      *linktoken.Keys
	publicURL string
	dir       *identity.Directory
	logger    *slog.Logger
	now       func() time.Time
	from      *mail.Address
	domain    string
}

var (
	_ activities.Notifier = (*Notifier)(nil)
	_ activities.FollowUp = (*Notifier)(nil)
)

// New checks the options and returns a Notifier; it does not connect yet.
func New(o Options) (*Notifier, error) {
	if err := o.Config.ValidateNotifier(o.Secrets); err != nil {
		return nil, err
	}
	if o.Keys == nil {
		return nil, errors.New("email notifier: no link key")
	}
	if o.Directory == nil {
		return nil, errors.New("email notifier: no user directory")
	}
	from, err := mail.ParseAddress(o.Config.From)
	if err != nil {
		return nil, fmt.Errorf("email.from: %w", err)
	}
	if !strings.HasPrefix(o.PublicURL, "https://") && !strings.HasPrefix(o.PublicURL, "http://") {
		return nil, fmt.Errorf("email notifier: gateway.public_url %q must be an absolute http(s) URL", o.PublicURL)
	}
	r, err := newRelay(o.Config, o.Secrets)
	if err != nil {
		return nil, err
	}
	logger := o.Logger
	if logger == nil {
		logger = slog.Default()
	}
	now := o.Now
	if now == nil {
		now = time.Now
	}
	_, domain, _ := strings.Cut(from.Address, "@")
	return &Notifier{
		cfg: o.Config, relay: r, keys: o.Keys, publicURL: strings.TrimRight(o.PublicURL, "/"),
		dir: o.Directory, logger: logger, now: now, from: from, domain: domain,
	}, nil
}

// recipient is one person (or a plain address) to mail.
type recipient struct {
	user    string // configured user name; empty for a plain address
	address string
	// decide gives the recipient decision links; otherwise only the audit
	// trail link.
	decide bool
}

func (r recipient) label() string {
	if r.user != "" {
		return r.user
	}
	return r.address
}

// users resolves user names to recipients, skipping (and logging) those
// without an email address.
func (n *Notifier) users(st *approval.State, names []string, decide func(string) bool) []recipient {
	var out []recipient
	for _, name := range names {
		if slices.ContainsFunc(out, func(r recipient) bool { return r.user == name }) {
			continue
		}
		u, ok := n.dir.Lookup(name)
		if !ok || u.Email == "" {
			n.logger.Warn("user has no email address: not mailed", "approval_id", st.ID, "user", name)
			continue
		}
		out = append(out, recipient{user: name, address: u.Email, decide: decide(name)})
	}
	return out
}

// Prompt asks each pending approver (and their delegate) to decide.
func (n *Notifier) Prompt(ctx context.Context, st *approval.State) (approval.Delivery, error) {
	rs := n.users(st, st.Prompted(), func(string) bool { return true })
	return n.deliver(ctx, st, workflows.NoticePrompt, fmt.Sprintf("r%d-s%d", st.Revision, st.Stage), rs, true,
		func(c *content, r recipient) {
			c.Heading = "Approval needed"
			c.Intro = fmt.Sprintf("%s asks for your approval.", st.Requester)
		}, "Approval needed")
}

// Remind asks the approvers still awaited (and their delegates) again.
func (n *Notifier) Remind(ctx context.Context, st *approval.State) (approval.Delivery, error) {
	rs := n.users(st, st.Prompted(), func(string) bool { return true })
	seq := 0
	for _, e := range st.Events {
		if e.Kind == approval.EventReminded {
			seq++
		}
	}
	return n.deliver(ctx, st, workflows.NoticeReminder, fmt.Sprintf("n%d", seq), rs, true,
		func(c *content, r recipient) {
			c.Heading = "Reminder: approval needed"
			c.Intro = fmt.Sprintf("%s is still waiting for your decision.", st.Requester)
		}, "Reminder: approval needed")
}

// Delegated asks a delegate added after the approval was created to decide
// in their approver's place.
func (n *Notifier) Delegated(ctx context.Context, st *approval.State, delegate string) (approval.Delivery, error) {
	rs := n.users(st, []string{delegate}, func(string) bool { return true })
	var forWhom []string
	for from, to := range st.Policy.Delegates {
		if to == delegate {
			forWhom = append(forWhom, from)
		}
	}
	slices.Sort(forWhom)
	return n.deliver(ctx, st, workflows.NoticeDelegated, "d-"+delegate, rs, false,
		func(c *content, r recipient) {
			c.Heading = "Approval needed"
			c.Intro = fmt.Sprintf("%s asks for approval. %s delegated their approvals to you, so you may decide in their place.",
				st.Requester, approval.JoinAnd(forWhom))
		}, "Approval needed")
}

// Escalate tells the level's people: those who may now decide get decision
// links, the others a link to the audit trail. Channels that are email
// addresses (a team list) are mailed too; chat channels are not ours.
func (n *Notifier) Escalate(ctx context.Context, st *approval.State, esc approval.Escalation) (approval.Delivery, error) {
	pending := st.Pending()
	names := append(slices.Clone(esc.AddApprovers), esc.Notify.Users...)
	rs := n.users(st, names, func(name string) bool { return slices.Contains(pending, name) })
	for _, ch := range esc.Notify.Channels {
		if a, err := mail.ParseAddress(ch); err == nil {
			rs = append(rs, recipient{address: a.Address})
		}
	}
	return n.deliver(ctx, st, workflows.NoticeEscalation, fmt.Sprintf("l%d", st.EscalationLevel), rs, false,
		func(c *content, r recipient) {
			c.Heading = "Escalated: approval waiting"
			c.Intro = fmt.Sprintf("This request has waited since %s and was escalated to you (level %d).",
				formatTime(st.CreatedAt), st.EscalationLevel)
			if r.decide {
				c.Intro += " You may now decide it."
			}
		}, "Escalated")
}

// BreakGlass tells every approver and the security recipients that the
// requester went ahead without approval.
func (n *Notifier) BreakGlass(ctx context.Context, st *approval.State) (approval.Delivery, error) {
	names := append(st.Policy.AllApprovers(), st.ExtraApprovers...)
	names = slices.DeleteFunc(names, func(u string) bool { return u == st.Requester })
	rs := n.users(st, names, func(string) bool { return false })
	for _, a := range n.cfg.SecurityRecipients {
		if addr, err := mail.ParseAddress(a); err == nil && !slices.ContainsFunc(rs, func(r recipient) bool {
			return strings.EqualFold(r.address, addr.Address)
		}) {
			rs = append(rs, recipient{address: addr.Address})
		}
	}
	return n.deliver(ctx, st, workflows.NoticeBreakGlass, "1", rs, false,
		func(c *content, r recipient) {
			c.Heading = "Break-glass: proceeded without approval"
			c.Intro = fmt.Sprintf("%s used break-glass: the action runs without the approvals the policy asks for.", st.BypassedBy)
			c.Extra = "Reason: " + st.BypassReason
		}, "Break-glass")
}

// Outcome tells the requester how the approval ended and what the action
// did.
func (n *Notifier) Outcome(ctx context.Context, st *approval.State) (approval.Delivery, error) {
	rs := n.users(st, []string{st.Requester}, func(string) bool { return false })
	return n.deliver(ctx, st, workflows.NoticeOutcome, outcomeSeq(st), rs, true,
		func(c *content, r recipient) {
			c.Heading = "Approval " + strings.ToLower(string(st.Status))
			c.Intro = outcomeIntro(st)
			if st.ActionResult != nil {
				if st.ActionResult.Success {
					c.Extra = fmt.Sprintf("Action %s succeeded.", st.ActionResult.Type)
					if st.ActionResult.Output != "" {
						c.Extra += "\n" + st.ActionResult.Output
					}
				} else {
					c.Extra = fmt.Sprintf("Action %s failed: %s", st.ActionResult.Type, st.ActionResult.Error)
				}
			}
		}, string(st.Status))
}

func outcomeIntro(st *approval.State) string {
	if st.Grant != nil {
		if s := grantIntro(st); s != "" {
			return s
		}
	}
	switch st.Status {
	case approval.StatusApproved:
		return "Your request was approved by " + strings.Join(st.ApprovedBy, ", ") + "."
	case approval.StatusRejected:
		for _, a := range slices.Backward(st.Attempts) {
			if a.Accepted && !a.Voided && a.Decision == approval.DecisionReject {
				if a.Comment != "" {
					return fmt.Sprintf("Your request was rejected by %s: %s", a.User, a.Comment)
				}
				return "Your request was rejected by " + a.User + "."
			}
		}
		return "Your request was rejected."
	case approval.StatusExpired:
		return "Your request expired: not enough approvals before the deadline."
	case approval.StatusCancelled:
		return fmt.Sprintf("Your request was cancelled by %s.", st.CancelledBy)
	case approval.StatusBypassed:
		return "You went ahead with break-glass: " + st.BypassReason
	}
	return "Your request is " + strings.ToLower(string(st.Status)) + "."
}

// deliver renders and sends one email per recipient. required says that
// nobody to mail is a failure (the audit trail shows it).
func (n *Notifier) deliver(ctx context.Context, st *approval.State, kind workflows.NoticeKind, seq string, rs []recipient, required bool,
	word func(*content, recipient), what string) (approval.Delivery, error) {
	if len(rs) == 0 {
		if required {
			return approval.Delivery{}, temporal.NewNonRetryableApplicationError(
				"nobody to email: no recipient has an email address", ErrTypeNoRecipient, nil)
		}
		return approval.Delivery{}, nil
	}
	out := make([]outgoing, 0, len(rs))
	for _, r := range rs {
		o, err := n.compose(st, kind, seq, r, word, what)
		if err != nil {
			return approval.Delivery{}, err
		}
		out = append(out, o)
	}
	return n.relay.send(ctx, n.logger.With("approval_id", st.ID, "kind", kind), out)
}

// messageID is stable for one approval, recipient and notification, so a
// resent copy is recognisable.
func (n *Notifier) messageID(st *approval.State, kind workflows.NoticeKind, seq, address string) string {
	sum := sha256.Sum256([]byte(strings.ToLower(address)))
	return fmt.Sprintf("signoff.%s.%s.%s.%s@%s", st.ID, strings.ReplaceAll(string(kind), "_", "-"), seq, hex.EncodeToString(sum[:6]), n.domain)
}

func (n *Notifier) compose(st *approval.State, kind workflows.NoticeKind, seq string, r recipient, word func(*content, recipient), what string) (outgoing, error) {
	id := n.messageID(st, kind, seq, r.address)
	c := describe(st, r.label())
	word(c, r)
	if r.decide && r.user != "" && st.Status == approval.StatusPending {
		links, note, err := n.decisionLinks(st, r.user, id)
		if err != nil {
			return outgoing{}, err
		}
		c.Options, c.ChoiceNote = links, note
	}
	view, err := n.viewLink(st, r, id)
	if err != nil {
		return outgoing{}, err
	}
	c.ViewURL = view
	text, html, err := c.render()
	if err != nil {
		return outgoing{}, err
	}
	return outgoing{
		user: r.user, to: r.address, messageID: id, subject: subject(n.cfg.Prefix(), what, st),
		text: text, html: html, from: n.from, inReplyTo: n.earlierPrompt(st, r, kind),
	}, nil
}

// earlierPrompt threads follow-ups under the prompt the recipient got.
func (n *Notifier) earlierPrompt(st *approval.State, r recipient, kind workflows.NoticeKind) string {
	if kind == workflows.NoticePrompt {
		return ""
	}
	for _, m := range slices.Backward(st.Messages) {
		if m.Notifier == Name && strings.EqualFold(m.Channel, r.address) && strings.Contains(m.ID, ".prompt.") {
			return m.ID
		}
	}
	return ""
}

// decisionLinks are one signed link per choice. Free-form inputs
// (multiselect, text) get an approve and a reject link; the page asks for
// the values.
func (n *Notifier) decisionLinks(st *approval.State, user, messageID string) ([]link, string, error) {
	type choice struct {
		label, style, option string
		decision             approval.Decision
	}
	var choices []choice
	note := ""
	in := st.Request.Input
	switch in.Type {
	case approval.InputButton, approval.InputSelect:
		for _, o := range in.Options {
			choices = append(choices, choice{label: o.Label, style: o.Style, option: o.Value, decision: o.Decision})
		}
	case approval.InputMultiselect:
		choices = []choice{{label: "Choose and approve…", style: "primary", decision: approval.DecisionApprove},
			{label: "Reject…", style: "danger", decision: approval.DecisionReject}}
		note = "You pick the options on the next page."
	case approval.InputText:
		choices = []choice{{label: "Approve…", style: "primary", decision: approval.DecisionApprove},
			{label: "Reject…", style: "danger", decision: approval.DecisionReject}}
		note = "You write your answer on the next page."
	default:
		choices = []choice{{label: "Approve", style: "primary", decision: approval.DecisionApprove},
			{label: "Reject", style: "danger", decision: approval.DecisionReject}}
	}
	links := make([]link, 0, len(choices))
	for _, ch := range choices {
		tok, err := n.keys.Sign(linktoken.Claims{
			Purpose: linktoken.PurposeDecide, Approval: st.ID, User: user,
			Decision: ch.decision, Option: ch.option, RequestHash: linktoken.ShortRequestHash(st.RequestHash),
			Expires: st.Deadline.Unix(), ID: n.keys.ID(messageID, string(ch.decision), ch.option),
		})
		if err != nil {
			return nil, "", err
		}
		links = append(links, link{Label: ch.label, Style: ch.style, URL: n.publicURL + "/d/" + tok})
	}
	return links, note, nil
}

// viewLink opens the audit trail; it works past the deadline, so the
// outcome email's link still does.
func (n *Notifier) viewLink(st *approval.State, r recipient, messageID string) (string, error) {
	who := r.user
	if who == "" {
		who = "mailto:" + strings.ToLower(r.address)
	}
	exp := st.Deadline
	if now := n.now(); now.After(exp) {
		exp = now
	}
	tok, err := n.keys.Sign(linktoken.Claims{
		Purpose: linktoken.PurposeView, Approval: st.ID, User: who,
		Expires: exp.Add(n.cfg.ViewTTL()).Unix(), ID: n.keys.ID(messageID, "view"),
	})
	if err != nil {
		return "", err
	}
	return n.publicURL + "/approvals/" + st.ID + "?t=" + tok, nil
}
