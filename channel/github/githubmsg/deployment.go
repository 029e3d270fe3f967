// Package githubmsg is what the two sides of Signoff's GitHub App custom
// deployment protection rule agree on: the deployment a
// deployment_protection_rule webhook asks about, the approval fields that
// carry it (written by the webhook, channel/github/callbacks, on the
// gateway side; read back by the github_deployments notifier,
// channel/github/notifier, on the worker side), and the review route
// (callback URL) check both make before trusting it. It holds no secret
// and does no I/O.
package githubmsg

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Fields of an approval started by GitHub. The first ones are for people;
// the last ones (deployment, installation, callback) tell the notifier
// where to report.
const (
	FieldRepository     = "repository"
	FieldEnvironment    = "environment"
	FieldRef            = "ref"
	FieldSHA            = "sha"
	FieldWorkflowRun    = "workflow_run"
	FieldWorkflowRunURL = "workflow_run_url"
	FieldActor          = "actor"
	FieldActorID        = "actor_id"
	FieldEvent          = "event"
	FieldDeploymentID   = "deployment_id"
	FieldInstallationID = "installation_id"
	FieldCallbackURL    = "deployment_callback_url"
)

// Deployment is one deployment waiting on the protection rule: what
// GitHub's webhook says, and what the approval's fields keep of it.
type Deployment struct {
	// Repository is owner/repo.
	Repository string
	// Environment is GitHub's environment name (the review names it).
	Environment string
	Ref, SHA    string
	// RunID is the workflow run waiting, from the callback URL.
	RunID          int64
	DeploymentID   int64
	InstallationID int64
	// Actor is who triggered the deployment (the webhook's sender's
	// login), ActorID their numeric GitHub user ID: the login may change
	// hands, the ID does not.
	Actor   string
	ActorID int64
	// Event is what triggered the workflow run (push, workflow_dispatch).
	Event string
	// CallbackURL is the deployment_callback_url as GitHub sent it.
	CallbackURL string
}

// Fields are d as approval fields; base (the API root) gives the run's
// web address.
func (d Deployment) Fields(base string) map[string]string {
	f := map[string]string{
		FieldRepository:     d.Repository,
		FieldEnvironment:    d.Environment,
		FieldRef:            d.Ref,
		FieldSHA:            d.SHA,
		FieldWorkflowRun:    strconv.FormatInt(d.RunID, 10),
		FieldActor:          d.Actor,
		FieldEvent:          d.Event,
		FieldDeploymentID:   strconv.FormatInt(d.DeploymentID, 10),
		FieldInstallationID: strconv.FormatInt(d.InstallationID, 10),
		FieldCallbackURL:    d.CallbackURL,
	}
	if d.ActorID > 0 {
		f[FieldActorID] = strconv.FormatInt(d.ActorID, 10)
	}
	if web := WebURL(base); web != "" {
		f[FieldWorkflowRunURL] = web + "/" + d.Repository + "/actions/runs/" + strconv.FormatInt(d.RunID, 10)
	}
	for k, v := range f {
		if v == "" {
			delete(f, k)
		}
	}
	return f
}

// FromFields reads a Deployment back from an approval's fields; ok is
// false when they carry none (no callback URL or installation): an
// approval that did not come from GitHub. The values are not checked: see
// Deployment.Check.
func FromFields(fields map[string]string) (d Deployment, ok bool) {
	if fields[FieldCallbackURL] == "" || fields[FieldInstallationID] == "" {
		return Deployment{}, false
	}
	num := func(k string) int64 {
		n, err := strconv.ParseInt(fields[k], 10, 64)
		if err != nil || n <= 0 {
			return 0
		}
		return n
	}
	return Deployment{
		Repository: fields[FieldRepository], Environment: fields[FieldEnvironment],
		Ref: fields[FieldRef], SHA: fields[FieldSHA], RunID: num(FieldWorkflowRun),
		DeploymentID: num(FieldDeploymentID), InstallationID: num(FieldInstallationID),
		Actor: fields[FieldActor], ActorID: num(FieldActorID), Event: fields[FieldEvent], CallbackURL: fields[FieldCallbackURL],
	}, true
}

// Check validates d against the API root base: a repository name, an
// environment, positive IDs, and a callback URL that is base's review
// route for d's repository and run. It returns that route, built from
// base, never taken as sent.
func (d Deployment) Check(base string) (Callback, error) {
	var errs []error
	if !validRepository(d.Repository) {
		errs = append(errs, fmt.Errorf("repository %q is not owner/repo", d.Repository))
	}
	if err := checkEnvironment(d.Environment); err != nil {
		errs = append(errs, err)
	}
	if d.DeploymentID <= 0 {
		errs = append(errs, errors.New("no deployment id"))
	}
	if d.InstallationID <= 0 {
		errs = append(errs, errors.New("no installation id: the app could not authenticate for this deployment"))
	}
	cb, err := ParseCallback(base, d.CallbackURL)
	switch {
	case err != nil:
		errs = append(errs, err)
	case !strings.EqualFold(cb.Owner+"/"+cb.Repo, d.Repository):
		errs = append(errs, fmt.Errorf("the callback URL is for %s/%s, not %s", cb.Owner, cb.Repo, d.Repository))
	case d.RunID != 0 && d.RunID != cb.RunID:
		errs = append(errs, fmt.Errorf("the callback URL is for run %d, not %d", cb.RunID, d.RunID))
	}
	return cb, errors.Join(errs...)
}

// Callback is a review route: POST
// {base}/repos/{owner}/{repo}/actions/runs/{run_id}/deployment_protection_rule.
type Callback struct {
	Owner, Repo string
	RunID       int64
}

// URL is the route under base, the configured API root.
func (c Callback) URL(base string) string {
	return strings.TrimRight(base, "/") + "/repos/" + c.Owner + "/" + c.Repo +
		"/actions/runs/" + strconv.FormatInt(c.RunID, 10) + "/deployment_protection_rule"
}

var (
	ownerPattern = regexp.MustCompile(`^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$`)
	repoPattern  = regexp.MustCompile(`^[A-Za-z0-9._-]{1,100}$`)
	runIDPattern = regexp.MustCompile(`^[1-9][0-9]{0,18}$`)
)

func validRepository(full string) bool {
	owner, repo, ok := strings.Cut(full, "/")
	return ok && ownerPattern.MatchString(owner) && repoPattern.MatchString(repo) && repo != "." && repo != ".."
}

// checkEnvironment accepts what GitHub allows in an environment name:
// 1-255 printable characters.
func checkEnvironment(env string) error {
	if env == "" || len(env) > 255 || strings.TrimSpace(env) != env {
		return fmt.Errorf("environment %q: want 1-255 characters without surrounding spaces", env)
	}
	for _, r := range env {
		if r < ' ' || r == 0x7f || r == '\ufffd' {
			return fmt.Errorf("environment %q has a control character", env)
		}
	}
	return nil
}

// ParseCallback checks that raw is the review route of one workflow run
// under base, the configured API root: same scheme, host and port, base's
// path, then /repos/{owner}/{repo}/actions/runs/{run_id}/deployment_protection_rule;
// no credentials, query, fragment or escaped characters. A URL pointing
// anywhere else is refused: the worker would send it an installation
// token.
func ParseCallback(base, raw string) (Callback, error) {
	bad := func(why string) (Callback, error) {
		return Callback{}, fmt.Errorf("deployment_callback_url %q is not a review route under %s: %s", Clip(raw, 200), base, why)
	}
	b, err := url.Parse(strings.TrimRight(base, "/"))
	if err != nil || b.Host == "" {
		return Callback{}, fmt.Errorf("github_app.base_url %q is not an absolute URL", base)
	}
	u, err := url.Parse(raw)
	switch {
	case raw == "":
		return bad("missing")
	case err != nil:
		return bad("not a URL")
	case !strings.EqualFold(u.Scheme, b.Scheme) || !strings.EqualFold(u.Host, b.Host):
		return bad("another scheme, host or port")
	case u.User != nil || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || u.RawFragment != "" || u.Opaque != "":
		return bad("credentials, a query or a fragment")
	case u.RawPath != "" || strings.Contains(raw, "%"):
		return bad("escaped characters")
	}
	rest, ok := strings.CutPrefix(u.Path, b.Path+"/repos/")
	if !ok {
		return bad("not under " + b.Path + "/repos/")
	}
	parts := strings.Split(rest, "/")
	if len(parts) != 6 || parts[2] != "actions" || parts[3] != "runs" || parts[5] != "deployment_protection_rule" {
		return bad("not /repos/{owner}/{repo}/actions/runs/{run_id}/deployment_protection_rule")
	}
	owner, repo, run := parts[0], parts[1], parts[4]
	if !ownerPattern.MatchString(owner) || !repoPattern.MatchString(repo) || repo == "." || repo == ".." || !runIDPattern.MatchString(run) {
		return bad("malformed owner, repository or run id")
	}
	id, err := strconv.ParseInt(run, 10, 64)
	if err != nil {
		return bad("malformed run id")
	}
	return Callback{Owner: owner, Repo: repo, RunID: id}, nil
}

// WebURL is the web address of the GitHub whose API root is base:
// https://github.com for api.github.com, https://<host> for a GitHub
// Enterprise Server's https://<host>/api/v3, base itself otherwise.
func WebURL(base string) string {
	u, err := url.Parse(strings.TrimRight(base, "/"))
	if err != nil || u.Host == "" {
		return ""
	}
	switch {
	case strings.EqualFold(u.Host, "api.github.com"):
		u.Host = "github.com"
		u.Path = ""
	case strings.HasSuffix(u.Path, "/api/v3"):
		u.Path = strings.TrimSuffix(u.Path, "/api/v3")
	}
	return strings.TrimRight(u.String(), "/")
}

// Clip cuts s to n bytes at a character boundary.
func Clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
