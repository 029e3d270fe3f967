package action

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path"
	"regexp"
	"strings"
	"time"

	"github.com/signoff/signoff/approval"
)

// GitHubDispatchType is the action type name.
const GitHubDispatchType = "github_workflow_dispatch"

// Parameters of github_workflow_dispatch. Workflow inputs are params named
// "input.<name>".
const (
	ParamGitHubOwner    = "owner"
	ParamGitHubRepo     = "repo"
	ParamGitHubWorkflow = "workflow"
	ParamGitHubRef      = "ref"
	GitHubInputPrefix   = "input."
)

// maxGitHubInputs is GitHub's limit on workflow_dispatch inputs.
const maxGitHubInputs = 25

var (
	githubOwnerPattern = regexp.MustCompile(`^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$`)
	githubRepoPattern  = regexp.MustCompile(`^[A-Za-z0-9._-]{1,100}$`)
	// A workflow is its file name under .github/workflows or its numeric ID.
	githubWorkflowPattern = regexp.MustCompile(`^(?:[0-9]{1,20}|[A-Za-z0-9._-]{1,200}\.ya?ml)$`)
	githubInputPattern    = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_-]{0,99}$`)
)

// GitHubDispatch starts a GitHub Actions workflow through the
// workflow_dispatch event.
//
// GitHub's dispatch API takes no idempotency key: a call that times out
// after GitHub accepted it is retried and may start a second run. Set
// ApprovalIDInput so the workflow receives the approval ID and can guard
// itself (a concurrency group keyed on it, a check of earlier runs).
type GitHubDispatch struct {
	// BaseURL is the REST API root (https://api.github.com, or
	// https://<host>/api/v3 for GitHub Enterprise Server).
	BaseURL string
	// TokenEnv names the environment variable holding the token; it is
	// looked up (LookupEnv) when the action runs, on the worker only.
	TokenEnv string
	// LookupEnv finds TokenEnv's value: the environment the composition
	// root read at start. nil finds nothing.
	LookupEnv func(string) (string, bool)
	// AllowedRepos are "owner/repo" path.Match patterns; a repository
	// matching none is refused.
	AllowedRepos []string
	// ApprovalIDInput, when set, names an input that carries the approval
	// ID.
	ApprovalIDInput string
	Client          *http.Client
}

// Validate checks names, ref and inputs, and that the repository is
// allowed.
func (g *GitHubDispatch) Validate(a approval.Action) error {
	if a.URL != "" {
		return errors.New("takes no url")
	}
	p := a.Params
	owner, repo, wf, ref := p[ParamGitHubOwner], p[ParamGitHubRepo], p[ParamGitHubWorkflow], p[ParamGitHubRef]
	switch {
	case !githubOwnerPattern.MatchString(owner):
		return fmt.Errorf("param %s must be a GitHub user or organization name", ParamGitHubOwner)
	case !githubRepoPattern.MatchString(repo) || repo == "." || repo == "..":
		return fmt.Errorf("param %s must be a repository name (A-Z a-z 0-9 . _ -)", ParamGitHubRepo)
	case !githubWorkflowPattern.MatchString(wf):
		return fmt.Errorf("param %s must be a workflow file name (deploy.yml) or a numeric workflow ID", ParamGitHubWorkflow)
	}
	if err := validGitRef(ref); err != nil {
		return fmt.Errorf("param %s: %w", ParamGitHubRef, err)
	}
	inputs := 0
	for k, v := range p {
		switch k {
		case ParamGitHubOwner, ParamGitHubRepo, ParamGitHubWorkflow, ParamGitHubRef:
			continue
		}
		name, ok := strings.CutPrefix(k, GitHubInputPrefix)
		if !ok {
			return fmt.Errorf("unknown param %q (inputs are %s<name>)", k, GitHubInputPrefix)
		}
		if !githubInputPattern.MatchString(name) {
			return fmt.Errorf("input name %q must be a letter or _ then letters, digits, _ or -", name)
		}
		if g.ApprovalIDInput != "" && name == g.ApprovalIDInput {
			return fmt.Errorf("input %q is set by Signoff (the approval ID)", name)
		}
		if len(v) > 8192 {
			return fmt.Errorf("input %q is longer than 8192 bytes", name)
		}
		inputs++
	}
	if g.ApprovalIDInput != "" {
		inputs++
	}
	if inputs > maxGitHubInputs {
		return fmt.Errorf("%d inputs; GitHub accepts at most %d", inputs, maxGitHubInputs)
	}
	full := strings.ToLower(owner + "/" + repo)
	for _, pat := range g.AllowedRepos {
		if ok, _ := path.Match(strings.ToLower(pat), full); ok {
			return nil
		}
	}
	return fmt.Errorf("repository %s/%s is not allowed (actions.github.allowed_repos)", owner, repo)
}

// validGitRef accepts branch and tag names, full refs and commit SHAs, and
// refuses what git itself refuses in ref names.
func validGitRef(ref string) error {
	switch {
	case ref == "":
		return errors.New("is required (a branch, tag or refs/...)")
	case len(ref) > 255:
		return errors.New("is longer than 255 bytes")
	case strings.HasPrefix(ref, "-") || strings.HasPrefix(ref, "/") || strings.HasSuffix(ref, "/") ||
		strings.HasSuffix(ref, ".") || strings.HasSuffix(ref, ".lock") ||
		strings.Contains(ref, "..") || strings.Contains(ref, "//") || strings.Contains(ref, "@{"):
		return errors.New("is not a valid git ref name")
	}
	for _, r := range ref {
		if r <= ' ' || r == 0x7f || strings.ContainsRune(`~^:?*[\`, r) {
			return fmt.Errorf("has a character git refuses in ref names: %q", r)
		}
	}
	return nil
}

// dispatchRequest is the body GitHub expects.
type dispatchRequest struct {
	Ref    string            `json:"ref"`
	Inputs map[string]string `json:"inputs,omitempty"`
}

// Run dispatches the workflow. 5xx, 429, rate limits and transport errors
// are retried; other 4xx (bad token, unknown workflow, undeclared input)
// are permanent.
func (g *GitHubDispatch) Run(ctx context.Context, st *approval.State) (string, error) {
	a := st.Request.Action
	if err := g.Validate(a); err != nil {
		return "", Permanent(err)
	}
	var token string
	if g.LookupEnv != nil && g.TokenEnv != "" {
		token, _ = g.LookupEnv(g.TokenEnv)
	}
	if token == "" {
		return "", Permanent(fmt.Errorf("no GitHub token: environment variable %s is empty on the worker", g.TokenEnv))
	}
	owner, repo, wf, ref := a.Params[ParamGitHubOwner], a.Params[ParamGitHubRepo], a.Params[ParamGitHubWorkflow], a.Params[ParamGitHubRef]
	body := dispatchRequest{Ref: ref, Inputs: map[string]string{}}
	for k, v := range a.Params {
		if name, ok := strings.CutPrefix(k, GitHubInputPrefix); ok {
			body.Inputs[name] = v
		}
	}
	if g.ApprovalIDInput != "" {
		body.Inputs[g.ApprovalIDInput] = st.ID
	}
	b, err := json.Marshal(body)
	if err != nil {
		return "", Permanent(fmt.Errorf("encode dispatch: %w", err))
	}
	endpoint := strings.TrimRight(g.BaseURL, "/") + "/repos/" + url.PathEscape(owner) + "/" + url.PathEscape(repo) +
		"/actions/workflows/" + url.PathEscape(wf) + "/dispatches"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(b))
	if err != nil {
		return "", Permanent(fmt.Errorf("build request: %w", err))
	}
	req.Header.Set("Accept", "application/vnd.github+json")
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("X-GitHub-Api-Version", "2022-11-28")
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "signoff")
	client := g.Client
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Second}
	}
	what := fmt.Sprintf("workflow %s on %s/%s at %s", wf, owner, repo, ref)
	resp, err := client.Do(req)
	if err != nil {
		return "", fmt.Errorf("dispatch %s: %w", what, err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		// Newer GitHub versions can answer with the run they started.
		var run struct {
			HTMLURL string `json:"html_url"`
		}
		if json.Unmarshal(out, &run) == nil && run.HTMLURL != "" {
			return fmt.Sprintf("dispatched %s: %s", what, run.HTMLURL), nil
		}
		return fmt.Sprintf("dispatched %s (HTTP %d)", what, resp.StatusCode), nil
	}
	err = fmt.Errorf("dispatch %s: HTTP %d: %s", what, resp.StatusCode, githubMessage(out))
	if resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests || rateLimited(resp) {
		return "", err
	}
	return "", Permanent(err)
}

// rateLimited tells a 403 for an exhausted rate limit (retry later) from a
// 403 for missing permissions (final).
func rateLimited(resp *http.Response) bool {
	return resp.StatusCode == http.StatusForbidden &&
		(resp.Header.Get("X-RateLimit-Remaining") == "0" || resp.Header.Get("Retry-After") != "")
}

// githubMessage is the "message" of a GitHub error body, or the body.
func githubMessage(body []byte) string {
	var e struct {
		Message string `json:"message"`
	}
	if json.Unmarshal(body, &e) == nil && e.Message != "" {
		return e.Message
	}
	return strings.TrimSpace(string(body))
}
