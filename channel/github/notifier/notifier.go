// Package notifier is the github_deployments notifier: when an
// approval that GitHub's deployment_protection_rule webhook started ends
// (channel/github/callbacks; the deployment is read back from the
// approval's fields with channel/github/githubmsg), it approves or rejects the waiting deployment with
// GitHub's "review custom deployment protection rules for a workflow run"
// API, authenticated as the app's installation (a JWT signed with the
// app's private key, exchanged for an installation token). It prompts no
// one: the other notifiers do.
package notifier

import (
	"bytes"
	"context"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"
	"go.temporal.io/sdk/temporal"

	"github.com/signoff/signoff/approval"
	"github.com/signoff/signoff/channel/github/githubmsg"
	"github.com/signoff/signoff/config"
)

// Name is the notifier's name in the config's notifiers.
const Name = config.NotifierGitHubDeployments

// Review states GitHub accepts.
const (
	StateApproved = "approved"
	StateRejected = "rejected"
)

// apiVersion is the REST API version the calls are written for.
const apiVersion = "2022-11-28"

// ErrTypeConfig marks failures a retry cannot fix (a key GitHub refuses,
// an approval whose fields do not name a deployment under the base URL).
const ErrTypeConfig = "GitHubDeploymentsFailed"

// Options build a Notifier.
type Options struct {
	// BaseURL is the REST API root (github_app.base_url): the only place
	// the notifier calls.
	BaseURL string
	// AppID and PrivateKey sign the app's JWTs.
	AppID      int64
	PrivateKey *rsa.PrivateKey
	// Requester is the service identity GitHub's approvals are requested
	// as (github_app.requester): approvals anyone else requested are never
	// reported to GitHub, whatever their fields say.
	Requester string
	// PublicURL is the gateway's public URL, for the link in the comment.
	PublicURL string
	Client    *http.Client
	Now       func() time.Time
	Logger    *slog.Logger
}

// Notifier reports outcomes to GitHub.
type Notifier struct {
	o Options

	mu     sync.Mutex
	tokens map[string]cachedToken // installation and repository → token
}

type cachedToken struct {
	token   string
	expires time.Time
}

// New checks o and builds the notifier.
func New(o Options) (*Notifier, error) {
	var errs []error
	if o.AppID <= 0 {
		errs = append(errs, errors.New("no GitHub App ID"))
	}
	if o.PrivateKey == nil {
		errs = append(errs, errors.New("no GitHub App private key"))
	}
	if o.Requester == "" {
		errs = append(errs, errors.New("no requester: approvals from GitHub could not be told from others"))
	}
	if err := config.CheckGitHubBaseURL(o.BaseURL); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	o.BaseURL = strings.TrimRight(o.BaseURL, "/")
	if o.Client == nil {
		o.Client = &http.Client{Timeout: 30 * time.Second}
	}
	// Never follow a redirect: the token goes to BaseURL and nowhere else.
	c := *o.Client
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	o.Client = &c
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Notifier{o: o, tokens: map[string]cachedToken{}}, nil
}

// ParsePrivateKey reads the app's private key: PEM (PKCS #1, as GitHub
// hands it out, or PKCS #8), with real line breaks or "\n" escapes, as
// environment variables often hold it.
func ParsePrivateKey(pemText string) (*rsa.PrivateKey, error) {
	pemText = strings.TrimSpace(pemText)
	if !strings.Contains(pemText, "\n") && strings.Contains(pemText, `\n`) {
		pemText = strings.ReplaceAll(pemText, `\n`, "\n")
	}
	key, err := jwt.ParseRSAPrivateKeyFromPEM([]byte(pemText))
	if err != nil {
		return nil, errors.New("not an RSA private key in PEM (the .pem file GitHub generates for the app)")
	}
	return key, nil
}

// Prompt does nothing: GitHub is told the outcome, people are prompted by
// the other notifiers.
func (n *Notifier) Prompt(context.Context, *approval.State) (approval.Delivery, error) {
	return approval.Delivery{}, nil
}

// Remind, Escalate and BreakGlass do nothing either: the outcome (a
// break-glass approves) is reported once, by Outcome.
func (n *Notifier) Remind(context.Context, *approval.State) (approval.Delivery, error) {
	return approval.Delivery{}, nil
}

// Escalate does nothing (see Remind).
func (n *Notifier) Escalate(context.Context, *approval.State, approval.Escalation) (approval.Delivery, error) {
	return approval.Delivery{}, nil
}

// BreakGlass does nothing (see Remind).
func (n *Notifier) BreakGlass(context.Context, *approval.State) (approval.Delivery, error) {
	return approval.Delivery{}, nil
}

// GrantEnding does nothing: deployments are not access grants.
func (n *Notifier) GrantEnding(context.Context, *approval.State) (approval.Delivery, error) {
	return approval.Delivery{}, nil
}

// Outcome approves (approved, break-glass) or rejects (rejected, expired,
// cancelled) the deployment an approval from GitHub stands for; other
// approvals it leaves alone. A deployment GitHub no longer waits for
// (already reviewed: this is a retry, or another rule or a person decided
// first) is done, not a failure.
func (n *Notifier) Outcome(ctx context.Context, st *approval.State) (approval.Delivery, error) {
	d, ok := githubmsg.FromFields(st.Request.Fields)
	if !ok || st.Requester != n.o.Requester {
		return approval.Delivery{}, nil
	}
	cb, err := d.Check(n.o.BaseURL)
	if err != nil {
		return approval.Delivery{}, temporal.NewNonRetryableApplicationError(
			"approval "+st.ID+" names no deployment GitHub could be told about: "+err.Error(), ErrTypeConfig, nil)
	}
	state, comment := n.review(st)
	if state == "" {
		return approval.Delivery{}, nil // not over: nothing to report
	}
	target := fmt.Sprintf("github:%s run %d (%s)", d.Repository, cb.RunID, d.Environment)
	token, err := n.installationToken(ctx, d.InstallationID, cb.Repo)
	if err != nil {
		return approval.Delivery{}, err
	}
	body, _ := json.Marshal(map[string]string{"environment_name": d.Environment, "state": state, "comment": comment})
	code, msg, err := n.call(ctx, cb.URL(n.o.BaseURL), "Bearer "+token, body)
	switch {
	case err != nil:
		return approval.Delivery{}, fmt.Errorf("review %s: %w", target, err)
	case code == http.StatusNoContent || code == http.StatusOK:
		n.o.Logger.InfoContext(ctx, "deployment reviewed on GitHub", "approval_id", st.ID, "repository", d.Repository,
			"run_id", cb.RunID, "environment", d.Environment, "state", state)
		return approval.Delivery{Targets: []string{target + ": " + state}}, nil
	case code == http.StatusUnprocessableEntity && alreadyReviewed(msg):
		// GitHub waits for no review of this run at this environment any
		// more: ours went through before (a retry), or the run was
		// decided or cancelled otherwise. Nothing is left to do.
		n.o.Logger.InfoContext(ctx, "deployment no longer waits for a review on GitHub", "approval_id", st.ID,
			"repository", d.Repository, "run_id", cb.RunID, "environment", d.Environment, "github", msg)
		return approval.Delivery{Targets: []string{target + ": " + state + " (already reviewed)"}}, nil
	case code == http.StatusUnauthorized:
		// The token was revoked or expired early: a new one next time.
		n.forget(d.InstallationID, cb.Repo)
	}
	return approval.Delivery{}, httpError("review "+target, code, msg)
}

// alreadyReviewed tells GitHub's answer to a review of a run that waits
// for none ("No pending custom deployment requests in workflow run `N` to
// approve or reject").
func alreadyReviewed(msg string) bool {
	m := strings.ToLower(msg)
	return strings.Contains(m, "no pending") && strings.Contains(m, "deployment")
}

// review is the state and comment an approval's outcome gives; no state
// while it is pending.
func (n *Notifier) review(st *approval.State) (state, comment string) {
	link := strings.TrimRight(n.o.PublicURL, "/") + "/approvals/" + st.ID
	switch {
	case st.Status == approval.StatusBypassed:
		return StateApproved, fmt.Sprintf("Approved in Signoff by break-glass (%s): %s", st.BypassedBy, link)
	case st.Status.Granted():
		by := "the policy " + st.Policy.Name
		if len(st.ApprovedBy) > 0 {
			by = strings.Join(st.ApprovedBy, ", ")
		}
		return StateApproved, fmt.Sprintf("Approved in Signoff by %s: %s", by, link)
	case st.Status == approval.StatusRejected:
		var by []string
		for _, a := range st.Attempts {
			if a.Accepted && !a.Voided && a.Decision == approval.DecisionReject {
				by = append(by, a.Who())
			}
		}
		if len(by) == 0 {
			return StateRejected, "Rejected in Signoff (its deadline passed): " + link
		}
		return StateRejected, fmt.Sprintf("Rejected in Signoff by %s: %s", strings.Join(by, ", "), link)
	case st.Status == approval.StatusExpired:
		return StateRejected, "Rejected: the Signoff approval expired before enough approvers decided: " + link
	case st.Status == approval.StatusCancelled:
		return StateRejected, fmt.Sprintf("Rejected: the Signoff approval was cancelled by %s: %s", st.CancelledBy, link)
	case st.Status.Final():
		return StateRejected, fmt.Sprintf("Rejected: the Signoff approval ended %s: %s", strings.ToLower(string(st.Status)), link)
	}
	return "", ""
}

// installationToken is a token of installation id narrowed to repo (with
// the permissions a review needs), cached until shortly before it expires.
func (n *Notifier) installationToken(ctx context.Context, id int64, repo string) (string, error) {
	key := strconv.FormatInt(id, 10) + "/" + strings.ToLower(repo)
	n.mu.Lock()
	c, ok := n.tokens[key]
	n.mu.Unlock()
	if ok && n.o.Now().Before(c.expires.Add(-5*time.Minute)) {
		return c.token, nil
	}
	jwtToken, err := n.appJWT()
	if err != nil {
		return "", temporal.NewNonRetryableApplicationError("sign the GitHub App JWT: "+err.Error(), ErrTypeConfig, nil)
	}
	body, _ := json.Marshal(map[string]any{
		"repositories": []string{repo},
		"permissions":  map[string]string{"deployments": "write", "actions": "read"},
	})
	endpoint := n.o.BaseURL + "/app/installations/" + strconv.FormatInt(id, 10) + "/access_tokens"
	code, raw, err := n.callRaw(ctx, endpoint, "Bearer "+jwtToken, body)
	if err != nil {
		return "", fmt.Errorf("installation token: %w", err)
	}
	if code == http.StatusUnauthorized {
		return "", temporal.NewNonRetryableApplicationError(fmt.Sprintf(
			"GitHub refused the app's JWT (HTTP 401: %s): github_app.app_id and the private key must be the app's", githubMessage(raw)), ErrTypeConfig, nil)
	}
	if code != http.StatusCreated && code != http.StatusOK {
		return "", httpError(fmt.Sprintf("installation token for installation %d", id), code, githubMessage(raw))
	}
	var tok struct {
		Token     string    `json:"token"`
		ExpiresAt time.Time `json:"expires_at"`
	}
	if err := json.Unmarshal(raw, &tok); err != nil || tok.Token == "" {
		return "", errors.New("installation token: GitHub's answer has no token")
	}
	if tok.ExpiresAt.IsZero() {
		tok.ExpiresAt = n.o.Now().Add(time.Hour)
	}
	n.mu.Lock()
	n.tokens[key] = cachedToken{token: tok.Token, expires: tok.ExpiresAt}
	n.mu.Unlock()
	return tok.Token, nil
}

func (n *Notifier) forget(id int64, repo string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	delete(n.tokens, strconv.FormatInt(id, 10)+"/"+strings.ToLower(repo))
}

// appJWT authenticates as the app: RS256, issued a minute ago (clock
// drift), expiring in nine minutes (GitHub takes ten at most).
func (n *Notifier) appJWT() (string, error) {
	now := n.o.Now()
	return jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.RegisteredClaims{
		Issuer:    strconv.FormatInt(n.o.AppID, 10),
		IssuedAt:  jwt.NewNumericDate(now.Add(-time.Minute)),
		ExpiresAt: jwt.NewNumericDate(now.Add(9 * time.Minute)),
	}).SignedString(n.o.PrivateKey)
}

// call POSTs body to endpoint and returns the status and GitHub's message.
func (n *Notifier) call(ctx context.Context, endpoint, auth string, body []byte) (int, string, error) {
	code, raw, err := n.callRaw(ctx, endpoint, auth, body)
	return code, githubMessage(raw), err
}

func (n *Notifier) callRaw(ctx context.Context, endpoint, auth string, body []byte) (int, []byte, error) {
	if !strings.HasPrefix(endpoint, n.o.BaseURL+"/") {
		// Unreachable: every endpoint is built from BaseURL.
		return 0, nil, temporal.NewNonRetryableApplicationError("refusing to call outside github_app.base_url", ErrTypeConfig, nil)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(body))
	if err != nil {
		return 0, nil, temporal.NewNonRetryableApplicationError("build request: "+err.Error(), ErrTypeConfig, nil)
	}
	req.Header.Set("Accept", "application/vnd.github+json")
	req.Header.Set("Authorization", auth)
	req.Header.Set("X-GitHub-Api-Version", apiVersion)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "signoff")
	resp, err := n.o.Client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode == http.StatusForbidden && (resp.Header.Get("X-RateLimit-Remaining") == "0" || resp.Header.Get("Retry-After") != "") {
		return resp.StatusCode, raw, fmt.Errorf("HTTP 403 (rate limited): %s", githubMessage(raw))
	}
	return resp.StatusCode, raw, nil
}

// httpError is a failed call: 5xx, 429 and 401 (a token to renew) are
// retried; other answers are final.
func httpError(what string, code int, msg string) error {
	text := fmt.Sprintf("%s: GitHub answered HTTP %d: %s", what, code, msg)
	if code >= 500 || code == http.StatusTooManyRequests || code == http.StatusUnauthorized || code == http.StatusRequestTimeout {
		return errors.New(text)
	}
	return temporal.NewNonRetryableApplicationError(text, ErrTypeConfig, nil)
}

// githubMessage is the "message" of a GitHub answer, or its start.
func githubMessage(body []byte) string {
	var e struct {
		Message string `json:"message"`
	}
	if json.Unmarshal(body, &e) == nil && e.Message != "" {
		return e.Message
	}
	s := strings.TrimSpace(string(body))
	if len(s) > 200 {
		n := 200
		for n > 0 && !utf8.RuneStart(s[n]) {
			n--
		}
		s = s[:n] + "…"
	}
	return s
}
