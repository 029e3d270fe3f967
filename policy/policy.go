// Package policy decides which rules govern a request: who may approve it,
// in which stages, how many approvals it needs, how long it may wait and
// whether break-glass is allowed. Nothing matching means the request is
// refused (deny by default).
package policy

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/signoff/signoff/approval"
	"github.com/signoff/signoff/config/identity"
)

// Wildcard matches any environment.
const Wildcard = "*"

// Policy is one rule as written in the config file.
type Policy struct {
	Name        string `yaml:"name" json:"name"`
	Description string `yaml:"description" json:"description,omitempty"`
	Match       Match  `yaml:"match" json:"match"`
	// Approvers and RequiredApprovals make a single-stage policy; Stages
	// an ordered one. A policy has one or the other.
	Approvers            Approvers      `yaml:"approvers" json:"approvers,omitzero"`
	RequiredApprovals    int            `yaml:"required_approvals" json:"required_approvals,omitempty"`
	Stages               []Stage        `yaml:"stages" json:"stages,omitempty"`
	SelfApproval         bool           `yaml:"self_approval" json:"self_approval,omitempty"`
	Reject               RejectRule     `yaml:"reject" json:"reject,omitzero"`
	DistinctAcrossStages *bool          `yaml:"distinct_across_stages" json:"distinct_across_stages,omitempty"`
	RequireJustification bool           `yaml:"require_justification" json:"require_justification,omitempty"`
	RequireComment       CommentRule    `yaml:"require_comment" json:"require_comment,omitzero"`
	Require2FA           bool           `yaml:"require_2fa" json:"require_2fa,omitempty"`
	AllowedChannels      []string       `yaml:"allowed_channels" json:"allowed_channels,omitempty"`
	Reminder             Duration       `yaml:"reminder" json:"reminder,omitempty"`
	Escalation           []EscalationIn `yaml:"escalation" json:"escalation,omitempty"`
	Deadline             Duration       `yaml:"deadline" json:"deadline"`
	// MaxDuration bounds the access a grant action may ask for; a policy
	// without it allows no grants.
	MaxDuration Duration `yaml:"max_duration" json:"max_duration,omitempty"`
	// MaxStartAhead bounds how far ahead a grant may be scheduled to
	// start (at most, and by default, 7 days).
	MaxStartAhead Duration `yaml:"max_start_ahead" json:"max_start_ahead,omitempty"`
	OnDeadline    string   `yaml:"on_deadline" json:"on_deadline,omitempty"`
	Enforcement   string   `yaml:"enforcement" json:"enforcement,omitempty"`
	Rego          string   `yaml:"rego" json:"rego,omitempty"`
	// RecheckGroups: someone who is an approver only through an outside
	// group (Slack user group, identity-provider group) must still be in
	// it when they decide.
	RecheckGroups bool `yaml:"recheck_groups" json:"recheck_groups,omitempty"`
	// Requesters, when set, are the only people who may request what the
	// policy governs; empty lets anyone configured request it.
	Requesters Requesters `yaml:"requesters" json:"requesters,omitzero"`
	// Line is where the policy starts in the config file, for errors.
	Line int `yaml:"-" json:"-"`
}

// Match selects the requests a policy governs. The most specific match wins:
// more fields set beats fewer, then the longer resource pattern.
type Match struct {
	// Environment is an exact name or "*".
	Environment string `yaml:"environment" json:"environment"`
	// Action is an action type (webhook, aws_iam_deactivate_key, ...);
	// empty matches any.
	Action string `yaml:"action" json:"action,omitempty"`
	// Resource is a glob (path.Match: "api/*"); empty matches any.
	Resource string `yaml:"resource" json:"resource,omitempty"`
}

// Approvers are named users and groups; groups expand through the user
// directory, and Slack user groups through Slack, when an approval is
// created: the approval keeps who was eligible then.
type Approvers struct {
	Users  []string `yaml:"users" json:"users,omitempty"`
	Groups []string `yaml:"groups" json:"groups,omitempty"`
	// SlackUsergroups are Slack user group IDs (S…): their members who
	// are configured users (by slack_id) approve.
	SlackUsergroups []string `yaml:"slack_usergroups" json:"slack_usergroups,omitempty"`
	// OIDCGroups are groups of the identity provider (its groups claim):
	// configured users whose last verified token put them in one approve.
	OIDCGroups []string `yaml:"oidc_groups" json:"oidc_groups,omitempty"`
}

// outside names the groups a set of approvers reads from outside the
// config, as Outside.Members takes them.
func (a Approvers) outside() []string {
	out := make([]string, 0, len(a.SlackUsergroups)+len(a.OIDCGroups))
	for _, g := range a.SlackUsergroups {
		out = append(out, SlackUsergroupPrefix+g)
	}
	for _, g := range a.OIDCGroups {
		out = append(out, OIDCGroupPrefix+g)
	}
	return out
}

// Prefixes of outside groups: where their members are read.
const (
	SlackUsergroupPrefix = "slack:"
	OIDCGroupPrefix      = "oidc:"
)

// Sources reads each outside group from the source its prefix names.
type Sources map[string]Outside

// Members asks the group's source; a group no source serves is an error.
func (s Sources) Members(ctx context.Context, group string) ([]string, error) {
	for prefix, src := range s {
		if strings.HasPrefix(group, prefix) && src != nil {
			return src.Members(ctx, group)
		}
	}
	return nil, fmt.Errorf("nothing reads %q here (Slack user groups need the Slack bot token)", group)
}

// Outside reads the members of groups kept outside the config (Slack user
// groups) when an approval is created; members are configured users'
// names.
type Outside interface {
	Members(ctx context.Context, group string) ([]string, error)
}

// ErrGroupsUnavailable means an outside group could not be read: nothing
// was created, the caller may retry.
var ErrGroupsUnavailable = errors.New("approver groups could not be read")

// Stage is one step of an ordered policy.
type Stage struct {
	Name              string    `yaml:"name" json:"name"`
	Approvers         Approvers `yaml:"approvers" json:"approvers"`
	RequiredApprovals int       `yaml:"required_approvals" json:"required_approvals"`
}

// RejectRule: how many rejections reject (default 1).
type RejectRule struct {
	Required int `yaml:"required" json:"required,omitempty"`
}

// CommentRule says which decisions need a comment.
type CommentRule struct {
	Approve bool `yaml:"approve" json:"approve,omitempty"`
	Reject  bool `yaml:"reject" json:"reject,omitempty"`
}

// EscalationIn is one escalation level as written.
type EscalationIn struct {
	After        Duration      `yaml:"after" json:"after"`
	Notify       NotifyTargets `yaml:"notify" json:"notify"`
	AddApprovers Approvers     `yaml:"add_approvers" json:"add_approvers,omitzero"`
}

// NotifyTargets are channels, users and groups to tell.
type NotifyTargets struct {
	Channels []string `yaml:"channels" json:"channels,omitempty"`
	Users    []string `yaml:"users" json:"users,omitempty"`
	Groups   []string `yaml:"groups" json:"groups,omitempty"`
}

// Duration reads "24h", "90m" and "7d" from YAML.
type Duration time.Duration

// UnmarshalText accepts Go durations plus a days suffix.
func (d *Duration) UnmarshalText(b []byte) error {
	s := string(b)
	if n := len(s); n > 1 && s[n-1] == 'd' {
		var days int
		if _, err := fmt.Sscanf(s[:n-1], "%d", &days); err != nil || fmt.Sprint(days) != s[:n-1] {
			return fmt.Errorf("bad duration %q", s)
		}
		*d = Duration(time.Duration(days) * 24 * time.Hour)
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("bad duration %q: %w", s, err)
	}
	*d = Duration(v)
	return nil
}

// MarshalText writes the Go form.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// Std returns the time.Duration.
func (d Duration) Std() time.Duration { return time.Duration(d) }

// ErrNoPolicy means no policy matches: the request is refused.
var ErrNoPolicy = errors.New("no policy matches this request")

// ErrUnreachable means the policy could never be satisfied for this requester.
var ErrUnreachable = errors.New("policy cannot be satisfied")

// RegoCompiler checks a Rego module at load; nil skips the check.
type RegoCompiler func(module string) error

// Set is a validated list of policies with the directory they refer to.
type Set struct {
	policies []Policy
	versions []string
	dir      *identity.Directory
}

// NewSet validates policies against the directory: unknown users or groups,
// impossible quorums, bad durations and globs, and Rego that does not
// compile are refused at load, each error naming the policy's line.
func NewSet(policies []Policy, dir *identity.Directory, rego RegoCompiler) (*Set, error) {
	s := &Set{dir: dir}
	names := map[string]bool{}
	matches := map[Match]string{}
	var errs []error
	for i, p := range policies {
		where := fmt.Sprintf("policies[%d] (%s)", i, p.Name)
		if p.Line > 0 {
			where = fmt.Sprintf("line %d: %s", p.Line, where)
		}
		bad := func(format string, args ...any) {
			errs = append(errs, fmt.Errorf("%s: %s", where, fmt.Sprintf(format, args...)))
		}
		if p.Name == "" {
			bad("name is required")
		}
		if names[p.Name] {
			bad("duplicate policy name")
		}
		names[p.Name] = true
		if p.Match.Environment == "" {
			bad("match.environment is required (use %q for any)", Wildcard)
		}
		if other, dup := matches[p.Match]; dup {
			bad("the same match is already used by policy %q", other)
		}
		matches[p.Match] = p.Name
		if _, err := path.Match(p.Match.Resource, ""); err != nil {
			bad("match.resource %q is not a valid glob", p.Match.Resource)
		}
		s.checkApprovers(p, bad)
		s.checkPeople("requesters", Approvers{Users: p.Requesters.Users, Groups: p.Requesters.Groups}, bad)
		if p.Deadline <= 0 {
			bad("deadline must be a positive duration")
		}
		if p.Reminder < 0 {
			bad("reminder must not be negative")
		}
		if p.MaxDuration < 0 || p.MaxDuration.Std() > 90*24*time.Hour {
			bad("max_duration must be between 0 and 90d")
		}
		if p.MaxStartAhead < 0 || p.MaxStartAhead.Std() > approval.MaxStartAhead {
			bad("max_start_ahead must be between 0 and 7d")
		}
		var prev Duration
		for j, e := range p.Escalation {
			if e.After <= prev {
				bad("escalation[%d].after must be positive and later than the level before", j)
			}
			if e.After >= p.Deadline {
				bad("escalation[%d].after (%s) is not before the deadline (%s)", j, e.After.Std(), p.Deadline.Std())
			}
			prev = e.After
			s.checkPeople(fmt.Sprintf("escalation[%d].notify", j), Approvers{Users: e.Notify.Users, Groups: e.Notify.Groups}, bad)
			s.checkPeople(fmt.Sprintf("escalation[%d].add_approvers", j), e.AddApprovers, bad)
		}
		if !slices.Contains([]string{"", approval.OnDeadlineExpire, approval.OnDeadlineReject}, p.OnDeadline) {
			bad("on_deadline must be expire or reject")
		}
		if !slices.Contains([]string{"", approval.EnforcementHard, approval.EnforcementSoft}, p.Enforcement) {
			bad("enforcement must be hard or soft")
		}
		if p.Reject.Required < 0 {
			bad("reject.required must not be negative")
		}
		if p.Rego != "" && rego != nil {
			if err := rego(p.Rego); err != nil {
				bad("rego: %v", err)
			}
		}
		s.policies = append(s.policies, p)
		s.versions = append(s.versions, version(p))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Set) checkApprovers(p Policy, bad func(string, ...any)) {
	single := len(p.Approvers.Users)+len(p.Approvers.Groups)+len(p.Approvers.outside()) > 0 || p.RequiredApprovals != 0
	switch {
	case single && len(p.Stages) > 0:
		bad("use either approvers/required_approvals or stages, not both")
		return
	case !single && len(p.Stages) == 0:
		bad("approvers and required_approvals (or stages) are required")
		return
	}
	stages := p.Stages
	if single {
		stages = []Stage{{Name: "approval", Approvers: p.Approvers, RequiredApprovals: p.RequiredApprovals}}
	}
	for j, st := range stages {
		label := "approvers"
		if !single {
			label = fmt.Sprintf("stages[%d] (%s)", j, st.Name)
			if st.Name == "" {
				bad("stages[%d].name is required", j)
			}
		}
		s.checkPeople(label, st.Approvers, bad)
		n := len(s.expand(st.Approvers, nil))
		switch {
		case st.RequiredApprovals < 1:
			bad("%s: required_approvals must be at least 1", label)
		case len(st.Approvers.outside()) > 0:
			// Their members are known when an approval is created, and
			// checked then.
		case st.RequiredApprovals > n:
			bad("%s: required_approvals %d is more than its %d approvers", label, st.RequiredApprovals, n)
		}
	}
}

func (s *Set) checkPeople(label string, a Approvers, bad func(string, ...any)) {
	for _, u := range a.Users {
		if _, ok := s.dir.Lookup(u); !ok {
			bad("%s: unknown user %q", label, u)
		}
	}
	for _, g := range a.Groups {
		if !s.dir.HasGroup(g) {
			bad("%s: unknown group %q", label, g)
		}
	}
	for _, g := range a.SlackUsergroups {
		if !slackUsergroupID.MatchString(g) {
			bad("%s: slack_usergroups entry %q must be a user group ID (S…)", label, g)
		}
	}
	for _, g := range a.OIDCGroups {
		if g == "" || len(g) > 256 || strings.ContainsAny(g, " \t\r\n") {
			bad("%s: oidc_groups entry %q must be a group name as the provider's groups claim spells it", label, g)
		}
	}
}

var slackUsergroupID = regexp.MustCompile(`^S[A-Z0-9]{2,}$`)

// version is a short content hash so an approval records exactly which rule
// text governed it.
func version(p Policy) string {
	b, _ := json.Marshal(p)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:6])
}

// expand lists the people a set of approvers names: users, config groups'
// members, and outside groups' members as read into outside (nil: none).
func (s *Set) expand(a Approvers, outside map[string][]string) []string {
	out := slices.Clone(a.Users)
	for _, g := range a.Groups {
		out = append(out, s.dir.Members(g)...)
	}
	for _, g := range a.outside() {
		for _, m := range outside[g] {
			if _, ok := s.dir.Lookup(m); ok {
				out = append(out, m)
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// specificity ranks a match: fields set, then resource pattern length.
func specificity(m Match) (int, int) {
	n := 0
	if m.Environment != Wildcard {
		n++
	}
	if m.Action != "" {
		n++
	}
	if m.Resource != "" && m.Resource != "*" {
		n++
	}
	return n, len(m.Resource)
}

func matches(m Match, req approval.Request) bool {
	// A resource not written canonically ("apps/../prod-db") matches
	// patterns as written but names something else: it matches no policy.
	// Intake refuses it first; this holds for any other caller.
	if req.Resource != "" && approval.CheckName(req.Resource) != nil {
		return false
	}
	if m.Environment != Wildcard && m.Environment != req.Environment {
		return false
	}
	if m.Action != "" && m.Action != req.Action.Type {
		return false
	}
	if m.Resource != "" {
		ok, err := path.Match(m.Resource, req.Resource)
		return err == nil && ok
	}
	return true
}

// Match returns the index of the most specific policy matching req; ties go
// to the one written first.
func (s *Set) match(req approval.Request) (int, bool) {
	best, bestN, bestLen := -1, -1, -1
	for i, p := range s.policies {
		if !matches(p.Match, req) {
			continue
		}
		n, l := specificity(p.Match)
		if n > bestN || (n == bestN && l > bestLen) {
			best, bestN, bestLen = i, n, l
		}
	}
	return best, best >= 0
}

// Resolve picks the policy for a request and snapshots it with its
// approvers expanded. It refuses a request the requester could never get
// approved.
func (s *Set) Resolve(req approval.Request, requester string) (approval.Policy, error) {
	return s.ResolveWith(context.Background(), req, requester, nil)
}

// ResolveWith is Resolve reading the members of the policy's outside
// groups (Slack user groups) through outside; they are kept in the
// snapshot, so the approval shows who was eligible and why. Without
// outside, those groups count no one.
func (s *Set) ResolveWith(ctx context.Context, req approval.Request, requester string, outside Outside) (approval.Policy, error) {
	if req.Resource != "" {
		if err := approval.CheckName(req.Resource); err != nil {
			return approval.Policy{}, fmt.Errorf("%w: resource: %w", ErrNoPolicy, err)
		}
	}
	idx, ok := s.match(req)
	if !ok {
		return approval.Policy{}, fmt.Errorf("%w (environment %q, action %q, resource %q)",
			ErrNoPolicy, req.Environment, req.Action.Type, req.Resource)
	}
	if err := s.mayRequest(idx, requester); err != nil {
		return approval.Policy{}, err
	}
	members := map[string][]string{}
	if outside != nil {
		for _, g := range s.outsideGroups(idx) {
			m, err := outside.Members(ctx, g)
			if err != nil {
				return approval.Policy{}, fmt.Errorf("%w: %s: %w", ErrGroupsUnavailable, g, err)
			}
			members[g] = m
		}
	}
	snap := s.snapshot(idx, members)
	if err := satisfiable(snap, requester); err != nil {
		return approval.Policy{}, err
	}
	return snap, nil
}

// satisfiable reports whether the stages of p can all reach their quorum
// for a request by requester: the requester may not approve (unless self
// approval is on) and, unless SameApproverAcrossStages, nobody may approve
// two stages. The latter is a bipartite matching of people to the stages'
// approval slots; it is solved exactly with augmenting paths, so stages
// that share people are judged on the best assignment, not the first one.
// The error wraps ErrUnreachable.
func satisfiable(p approval.Policy, requester string) error {
	stages := p.StageList()
	eligible := make([][]string, len(stages))
	for i, st := range stages {
		for _, a := range st.Approvers {
			if (a != requester || p.SelfApproval) && !slices.Contains(eligible[i], a) {
				eligible[i] = append(eligible[i], a)
			}
		}
		if len(eligible[i]) < st.RequiredApprovals {
			return fmt.Errorf("%w: policy %q (stage %q) needs %d approvals but has %d approvers other than %s",
				ErrUnreachable, p.Name, st.Name, st.RequiredApprovals, len(eligible[i]), requester)
		}
	}
	if p.SameApproverAcrossStages {
		// People may repeat across stages: each stage stands alone.
		return nil
	}
	// slots[k] is the stage of the k-th approval slot; holder[person] is
	// the slot a person fills.
	var slots []int
	for i, st := range stages {
		for range st.RequiredApprovals {
			slots = append(slots, i)
		}
	}
	holder := map[string]int{}
	var augment func(slot int, seen map[string]bool) bool
	augment = func(slot int, seen map[string]bool) bool {
		for _, a := range eligible[slots[slot]] {
			if seen[a] {
				continue
			}
			seen[a] = true
			if other, taken := holder[a]; !taken || augment(other, seen) {
				holder[a] = slot
				return true
			}
		}
		return false
	}
	for k, stage := range slots {
		// A slot with no augmenting path now has none later either, so
		// the first one found decides.
		if !augment(k, map[string]bool{}) {
			st := stages[stage]
			who := "the requester " + requester + " excluded"
			if p.SelfApproval {
				who = "self approval allowed"
			}
			return fmt.Errorf("%w: policy %q needs %d approvals from different people across its stages, but stage %q "+
				"cannot get its %d once the other stages have theirs (%s)",
				ErrUnreachable, p.Name, len(slots), st.Name, st.RequiredApprovals, who)
		}
	}
	return nil
}

// outsideGroups are the outside groups policy idx names, each once.
func (s *Set) outsideGroups(idx int) []string {
	p := s.policies[idx]
	all := p.Approvers.outside()
	for _, st := range p.Stages {
		all = append(all, st.Approvers.outside()...)
	}
	for _, e := range p.Escalation {
		all = append(all, e.AddApprovers.outside()...)
	}
	slices.Sort(all)
	return slices.Compact(all)
}

func (s *Set) snapshot(idx int, outside map[string][]string) approval.Policy {
	p := s.policies[idx]
	out := approval.Policy{
		Name:                     p.Name,
		Version:                  s.versions[idx],
		Deadline:                 p.Deadline.Std(),
		OnDeadline:               p.OnDeadline,
		RejectionsRequired:       p.Reject.Required,
		SelfApproval:             p.SelfApproval,
		SameApproverAcrossStages: p.DistinctAcrossStages != nil && !*p.DistinctAcrossStages,
		RequireJustification:     p.RequireJustification,
		RequireComment:           approval.CommentRule{Approve: p.RequireComment.Approve, Reject: p.RequireComment.Reject},
		Require2FA:               p.Require2FA,
		AllowedChannels:          p.AllowedChannels,
		Reminder:                 p.Reminder.Std(),
		Enforcement:              p.Enforcement,
		Rego:                     p.Rego,
		RecheckGroups:            p.RecheckGroups,
		MaxDuration:              p.MaxDuration.Std(),
		MaxStartAhead:            p.MaxStartAhead.Std(),
	}
	if len(p.Stages) == 0 {
		out.Approvers = s.expand(p.Approvers, outside)
		out.RequiredApprovals = p.RequiredApprovals
	}
	for _, st := range p.Stages {
		out.Stages = append(out.Stages, approval.Stage{Name: st.Name, Approvers: s.expand(st.Approvers, outside), RequiredApprovals: st.RequiredApprovals})
	}
	if p.RecheckGroups {
		// Who is an approver without an outside group: not rechecked.
		direct := s.expand(Approvers{Users: p.Approvers.Users, Groups: p.Approvers.Groups}, nil)
		for _, st := range p.Stages {
			direct = append(direct, s.expand(Approvers{Users: st.Approvers.Users, Groups: st.Approvers.Groups}, nil)...)
		}
		for _, e := range p.Escalation {
			direct = append(direct, s.expand(Approvers{Users: e.AddApprovers.Users, Groups: e.AddApprovers.Groups}, nil)...)
		}
		slices.Sort(direct)
		out.Direct = slices.Compact(direct)
	}
	// Who each outside group held, for the audit trail: members who are
	// not configured users are kept out of it as they are out of the quorum.
	for g, members := range outside {
		if out.OutsideGroups == nil {
			out.OutsideGroups = map[string][]string{}
		}
		var known []string
		for _, m := range members {
			if _, ok := s.dir.Lookup(m); ok {
				known = append(known, m)
			}
		}
		slices.Sort(known)
		out.OutsideGroups[g] = known
	}
	for _, e := range p.Escalation {
		notify := s.expand(Approvers{Users: e.Notify.Users, Groups: e.Notify.Groups}, nil)
		out.Escalations = append(out.Escalations, approval.Escalation{
			After: e.After.Std(), AddApprovers: s.expand(e.AddApprovers, outside),
			Notify: approval.Targets{Channels: e.Notify.Channels, Users: notify},
		})
	}
	return out
}

// Memberships are the outside groups (of those policies that recheck
// them name) each of users is in now, for the workflow to recheck at a
// decision; nil when no policy asks for it.
func (s *Set) Memberships(ctx context.Context, outside Outside, users []string) (map[string][]string, error) {
	if outside == nil || len(users) == 0 {
		return nil, nil
	}
	var groups []string
	for i, p := range s.policies {
		if p.RecheckGroups {
			groups = append(groups, s.outsideGroups(i)...)
		}
	}
	if len(groups) == 0 {
		return nil, nil
	}
	slices.Sort(groups)
	out := map[string][]string{}
	for _, g := range slices.Compact(groups) {
		members, err := outside.Members(ctx, g)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrGroupsUnavailable, g, err)
		}
		for _, u := range users {
			if slices.Contains(members, u) {
				out[u] = append(out[u], g)
			}
		}
	}
	return out, nil
}

// Entry is a policy in force with its version, for the policies API.
type Entry struct {
	Policy  Policy
	Version string
	// Snapshot is what an approval under this policy would hold.
	Snapshot approval.Policy
}

// List returns every policy in force, in config order.
func (s *Set) List() []Entry {
	out := make([]Entry, len(s.policies))
	for i := range s.policies {
		out[i] = Entry{Policy: s.policies[i], Version: s.versions[i], Snapshot: s.snapshot(i, nil)}
	}
	return out
}

// Get returns the policy named name.
func (s *Set) Get(name string) (Entry, bool) {
	for i, p := range s.policies {
		if p.Name == name {
			return Entry{Policy: p, Version: s.versions[i], Snapshot: s.snapshot(i, nil)}, true
		}
	}
	return Entry{}, false
}
