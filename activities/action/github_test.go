package action

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/signoff/signoff/approval"
	"github.com/signoff/signoff/internal/fakecloud"
)

const testGitHubToken = "ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789"

func ghParams(extra ...string) map[string]string {
	p := map[string]string{ParamGitHubOwner: "acme", ParamGitHubRepo: "api", ParamGitHubWorkflow: "deploy.yml", ParamGitHubRef: "main"}
	for i := 0; i+1 < len(extra); i += 2 {
		p[extra[i]] = extra[i+1]
	}
	return p
}

// ghEnv is the worker's environment as GitHubDispatch sees it; tests
// change its token with env[ghTokenEnv] = ….
type ghEnv map[string]string

const ghTokenEnv = "SIGNOFF_TEST_GH_TOKEN"

func (e ghEnv) lookup(name string) (string, bool) {
	v, ok := e[name]
	return v, ok
}

func ghState(params map[string]string) *approval.State {
	return &approval.State{ID: "01JTESTAPPROVAL0000000000", Request: approval.Request{Action: approval.Action{Type: GitHubDispatchType, Params: params}}}
}

func TestGitHubValidate(t *testing.T) {
	g := &GitHubDispatch{AllowedRepos: []string{"acme/*", "Other/tools"}, ApprovalIDInput: "signoff_approval_id"}
	good := []map[string]string{
		ghParams(),
		ghParams(ParamGitHubWorkflow, "123456", ParamGitHubRef, "refs/tags/v1.2.3"),
		ghParams(ParamGitHubRef, "release/2026.07", "input.version", "2.3.0", "input.dry_run", "false"),
		ghParams(ParamGitHubOwner, "other", ParamGitHubRepo, "Tools"),
	}
	for _, p := range good {
		if err := g.Validate(approval.Action{Params: p}); err != nil {
			t.Errorf("%v refused: %v", p, err)
		}
	}
	tooMany := ghParams()
	for i := range 25 {
		tooMany["input.i"+string(rune('a'+i))] = "x"
	}
	cases := map[string]map[string]string{
		"param owner":                        ghParams(ParamGitHubOwner, ""),
		"param owner ":                       ghParams(ParamGitHubOwner, "acme/evil"),
		"param repo":                         ghParams(ParamGitHubRepo, ".."),
		"param repo ":                        ghParams(ParamGitHubRepo, "api/../../x"),
		"param workflow":                     ghParams(ParamGitHubWorkflow, "../../secrets"),
		"param workflow ":                    ghParams(ParamGitHubWorkflow, "deploy.sh"),
		"ref: is required":                   ghParams(ParamGitHubRef, ""),
		"ref: is not a valid git ref":        ghParams(ParamGitHubRef, "main..evil"),
		"ref: has a character git refuses":   ghParams(ParamGitHubRef, "main branch"),
		`unknown param "token"`:              ghParams("token", "x"),
		`input name "1bad"`:                  ghParams("input.1bad", "x"),
		`input "signoff_approval_id" is set`: ghParams("input.signoff_approval_id", "forged"),
		"GitHub accepts at most 25":          tooMany,
		"repository evil/api is not allowed": ghParams(ParamGitHubOwner, "evil"),
	}
	for want, p := range cases {
		err := g.Validate(approval.Action{Params: p})
		if err == nil || !strings.Contains(err.Error(), strings.TrimSpace(want)) {
			t.Errorf("want error containing %q, got %v", want, err)
		}
	}
	if err := (&GitHubDispatch{}).Validate(approval.Action{Params: ghParams()}); err == nil || !strings.Contains(err.Error(), "not allowed") {
		t.Errorf("no allowed repos must allow nothing: %v", err)
	}
}

func TestGitHubDispatch(t *testing.T) {
	env := ghEnv{ghTokenEnv: testGitHubToken}
	fake := fakecloud.NewGitHub(t, testGitHubToken)
	g := &GitHubDispatch{BaseURL: fake.URL, TokenEnv: ghTokenEnv, LookupEnv: env.lookup, AllowedRepos: []string{"acme/api"}, ApprovalIDInput: "signoff_approval_id"}
	st := ghState(ghParams("input.version", "2.3.0", ParamGitHubRef, "refs/heads/main"))
	out, err := g.Run(context.Background(), st)
	if err != nil {
		t.Fatal(err)
	}
	if out != "dispatched workflow deploy.yml on acme/api at refs/heads/main (HTTP 204)" {
		t.Fatalf("output %q", out)
	}
	d := fake.Dispatches()
	if len(d) != 1 {
		t.Fatalf("%d dispatches", len(d))
	}
	got := d[0]
	if got.Owner != "acme" || got.Repo != "api" || got.Workflow != "deploy.yml" || got.Ref != "refs/heads/main" || got.APIVersion != "2022-11-28" {
		t.Fatalf("dispatch %+v", got)
	}
	if len(got.Inputs) != 2 || got.Inputs["version"] != "2.3.0" || got.Inputs["signoff_approval_id"] != st.ID {
		t.Fatalf("inputs %v", got.Inputs)
	}
}

func TestGitHubEnterpriseBaseURL(t *testing.T) {
	env := ghEnv{ghTokenEnv: testGitHubToken}
	var path string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		path = r.URL.Path
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"workflow_run_id":42,"html_url":"https://ghe.example.com/acme/api/actions/runs/42"}`))
	}))
	defer srv.Close()
	g := &GitHubDispatch{BaseURL: srv.URL + "/api/v3/", TokenEnv: ghTokenEnv, LookupEnv: env.lookup, AllowedRepos: []string{"acme/api"}}
	out, err := g.Run(context.Background(), ghState(ghParams(ParamGitHubWorkflow, "161335")))
	if err != nil {
		t.Fatal(err)
	}
	if path != "/api/v3/repos/acme/api/actions/workflows/161335/dispatches" {
		t.Fatalf("path %q", path)
	}
	if !strings.HasSuffix(out, ": https://ghe.example.com/acme/api/actions/runs/42") {
		t.Fatalf("output %q", out)
	}
}

func TestGitHubErrorsAreClassified(t *testing.T) {
	env := ghEnv{ghTokenEnv: testGitHubToken}
	fake := fakecloud.NewGitHub(t, testGitHubToken)
	g := &GitHubDispatch{BaseURL: fake.URL, TokenEnv: ghTokenEnv, LookupEnv: env.lookup, AllowedRepos: []string{"acme/*"}}
	cases := []struct {
		answer    fakecloud.Answer
		permanent bool
		msg       string
	}{
		{fakecloud.Answer{Status: 404, Body: `{"message":"Not Found"}`}, true, "HTTP 404: Not Found"},
		{fakecloud.Answer{Status: 422, Body: `{"message":"Unexpected inputs provided: [\"x\"]"}`}, true, "Unexpected inputs"},
		{fakecloud.Answer{Status: 403, Body: `{"message":"Resource not accessible by integration"}`}, true, "not accessible"},
		{fakecloud.Answer{Status: 403, Body: `{"message":"API rate limit exceeded"}`, Header: http.Header{"X-Ratelimit-Remaining": {"0"}}}, false, "rate limit"},
		{fakecloud.Answer{Status: 429, Body: `{"message":"secondary rate limit"}`}, false, "HTTP 429"},
		{fakecloud.Answer{Status: 502, Body: `<html>Bad Gateway</html>`}, false, "HTTP 502: <html>Bad Gateway</html>"},
	}
	for _, c := range cases {
		fake.AnswerNext(c.answer)
		_, err := g.Run(context.Background(), ghState(ghParams()))
		if err == nil || IsPermanent(err) != c.permanent || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("HTTP %d: got %v (permanent %v), want permanent=%v containing %q", c.answer.Status, err, IsPermanent(err), c.permanent, c.msg)
		}
	}
	if len(fake.Dispatches()) != 0 {
		t.Fatal("a failed call was recorded as a dispatch")
	}

	// A wrong token is refused by GitHub, and that is final.
	env[ghTokenEnv] = "ghp_wrongwrongwrongwrongwrongwrong0000"
	_, err := g.Run(context.Background(), ghState(ghParams()))
	if err == nil || !IsPermanent(err) || !strings.Contains(err.Error(), "Bad credentials") {
		t.Errorf("wrong token: %v", err)
	}
	env[ghTokenEnv] = ""
	_, err = g.Run(context.Background(), ghState(ghParams()))
	if err == nil || !IsPermanent(err) || !strings.Contains(err.Error(), "SIGNOFF_TEST_GH_TOKEN is empty") {
		t.Errorf("no token: %v", err)
	}
	delete(env, ghTokenEnv)
	_, err = g.Run(context.Background(), ghState(ghParams()))
	if err == nil || !IsPermanent(err) || !strings.Contains(err.Error(), "SIGNOFF_TEST_GH_TOKEN is empty") {
		t.Errorf("token unset: %v", err)
	}
	noEnv := *g
	noEnv.LookupEnv = nil
	if _, err := noEnv.Run(context.Background(), ghState(ghParams())); err == nil || !IsPermanent(err) {
		t.Errorf("no environment handed down: %v", err)
	}
}

// TestRegistryRedactsWhatRemotesEcho: a remote that echoes the token back
// (a misconfigured proxy) does not get it into the result.
func TestRegistryRedactsWhatRemotesEcho(t *testing.T) {
	env := ghEnv{ghTokenEnv: "custom-token-without-a-known-shape"}
	fake := fakecloud.NewGitHub(t, "custom-token-without-a-known-shape")
	reg := NewRegistry(func(s string) string {
		return strings.ReplaceAll(s, "custom-token-without-a-known-shape", "[redacted]")
	})
	reg.Register(GitHubDispatchType, &GitHubDispatch{BaseURL: fake.URL, TokenEnv: ghTokenEnv, LookupEnv: env.lookup, AllowedRepos: []string{"acme/api"}})
	fake.AnswerNext(fakecloud.Answer{Status: 401, Body: `{"message":"Bad credentials: custom-token-without-a-known-shape"}`})
	_, err := reg.Run(context.Background(), ghState(ghParams()))
	if err == nil || strings.Contains(err.Error(), "custom-token") || !strings.Contains(err.Error(), "Bad credentials: [redacted]") {
		t.Fatalf("got %v", err)
	}
}
