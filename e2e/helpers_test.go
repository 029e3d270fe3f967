package e2e

import (
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/slack-go/slack"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/signoff/signoff/config"
	"github.com/signoff/signoff/internal/slackfake"
)

func protojsonUnmarshal(b []byte, m proto.Message) error {
	return protojson.Unmarshal(b, m)
}

// startSlackFake starts a fake Slack Web API and points the stack's Slack
// secrets and API URL at it (HTTP callbacks, no Socket Mode).
func startSlackFake(t *testing.T) *slackfake.Server {
	t.Helper()
	f := slackfake.New()
	t.Cleanup(f.Close)
	t.Setenv(config.EnvSlackBotToken, f.Token())
	t.Setenv(config.EnvSlackSigningSecret, slackSigningSecret)
	t.Setenv(config.EnvSlackAPIURL, f.APIURL())
	t.Setenv(config.EnvSlackAppToken, "")
	return f
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
