// Package identity maps credentials to configured people. It is the only
// source of who is asking: no identity is ever taken from a request body.
package identity

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// User is a configured person.
type User struct {
	Name    string `yaml:"name"`
	Email   string `yaml:"email"`
	SlackID string `yaml:"slack_id"`
	// TeamsID is the person's Microsoft Entra object ID (a GUID): Teams
	// clicks carrying it are theirs, and direct messages go to it.
	TeamsID string `yaml:"teams_id"`
	// GitHubID is the person's numeric GitHub user ID: a deployment they
	// set off through the GitHub App is theirs, and they do not approve
	// it. Unlike the login it never changes and is never reused.
	GitHubID int64 `yaml:"github_id"`
	// GitHubLogin is the person's GitHub login, trusted alone only while
	// GitHubID is unset: a login can be renamed, then registered by
	// someone else.
	GitHubLogin string   `yaml:"github_login"`
	Groups      []string `yaml:"groups"`
	// Admin may cancel any approval (never approve their own), and holds
	// every role.
	Admin bool `yaml:"admin"`
	// Roles grant more than taking part in approvals does: RoleAuditor and
	// RoleCodec (KnownRoles). Unknown names are refused at config load.
	Roles []string `yaml:"roles"`
	// TokenSHA256 is the hex SHA-256 of the user's API token: configs hold
	// hashes, not tokens.
	TokenSHA256 string `yaml:"token_sha256"`
	// Token is a plaintext token, accepted for dev configs only.
	Token string `yaml:"token"`
}

// Roles a user may hold (users[].roles). Admins hold them all.
const (
	// RoleAuditor reads every approval, its audit trail and its evidence
	// export, without deciding anything.
	RoleAuditor = "auditor"
	// RoleCodec may decode (and encode) Temporal payloads through the
	// gateway's /codec endpoints.
	RoleCodec = "codec"
)

// KnownRoles are the role names a config may use.
var KnownRoles = []string{RoleAuditor, RoleCodec}

// InGroup reports membership.
func (u *User) InGroup(g string) bool { return slices.Contains(u.Groups, g) }

// HasRole reports whether the user holds role r, as configured or by being
// an admin.
func (u *User) HasRole(r string) bool {
	return u != nil && slices.Contains(KnownRoles, r) && (u.Admin || slices.Contains(u.Roles, r))
}

// Directory answers who a token, a name or a Slack ID belongs to.
type Directory struct {
	users   []*User
	byName  map[string]*User
	byToken map[[sha256.Size]byte]*User
	bySlack map[string]*User
	byTeams map[string]*User
	byLogin map[string]*User
	byGHID  map[int64]*User
	byEmail map[string]*User
	groups  map[string][]string
}

// NewDirectory indexes users and refuses duplicates and malformed entries.
func NewDirectory(users []User) (*Directory, error) {
	d := &Directory{
		byName:  map[string]*User{},
		byToken: map[[sha256.Size]byte]*User{},
		bySlack: map[string]*User{},
		byTeams: map[string]*User{},
		byLogin: map[string]*User{},
		byGHID:  map[int64]*User{},
		byEmail: map[string]*User{},
		groups:  map[string][]string{},
	}
	for i := range users {
		u := users[i]
		if u.Name == "" || strings.ContainsAny(u.Name, " \t\n'\"") {
			return nil, fmt.Errorf("users[%d]: name %q must be non-empty without spaces or quotes", i, u.Name)
		}
		if _, dup := d.byName[u.Name]; dup {
			return nil, fmt.Errorf("users[%d]: duplicate user %q", i, u.Name)
		}
		for _, r := range u.Roles {
			if !slices.Contains(KnownRoles, r) {
				return nil, fmt.Errorf("user %q: unknown role %q in roles (known roles: %s; admin is `admin: true`)",
					u.Name, r, strings.Join(KnownRoles, ", "))
			}
		}
		d.byName[u.Name] = &u
		d.users = append(d.users, &u)
		for _, hash := range tokenHashes(u) {
			key, err := parseHash(hash)
			if err != nil {
				return nil, fmt.Errorf("user %q: token_sha256: %w", u.Name, err)
			}
			if _, dup := d.byToken[key]; dup {
				return nil, fmt.Errorf("user %q: token shared with another user", u.Name)
			}
			d.byToken[key] = &u
		}
		if u.SlackID != "" {
			if _, dup := d.bySlack[u.SlackID]; dup {
				return nil, fmt.Errorf("user %q: slack_id %s shared with another user", u.Name, u.SlackID)
			}
			d.bySlack[u.SlackID] = &u
		}
		if u.TeamsID != "" {
			if !entraObjectID.MatchString(u.TeamsID) {
				return nil, fmt.Errorf("user %q: teams_id %q: want the person's Entra object ID (a GUID)", u.Name, u.TeamsID)
			}
			key := strings.ToLower(u.TeamsID)
			if _, dup := d.byTeams[key]; dup {
				return nil, fmt.Errorf("user %q: teams_id %s shared with another user", u.Name, u.TeamsID)
			}
			d.byTeams[key] = &u
		}
		switch {
		case u.GitHubID < 0:
			return nil, fmt.Errorf("user %q: github_id %d: want the person's numeric GitHub user ID", u.Name, u.GitHubID)
		case u.GitHubID > 0:
			if _, dup := d.byGHID[u.GitHubID]; dup {
				return nil, fmt.Errorf("user %q: github_id %d shared with another user", u.Name, u.GitHubID)
			}
			d.byGHID[u.GitHubID] = &u
		}
		if u.GitHubLogin != "" {
			key := strings.ToLower(u.GitHubLogin)
			if _, dup := d.byLogin[key]; dup {
				return nil, fmt.Errorf("user %q: github_login %s shared with another user", u.Name, u.GitHubLogin)
			}
			d.byLogin[key] = &u
		}
		if u.Email != "" {
			key := strings.ToLower(u.Email)
			if _, dup := d.byEmail[key]; dup {
				return nil, fmt.Errorf("user %q: email %s shared with another user", u.Name, u.Email)
			}
			d.byEmail[key] = &u
		}
		for _, g := range u.Groups {
			d.groups[g] = append(d.groups[g], u.Name)
		}
	}
	return d, nil
}

func tokenHashes(u User) []string {
	var out []string
	if u.TokenSHA256 != "" {
		out = append(out, strings.ToLower(u.TokenSHA256))
	}
	if u.Token != "" {
		out = append(out, HashToken(u.Token))
	}
	return out
}

func parseHash(h string) ([sha256.Size]byte, error) {
	var key [sha256.Size]byte
	b, err := hex.DecodeString(h)
	if err != nil || len(b) != sha256.Size {
		return key, fmt.Errorf("want 64 hex characters")
	}
	copy(key[:], b)
	return key, nil
}

// HashToken is how tokens are stored in config: hex SHA-256.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// Authenticate returns the owner of a bearer token. Tokens are compared by
// their SHA-256, so lookup time does not depend on how much of a guess
// matches a real token.
func (d *Directory) Authenticate(token string) (*User, bool) {
	if token == "" {
		return nil, false
	}
	u, ok := d.byToken[sha256.Sum256([]byte(token))]
	return u, ok
}

// Lookup finds a user by name.
func (d *Directory) Lookup(name string) (*User, bool) {
	u, ok := d.byName[name]
	return u, ok
}

// BySlackID finds the user tied to a Slack user ID.
func (d *Directory) BySlackID(id string) (*User, bool) {
	u, ok := d.bySlack[id]
	return u, ok
}

// ByTeamsID finds the user with an Entra object ID, case-insensitively.
func (d *Directory) ByTeamsID(id string) (*User, bool) {
	u, ok := d.byTeams[strings.ToLower(id)]
	return u, ok
}

// ByGitHubID finds the user with a numeric GitHub user ID.
func (d *Directory) ByGitHubID(id int64) (*User, bool) {
	if id <= 0 {
		return nil, false
	}
	u, ok := d.byGHID[id]
	return u, ok
}

// ByGitHubLogin finds the user with a GitHub login, case-insensitively
// (as GitHub compares logins). A login can change hands: see User.GitHubID.
func (d *Directory) ByGitHubLogin(login string) (*User, bool) {
	u, ok := d.byLogin[strings.ToLower(login)]
	return u, ok
}

// entraObjectID is the shape of an Entra (Azure AD) object ID.
var entraObjectID = regexp.MustCompile(`^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$`)

// ByEmail finds a user by email, case-insensitively.
func (d *Directory) ByEmail(email string) (*User, bool) {
	u, ok := d.byEmail[strings.ToLower(email)]
	return u, ok
}

// HasGroup reports whether any user is in group g.
func (d *Directory) HasGroup(g string) bool { _, ok := d.groups[g]; return ok }

// Members lists a group's user names in config order.
func (d *Directory) Members(g string) []string { return slices.Clone(d.groups[g]) }

// Users are the configured users in config order.
func (d *Directory) Users() []*User { return slices.Clone(d.users) }

// HasPlaintextTokens reports whether any user has a plaintext token, which
// only dev configs should.
func (d *Directory) HasPlaintextTokens() bool {
	for _, u := range d.users {
		if u.Token != "" {
			return true
		}
	}
	return false
}
