package notifier

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"go.temporal.io/sdk/temporal"

	"github.com/signoff/signoff/approval"
	"github.com/signoff/signoff/channel/github/githubmsg"
	"github.com/signoff/signoff/internal/fakecloud"
)

const (
	testAppID        = 4242
	testInstallation = 2311213
	testRepo         = "octo-org/api"
	testPublicURL    = "https://signoff.example.com"
)

var testKey = func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
}()

// fakeGitHub is the GitHub fake with the app installed on octo-org/api.
func fakeGitHub(t *testing.T) *fakecloud.GitHub {
	t.Helper()
	f := fakecloud.NewGitHub(t, "unused-token")
	f.InstallApp(testAppID, &testKey.PublicKey, testInstallation, testRepo)
	return f
}

func newNotifier(t *testing.T, base string, key *rsa.PrivateKey) *Notifier {
	t.Helper()
	n, err := New(Options{BaseURL: base, AppID: testAppID, PrivateKey: key, Requester: "github", PublicURL: testPublicURL})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// fromGitHub is an approval the webhook started for run runID of
// octo-org/api at environment production, ended with status: the
// notifier reads only its fields (githubmsg.FromFields).
func fromGitHub(base string, runID int64, status approval.Status) *approval.State {
	d := githubmsg.Deployment{
		Repository: testRepo, Environment: "production", Ref: "main", SHA: strings.Repeat("a", 40),
		RunID: runID, DeploymentID: runID * 10, InstallationID: testInstallation, Actor: "octocat", Event: "push",
		CallbackURL: githubmsg.Callback{Owner: "octo-org", Repo: "api", RunID: runID}.URL(base),
	}
	return &approval.State{
		ID: "approval" + strings.Repeat("x", 18), Requester: "github", Status: status,
		Request: approval.Request{
			Title:       "Deploy " + testRepo + " main to production",
			Environment: "production", Resource: testRepo, Fields: d.Fields(base),
			Action: approval.Action{Type: "noop"},
		},
		Policy: approval.Policy{Name: "production"},
	}
}

func nonRetryable(err error) bool {
	var ae *temporal.ApplicationError
	return errors.As(err, &ae) && ae.NonRetryable()
}

func TestOutcomes(t *testing.T) {
	for name, tc := range map[string]struct {
		status  approval.Status
		edit    func(st *approval.State)
		state   string
		comment string
	}{
		"approved": {approval.StatusApproved, func(st *approval.State) { st.ApprovedBy = []string{"bob", "carol"} },
			StateApproved, "Approved in Signoff by bob, carol: "},
		"bypassed": {approval.StatusBypassed, func(st *approval.State) { st.BypassedBy = "alice" },
			StateApproved, "Approved in Signoff by break-glass (alice): "},
		"rejected": {approval.StatusRejected, func(st *approval.State) {
			st.Attempts = []approval.Attempt{
				{User: "dana", Decision: approval.DecisionApprove, Accepted: false},
				{User: "bob", Decision: approval.DecisionReject, Accepted: true},
			}
		}, StateRejected, "Rejected in Signoff by bob: "},
		"expired":   {approval.StatusExpired, nil, StateRejected, "Rejected: the Signoff approval expired before enough approvers decided: "},
		"cancelled": {approval.StatusCancelled, func(st *approval.State) { st.CancelledBy = "alice" }, StateRejected, "Rejected: the Signoff approval was cancelled by alice: "},
	} {
		t.Run(name, func(t *testing.T) {
			f := fakeGitHub(t)
			f.AwaitReview(testRepo, 42, "production")
			st := fromGitHub(f.URL, 42, tc.status)
			if tc.edit != nil {
				tc.edit(st)
			}
			d, err := newNotifier(t, f.URL, testKey).Outcome(context.Background(), st)
			if err != nil {
				t.Fatal(err)
			}
			if want := "github:octo-org/api run 42 (production): " + tc.state; len(d.Targets) != 1 || d.Targets[0] != want {
				t.Fatalf("targets %v, want %q", d.Targets, want)
			}
			rs := f.Reviews()
			if len(rs) != 1 {
				t.Fatalf("%d reviews, want 1", len(rs))
			}
			r := rs[0]
			if r.Owner != "octo-org" || r.Repo != "api" || r.RunID != 42 || r.EnvironmentName != "production" ||
				r.State != tc.state || r.Installation != testInstallation || r.APIVersion != apiVersion {
				t.Fatalf("review %+v", r)
			}
			if want := tc.comment + testPublicURL + "/approvals/" + st.ID; r.Comment != want {
				t.Fatalf("comment %q, want %q", r.Comment, want)
			}
		})
	}
}

// TestRetryAfterSuccess: an activity retried after its review went
// through (the answer lost, the worker restarted) succeeds without a
// second review: GitHub no longer waits for one.
func TestRetryAfterSuccess(t *testing.T) {
	f := fakeGitHub(t)
	f.AwaitReview(testRepo, 42, "production")
	st := fromGitHub(f.URL, 42, approval.StatusApproved)
	n := newNotifier(t, f.URL, testKey)
	if _, err := n.Outcome(context.Background(), st); err != nil {
		t.Fatal(err)
	}
	for _, again := range []*Notifier{n, newNotifier(t, f.URL, testKey)} {
		d, err := again.Outcome(context.Background(), st)
		if err != nil {
			t.Fatalf("retry after success: %v", err)
		}
		if len(d.Targets) != 1 || !strings.HasSuffix(d.Targets[0], "approved (already reviewed)") {
			t.Fatalf("targets %v", d.Targets)
		}
	}
	if len(f.Reviews()) != 1 || len(f.RefusedReviews()) != 2 {
		t.Fatalf("%d reviews, %d refused; want 1 and 2", len(f.Reviews()), len(f.RefusedReviews()))
	}
	// The first notifier reused its installation token.
	if f.TokensIssued() != 2 {
		t.Fatalf("%d tokens issued, want 2 (one per notifier)", f.TokensIssued())
	}
}

// TestLeavesOthersAlone: prompts, approvals not from GitHub, and approvals
// with GitHub's fields requested by anyone but the app's identity cost no
// call.
func TestLeavesOthersAlone(t *testing.T) {
	f := fakeGitHub(t)
	f.AwaitReview(testRepo, 42, "production")
	n := newNotifier(t, f.URL, testKey)
	ctx := context.Background()
	pending := fromGitHub(f.URL, 42, approval.StatusPending)
	if d, err := n.Prompt(ctx, pending); err != nil || len(d.Targets) != 0 {
		t.Fatalf("Prompt = %v, %v", d, err)
	}
	if d, err := n.Outcome(ctx, pending); err != nil || len(d.Targets) != 0 {
		t.Fatalf("Outcome of a pending approval = %v, %v", d, err)
	}
	plain := &approval.State{ID: "p", Requester: "alice", Status: approval.StatusApproved,
		Request: approval.Request{Title: "Deploy", Environment: "production", Fields: map[string]string{"version": "2.3.0"}}}
	if d, err := n.Outcome(ctx, plain); err != nil || len(d.Targets) != 0 {
		t.Fatalf("Outcome of an API approval = %v, %v", d, err)
	}
	forged := fromGitHub(f.URL, 42, approval.StatusApproved)
	forged.Requester = "alice" // created through the API with GitHub's fields
	if d, err := n.Outcome(ctx, forged); err != nil || len(d.Targets) != 0 {
		t.Fatalf("Outcome of a forged approval = %v, %v", d, err)
	}
	if f.TokensIssued() != 0 || len(f.Reviews()) != 0 {
		t.Fatalf("%d tokens, %d reviews: want no call", f.TokensIssued(), len(f.Reviews()))
	}
}

// TestCallbackElsewhere: a callback URL outside the configured API root is
// never called, and the approval's outcome is recorded as failed, for
// good.
func TestCallbackElsewhere(t *testing.T) {
	f := fakeGitHub(t)
	var hits atomic.Int32
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	t.Cleanup(elsewhere.Close)
	st := fromGitHub(f.URL, 42, approval.StatusApproved)
	st.Request.Fields[githubmsg.FieldCallbackURL] = elsewhere.URL + "/repos/octo-org/api/actions/runs/42/deployment_protection_rule"
	_, err := newNotifier(t, f.URL, testKey).Outcome(context.Background(), st)
	if err == nil || !nonRetryable(err) || !strings.Contains(err.Error(), "another scheme, host or port") {
		t.Fatalf("Outcome = %v, want a final refusal", err)
	}
	// A callback for another repository than the approval shows, too.
	st = fromGitHub(f.URL, 42, approval.StatusApproved)
	st.Request.Fields[githubmsg.FieldCallbackURL] = githubmsg.Callback{Owner: "octo-org", Repo: "secrets", RunID: 42}.URL(f.URL)
	if _, err := newNotifier(t, f.URL, testKey).Outcome(context.Background(), st); err == nil || !nonRetryable(err) {
		t.Fatalf("Outcome for another repository = %v, want a final refusal", err)
	}
	if hits.Load() != 0 || f.TokensIssued() != 0 {
		t.Fatalf("%d calls elsewhere, %d tokens issued", hits.Load(), f.TokensIssued())
	}
}

// TestFailures: a JWT GitHub refuses is final; a GitHub error is retried
// and the retry reports.
func TestFailures(t *testing.T) {
	f := fakeGitHub(t)
	f.AwaitReview(testRepo, 42, "production")
	st := fromGitHub(f.URL, 42, approval.StatusApproved)
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	_, err = newNotifier(t, f.URL, other).Outcome(context.Background(), st)
	if err == nil || !nonRetryable(err) || !strings.Contains(err.Error(), "JWT") {
		t.Fatalf("Outcome with another key = %v, want a final refusal", err)
	}

	n := newNotifier(t, f.URL, testKey)
	f.AnswerNextApp(fakecloud.Answer{Status: http.StatusBadGateway, Body: `{"message":"Server Error"}`})
	_, err = n.Outcome(context.Background(), st)
	if err == nil || nonRetryable(err) {
		t.Fatalf("Outcome on a 502 = %v, want a retryable error", err)
	}
	if _, err := n.Outcome(context.Background(), st); err != nil {
		t.Fatalf("retry: %v", err)
	}
	if len(f.Reviews()) != 1 || f.Reviews()[0].State != StateApproved {
		t.Fatalf("reviews %+v", f.Reviews())
	}

	// Permissions GitHub refuses are final.
	f.AnswerNextApp(fakecloud.Answer{Status: http.StatusForbidden, Body: `{"message":"Resource not accessible by integration"}`})
	_, err = n.Outcome(context.Background(), fromGitHub(f.URL, 43, approval.StatusApproved))
	if err == nil || !nonRetryable(err) {
		t.Fatalf("Outcome on a 403 = %v, want a final failure", err)
	}
}

func TestParsePrivateKey(t *testing.T) {
	pkcs1 := string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(testKey)}))
	der, err := x509.MarshalPKCS8PrivateKey(testKey)
	if err != nil {
		t.Fatal(err)
	}
	pkcs8 := string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	for name, text := range map[string]string{
		"PKCS #1":          pkcs1,
		"PKCS #8":          pkcs8,
		"escaped newlines": strings.ReplaceAll(strings.TrimSpace(pkcs1), "\n", `\n`),
	} {
		k, err := ParsePrivateKey(text)
		if err != nil || !k.Equal(testKey) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := ParsePrivateKey("not a key"); err == nil {
		t.Error("took a non-key")
	}
}

func TestNewRefusesIncompleteOptions(t *testing.T) {
	for name, o := range map[string]Options{
		"no app id":      {BaseURL: "https://api.github.com", PrivateKey: testKey, Requester: "github"},
		"no key":         {BaseURL: "https://api.github.com", AppID: 1, Requester: "github"},
		"no requester":   {BaseURL: "https://api.github.com", AppID: 1, PrivateKey: testKey},
		"plain http":     {BaseURL: "http://api.github.com", AppID: 1, PrivateKey: testKey, Requester: "github"},
		"a relative url": {BaseURL: "api.github.com", AppID: 1, PrivateKey: testKey, Requester: "github"},
	} {
		if _, err := New(o); err == nil {
			t.Errorf("%s: New accepted %+v", name, o)
		}
	}
}
