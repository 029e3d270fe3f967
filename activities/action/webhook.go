package action

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"go.temporal.io/sdk/activity"

	"github.com/signoff/signoff/approval"
	"github.com/signoff/signoff/redact"
)

// Webhook POSTs the approval as JSON to a URL. The URL must lie under one
// of the configured allowed URLs: a requester must not be able to aim the
// worker at arbitrary hosts (SSRF).
//
// An allowed entry ("https://deploy.example.com/hooks/") is not a string
// prefix. Both it and the target are parsed; the target must have the same
// scheme, host and port (an absent port is the scheme's default: https 443,
// http 80) and a path equal to the entry's or below it on a "/" boundary.
// An entry whose port is left empty after its colon ("http://127.0.0.1:")
// allows any port of that host (the development configurations use it).
// Targets that could be read differently by the receiver are refused
// outright: "." and ".." segments, encoded dots, slashes and backslashes
// (%2e, %2f, %5c), backslashes, credentials and fragments.
type Webhook struct {
	// AllowedPrefixes are the allowed base URLs
	// (actions.webhook.allowed_url_prefixes); see above for how they match.
	AllowedPrefixes []string
	// Secret signs "<timestamp>.<body>" (X-Signoff-Signature: sha256=<hex
	// HMAC>, timestamp in X-Signoff-Timestamp) so receivers can refuse forged
	// and replayed calls. From the environment, never config or history.
	Secret []byte
	// Client sends the call. Redirects are never followed, whatever its
	// CheckRedirect says: a 3xx answer is a failure.
	Client *http.Client
	// Logger receives the response body at debug level, for operators
	// (the body never reaches the action's output, which every reader of
	// the approval sees). Nil uses the activity's logger, or slog's default
	// outside an activity.
	Logger *slog.Logger
	// Redact scrubs the logged body; nil redacts Secret and common
	// credential shapes (package redact).
	Redact func(string) string
}

// Headers of a webhook call.
const (
	SignatureHeader = "X-Signoff-Signature"
	TimestampHeader = "X-Signoff-Timestamp"
)

// MaxLoggedBody bounds the part of a response body that is logged.
const MaxLoggedBody = 2 << 10

// allowedURL is one parsed allow-list entry.
type allowedURL struct {
	scheme, host string
	// port is "" when any port is allowed.
	port string
	// path has no trailing slash; "" allows every path.
	path string
}

func defaultPort(scheme string) string {
	if scheme == "https" {
		return "443"
	}
	return "80"
}

// normalPort returns the port of u (its scheme's default when absent),
// or "" and empty when the authority ends in an empty port ("host:").
func normalPort(u *url.URL) (port string, empty bool, err error) {
	p := u.Port()
	if p == "" {
		if strings.HasSuffix(u.Host, ":") {
			return "", true, nil
		}
		return defaultPort(u.Scheme), false, nil
	}
	n, err := strconv.Atoi(p)
	if err != nil || n < 1 || n > 65535 {
		return "", false, fmt.Errorf("port %q is out of range", p)
	}
	return strconv.Itoa(n), false, nil
}

// encodedForms are the escapes a receiver may decode into a path
// separator or a dot segment after the check: refused in any case.
var encodedForms = []string{"%2e", "%2f", "%5c"}

// parseStrict parses an http(s) URL and refuses every form that lets the
// receiver read its path differently from this check.
func parseStrict(raw string) (*url.URL, error) {
	if raw == "" {
		return nil, errors.New("is empty")
	}
	if strings.Contains(raw, "\\") {
		return nil, errors.New("must not contain a backslash")
	}
	if strings.Contains(raw, "#") {
		return nil, errors.New("must not contain a fragment (#)")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, errors.New("is not a valid URL")
	}
	if (u.Scheme != "https" && u.Scheme != "http") || u.Opaque != "" || u.Host == "" || u.Hostname() == "" {
		return nil, errors.New("must be an absolute http(s) URL")
	}
	if u.User != nil || strings.Contains(u.Host, "@") {
		return nil, errors.New("must not contain credentials (user:password@)")
	}
	// Everything before the query as written, the path as decoded (a
	// double-encoded %252e decodes to %2e) and as re-escaped.
	beforeQuery, _, _ := strings.Cut(raw, "?")
	for _, s := range []string{beforeQuery, u.Path, u.RawPath, u.EscapedPath()} {
		ls := strings.ToLower(s)
		for _, e := range encodedForms {
			if strings.Contains(ls, e) {
				return nil, fmt.Errorf("must not contain encoded dots, slashes or backslashes (%s)", strings.Join(encodedForms, ", "))
			}
		}
		if strings.Contains(s, "\\") {
			return nil, errors.New("must not contain a backslash")
		}
	}
	for _, seg := range strings.Split(u.Path, "/") {
		if seg == "." || seg == ".." {
			return nil, errors.New(`path must not contain "." or ".." segments`)
		}
	}
	return u, nil
}

func parseAllowed(entry string) (allowedURL, error) {
	u, err := parseStrict(strings.TrimSpace(entry))
	if err != nil {
		return allowedURL{}, err
	}
	if u.RawQuery != "" || u.ForceQuery {
		return allowedURL{}, errors.New("must not have a query")
	}
	port, anyPort, err := normalPort(u)
	if err != nil {
		return allowedURL{}, err
	}
	if anyPort {
		port = ""
	}
	return allowedURL{scheme: u.Scheme, host: strings.ToLower(u.Hostname()), port: port,
		path: strings.TrimSuffix(u.Path, "/")}, nil
}

// allows reports whether target (parsed by parseStrict) is under a.
func (a allowedURL) allows(target *url.URL) bool {
	if target.Scheme != a.scheme || strings.ToLower(target.Hostname()) != a.host {
		return false
	}
	port, empty, err := normalPort(target)
	if err != nil {
		return false
	}
	if empty {
		port = defaultPort(target.Scheme)
	}
	if a.port != "" && port != a.port {
		return false
	}
	p := target.Path
	return a.path == "" || p == a.path || strings.HasPrefix(p, a.path+"/")
}

// check parses target and finds an allowed entry it lies under.
func (w *Webhook) check(target string) (*url.URL, error) {
	u, err := parseStrict(target)
	if err != nil {
		return nil, fmt.Errorf("url %s", err)
	}
	var bad []error
	var allowed []allowedURL
	for i, e := range w.AllowedPrefixes {
		a, err := parseAllowed(e)
		if err != nil {
			bad = append(bad, fmt.Errorf("actions.webhook.allowed_url_prefixes[%d] %s", i, err))
			continue
		}
		allowed = append(allowed, a)
	}
	if len(bad) > 0 {
		// A broken allow-list refuses every webhook rather than guess.
		return nil, fmt.Errorf("the webhook allow-list is misconfigured: %w", errors.Join(bad...))
	}
	for _, a := range allowed {
		if a.allows(u) {
			return u, nil
		}
	}
	return nil, fmt.Errorf("url %s is not allowed: it must have the scheme, host and port of an entry of "+
		"actions.webhook.allowed_url_prefixes and a path at or below that entry's", u.Redacted())
}

// Validate checks the URL's form and that it is allowed.
func (w *Webhook) Validate(a approval.Action) error {
	_, err := w.check(a.URL)
	return err
}

// WebhookPayload is the JSON body sent.
type WebhookPayload struct {
	ApprovalID  string             `json:"approval_id"`
	Status      approval.Status    `json:"status"`
	Title       string             `json:"title"`
	Environment string             `json:"environment"`
	Resource    string             `json:"resource,omitempty"`
	Fields      map[string]string  `json:"fields,omitempty"`
	Requester   string             `json:"requester"`
	ApprovedBy  []string           `json:"approved_by"`
	Decisions   []approval.Attempt `json:"decisions"`
	RequestHash string             `json:"request_hash"`
}

// Run posts once per attempt with Idempotency-Key = approval ID, so the
// receiver can drop repeats after a retry or a worker crash. 5xx and
// transport errors are retried; 4xx and 3xx (redirects are not followed)
// are permanent. The output is the status line only; the response body is
// logged, redacted and truncated, at debug level.
func (w *Webhook) Run(ctx context.Context, st *approval.State) (string, error) {
	target, err := w.check(st.Request.Action.URL)
	if err != nil {
		return "", Permanent(err)
	}
	var accepted []approval.Attempt
	for _, a := range st.Attempts {
		if a.Accepted {
			accepted = append(accepted, a)
		}
	}
	body, err := json.Marshal(WebhookPayload{
		ApprovalID: st.ID, Status: st.Status, Title: st.Request.Title, Environment: st.Request.Environment,
		Resource: st.Request.Resource, Fields: st.Request.Fields, Requester: st.Requester,
		ApprovedBy: st.ApprovedBy, Decisions: accepted, RequestHash: st.RequestHash,
	})
	if err != nil {
		return "", Permanent(fmt.Errorf("encode payload: %w", err))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target.String(), bytes.NewReader(body))
	if err != nil {
		return "", Permanent(fmt.Errorf("build request: %w", err))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", st.ID)
	req.Header.Set("User-Agent", "signoff-webhook/1")
	signRequest(req, w.Secret, body, time.Now())
	client := http.Client{Timeout: 30 * time.Second}
	if w.Client != nil {
		client = *w.Client
	}
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := client.Do(req)
	if err != nil {
		return "", fmt.Errorf("post webhook: %w", err)
	}
	defer resp.Body.Close()
	status := strings.TrimSpace(fmt.Sprintf("HTTP %d %s", resp.StatusCode, http.StatusText(resp.StatusCode)))
	w.logBody(ctx, st.ID, target, status, resp.Body)
	switch {
	case resp.StatusCode >= 500:
		return "", fmt.Errorf("webhook answered %s", status)
	case resp.StatusCode >= 400:
		return "", Permanent(fmt.Errorf("webhook answered %s", status))
	case resp.StatusCode >= 300:
		return "", Permanent(fmt.Errorf("webhook answered %s: redirects are not followed", status))
	case resp.StatusCode < 200:
		return "", fmt.Errorf("webhook answered %s", status)
	}
	return status, nil
}

// signRequest stamps req with the time (TimestampHeader, Unix seconds)
// and, when secret is set, signs "<timestamp>.<body>" (SignatureHeader:
// sha256=<hex HMAC-SHA256>). Every webhook action signs this way, so one
// receiver check fits all.
func signRequest(req *http.Request, secret, body []byte, now time.Time) {
	ts := strconv.FormatInt(now.Unix(), 10)
	req.Header.Set(TimestampHeader, ts)
	if len(secret) > 0 {
		mac := hmac.New(sha256.New, secret)
		mac.Write([]byte(ts + "."))
		mac.Write(body)
		req.Header.Set(SignatureHeader, "sha256="+hex.EncodeToString(mac.Sum(nil)))
	}
}

// logBody logs the start of the response body, redacted, at debug level,
// and drains a bounded rest so the connection can be reused.
func (w *Webhook) logBody(ctx context.Context, approvalID string, target *url.URL, status string, body io.Reader) {
	// Read past the limit before redacting, so a secret straddling it is
	// still recognised whole and not logged half.
	b, _ := io.ReadAll(io.LimitReader(body, MaxLoggedBody+1024))
	_, _ = io.Copy(io.Discard, io.LimitReader(body, 64<<10))
	scrub := w.Redact
	if scrub == nil {
		scrub = redact.New(string(w.Secret)).Redact
	}
	text := scrub(strings.ToValidUTF8(string(b), "\ufffd"))
	if len(text) > MaxLoggedBody {
		cut := MaxLoggedBody
		for cut > 0 && !utf8.RuneStart(text[cut]) {
			cut--
		}
		text = text[:cut] + "…[truncated]"
	}
	kv := []any{"approval_id", approvalID, "url", target.Redacted(), "status", status, "body", text}
	switch {
	case w.Logger != nil:
		w.Logger.DebugContext(ctx, "webhook response", kv...)
	case activity.IsActivity(ctx):
		activity.GetLogger(ctx).Debug("webhook response", kv...)
	default:
		slog.DebugContext(ctx, "webhook response", kv...)
	}
}
