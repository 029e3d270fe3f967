package usergroups

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/signoff/signoff/channel/slack/slackfake"
	"github.com/signoff/signoff/config/identity"
)

// TestMembersThroughSlack: the real Slack client against the fake Web API.
// Members are configured users by slack_id (strangers are left out), an
// unknown group is an error, and members are reused within the TTL, read
// again after it.
func TestMembersThroughSlack(t *testing.T) {
	f := slackfake.New()
	t.Cleanup(f.Close)
	f.SetUsergroup("S0PLATFORM", "U0BOB", "U0STRANGER", "U0CAROL")
	dir, err := identity.NewDirectory([]identity.User{
		{Name: "bob", SlackID: "U0BOB"}, {Name: "carol", SlackID: "U0CAROL"}, {Name: "dana", SlackID: "U0DANA"},
	})
	if err != nil {
		t.Fatal(err)
	}
	r := New(slack.New(f.Token(), slack.OptionAPIURL(f.APIURL())), func() *identity.Directory { return dir }, time.Minute)
	clock := time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
	r.now = func() time.Time { return clock }
	ctx := context.Background()

	got, err := r.Members(ctx, "slack:S0PLATFORM")
	if err != nil || !slices.Equal(got, []string{"bob", "carol"}) {
		t.Fatalf("members: %v, %v", got, err)
	}
	f.SetUsergroup("S0PLATFORM", "U0BOB", "U0DANA")
	if got, _ := r.Members(ctx, "slack:S0PLATFORM"); !slices.Equal(got, []string{"bob", "carol"}) || f.UsergroupCalls() != 1 {
		t.Fatalf("within the TTL: %v after %d calls", got, f.UsergroupCalls())
	}
	clock = clock.Add(time.Minute)
	if got, _ := r.Members(ctx, "slack:S0PLATFORM"); !slices.Equal(got, []string{"bob", "dana"}) || f.UsergroupCalls() != 2 {
		t.Fatalf("after the TTL: %v after %d calls", got, f.UsergroupCalls())
	}
	if _, err := r.Members(ctx, "slack:S0NOPE"); err == nil {
		t.Fatal("an unknown user group resolved")
	}
	if _, err := r.Members(ctx, "platform"); err == nil {
		t.Fatal("a config group went to Slack")
	}
}
