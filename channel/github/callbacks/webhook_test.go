package callbacks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/signoff/signoff/approval"
	"github.com/signoff/signoff/auth/proof"
	"github.com/signoff/signoff/channel/github/githubmsg"
	"github.com/signoff/signoff/config"
	"github.com/signoff/signoff/intake"
	"github.com/signoff/signoff/store/approvalstore"
)

const (
	testSecret   = "It's a Secret to Everybody"
	testBase     = "https://api.github.com"
	testCallback = "https://api.github.com/repos/Codertocat/Hello-World/actions/runs/30433642/deployment_protection_rule"
)

const testConfig = `
dev_only: true
gateway:
  public_url: https://signoff.example.com
users:
  - name: github
  - name: bob
    groups: [platform]
    github_id: 21031067
    github_login: codertocat
    token: dev-bob
policies:
  - name: production
    match: { environment: production }
    approvers: { groups: [platform] }
    required_approvals: 1
    deadline: 1h
github_app:
  app_id: 4242
  requester: github
  allowed_repos: ["codertocat/*"]
  environments:
    my-environment: production
`

// noopOnly validates actions as the worker's registry does for the noop
// action, and refuses the rest.
type noopOnly struct{}

func (noopOnly) Validate(a approval.Action) error {
	if a.Type != "noop" {
		return fmt.Errorf("unknown action type %q", a.Type)
	}
	return nil
}

// webhookEnv is a handler on the in-memory approvals port, starting
// approvals through intake as the gateway does.
type webhookEnv struct {
	h    *Handler
	port *approvalstore.Memory
	live *config.Live
}

func newWebhookEnv(t *testing.T, yaml string) *webhookEnv {
	t.Helper()
	cfg, err := config.Parse([]byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	live := config.NewLive(cfg, nil)
	keys := proof.Generate()
	port := approvalstore.NewMemory(keys, nil)
	h, err := New(Options{
		Live:    live,
		Starter: &intake.Starter{Live: live, Approvals: port, Actions: noopOnly{}, Now: time.Now, Proofs: keys},
		Env:     envOf(map[string]string{config.DefaultGitHubAppWebhookSecretEnv: testSecret}),
		Logger:  slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	return &webhookEnv{h: h, port: port, live: live}
}

func envOf(m map[string]string) config.Env {
	return func(name string) (string, bool) { v, ok := m[name]; return v, ok }
}

// deliver posts body as GitHub would, with the event and signature
// headers given (none when empty).
func (e *webhookEnv) deliver(t *testing.T, event string, body []byte, signature string) (int, answer) {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, Route, strings.NewReader(string(body)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(HeaderDelivery, "72d3162e-cc78-11e3-81ab-4c9367dc0958")
	if event != "" {
		req.Header.Set(HeaderEvent, event)
	}
	if signature != "" {
		req.Header.Set(HeaderSignature, signature)
	}
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, req)
	var a answer
	if err := json.Unmarshal(rec.Body.Bytes(), &a); err != nil {
		t.Fatalf("answer %d is not JSON: %q", rec.Code, rec.Body.String())
	}
	return rec.Code, a
}

// signed delivers a deployment_protection_rule event signed with the
// app's secret.
func (e *webhookEnv) signed(t *testing.T, body []byte) (int, answer) {
	t.Helper()
	return e.deliver(t, EventDeploymentProtectionRule, body, Sign([]byte(testSecret), body))
}

// documentedExample is GitHub's documented example of the event (its
// nested objects trimmed), as read from testdata.
func documentedExample(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/deployment_protection_rule.requested.json")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// liveDelivery is the documented example as GitHub delivers it to an
// installed app: with the installation and a real review route as the
// callback (the example's is a placeholder), edited by edit.
func liveDelivery(t *testing.T, edit func(m map[string]any)) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(documentedExample(t), &m); err != nil {
		t.Fatal(err)
	}
	m["deployment_callback_url"] = testCallback
	m["installation"] = map[string]any{"id": 2311213, "node_id": "MDIzOkludGVncmF0aW9uSW5zdGFsbGF0aW9uMjMxMTIxMw=="}
	if edit != nil {
		edit(m)
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestVerifySignature(t *testing.T) {
	body := []byte("Hello, World!")
	// GitHub's documented test values for X-Hub-Signature-256.
	const documented = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
	if got := Sign([]byte(testSecret), body); got != documented {
		t.Fatalf("Sign = %s, want GitHub's %s", got, documented)
	}
	for name, tc := range map[string]struct {
		secret, body, header string
		want                 bool
	}{
		"good":                     {testSecret, "Hello, World!", documented, true},
		"good, surrounding spaces": {testSecret, "Hello, World!", " " + documented + " ", true},
		"missing":                  {testSecret, "Hello, World!", "", false},
		"another secret":           {"another secret", "Hello, World!", documented, false},
		"another body":             {testSecret, "Hello, World?", documented, false},
		"sha1 header":              {testSecret, "Hello, World!", "sha1=01dc10d0c83e72ed246219cdd91669667fe2ca59", false},
		"no prefix":                {testSecret, "Hello, World!", strings.TrimPrefix(documented, "sha256="), false},
		"not hex":                  {testSecret, "Hello, World!", "sha256=zz" + documented[9:], false},
		"truncated":                {testSecret, "Hello, World!", documented[:40], false},
		"upper-case hex":           {testSecret, "Hello, World!", "sha256=" + strings.ToUpper(documented[7:]), true},
		"empty secret":             {"", "Hello, World!", Sign(nil, []byte("Hello, World!")), false},
	} {
		t.Run(name, func(t *testing.T) {
			if got := VerifySignature([]byte(tc.secret), []byte(tc.body), tc.header); got != tc.want {
				t.Fatalf("VerifySignature = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestDocumentedExample: GitHub's documented payload parses into the
// deployment it asks about; its placeholder callback URL (and the missing
// installation) are refused, as the worker could not report there.
func TestDocumentedExample(t *testing.T) {
	e, err := ParseEvent(documentedExample(t))
	if err != nil {
		t.Fatal(err)
	}
	if e.Action != ActionRequested || e.Environment != "my-environment" || e.Event != "my-event" {
		t.Fatalf("action, environment, event = %q, %q, %q", e.Action, e.Environment, e.Event)
	}
	_, err = e.Waiting(testBase)
	for _, want := range []string{"github.local/deploy-the-thing", "not a review route", "no installation id"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("Waiting = %v, want an error about %q", err, want)
		}
	}

	e, err = ParseEvent(liveDelivery(t, nil))
	if err != nil {
		t.Fatal(err)
	}
	d, err := e.Waiting(testBase)
	if err != nil {
		t.Fatal(err)
	}
	want := githubmsg.Deployment{
		Repository: "Codertocat/Hello-World", Environment: "my-environment", Ref: "master",
		SHA: "f95f852bd8fca8fcc58a9a2d6c842781e32a215e", RunID: 30433642, DeploymentID: 145988746,
		InstallationID: 2311213, Actor: "Codertocat", ActorID: 21031067, Event: "my-event", CallbackURL: testCallback,
	}
	if d != want {
		t.Fatalf("deployment\n got %+v\nwant %+v", d, want)
	}
	req := request(d, "production", testBase)
	if req.Title != "Deploy Codertocat/Hello-World master (f95f852) to my-environment" || req.Environment != "production" ||
		req.Resource != "Codertocat/Hello-World" || req.Action.Type != "noop" {
		t.Fatalf("request %+v", req)
	}
	wantFields := map[string]string{
		githubmsg.FieldRepository: "Codertocat/Hello-World", githubmsg.FieldEnvironment: "my-environment", githubmsg.FieldRef: "master",
		githubmsg.FieldSHA: "f95f852bd8fca8fcc58a9a2d6c842781e32a215e", githubmsg.FieldWorkflowRun: "30433642",
		githubmsg.FieldWorkflowRunURL: "https://github.com/Codertocat/Hello-World/actions/runs/30433642",
		githubmsg.FieldActor:          "Codertocat", githubmsg.FieldActorID: "21031067", githubmsg.FieldEvent: "my-event", githubmsg.FieldDeploymentID: "145988746",
		githubmsg.FieldInstallationID: "2311213", githubmsg.FieldCallbackURL: testCallback,
	}
	if fmt.Sprint(req.Fields) != fmt.Sprint(wantFields) {
		t.Fatalf("fields\n got %v\nwant %v", req.Fields, wantFields)
	}
	// The worker reads the same deployment back from the fields.
	back, ok := githubmsg.FromFields(req.Fields)
	if !ok || back != want {
		t.Fatalf("FromFields = %+v, %v", back, ok)
	}
	if requestID(d) != "github:codertocat/hello-world:deployment:145988746:my-environment" {
		t.Fatalf("request id %q", requestID(d))
	}
}

// TestWebhookStartsApprovalOnce: a signed delivery starts an approval as
// the configured requester, in the mapped environment, with the
// deployment in its fields; GitHub's redelivery finds the same approval.
func TestWebhookStartsApprovalOnce(t *testing.T) {
	e := newWebhookEnv(t, testConfig)
	body := liveDelivery(t, nil)
	code, a := e.signed(t, body)
	if code != http.StatusCreated || a.Status != "created" || a.ApprovalID == "" {
		t.Fatalf("first delivery: %d %+v", code, a)
	}
	if a.URL != "https://signoff.example.com/approvals/"+a.ApprovalID {
		t.Fatalf("url %q", a.URL)
	}
	st, err := e.port.Get(context.Background(), a.ApprovalID)
	if err != nil {
		t.Fatal(err)
	}
	if st.Requester != "github" || st.Request.Environment != "production" || st.Policy.Name != "production" {
		t.Fatalf("requester %q, environment %q, policy %q", st.Requester, st.Request.Environment, st.Policy.Name)
	}
	// The sender is bob on GitHub: the deployment is his, he is not asked.
	if st.Initiator != "bob" || !st.RequestedBy("bob") || len(st.Pending()) != 0 {
		t.Fatalf("initiator %q, pending %v: the sender counts as a requester", st.Initiator, st.Pending())
	}
	if st.Request.Fields[githubmsg.FieldCallbackURL] != testCallback || st.Request.Fields[githubmsg.FieldActor] != "Codertocat" ||
		st.Request.Fields[githubmsg.FieldWorkflowRun] != "30433642" || st.Request.Fields[githubmsg.FieldSHA] != "f95f852bd8fca8fcc58a9a2d6c842781e32a215e" {
		t.Fatalf("fields %v", st.Request.Fields)
	}
	if want := intake.ApprovalID("github", "github:codertocat/hello-world:deployment:145988746:my-environment"); a.ApprovalID != want {
		t.Fatalf("approval id %s, want %s (from the requester and the deployment)", a.ApprovalID, want)
	}

	// Redelivered (GitHub's "Redeliver", or a retry after a timeout).
	code, again := e.signed(t, body)
	if code != http.StatusOK || again.Status != "existing" || again.ApprovalID != a.ApprovalID {
		t.Fatalf("redelivery: %d %+v, want the approval %s", code, again, a.ApprovalID)
	}
	// A second deployment of the same run (another environment) is
	// another approval.
	code, other := e.signed(t, liveDelivery(t, func(m map[string]any) {
		m["deployment"].(map[string]any)["id"] = 145988747
	}))
	if code != http.StatusCreated || other.ApprovalID == a.ApprovalID {
		t.Fatalf("second deployment: %d %+v", code, other)
	}
	page, err := e.port.List(context.Background(), approvalstore.Query{})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Approvals) != 2 {
		t.Fatalf("%d approvals, want 2", len(page.Approvals))
	}
}

// TestWebhookRefusals: unsigned, badly signed, malformed and disallowed
// deliveries start nothing; other events are acknowledged and ignored.
func TestWebhookRefusals(t *testing.T) {
	e := newWebhookEnv(t, testConfig)
	body := liveDelivery(t, nil)
	sign := func(b []byte) string { return Sign([]byte(testSecret), b) }
	tamper := append([]byte(nil), body...)
	tamper[len(tamper)-2] = ' '
	for name, tc := range map[string]struct {
		event     string
		body      []byte
		signature string
		want      int
	}{
		"no signature":            {EventDeploymentProtectionRule, body, "", http.StatusUnauthorized},
		"signed with another key": {EventDeploymentProtectionRule, body, Sign([]byte("guess"), body), http.StatusUnauthorized},
		"body changed in transit": {EventDeploymentProtectionRule, tamper, sign(body), http.StatusUnauthorized},
		"sha1 signature only":     {EventDeploymentProtectionRule, body, "sha1=0000000000000000000000000000000000000000", http.StatusUnauthorized},
		"unsigned ping":           {"ping", []byte(`{"zen":"Keep it logically awesome."}`), "", http.StatusUnauthorized},
		"signed ping":             {"ping", []byte(`{"zen":"Keep it logically awesome."}`), sign([]byte(`{"zen":"Keep it logically awesome."}`)), http.StatusAccepted},
		"another event":           {"push", []byte(`{}`), sign([]byte(`{}`)), http.StatusAccepted},
		"another action":          {EventDeploymentProtectionRule, []byte(`{"action":"completed"}`), sign([]byte(`{"action":"completed"}`)), http.StatusAccepted},
		"not JSON":                {EventDeploymentProtectionRule, []byte(`{"action":`), sign([]byte(`{"action":`)), http.StatusBadRequest},
		"documented placeholder":  {EventDeploymentProtectionRule, documentedExample(t), sign(documentedExample(t)), http.StatusBadRequest},
		"callback elsewhere": withEdit(t, sign, func(m map[string]any) {
			m["deployment_callback_url"] = "https://evil.example.com/repos/Codertocat/Hello-World/actions/runs/1/deployment_protection_rule"
		}, http.StatusBadRequest),
		"callback of another repo": withEdit(t, sign, func(m map[string]any) {
			m["deployment_callback_url"] = testBase + "/repos/octo-org/api/actions/runs/1/deployment_protection_rule"
		}, http.StatusBadRequest),
		"no installation": withEdit(t, sign, func(m map[string]any) { delete(m, "installation") }, http.StatusBadRequest),
		"no deployment":   withEdit(t, sign, func(m map[string]any) { delete(m, "deployment") }, http.StatusBadRequest),
		"negative sender id": withEdit(t, sign, func(m map[string]any) {
			m["sender"].(map[string]any)["id"] = -21031067
		}, http.StatusBadRequest),
		"sender id not a number": withEdit(t, sign, func(m map[string]any) {
			m["sender"].(map[string]any)["id"] = "21031067"
		}, http.StatusBadRequest),
		"repository not allowed": withEdit(t, sign, func(m map[string]any) {
			m["repository"].(map[string]any)["full_name"] = "octo-org/api"
			m["deployment_callback_url"] = testBase + "/repos/octo-org/api/actions/runs/1/deployment_protection_rule"
		}, http.StatusForbidden),
		"no policy for the environment": withEdit(t, sign, func(m map[string]any) { m["environment"] = "qa" }, http.StatusForbidden),
		"environment not mappable":      withEdit(t, sign, func(m map[string]any) { m["environment"] = "Production (EU)" }, http.StatusBadRequest),
	} {
		t.Run(name, func(t *testing.T) {
			if tc.body == nil {
				tc.body = body
			}
			code, a := e.deliver(t, tc.event, tc.body, tc.signature)
			if code != tc.want {
				t.Fatalf("%d %+v, want %d", code, a, tc.want)
			}
			if a.ApprovalID != "" {
				t.Fatalf("answered with an approval: %+v", a)
			}
		})
	}
	page, err := e.port.List(context.Background(), approvalstore.Query{})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Approvals) != 0 {
		t.Fatalf("%d approvals started by refused deliveries", len(page.Approvals))
	}
}

type refusalCase = struct {
	event     string
	body      []byte
	signature string
	want      int
}

// withEdit is a signed delivery of the live example edited by edit.
func withEdit(t *testing.T, sign func([]byte) string, edit func(map[string]any), want int) refusalCase {
	b := liveDelivery(t, edit)
	return refusalCase{EventDeploymentProtectionRule, b, sign(b), want}
}

func TestWebhookBodyLimit(t *testing.T) {
	e := newWebhookEnv(t, testConfig+"\n") // default limit: 1 MiB
	big := liveDelivery(t, func(m map[string]any) { m["padding"] = strings.Repeat("x", 2<<20) })
	code, _ := e.signed(t, big)
	if code != http.StatusRequestEntityTooLarge {
		t.Fatalf("%d, want 413", code)
	}
}

// starterFunc is a Starter from a function.
type starterFunc func(context.Context, intake.Request) (intake.Result, error)

func (f starterFunc) Start(ctx context.Context, r intake.Request) (intake.Result, error) {
	return f(ctx, r)
}

// TestWebhookIntakeRefusals: intake's refusals keep their meaning.
func TestWebhookIntakeRefusals(t *testing.T) {
	cfg, err := config.Parse([]byte(testConfig))
	if err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		err  error
		want int
	}{
		"invalid":     {fmt.Errorf("%w: bad", intake.ErrInvalid), http.StatusBadRequest},
		"denied":      {fmt.Errorf("%w: no policy", intake.ErrDenied), http.StatusForbidden},
		"conflict":    {intake.ErrConflict, http.StatusConflict},
		"unavailable": {fmt.Errorf("%w: slack", intake.ErrUnavailable), http.StatusServiceUnavailable},
		"temporal":    {errors.New("connection refused"), http.StatusServiceUnavailable},
	} {
		t.Run(name, func(t *testing.T) {
			h, err := New(Options{
				Live:    config.NewLive(cfg, nil),
				Starter: starterFunc(func(context.Context, intake.Request) (intake.Result, error) { return intake.Result{}, tc.err }),
				Env:     envOf(map[string]string{config.DefaultGitHubAppWebhookSecretEnv: testSecret}),
			})
			if err != nil {
				t.Fatal(err)
			}
			code, a := (&webhookEnv{h: h}).signed(t, liveDelivery(t, nil))
			if code != tc.want || a.ApprovalID != "" {
				t.Fatalf("%d %+v, want %d", code, a, tc.want)
			}
		})
	}
}

// TestMount: nothing is served without a github_app section; with one,
// the webhook secret is required.
func TestMount(t *testing.T) {
	off, err := config.Parse([]byte(strings.Split(testConfig, "github_app:")[0]))
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	if err := Mount(mux, Options{Live: config.NewLive(off, nil), Starter: starterFunc(nil)}); err != nil {
		t.Fatal(err)
	}
	if _, pattern := mux.Handler(httptest.NewRequest(http.MethodPost, Route, nil)); pattern != "" {
		t.Fatalf("mounted %q without github_app", pattern)
	}

	on, err := config.Parse([]byte(testConfig))
	if err != nil {
		t.Fatal(err)
	}
	err = Mount(http.NewServeMux(), Options{Live: config.NewLive(on, nil), Starter: starterFunc(nil), Env: envOf(nil)})
	if !errors.Is(err, ErrNoSecret) || !strings.Contains(err.Error(), config.DefaultGitHubAppWebhookSecretEnv) {
		t.Fatalf("Mount without the secret: %v", err)
	}
	mux = http.NewServeMux()
	if err := Mount(mux, Options{Live: config.NewLive(on, nil), Starter: starterFunc(nil),
		Env: envOf(map[string]string{config.DefaultGitHubAppWebhookSecretEnv: testSecret})}); err != nil {
		t.Fatal(err)
	}
	if _, pattern := mux.Handler(httptest.NewRequest(http.MethodPost, Route, nil)); pattern != "POST "+Route {
		t.Fatalf("pattern %q", pattern)
	}

	bad := strings.Replace(testConfig, "requester: github", "requester: nobody", 1)
	badCfg, err := config.Parse([]byte(bad))
	if err != nil {
		t.Fatal(err)
	}
	err = Mount(http.NewServeMux(), Options{Live: config.NewLive(badCfg, nil), Starter: starterFunc(nil),
		Env: envOf(map[string]string{config.DefaultGitHubAppWebhookSecretEnv: testSecret})})
	if err == nil || !strings.Contains(err.Error(), `github_app.requester "nobody" is not a configured user`) {
		t.Fatalf("Mount with an unknown requester: %v", err)
	}
}

// senderConfig configures people by GitHub ID (bob, dave), by login alone
// (carol, from before github_id existed), or both.
const senderConfig = `
dev_only: true
gateway:
  public_url: https://signoff.example.com
users:
  - name: github
  - name: bob
    groups: [platform]
    github_id: 21031067
    github_login: codertocat
  - name: carol
    groups: [platform]
    github_login: octo-legacy
  - name: dave
    groups: [platform]
    github_id: 583231
policies:
  - name: production
    match: { environment: production }
    approvers: { groups: [platform] }
    required_approvals: 1
    deadline: 1h
github_app:
  app_id: 4242
  requester: github
  allowed_repos: ["codertocat/*"]
  environments:
    my-environment: production
`

// TestWebhookInitiatorBySenderID: the sender is matched to a configured
// person by their immutable GitHub ID; a login alone, which can be
// renamed and then registered by someone else, names only people
// configured without a github_id.
func TestWebhookInitiatorBySenderID(t *testing.T) {
	e := newWebhookEnv(t, senderConfig)
	var logs strings.Builder
	e.h.logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	for i, tc := range []struct {
		name  string
		login string
		id    any // nil: no id in the delivery
		want  string
		warn  bool // a warning recommends github_id
	}{
		{name: "id and login match", login: "Codertocat", id: 21031067, want: "bob"},
		{name: "renamed login, same id", login: "codertocat-renamed", id: 21031067, want: "bob"},
		{name: "login re-registered by someone else", login: "Codertocat", id: 66666666, want: "", warn: true},
		{name: "login of a user with a github_id, no id sent", login: "codertocat", id: nil, want: "", warn: true},
		{name: "id only configured", login: "dave-on-github", id: 583231, want: "dave"},
		{name: "user without github_id falls back to login", login: "Octo-Legacy", id: 4242424, want: "carol", warn: true},
		{name: "nobody configured", login: "someone-else", id: 1, want: ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			logs.Reset()
			code, a := e.signed(t, liveDelivery(t, func(m map[string]any) {
				m["deployment"].(map[string]any)["id"] = 500 + i
				sender := map[string]any{"login": tc.login, "type": "User"}
				if tc.id != nil {
					sender["id"] = tc.id
				}
				m["sender"] = sender
			}))
			if code != http.StatusCreated {
				t.Fatalf("%d %+v", code, a)
			}
			st, err := e.port.Get(context.Background(), a.ApprovalID)
			if err != nil {
				t.Fatal(err)
			}
			if st.Initiator != tc.want {
				t.Fatalf("initiator %q, want %q", st.Initiator, tc.want)
			}
			if tc.want == "" && (st.RequestedBy("bob") || st.RequestedBy("carol") || st.RequestedBy("dave")) {
				t.Fatalf("pending %v: a configured approver counts as the requester", st.Pending())
			}
			if st.Request.Fields[githubmsg.FieldActor] != tc.login {
				t.Fatalf("actor field %q, want the sender's login %q", st.Request.Fields[githubmsg.FieldActor], tc.login)
			}
			if wantID := fmt.Sprint(tc.id); tc.id != nil && st.Request.Fields[githubmsg.FieldActorID] != wantID {
				t.Fatalf("actor_id field %q, want the sender's id %s", st.Request.Fields[githubmsg.FieldActorID], wantID)
			}
			if got := strings.Contains(logs.String(), "level=WARN") && strings.Contains(logs.String(), "github_id"); got != tc.warn {
				t.Fatalf("warning recommending github_id logged: %v, want %v; logs:\n%s", got, tc.warn, logs.String())
			}
		})
	}
}
