package e2e

import (
	"net/http/httptest"
	"os"
	"sync"
	"testing"

	"github.com/slack-go/slack"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/signoff/signoff/channel/slack/slackfake"
	"github.com/signoff/signoff/config"
	"github.com/signoff/signoff/internal/testenv"
	"github.com/signoff/signoff/policy"
	"github.com/signoff/signoff/policy/regopolicy"
)

// devStack starts a stack with the config `make run` uses
// (deploy/signoff.dev.yaml).
func devStack(t *testing.T) *testenv.Stack {
	t.Helper()
	dev, err := os.ReadFile("../deploy/signoff.dev.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return testenv.Start(t, testenv.Options{ConfigYAML: string(dev)})
}

func protojsonUnmarshal(b []byte, m proto.Message) error {
	return protojson.Unmarshal(b, m)
}

// startSlackFake starts a fake Slack Web API; env points a stack's Slack
// secrets and API URL at it (HTTP callbacks, no Socket Mode).
func startSlackFake(t *testing.T) (f *slackfake.Server, env map[string]string) {
	t.Helper()
	f = slackfake.New()
	t.Cleanup(f.Close)
	return f, map[string]string{
		config.EnvSlackBotToken:      f.Token(),
		config.EnvSlackSigningSecret: slackSigningSecret,
		config.EnvSlackAPIURL:        f.APIURL(),
		config.EnvSlackAppToken:      "",
	}
}

// setEnv puts env in the process environment for the test's duration, for
// stacks whose worker runs as a process of its own (it inherits it).
func setEnv(t *testing.T, env map[string]string) {
	for k, v := range env {
		t.Setenv(k, v)
	}
}

// merge is the union of envs, later ones winning.
func merge(envs ...map[string]string) map[string]string {
	out := map[string]string{}
	for _, e := range envs {
		for k, v := range e {
			out[k] = v
		}
	}
	return out
}

// slackUser is a Slack account found by email, with or without 2FA.
func slackUser(id, email string, has2FA bool) slack.User {
	return slack.User{ID: id, Profile: slack.UserProfile{Email: email}, Has2FA: &has2FA}
}

// startOnceReceiver serves an onceReceiver that holds its first call until
// release is called (at cleanup at the latest, before the server closes).
func startOnceReceiver(t *testing.T) (rc *onceReceiver, url string, release func()) {
	t.Helper()
	rc = &onceReceiver{secret: []byte(e2eWebhookSecret), firstCall: make(chan struct{}), release: make(chan struct{}), applied: map[string]int{}}
	srv := httptest.NewServer(rc)
	t.Cleanup(srv.Close)
	var once sync.Once
	release = func() { once.Do(func() { close(rc.release) }) }
	t.Cleanup(release) // runs before srv.Close, which waits for handlers
	return rc, srv.URL, release
}

// putPolicies adds pols before c's policies, validated as a config load
// validates them (the most specific match governs, wherever it stands).
func putPolicies(t testing.TB, c *config.Loaded, pols ...policy.Policy) {
	t.Helper()
	all := append(pols, c.Config.Policies...)
	set, err := policy.NewSet(all, c.Directory, regopolicy.Check)
	if err != nil {
		t.Fatal(err)
	}
	c.Config.Policies, c.Policies = all, set
}
