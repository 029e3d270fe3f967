package callbacks

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/slack-go/slack"

	"github.com/signoff/signoff/approval"
	"github.com/signoff/signoff/channel/slack/slackmsg"
	"github.com/signoff/signoff/config/identity"
	"github.com/signoff/signoff/policy"
)

// Refusal reasons of the Slack gateway, shown to the clicker and kept in
// the audit trail.
const (
	RefusedWrongTeam    = "this Slack workspace may not decide Signoff approvals"
	RefusedUnknownUser  = "your Slack account is not linked to a Signoff user (slack_id or email)"
	RefusedDeleted      = "your Slack account is deactivated"
	RefusedGuest        = "guest accounts may not decide"
	RefusedBot          = "bots may not decide"
	RefusedExternal     = "accounts of other workspaces (Slack Connect) may not decide"
	RefusedUnverifiable = "your Slack account could not be verified right now: try again"
	// Refusals of the place, judged by the workflow.
	RefusedNo2FA           = approval.RefusedNo2FA
	RefusedChannel         = approval.RefusedChannel
	RefusedNotPromptedHere = approval.RefusedNotPromptedHere
	RefusedOutdated        = approval.RefusedOutdated
)

// Person is who clicked, as far as Slack and the config say.
type Person struct {
	SlackID string
	// User is the configured user, nil when unknown.
	User *identity.User
	// Has2FA is what users.info said; false when Slack did not say.
	Has2FA bool
	// IsAdmin and IsRestricted are what users.info said.
	IsAdmin, IsRestricted bool
	// Refusal is why this person may not decide anything, "" if none.
	Refusal string
	// Via says how the Slack account was tied to the configured user.
	Via string
}

// IdentifiedBy is how the evidence says this person was identified.
func (p Person) IdentifiedBy() string {
	via := p.Via
	if via == "" {
		via = "not tied to a configured user"
	}
	return fmt.Sprintf("slack user %s (%s)", p.SlackID, via)
}

// Decider is the person as a policy's Rego module sees them.
func (p Person) Decider(team, channel string) policy.Decider {
	d := policy.Decider{User: p.Name(), Groups: []string{}}
	if p.User != nil {
		d = policy.DeciderOf(p.User)
	}
	d.Slack = &policy.SlackUser{
		UserID: p.SlackID, IsAdmin: p.IsAdmin, Has2FA: p.Has2FA, IsRestricted: p.IsRestricted, Team: team, Channel: channel,
	}
	return d
}

// Name is the user name to record: the configured name, else "slack:<ID>".
func (p Person) Name() string {
	if p.User != nil {
		return p.User.Name
	}
	return "slack:" + p.SlackID
}

// Resolver maps Slack users to configured users and checks their account,
// caching users.info for a while: a click must be answered within 3 s.
type Resolver struct {
	api    *slack.Client
	dir    func() *identity.Directory
	team   func() string
	ttl    time.Duration
	logger *slog.Logger
	now    func() time.Time

	mu    sync.Mutex
	cache map[string]cachedUser
}

type cachedUser struct {
	user    slack.User
	expires time.Time
}

// NewResolver returns a Resolver accepting people of workspace team(),
// known to dir(); both are read per call, so reloaded users apply.
func NewResolver(api *slack.Client, dir func() *identity.Directory, team func() string, ttl time.Duration, logger *slog.Logger) *Resolver {
	return &Resolver{api: api, dir: dir, team: team, ttl: ttl, logger: logger, now: time.Now, cache: map[string]cachedUser{}}
}

// maxCached bounds the cache; past it, expired entries are dropped and, if
// need be, everything.
const maxCached = 10000

// info is users.info, cached for ttl. Failures are not cached.
func (r *Resolver) info(ctx context.Context, id string) (slack.User, error) {
	now := r.now()
	r.mu.Lock()
	c, ok := r.cache[id]
	r.mu.Unlock()
	if ok && now.Before(c.expires) {
		return c.user, nil
	}
	var u *slack.User
	err := slackmsg.Call(ctx, nil, func(ctx context.Context) error {
		var err error
		u, err = r.api.GetUserInfoContext(ctx, id)
		return err
	})
	if err != nil {
		return slack.User{}, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.cache) >= maxCached {
		for k, v := range r.cache {
			if !now.Before(v.expires) {
				delete(r.cache, k)
			}
		}
		if len(r.cache) >= maxCached {
			r.cache = map[string]cachedUser{}
		}
	}
	r.cache[id] = cachedUser{user: *u, expires: now.Add(r.ttl)}
	return *u, nil
}

// Resolve says who slackID of workspace team is and whether their account
// may decide at all. Checks needing the approval (2FA by policy, channel)
// come later. The error is only for logs: Refusal is set whenever the
// person may not decide.
func (r *Resolver) Resolve(ctx context.Context, slackID, team string) (Person, error) {
	p := Person{SlackID: slackID}
	dir, want := r.dir(), r.team()
	if u, ok := dir.BySlackID(slackID); ok {
		p.User, p.Via = u, "configured slack_id"
	}
	if want == "" || team != want {
		p.Refusal = RefusedWrongTeam
		return p, nil
	}
	info, err := r.info(ctx, slackID)
	if err != nil {
		var se slack.SlackErrorResponse
		if errors.As(err, &se) && (se.Err == "user_not_found" || se.Err == "user_not_visible") {
			p.Refusal = RefusedUnknownUser
			return p, nil
		}
		_, msg := slackmsg.Classify(err)
		p.Refusal = RefusedUnverifiable
		return p, errors.New("users.info: " + msg)
	}
	switch {
	case info.TeamID != "" && info.TeamID != want:
		p.Refusal = RefusedExternal
	case info.Deleted:
		p.Refusal = RefusedDeleted
	case info.IsRestricted || info.IsUltraRestricted:
		p.Refusal = RefusedGuest
	case info.IsBot || info.IsAppUser:
		p.Refusal = RefusedBot
	}
	p.Has2FA = info.Has2FA != nil && *info.Has2FA
	p.IsAdmin, p.IsRestricted = info.IsAdmin || info.IsOwner, info.IsRestricted || info.IsUltraRestricted
	if p.User == nil && info.Profile.Email != "" {
		if u, ok := dir.ByEmail(info.Profile.Email); ok {
			// A configured slack_id wins: an email match must not let a
			// second Slack account act as someone already linked.
			if u.SlackID == "" || u.SlackID == slackID {
				p.User, p.Via = u, "Slack profile email"
			}
		}
	}
	if p.User == nil && p.Refusal == "" {
		p.Refusal = RefusedUnknownUser
	}
	return p, nil
}
