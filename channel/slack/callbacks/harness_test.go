package callbacks

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slack-go/slack"
	"github.com/stretchr/testify/require"

	"github.com/signoff/signoff/approval"
	"github.com/signoff/signoff/auth/proof"
	"github.com/signoff/signoff/channel/slack/slackfake"
	"github.com/signoff/signoff/channel/slack/slackmsg"
	"github.com/signoff/signoff/config"
	"github.com/signoff/signoff/config/identity"
	"github.com/signoff/signoff/store/approvalstore"
	"github.com/signoff/signoff/workflows"
)

// fakeApprovals stands in for the approvals port: it checks every stamp
// and applies clicks with the real state machine, as the workflow does,
// deduplicating by attempt ID. Not approvalstore.Memory: the tests need states
// it cannot make (prompts posted in channels, approvers added by
// escalation, an amendment made behind the handler's back).
type fakeApprovals struct {
	// nil: the handler needs only Get, Click, Revoke, AddDelegate and List.
	approvalstore.Approvals

	mu      sync.Mutex
	states  map[string]*approval.State
	signals []workflows.DecisionRequest
	// gate, when set, holds every Click until it is closed: a slow
	// Temporal.
	gate chan struct{}
	// listGate, when set, holds List until it is closed.
	listGate chan struct{}
	// ghosts are listed as pending but cannot be read: a stale index.
	ghosts []string
	// changed is signalled after each recorded decision.
	changed chan struct{}
	// revokes are the revoke requests received, repeats of an update ID
	// left out; revokeAnswers answer a repeat as the first time, as
	// Temporal does.
	revokes       []workflows.RevokeRequest
	revokeAnswers map[string]revokeAnswer
	// proofs checks the stamp of every message received, as the worker's
	// key ring does (nil: none is valid). A message without a valid stamp
	// counts for nothing in the workflow, so it fails t: a handler that
	// stopped stamping would otherwise pass every test here.
	proofs *proof.Keyring
	t      testing.TB
}

type revokeAnswer struct {
	st  *approval.State
	err error
}

func newFakeApprovals(t testing.TB, states ...*approval.State) *fakeApprovals {
	f := &fakeApprovals{states: map[string]*approval.State{}, changed: make(chan struct{}, 100), t: t}
	for _, st := range states {
		f.states[st.ID] = st
	}
	return f
}

func clone(st *approval.State) *approval.State {
	b, _ := json.Marshal(st)
	var out approval.State
	_ = json.Unmarshal(b, &out)
	return &out
}

func (f *fakeApprovals) Get(_ context.Context, id string) (*approval.State, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	st, ok := f.states[id]
	if !ok {
		return nil, approvalstore.ErrNotFound
	}
	return clone(st), nil
}

func (f *fakeApprovals) Click(ctx context.Context, id string, req workflows.DecisionRequest) error {
	f.mu.Lock()
	gate := f.gate
	f.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	now := time.Now()
	proven, ref := checkStamp(f, id, req, now)
	f.mu.Lock()
	defer f.mu.Unlock()
	st, ok := f.states[id]
	switch {
	case !ok:
		return approvalstore.ErrNotFound
	case st.Status.Final():
		return approvalstore.ErrClosed
	}
	f.signals = append(f.signals, req)
	req = workflows.CheckPlace(st, req) // as the workflow does (without Rego)
	a := approval.Attempt{
		ID: req.AttemptID, User: req.User, Decision: req.Decision, Comment: req.Comment,
		Values: req.Values, Channel: req.Channel, RefusalReason: req.Refusal, Proof: proven,
	}
	if ref.OK() {
		st.Decide(a, now)
	} else {
		// Recorded and refused, as the workflow records it (which also
		// renames it unproven:…; kept here so the handler reads the refusal
		// at once rather than waiting out its result timeout).
		st.Apply(a, ref, now)
	}
	f.changed <- struct{}{}
	return nil
}

// checkStamp verifies m's stamp for approval id as the workflow does
// (workflows.CheckStamp is its verify without Temporal: the same subject,
// key ring and age limit), failing the test when it would not count.
func checkStamp[M workflows.Provable[M]](f *fakeApprovals, id string, m M, now time.Time) (string, approval.Refusal) {
	proven, ref := workflows.CheckStamp(f.proofs, id, m, now)
	if !ref.OK() {
		f.t.Errorf("%T for %s: the workflow would not count it: %s", m, id, ref.Message)
	}
	return proven, ref
}

// Revoke judges the request with the real state machine, as the workflow
// does: a granted approval's workflow runs; any other finished one has
// completed, and answers as Temporal does (ErrClosed).
func (f *fakeApprovals) Revoke(_ context.Context, id string, req workflows.RevokeRequest) (*approval.State, error) {
	now := time.Now()
	proven, ref := checkStamp(f, id, req, now)
	f.mu.Lock()
	defer f.mu.Unlock()
	st, ok := f.states[id]
	switch {
	case !ok:
		return nil, approvalstore.ErrNotFound
	case st.Status.Final() && st.Status != approval.StatusGranted:
		return nil, approvalstore.ErrClosed
	}
	if a, ok := f.revokeAnswers[req.AttemptID]; ok {
		return a.st, a.err
	}
	f.revokes = append(f.revokes, req)
	who := approval.Actor{User: req.User, Proof: proven, ProofRefusal: ref}
	if who.Proof != "" {
		who.Admin = req.Admin
	}
	var a revokeAnswer
	if err := st.RequestRevoke(who, req.Reason, now); err != nil {
		a.err = approval.Refusal{Code: approval.CodeOf(err), Message: err.Error()}
	} else {
		a.st = clone(st)
	}
	if f.revokeAnswers == nil {
		f.revokeAnswers = map[string]revokeAnswer{}
	}
	f.revokeAnswers[req.AttemptID] = a
	return a.st, a.err
}

// AddDelegate adds a late delegate as the workflow does, under a stamp
// proofs accepts.
func (f *fakeApprovals) AddDelegate(_ context.Context, id string, req workflows.AddDelegateRequest) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	st, ok := f.states[id]
	if !ok {
		return false, approvalstore.ErrNotFound
	}
	now := time.Now()
	who := approval.Actor{User: "signoff"}
	who.Proof, who.ProofRefusal = checkStamp(f, id, req, now)
	return st.AddDelegate(who, req.From, req.To, now)
}

func (f *fakeApprovals) Revokes() []workflows.RevokeRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]workflows.RevokeRequest(nil), f.revokes...)
}

func (f *fakeApprovals) List(ctx context.Context, q approvalstore.Query) (approvalstore.Page, error) {
	if f.listGate != nil {
		select {
		case <-f.listGate:
		case <-ctx.Done():
			return approvalstore.Page{}, ctx.Err()
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var page approvalstore.Page
	for _, st := range f.states {
		if (q.Status != "" && st.Status != q.Status) || (q.Open && st.Status.Final()) {
			continue
		}
		if q.PageSize > 0 && len(page.Approvals) == q.PageSize {
			break
		}
		page.Approvals = append(page.Approvals, approvalstore.Summary{ID: st.ID, Status: st.Status,
			Requester: st.Requester, Approvers: st.Policy.AllApprovers(), Title: st.Request.Title})
	}
	for _, id := range f.ghosts {
		page.Approvals = append(page.Approvals, approvalstore.Summary{ID: id, Status: approval.StatusPending})
	}
	return page, nil
}

func (f *fakeApprovals) Signals() []workflows.DecisionRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]workflows.DecisionRequest(nil), f.signals...)
}

const (
	team      = "T0SIGNOFF"
	prodCh    = "C0PROD"
	prodTS    = "1700000000.000100"
	approvalA = "aaaaaaaaaaaaaaaaaaaaaaaaaa"
	approvalB = "bbbbbbbbbbbbbbbbbbbbbbbbbb"
)

var testUsers = []identity.User{
	{Name: "alice", Email: "alice@example.com", SlackID: "U0ALICE"},
	{Name: "bob", Email: "bob@example.com", SlackID: "U0BOB"},
	{Name: "carol", Email: "carol@example.com", SlackID: "U0CAROL"},
	{Name: "dana", Email: "dana@example.com"}, // found by email
	{Name: "gus", SlackID: "U0GUEST"},
	{Name: "gone", SlackID: "U0GONE"},
	{Name: "ext", SlackID: "U0EXT"},
}

func yes() *bool { b := true; return &b }

func slackUsers() []slack.User {
	no := false
	return []slack.User{
		{ID: "U0ALICE", Has2FA: yes()},
		{ID: "U0BOB", Has2FA: yes()},
		{ID: "U0CAROL", Has2FA: &no},
		{ID: "U0DANA", Has2FA: yes(), Profile: slack.UserProfile{Email: "Dana@Example.com"}},
		{ID: "U0EVE", Has2FA: yes(), Profile: slack.UserProfile{Email: "eve@example.com"}},
		{ID: "U0GUEST", Has2FA: yes(), IsRestricted: true},
		{ID: "U0GONE", Has2FA: yes(), Deleted: true},
		{ID: "U0EXT", Has2FA: yes(), TeamID: "T0OTHER"},
	}
}

func testApproval(id string, in approval.Input) *approval.State {
	st := approval.New(id, "alice", approval.Request{Title: "Deploy api", Environment: "production", Input: in, Action: approval.Action{Type: "noop"}},
		approval.Policy{Name: "production", Approvers: []string{"bob", "carol", "dana", "gus", "gone", "ext"}, RequiredApprovals: 2, Deadline: time.Hour},
		time.Now().Add(-time.Minute))
	st.Messages = []approval.MessageRef{{Notifier: "slack", Channel: prodCh, ID: prodTS}, {Notifier: "slack", Channel: "D0BOB", ID: "1.2", User: "bob"}}
	return st
}

type harness struct {
	t    *testing.T
	fake *slackfake.Server
	apps *fakeApprovals
	h    *Handler
	srv  *httptest.Server
	cfg  config.Slack
}

func newHarness(t *testing.T, mutate func(*Options), states ...*approval.State) *harness {
	t.Helper()
	f := slackfake.New()
	t.Cleanup(f.Close)
	for _, u := range slackUsers() {
		f.SetUser(u)
	}
	dir, err := identity.NewDirectory(testUsers)
	require.NoError(t, err)
	if len(states) == 0 {
		states = []*approval.State{testApproval(approvalA, approval.Input{})}
	}
	hs := &harness{t: t, fake: f, apps: newFakeApprovals(t, states...), cfg: config.Slack{TeamID: team, APIURL: f.APIURL()}}
	t.Setenv(config.EnvSlackAPIURL, "")
	o := Options{
		Config:    func() config.Slack { return hs.cfg },
		Secrets:   config.SlackSecrets{BotToken: f.Token(), SigningSecret: secret},
		Directory: func() *identity.Directory { return dir },
		Approvals: hs.apps,
		Logger:    slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug})),
		PublicURL: "https://signoff.example.com",
		// The handler stamps with the ring the fake checks with, as the
		// gateway and the worker share one.
		Proofs: proof.Generate(),
	}
	if mutate != nil {
		mutate(&o)
	}
	hs.apps.proofs = o.Proofs
	h, err := New(o)
	require.NoError(t, err)
	hs.h = h
	mux := http.NewServeMux()
	h.Mount(mux)
	hs.srv = httptest.NewServer(mux)
	t.Cleanup(func() {
		hs.srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		h.Close(ctx)
	})
	return hs
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Logf("%s", strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// post sends body to path signed as Slack signs it, with extra headers.
func (hs *harness) post(path, body string, extra ...string) (int, string) {
	hs.t.Helper()
	req, err := slackfake.Request(hs.srv.URL+path, secret, body)
	require.NoError(hs.t, err)
	for i := 0; i+1 < len(extra); i += 2 {
		req.Header.Set(extra[i], extra[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(hs.t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// prompt is the message a prompt for st would be, for clicks on it.
func prompt(st *approval.State) json.RawMessage {
	b, _ := json.Marshal(slackmsg.Render{PublicURL: "https://signoff.example.com"}.PromptBlocks(st))
	return b
}

// click builds a click by user on the control labelled or ID-prefixed
// control of st's prompt in channel.
func (hs *harness) click(st *approval.State, user, control, channel string) slackfake.Click {
	hs.t.Helper()
	blocks := prompt(st)
	c, ok := slackfake.Find(blocks, control)
	require.True(hs.t, ok, "no control %q", control)
	return slackfake.Click{
		TeamID: team, UserID: user, ChannelID: channel, MessageTS: prodTS, Blocks: blocks,
		ResponseURL: hs.fake.ResponseURL(), Control: c,
	}
}

// send posts a click and returns the HTTP status.
func (hs *harness) send(c slackfake.Click, extra ...string) int {
	hs.t.Helper()
	code, _ := hs.post(PathInteractions, slackfake.InteractionBody(slackfake.BlockActions(c)), extra...)
	return code
}

// responseTo waits for the message posted to a response_url.
func (hs *harness) responseTo(url string) slack.WebhookMessage {
	hs.t.Helper()
	var got *slackfake.Response
	ok := hs.fake.Wait(10*time.Second, func() bool {
		for _, r := range hs.fake.Responses() {
			if strings.HasSuffix(url, r.Path) {
				got = &r
				return true
			}
		}
		return false
	})
	require.True(hs.t, ok, "no message on %s", url)
	return got.Message
}

func (hs *harness) attempts(id string) []approval.Attempt {
	st, err := hs.apps.Get(context.Background(), id)
	require.NoError(hs.t, err)
	return st.Attempts
}
