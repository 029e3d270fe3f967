package action

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/signoff/signoff/approval"
)

// WebhookGrantType grants access in a system Signoff has no client for,
// through a receiver the operator runs, for the approval's duration.
const WebhookGrantType = "webhook_grant"

// Parameters of webhook_grant.
const (
	ParamGrantTarget  = "target"
	ParamGrantSubject = "subject"
	ParamGrantAccess  = "access"
)

// MaxGrantResponse bounds what is read of a receiver's answer.
const MaxGrantResponse = 64 << 10

var (
	grantTargetName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
	grantSubject    = regexp.MustCompile(`^[A-Za-z0-9@._+-]{1,128}$`)
	grantAccess     = regexp.MustCompile(`^[A-Za-z0-9:/._-]{1,128}$`)
)

// WebhookGrant is the webhook_grant action: a pair of webhooks (grant,
// revoke) and a status URL per configured target. This is the protocol a
// receiver implements.
//
// Grant and revoke POST a JSON body to grant_url or revoke_url:
//
//	{"approval_id": "01J…", "operation": "grant", "subject": "alice@acme.com",
//	 "access": "billing:admin", "expires_at": "2026-05-01T12:00:00Z"}
//
// operation is "grant" or "revoke" (the receiver checks it matches the URL
// called, so a grant's signed body cannot be replayed as a revoke or the
// reverse); expires_at (RFC 3339, UTC) is when Signoff plans to revoke,
// the approval time plus the requested duration, absent if unknown. It is
// information, not a deadline to enforce: an approved extension moves the
// revoke later without a new call, and the revoke call is what ends the
// access. Any 2xx means done; the response body is not read for meaning.
//
// Status is GET status_url?subject=…&access=… (added to any query the URL
// has), answered with 2xx and {"active": true} or {"active": false}: is
// the access in place now. Signoff looks before it acts and reads back
// after, so grant and revoke must be idempotent and the status must reflect
// them once they answer 2xx.
//
// Every request carries:
//   - Idempotency-Key: "<approval id>:grant" or "<approval id>:revoke", the
//     same on every retry (the status reads of a grant or revoke carry its
//     key; a look outside both carries "<approval id>:status"). A POST's
//     key is its signed body's approval_id and operation, so a receiver can
//     check one against the other. Repeats of a POST with a key already done
//     must not act again; status reads must never be answered from such a
//     cache.
//   - X-Signoff-Timestamp: Unix seconds, and X-Signoff-Signature:
//     sha256=<hex HMAC-SHA256 of "<timestamp>.<body>"> with the target's key
//     (the webhook action's scheme). A GET's body is empty, so its signature
//     covers only the timestamp. Refuse stale timestamps (replays) and bad
//     signatures.
//
// Answers: 2xx success; 408, 429, 5xx and transport errors are retried;
// other 4xx and 3xx (redirects are not followed) are final. Answers are read
// up to MaxGrantResponse and never shown: outputs and errors carry the
// status line only (the body is logged, redacted, at debug level).
type WebhookGrant struct {
	// Targets are the configured receivers (actions.webhook_grants).
	Targets map[string]WebhookGrantTarget
	// LookupEnv finds each target's HMAC key (SecretEnv) when the action
	// runs, on the worker only. nil finds nothing.
	LookupEnv func(string) (string, bool)
	// Client sends the calls. Redirects are never followed.
	Client *http.Client
	// Logger and Redact are as the webhook action's: where the bodies of
	// failed answers are logged, and how they are scrubbed.
	Logger *slog.Logger
	Redact func(string) string
}

// WebhookGrantTarget is one receiver.
type WebhookGrantTarget struct {
	GrantURL, RevokeURL, StatusURL string
	// SecretEnv names the environment variable with the HMAC key.
	SecretEnv string
}

// CheckConfig checks every target: a name, three https URLs (http only on
// the loopback, for development) and a key variable. The worker refuses to
// start on a bad one.
func (g *WebhookGrant) CheckConfig() error {
	for _, name := range slices.Sorted(maps.Keys(g.Targets)) {
		if err := checkGrantTarget(name, g.Targets[name]); err != nil {
			return err
		}
	}
	return nil
}

func checkGrantTarget(name string, t WebhookGrantTarget) error {
	key := "actions.webhook_grants." + name
	if !grantTargetName.MatchString(name) {
		return fmt.Errorf("%s: a target name is 1-64 characters of A-Z a-z 0-9 _ -", key)
	}
	for _, u := range []struct{ key, raw string }{{"grant_url", t.GrantURL}, {"revoke_url", t.RevokeURL}, {"status_url", t.StatusURL}} {
		if _, err := checkGrantURL(u.raw); err != nil {
			return fmt.Errorf("%s.%s %w", key, u.key, err)
		}
	}
	if t.SecretEnv == "" {
		return fmt.Errorf("%s.secret_env is required (the environment variable with the HMAC key)", key)
	}
	return nil
}

// checkGrantURL parses as the webhook action does, and wants https: the
// calls carry who gets what access.
func checkGrantURL(raw string) (*url.URL, error) {
	u, err := parseStrict(raw)
	if err != nil {
		return nil, err
	}
	if host := strings.ToLower(u.Hostname()); u.Scheme != "https" && host != "127.0.0.1" && host != "localhost" {
		return nil, errors.New("must be an https URL (http only for 127.0.0.1 or localhost)")
	}
	return u, nil
}

// Validate checks target, subject and access before anyone is asked.
func (g *WebhookGrant) Validate(a approval.Action) error {
	if a.URL != "" {
		return errors.New("takes no url (the target names the receiver)")
	}
	for _, k := range slices.Sorted(maps.Keys(a.Params)) {
		if k != ParamGrantTarget && k != ParamGrantSubject && k != ParamGrantAccess {
			return fmt.Errorf("unknown param %q (want %s, %s and %s)", k, ParamGrantTarget, ParamGrantSubject, ParamGrantAccess)
		}
	}
	p := a.Params
	if _, ok := g.Targets[p[ParamGrantTarget]]; !ok {
		return fmt.Errorf("param %s %q is not a configured target (actions.webhook_grants: %v)",
			ParamGrantTarget, p[ParamGrantTarget], slices.Sorted(maps.Keys(g.Targets)))
	}
	if !grantSubject.MatchString(p[ParamGrantSubject]) {
		return fmt.Errorf("param %s must be 1-128 characters of A-Z a-z 0-9 @ . _ + -", ParamGrantSubject)
	}
	if !grantAccess.MatchString(p[ParamGrantAccess]) {
		return fmt.Errorf("param %s must be 1-128 characters of A-Z a-z 0-9 : / . _ -", ParamGrantAccess)
	}
	return nil
}

// Resource is the access at the target: target, access and subject.
func (g *WebhookGrant) Resource(a approval.Action) string {
	p := a.Params
	return strings.Join([]string{WebhookGrantType, p[ParamGrantTarget], p[ParamGrantAccess], p[ParamGrantSubject]}, ":")
}

// WebhookGrantPayload is the JSON body of a grant or revoke.
type WebhookGrantPayload struct {
	ApprovalID string `json:"approval_id"`
	Operation  string `json:"operation"`
	Subject    string `json:"subject"`
	Access     string `json:"access"`
	ExpiresAt  string `json:"expires_at,omitempty"`
}

// grantCall is one action's resolved target.
type grantCall struct {
	st                      *approval.State
	target, subject, access string
	urls                    WebhookGrantTarget
	secret                  []byte
}

func (c *grantCall) String() string {
	return fmt.Sprintf("%s for %s on %s", c.access, c.subject, c.target)
}

// Holds reads the status.
func (g *WebhookGrant) Holds(ctx context.Context, st *approval.State) (bool, error) {
	c, err := g.open(st)
	if err != nil {
		return false, err
	}
	return g.status(ctx, c, "status")
}

// Run grants the access.
func (g *WebhookGrant) Run(ctx context.Context, st *approval.State) (string, error) {
	return g.change(ctx, st, "grant", true)
}

// Revoke takes it back.
func (g *WebhookGrant) Revoke(ctx context.Context, st *approval.State) (string, error) {
	return g.change(ctx, st, "revoke", false)
}

// change looks, posts op if the status is not yet want, and reads back.
func (g *WebhookGrant) change(ctx context.Context, st *approval.State, op string, want bool) (string, error) {
	c, err := g.open(st)
	if err != nil {
		return "", err
	}
	active, err := g.status(ctx, c, op)
	if err != nil {
		return "", err
	}
	verb, u := "granted", c.urls.GrantURL
	if !want {
		verb, u = "revoked", c.urls.RevokeURL
	}
	out := fmt.Sprintf("%s was already %s (verified)", c, activeWord(want))
	if active != want {
		p := WebhookGrantPayload{ApprovalID: st.ID, Operation: op, Subject: c.subject, Access: c.access}
		if st.Grant != nil && !st.Grant.RevokeAt.IsZero() {
			p.ExpiresAt = st.Grant.RevokeAt.UTC().Format(time.RFC3339)
		}
		body, err := json.Marshal(p)
		if err != nil {
			return "", Permanent(fmt.Errorf("encode %s: %w", op, err))
		}
		status, _, err := g.send(ctx, c, http.MethodPost, u, body, op)
		if err != nil {
			return "", fmt.Errorf("%s %s: %w", op, c, err)
		}
		out = fmt.Sprintf("%s %s (%s; verified: %s)", verb, c, status, activeWord(want))
	}
	// A receiver that answered 2xx but reports otherwise is retried: the
	// next attempt looks first, and a repeated POST carries the same key.
	if active, err = g.status(ctx, c, op); err != nil {
		return "", fmt.Errorf("%s %s: read back: %w", op, c, err)
	}
	if active != want {
		return "", fmt.Errorf("%s %s: the receiver answered success but its status says %s", op, c, activeWord(active))
	}
	return out, nil
}

func activeWord(active bool) string {
	if active {
		return "active"
	}
	return "inactive"
}

// open validates again (config may have changed since the approval was
// created) and finds the target's key.
func (g *WebhookGrant) open(st *approval.State) (*grantCall, error) {
	a := st.Request.Action
	if err := g.Validate(a); err != nil {
		return nil, Permanent(err)
	}
	name := a.Params[ParamGrantTarget]
	t := g.Targets[name]
	if err := checkGrantTarget(name, t); err != nil {
		return nil, Permanent(err)
	}
	var secret string
	if g.LookupEnv != nil {
		secret, _ = g.LookupEnv(t.SecretEnv)
	}
	if secret == "" {
		// Unsigned calls would let anyone who reaches the receiver grant.
		return nil, Permanent(fmt.Errorf("target %s: no HMAC key: environment variable %s is empty on the worker", name, t.SecretEnv))
	}
	return &grantCall{st: st, target: name, subject: a.Params[ParamGrantSubject], access: a.Params[ParamGrantAccess],
		urls: t, secret: []byte(secret)}, nil
}

// status asks the receiver whether the access is in place.
func (g *WebhookGrant) status(ctx context.Context, c *grantCall, op string) (bool, error) {
	u, err := checkGrantURL(c.urls.StatusURL)
	if err != nil {
		return false, Permanent(fmt.Errorf("status_url %w", err))
	}
	q := u.Query()
	q.Set("subject", c.subject)
	q.Set("access", c.access)
	u.RawQuery = q.Encode()
	_, body, err := g.send(ctx, c, http.MethodGet, u.String(), nil, op)
	if err != nil {
		return false, fmt.Errorf("status of %s: %w", c, err)
	}
	var s struct {
		Active *bool `json:"active"`
	}
	if json.Unmarshal(body, &s) != nil || s.Active == nil {
		return false, Permanent(fmt.Errorf(`status of %s: the answer is not {"active": true|false}`, c))
	}
	return *s.Active, nil
}

// send makes one signed call and returns its status line and body (at most
// MaxGrantResponse). Only 2xx is success.
func (g *WebhookGrant) send(ctx context.Context, c *grantCall, method, raw string, body []byte, op string) (string, []byte, error) {
	u, err := checkGrantURL(raw)
	if err != nil {
		return "", nil, Permanent(fmt.Errorf("url %w", err))
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), bytes.NewReader(body))
	if err != nil {
		return "", nil, Permanent(fmt.Errorf("build request: %w", err))
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Idempotency-Key", c.st.ID+":"+op)
	req.Header.Set("User-Agent", "signoff-webhook-grant/1")
	signRequest(req, c.secret, body, time.Now())
	client := http.Client{Timeout: 30 * time.Second}
	if g.Client != nil {
		client = *g.Client
	}
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := client.Do(req)
	if err != nil {
		// Transport errors and timeouts are retried; the *url.Error's own
		// prefix would name the URL twice.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return "", nil, fmt.Errorf("%s %s: %w", method, u.Redacted(), err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, MaxGrantResponse))
	status := strings.TrimSpace(fmt.Sprintf("HTTP %d %s", resp.StatusCode, http.StatusText(resp.StatusCode)))
	if resp.StatusCode < 200 || resp.StatusCode >= 300 {
		// The body is logged as the webhook action logs its own:
		// redacted, truncated, at debug level; never in the error.
		(&Webhook{Secret: c.secret, Logger: g.Logger, Redact: g.Redact}).logBody(ctx, c.st.ID, u, status, bytes.NewReader(b))
	}
	fail := fmt.Errorf("%s %s answered %s", method, u.Redacted(), status)
	switch code := resp.StatusCode; {
	case code == http.StatusRequestTimeout || code == http.StatusTooManyRequests || code >= 500 || code < 200:
		return "", nil, fail
	case code >= 400:
		return "", nil, Permanent(fail)
	case code >= 300:
		return "", nil, Permanent(fmt.Errorf("%w: redirects are not followed", fail))
	}
	if err != nil {
		return "", nil, fmt.Errorf("%s %s: read answer: %w", method, u.Redacted(), err)
	}
	return status, b, nil
}
