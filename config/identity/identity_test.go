package identity

import (
	"strings"
	"testing"
)

func TestAuthenticateAndLookups(t *testing.T) {
	d, err := NewDirectory([]User{
		{Name: "alice", Email: "Alice@Example.com", SlackID: "U1", Token: "dev-alice"},
		{Name: "bob", TokenSHA256: HashToken("s3cret"), Groups: []string{"platform"}, TeamsID: "8d2f1c3e-0000-4000-8000-00000000b0b0"},
	})
	if err != nil {
		t.Fatal(err)
	}
	for token, want := range map[string]string{"dev-alice": "alice", "s3cret": "bob"} {
		u, ok := d.Authenticate(token)
		if !ok || u.Name != want {
			t.Errorf("token %q: %v %v", token, u, ok)
		}
	}
	for _, bad := range []string{"", "dev-alice ", "S3CRET", HashToken("s3cret")} {
		if _, ok := d.Authenticate(bad); ok {
			t.Errorf("token %q accepted", bad)
		}
	}
	if u, ok := d.ByEmail("alice@example.COM"); !ok || u.Name != "alice" {
		t.Error("email lookup is case-sensitive")
	}
	if u, ok := d.BySlackID("U1"); !ok || u.Name != "alice" {
		t.Error("slack lookup")
	}
	if u, ok := d.ByTeamsID("8D2F1C3E-0000-4000-8000-00000000B0B0"); !ok || u.Name != "bob" {
		t.Error("teams lookup is case-sensitive")
	}
	if got := strings.Join(d.Members("platform"), ","); got != "bob" || !d.HasGroup("platform") || d.HasGroup("nope") {
		t.Errorf("groups: %q", got)
	}
	if !d.HasPlaintextTokens() {
		t.Error("plaintext token not reported")
	}
}

func TestDirectoryRefusesDuplicates(t *testing.T) {
	cases := map[string][]User{
		"duplicate user": {{Name: "a"}, {Name: "a"}},
		"token shared":   {{Name: "a", Token: "t"}, {Name: "b", Token: "t"}},
		"slack_id":       {{Name: "a", SlackID: "U"}, {Name: "b", SlackID: "U"}},
		"email":          {{Name: "a", Email: "x@y"}, {Name: "b", Email: "X@y"}},
		"shared with another user": {{Name: "a", TeamsID: "8d2f1c3e-0000-4000-8000-00000000b0b0"},
			{Name: "b", TeamsID: "8D2F1C3E-0000-4000-8000-00000000B0B0"}},
		"Entra object ID (a GUID)":    {{Name: "a", TeamsID: "29:bob"}},
		"github_login OctoCat shared": {{Name: "a", GitHubLogin: "octocat"}, {Name: "b", GitHubLogin: "OctoCat"}},
		"github_id 42 shared":         {{Name: "a", GitHubID: 42}, {Name: "b", GitHubID: 42, GitHubLogin: "b"}},
		"github_id -1: want":          {{Name: "a", GitHubID: -1}},
		"must be non-emp":             {{Name: ""}},
		"64 hex":                      {{Name: "a", TokenSHA256: "abc"}},
	}
	for want, users := range cases {
		if _, err := NewDirectory(users); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v", want, err)
		}
	}
}

// TestByGitHubID: people are found by their numeric GitHub ID, which
// outlives any rename of their login.
func TestByGitHubID(t *testing.T) {
	d, err := NewDirectory([]User{
		{Name: "bob", GitHubID: 21031067, GitHubLogin: "codertocat"},
		{Name: "carol", GitHubLogin: "octo-legacy"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if u, ok := d.ByGitHubID(21031067); !ok || u.Name != "bob" {
		t.Errorf("ByGitHubID(21031067) = %v, %v", u, ok)
	}
	for _, id := range []int64{0, -1, 1} {
		if u, ok := d.ByGitHubID(id); ok {
			t.Errorf("ByGitHubID(%d) = %s", id, u.Name)
		}
	}
}

func TestRoles(t *testing.T) {
	d, err := NewDirectory([]User{
		{Name: "audrey", Roles: []string{RoleAuditor}},
		{Name: "cody", Roles: []string{RoleCodec}},
		{Name: "root", Admin: true},
		{Name: "plain"},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][2]bool{ // auditor, codec
		"audrey": {true, false},
		"cody":   {false, true},
		"root":   {true, true},
		"plain":  {false, false},
	}
	for name, w := range want {
		u, _ := d.Lookup(name)
		if got := [2]bool{u.HasRole(RoleAuditor), u.HasRole(RoleCodec)}; got != w {
			t.Errorf("%s: auditor, codec = %v, want %v", name, got, w)
		}
		if u.HasRole("superuser") {
			t.Errorf("%s holds an unknown role", name)
		}
	}
	var nobody *User
	if nobody.HasRole(RoleAuditor) {
		t.Error("nil user holds a role")
	}
}

func TestUnknownRoleRefused(t *testing.T) {
	for _, role := range []string{"auditors", "Auditor", "admin", ""} {
		_, err := NewDirectory([]User{{Name: "a", Roles: []string{role}}})
		if err == nil || !strings.Contains(err.Error(), `unknown role "`+role+`"`) || !strings.Contains(err.Error(), "auditor, codec") {
			t.Errorf("role %q: %v", role, err)
		}
	}
}
