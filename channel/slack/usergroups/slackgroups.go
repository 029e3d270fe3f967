// Package usergroups reads the members of Slack user groups that
// policies name as approvers (approvers.slack_usergroups), when an
// approval is created: usergroups.users.list, mapped to configured users
// by their slack_id. Slack allows about 20 such calls a minute, so members
// are kept for a short while; the approval keeps who was eligible when it
// was created.
package usergroups

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/slack-go/slack"

	"github.com/signoff/signoff/config"
	"github.com/signoff/signoff/config/identity"
	"github.com/signoff/signoff/policy"
)

// DefaultTTL is how long a group's members are reused.
const DefaultTTL = time.Minute

// Resolver implements policy.Outside for Slack user groups.
type Resolver struct {
	api *slack.Client
	dir func() *identity.Directory
	ttl time.Duration
	now func() time.Time

	mu    sync.Mutex
	cache map[string]entry
}

type entry struct {
	ids     []string
	fetched time.Time
}

// New reads groups through api; dir maps Slack IDs to configured users.
func New(api *slack.Client, dir func() *identity.Directory, ttl time.Duration) *Resolver {
	if ttl <= 0 {
		ttl = DefaultTTL
	}
	return &Resolver{api: api, dir: dir, ttl: ttl, now: time.Now, cache: map[string]entry{}}
}

// Members returns the configured users in group ("slack:S…"). Slack
// members who are not configured users are left out: Slack is only a
// client, and someone Signoff does not know approves nothing.
func (r *Resolver) Members(ctx context.Context, group string) ([]string, error) {
	id, ok := strings.CutPrefix(group, policy.SlackUsergroupPrefix)
	if !ok {
		return nil, fmt.Errorf("%q is not a Slack user group", group)
	}
	ids, err := r.memberIDs(ctx, id)
	if err != nil {
		return nil, err
	}
	dir := r.dir()
	var names []string
	for _, sid := range ids {
		if u, ok := dir.BySlackID(sid); ok {
			names = append(names, u.Name)
		}
	}
	slices.Sort(names)
	return slices.Compact(names), nil
}

func (r *Resolver) memberIDs(ctx context.Context, id string) ([]string, error) {
	now := r.now()
	r.mu.Lock()
	e, ok := r.cache[id]
	r.mu.Unlock()
	if ok && now.Sub(e.fetched) < r.ttl {
		return e.ids, nil
	}
	ids, err := r.api.GetUserGroupMembersContext(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("slack usergroups.users.list %s: %w", id, err)
	}
	r.mu.Lock()
	r.cache[id] = entry{ids: ids, fetched: now}
	r.mu.Unlock()
	return ids, nil
}

// ForConfig is the resolver of a config's Slack settings and secrets; nil
// without a bot token (Slack user groups then count no one, and a policy
// relying on them is refused as unsatisfiable).
func ForConfig(s config.Slack, sec config.SlackSecrets, dir func() *identity.Directory) policy.Outside {
	if sec.BotToken == "" {
		return nil
	}
	api := slack.New(sec.BotToken, slack.OptionAPIURL(s.WithOverrides(sec).ResolvedAPIURL()),
		slack.OptionHTTPClient(&http.Client{Timeout: 10 * time.Second}))
	return New(api, dir, DefaultTTL)
}
