package e2e

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slack-go/slack"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signoff/signoff/approval"
	"github.com/signoff/signoff/approval/evidence"
	"github.com/signoff/signoff/channel/email/smtpfake"
	"github.com/signoff/signoff/channel/teams/teamsfake"
	"github.com/signoff/signoff/config"
	"github.com/signoff/signoff/internal/fakevault"
	"github.com/signoff/signoff/internal/testenv"
	pb "github.com/signoff/signoff/proto/signoff/v1"
	"github.com/signoff/signoff/secretchange"
	"github.com/signoff/signoff/store/secretstore"
	"github.com/signoff/signoff/temporal/codec"
)

// The planted value: no character JSON, form or mail encoding would
// escape, so a scan finds it wherever it went.
const plantedSecret = "pl4nted-db-pw-6c1f0e92-never-shown"

const (
	vaultTokenEnv = "SIGNOFF_TEST_VAULT_TOKEN"
	vaultURLEnv   = "SIGNOFF_TEST_VAULT_URL"
	rollURLEnv    = "SIGNOFF_TEST_ROLL_URL"
	secretKeysB64 = "e2e:MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="
)

// rollCounter counts roll webhook calls per idempotency key. It answers
// with the new value, as a careless receiver that read it back from Vault
// might: the worker must not log it.
type rollCounter struct {
	mu   sync.Mutex
	keys map[string]int
}

func (rc *rollCounter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.keys[r.Header.Get("Idempotency-Key")]++
	fmt.Fprintf(w, "rolled; DB_PASSWORD is now %s", plantedSecret)
}

func (rc *rollCounter) count(key string) int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.keys[key]
}

// secretsMutate configures the vault target production/* (its address and
// the roll URL from the environment, so worker processes find them too).
func secretsMutate(c *config.Loaded) {
	c.Actions.Secrets.Targets = map[string]config.SecretTarget{
		"prod": {Kind: secretstore.KindVault, Address: os.Getenv(vaultURLEnv), TokenEnv: vaultTokenEnv,
			Secrets: []string{"production/*"}, Roll: &config.SecretRoll{URL: os.Getenv(rollURLEnv), SecretEnv: "SIGNOFF_WEBHOOK_SECRET"}},
	}
}

// secretsEnv starts the Vault and roll receivers and puts what the stack
// needs in the environment.
func secretsEnv(t *testing.T) (*fakevault.Server, *rollCounter) {
	t.Helper()
	vault := fakevault.New(t, "vault-e2e-token")
	vault.AddSecret("production/api", map[string]string{"DB_PASSWORD": "old-password", "API_URL": "https://api.internal"})
	rc := &rollCounter{keys: map[string]int{}}
	roll := httptest.NewServer(rc)
	t.Cleanup(roll.Close)
	t.Setenv(vaultURLEnv, vault.URL)
	t.Setenv(vaultTokenEnv, vault.Token)
	t.Setenv(rollURLEnv, roll.URL)
	t.Setenv(secretchange.EnvKeys, secretKeysB64)
	t.Setenv("SIGNOFF_WEBHOOK_SECRET", e2eWebhookSecret)
	return vault, rc
}

func propose(t *testing.T, s *testenv.Stack, requestID string) *pb.Approval {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"request_id": requestID, "title": "New database password for production/api",
		"environment": "production", "target": "prod", "secret": "production/api",
		"changes": []map[string]string{{"key": "DB_PASSWORD", "op": "rotate", "value": plantedSecret}}})
	code, b := s.Do(http.MethodPost, "/v1/secret-changes", "dev-alice", string(body))
	require.Equal(t, http.StatusOK, code, string(b))
	return decodeApproval(t, b)
}

func decide(t *testing.T, s *testenv.Stack, a *pb.Approval, token, decision string) {
	t.Helper()
	code, b := s.Do(http.MethodPost, "/v1/approvals/"+a.GetId()+":decide", token,
		fmt.Sprintf(`{"decision":%q,"request_hash":%q}`, decision, a.GetRequestHash()))
	require.Equal(t, http.StatusOK, code, string(b))
}

// TestSecretChangeNeverShowsTheValue: alice proposes a new database
// password for production/api; bob and carol, prompted in Slack and by
// email, see the redacted diff and approve; the value lands in Vault once
// and the app is rolled. The value is nowhere else: not in Slack's calls,
// the mail, the stored or decrypted history, the logs or the evidence.
// A rejected proposal leaves Vault as it was and its staged value gone.
func TestSecretChangeNeverShowsTheValue(t *testing.T) {
	vault, rolls := secretsEnv(t)
	f, slackEnv := startSlackFake(t)
	for _, u := range []slack.User{slackUser("U0ALICE", "alice@example.com", true), slackUser("U0BOB", "bob@example.com", true),
		slackUser("U0CAROL", "carol@example.com", true)} {
		f.SetUser(u)
	}
	mail := smtpfake.Start(t, smtpfake.Options{Username: emailRelayUser, Password: emailRelayPass})
	teams := teamsfake.New(teamsfake.Options{})
	t.Cleanup(teams.Close)
	teams.AddChannel(teamsChannel)
	linkKey, seed := make([]byte, 32), make([]byte, ed25519.SeedSize)
	_, _ = rand.Read(linkKey)
	_, _ = rand.Read(seed)
	codecKey := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0x3c}, 32))
	env := merge(slackEnv, map[string]string{
		config.EnvSMTPHost: mail.Host, config.EnvSMTPPort: strings.TrimPrefix(mail.Addr(), mail.Host+":"),
		config.EnvSMTPUsername: emailRelayUser, config.EnvSMTPPassword: emailRelayPass,
		config.EnvEmailLinkKey: base64.StdEncoding.EncodeToString(linkKey), config.EnvEmailLinkKeyPrevious: "",
		evidence.EnvKey: base64.StdEncoding.EncodeToString(seed), codec.EnvKeys: "e2e:" + codecKey,
		config.DefaultTeamsAppPasswordEnv: teams.AppPassword(),
	})
	yaml := regexp.MustCompile(`(?m)^email:\n(?:  .*\n)*`).ReplaceAllString(testenv.StackConfig, "")
	yaml = strings.Replace(yaml, "notifiers: [log]", "notifiers: [log, slack, email, teams]\nemail:\n  from: \"Signoff <signoff@example.com>\"\n  tls: starttls\n  ca_file: "+mail.CAFile+"\n"+teamsSection(teams), 1)
	// At debug: bodies remotes answer with are logged at debug, and the
	// log scan below must cover them.
	s := testenv.Start(t, testenv.Options{ConfigYAML: yaml, Env: env, LogLevel: slog.LevelDebug, Mutate: func(c *config.Loaded) {
		secretsMutate(c)
		c.Slack.TeamID = f.TeamID()
	}})

	before := vault.Writes("production/api")
	a := propose(t, s, "rotate-db-1")
	require.Equal(t, pb.Status_STATUS_PENDING, a.GetStatus())
	require.Equal(t, []string{"bob", "carol"}, a.GetPendingApprovers())
	// The diff names the key and the fingerprints of the old and new values.
	keys, err := secretchange.ParseKeys(secretKeysB64)
	require.NoError(t, err)
	fp := keys.Fingerprinter()
	require.Len(t, a.GetSecretChange().GetKeys(), 1)
	k := a.GetSecretChange().GetKeys()[0]
	assert.Equal(t, "DB_PASSWORD", k.GetKey())
	assert.Equal(t, secretchange.KindChanged, k.GetKind())
	assert.Equal(t, fp.Of("prod", "production/api", "DB_PASSWORD", "old-password").Hash, k.GetOldFingerprint())
	assert.Equal(t, fp.Of("prod", "production/api", "DB_PASSWORD", plantedSecret).Hash, k.GetNewFingerprint())
	assert.Equal(t, int32(len(plantedSecret)), k.GetNewLength())
	_, _, staged := vault.Secret(secretstore.StagingPrefix + a.GetId())
	require.True(t, staged, "the value is staged in Vault, sealed")

	// Approvers see the diff in Slack and in their mail.
	require.True(t, f.Wait(60*time.Second, func() bool { return len(f.Messages()) >= 1 }), "no Slack prompt")
	shortNew := k.GetNewFingerprint()[:len("hmac-sha256:")+12]
	require.True(t, f.Wait(30*time.Second, func() bool { return strings.Contains(strings.Join(f.Calls(), "\n"), shortNew) }),
		"the Slack prompt shows the new fingerprint")
	mail.Wait(t, 60*time.Second, "bob's prompt", func(m *smtpfake.Mail) bool { return strings.Contains(m.Text, "DB_PASSWORD") })
	// And in the Teams card.
	teamsCtx, cancelTeams := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancelTeams()
	require.NoError(t, teams.Wait(teamsCtx, func() bool {
		for _, c := range teams.Calls() {
			if bytes.Contains(c.Body, []byte(shortNew)) {
				return true
			}
		}
		return false
	}), "the Teams card shows the new fingerprint")

	decide(t, s, a, "dev-bob", "DECISION_APPROVE")
	decide(t, s, a, "dev-carol", "DECISION_APPROVE")
	var done *pb.Approval
	testenv.Eventually(t, 60*time.Second, "the change is applied", func() bool {
		code, b := s.Do(http.MethodGet, "/v1/approvals/"+a.GetId(), "dev-alice", "")
		require.Equal(t, http.StatusOK, code, string(b))
		done = decodeApproval(t, b)
		return done.GetActionResult() != nil
	})
	require.True(t, done.GetActionResult().GetSuccess(), done.GetActionResult().String())
	assert.Contains(t, done.GetActionResult().GetOutput(), "rolled dependents")
	got, _, _ := vault.Secret("production/api")
	assert.Equal(t, plantedSecret, got["DB_PASSWORD"])
	assert.Equal(t, "https://api.internal", got["API_URL"], "keys not in the change are kept")
	assert.Equal(t, before+1, vault.Writes("production/api"), "written exactly once")
	assert.Equal(t, 1, rolls.count(a.GetId()+":roll"))
	_, _, staged = vault.Secret(secretstore.StagingPrefix + a.GetId())
	assert.False(t, staged, "the staged value is destroyed once applied")

	// Rejected: Vault keeps what it had, the staged value goes.
	r := propose(t, s, "rotate-db-2")
	decide(t, s, r, "dev-bob", "DECISION_REJECT")
	testenv.Eventually(t, 60*time.Second, "the staged value of the rejected change is destroyed", func() bool {
		_, _, staged := vault.Secret(secretstore.StagingPrefix + r.GetId())
		return !staged
	})
	assert.Equal(t, before+1, vault.Writes("production/api"), "a rejected change writes nothing")
	got, _, _ = vault.Secret("production/api")
	assert.Equal(t, plantedSecret, got["DB_PASSWORD"])

	// Scan everything that left Signoff or was kept: the value and its
	// base64 forms are nowhere.
	code, evidenceDoc := s.Do(http.MethodGet, "/v1/approvals/"+a.GetId()+"/evidence", "dev-dana", "")
	require.Equal(t, http.StatusOK, code, string(evidenceDoc))
	require.Contains(t, string(evidenceDoc), "DB_PASSWORD", "the evidence has the diff")
	ckeys, err := codec.ParseKeys("e2e:" + codecKey)
	require.NoError(t, err)
	c, err := codec.New(ckeys...)
	require.NoError(t, err)
	// Mail is scanned as sent and as read: quoted-printable wraps lines
	// every 76 characters, so a value can be split in the raw bytes.
	var mails, subjects, texts, htmls, others bytes.Buffer
	for _, m := range mail.Messages() {
		mails.Write(m.Data)
		d := decodeMail(t, m.Data)
		subjects.WriteString(d.subject + "\n")
		texts.Write(d.text)
		htmls.Write(d.html)
		others.Write(d.other)
	}
	require.Contains(t, texts.String(), "DB_PASSWORD", "the decoded mail has the diff")
	var teamsCalls bytes.Buffer
	for _, c := range teams.Calls() {
		teamsCalls.Write(c.Body)
	}
	places := map[string][]byte{
		"Teams calls":     teamsCalls.Bytes(),
		"Slack calls":     []byte(strings.Join(f.Calls(), "\n")),
		"mail (raw)":      mails.Bytes(),
		"mail subjects":   subjects.Bytes(),
		"mail text parts": texts.Bytes(),
		"mail HTML parts": htmls.Bytes(),
		"logs":            []byte(s.Logs.String()),
		"evidence":        evidenceDoc,
	}
	if others.Len() > 0 {
		places["mail other parts"] = others.Bytes()
	}
	// The scan covers debug records, where response bodies go.
	require.Contains(t, s.Logs.String(), "level=DEBUG")
	for _, id := range []string{a.GetId(), r.GetId()} {
		events := history(t, s, id)
		places["stored history "+id] = rawBytes(t, events)
		decoded, opened := decodedBytes(t, events, c)
		require.Positive(t, opened)
		require.Contains(t, string(decoded), "DB_PASSWORD", "the scan reads inside payloads")
		places["decrypted history "+id] = decoded
	}
	forms := []string{plantedSecret, base64.StdEncoding.EncodeToString([]byte(plantedSecret)),
		base64.RawStdEncoding.EncodeToString([]byte(plantedSecret)), base64.URLEncoding.EncodeToString([]byte(plantedSecret)),
		url.QueryEscape(plantedSecret)}
	for where, b := range places {
		require.NotEmpty(t, b, where)
		for _, form := range forms {
			assert.False(t, bytes.Contains(b, []byte(form)), "the value (%q) is in the %s", form, where)
		}
	}
}

// TestSecretChangeAppliedOnceAfterWorkerKilled: the worker is SIGKILLed
// while its write to Vault is in flight (the write lands after it died);
// a new worker finishes the change without writing again.
func TestSecretChangeAppliedOnceAfterWorkerKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("slow")
	}
	opts := testenv.Options{NoWorker: true, Mutate: secretsMutate}
	if testenv.ServeWorkerProcess(t, opts) {
		return
	}
	vault, rolls := secretsEnv(t)
	s := testenv.Start(t, opts)
	first := s.StartWorkerProcess("TestSecretChangeAppliedOnceAfterWorkerKilled")
	before := vault.Writes("production/api")
	a := propose(t, s, "rotate-db-kill")
	hold := vault.HoldNext(fakevault.OpWrite) // the next write is the apply's
	decide(t, s, a, "dev-bob", "DECISION_APPROVE")
	decide(t, s, a, "dev-carol", "DECISION_APPROVE")
	select {
	case <-hold.Reached():
	case <-time.After(90 * time.Second):
		t.Fatal("the worker never wrote")
	}
	first.Kill()
	hold.Release() // the write in flight lands, its caller gone
	select {
	case <-hold.Applied():
	case <-time.After(30 * time.Second):
		t.Fatal("the held write was not applied")
	}
	got, _, _ := vault.Secret("production/api")
	require.Equal(t, plantedSecret, got["DB_PASSWORD"], "the held write landed")

	s.StartWorkerProcess("TestSecretChangeAppliedOnceAfterWorkerKilled")
	var st *approval.State
	testenv.Eventually(t, 120*time.Second, "the new worker finishes the change", func() bool {
		st = state(t, s, a.GetId())
		return st.ActionResult != nil
	})
	require.True(t, st.ActionResult.Success, st.ActionResult.Error)
	assert.Contains(t, st.ActionResult.Output, "already applied")
	assert.Equal(t, before+1, vault.Writes("production/api"), "the target holds the new value from exactly one write")
	_, _, staged := vault.Secret(secretstore.StagingPrefix + a.GetId())
	assert.False(t, staged)
	assert.Equal(t, 1, rolls.count(a.GetId()+":roll"))
}

// decodedMail is a mail as its reader sees it.
type decodedMail struct {
	subject string
	// text and html are the decoded text/plain and text/html parts (HTML
	// with its character references resolved); other is every other part.
	text, html, other []byte
}

// decodeMail parses a captured mail with net/mail and mime/multipart and
// decodes the RFC 2047 subject and every part's transfer encoding.
func decodeMail(t *testing.T, data []byte) decodedMail {
	t.Helper()
	msg, err := mail.ReadMessage(bytes.NewReader(data))
	require.NoError(t, err)
	var d decodedMail
	d.subject, err = new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	require.NoError(t, err)
	require.NotEmpty(t, d.subject)
	decodePart(t, &d, msg.Header.Get("Content-Type"), msg.Header.Get("Content-Transfer-Encoding"), msg.Body)
	return d
}

func decodePart(t *testing.T, d *decodedMail, contentType, encoding string, body io.Reader) {
	t.Helper()
	if contentType == "" {
		contentType = "text/plain"
	}
	media, params, err := mime.ParseMediaType(contentType)
	require.NoError(t, err)
	if strings.HasPrefix(media, "multipart/") {
		mr := multipart.NewReader(body, params["boundary"])
		for {
			// Raw: the part's transfer encoding is decoded here, for every
			// encoding, not only the one NextPart knows.
			p, err := mr.NextRawPart()
			if err == io.EOF {
				return
			}
			require.NoError(t, err)
			decodePart(t, d, p.Header.Get("Content-Type"), p.Header.Get("Content-Transfer-Encoding"), p)
		}
	}
	switch strings.ToLower(strings.TrimSpace(encoding)) {
	case "quoted-printable":
		body = quotedprintable.NewReader(body)
	case "base64":
		body = base64.NewDecoder(base64.StdEncoding, body)
	case "", "7bit", "8bit", "binary":
	default:
		t.Fatalf("unknown transfer encoding %q: the scan could not read the part", encoding)
	}
	b, err := io.ReadAll(body)
	require.NoError(t, err)
	switch media {
	case "text/plain":
		d.text = append(d.text, b...)
	case "text/html":
		d.html = append(d.html, html.UnescapeString(string(b))...)
	default:
		d.other = append(d.other, b...)
	}
}
