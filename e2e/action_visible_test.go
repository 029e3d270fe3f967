package e2e

import (
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signoff/signoff/channel/email/smtpfake"
	"github.com/signoff/signoff/channel/slack/slackfake"
	"github.com/signoff/signoff/config"
	"github.com/signoff/signoff/internal/testenv"
)

// startMailFake starts an SMTP relay (STARTTLS, AUTH); env gives a stack
// its address, credentials and a link key.
func startMailFake(t *testing.T) (fake *smtpfake.Server, env map[string]string) {
	t.Helper()
	fake = smtpfake.Start(t, smtpfake.Options{Username: emailRelayUser, Password: emailRelayPass})
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	return fake, map[string]string{
		config.EnvSMTPHost:             fake.Host,
		config.EnvSMTPPort:             strconv.Itoa(fake.Port),
		config.EnvSMTPUsername:         emailRelayUser,
		config.EnvSMTPPassword:         emailRelayPass,
		config.EnvEmailLinkKey:         base64.StdEncoding.EncodeToString(key),
		config.EnvEmailLinkKeyPrevious: "",
	}
}

// TestActionVisibleToApprovers: approvers see what runs before they
// decide. An approval with a webhook action, created through the gateway,
// reaches Slack and email; the prompt and both parts of the email name the
// webhook's URL and every parameter, escaped for each medium.
func TestActionVisibleToApprovers(t *testing.T) {
	t.Parallel()
	f, slackEnv := startSlackFake(t)
	mail, mailEnv := startMailFake(t)
	s := testenv.Start(t, testenv.Options{Env: merge(slackEnv, mailEnv), Mutate: func(c *config.Loaded) {
		c.Notifiers = []string{"log", "slack", "email"}
		c.Slack.TeamID = f.TeamID()
		c.Slack.DefaultChannel = "#approvals"
		c.Slack.DMApprovers = false
		c.Email = config.Email{From: "Signoff <signoff@example.com>", TLS: config.EmailTLSStartTLS, CAFile: mail.CAFile}
	}})

	// Allowed by the dev config's webhook prefixes; never called: nobody
	// approves.
	const hook = "http://127.0.0.1:9/hooks/deploy?service=api&dry_run=false"
	code, body := s.Do(http.MethodPost, "/v1/approvals", "dev-alice", createBody("Deploy api v2.5.0", "staging", map[string]any{
		"type": "webhook", "url": hook, "params": map[string]string{"service": "api", "note": "ship <it> & go"}}))
	require.Equal(t, http.StatusOK, code, string(body))
	id := decodeApproval(t, body).GetId()

	t.Run("slack prompt", func(t *testing.T) {
		require.True(t, f.Wait(60*time.Second, func() bool { return len(f.Messages()) >= 1 }), "prompt not posted")
		prompt := slackfake.Text(f.Messages()[0].Blocks)
		for _, want := range []string{
			"*Action:* webhook → http://127.0.0.1:9/hooks/deploy?service=api&amp;dry_run=false",
			"• *note*: ship &lt;it&gt; &amp; go",
			"• *service*: api",
		} {
			assert.Contains(t, prompt, want)
		}
		assert.NotContains(t, prompt, "<it>")
	})

	t.Run("email", func(t *testing.T) {
		m := mail.Wait(t, 60*time.Second, "the prompt to bob", func(m *smtpfake.Mail) bool {
			return slices.Contains(m.Envelope.To, "bob@example.com") && strings.Contains(m.MessageID, id)
		})
		for _, want := range []string{"  Action:       webhook", "  Target:       " + hook, "    note: ship <it> & go", "    service: api"} {
			assert.Contains(t, m.Text, want)
		}
		for _, want := range []string{">http://127.0.0.1:9/hooks/deploy?service=api&amp;dry_run=false<",
			">note<", ">ship &lt;it&gt; &amp; go<", ">service<", ">api<"} {
			assert.Contains(t, m.HTML, want)
		}
		assert.NotContains(t, m.HTML, "<it>")
	})
}
