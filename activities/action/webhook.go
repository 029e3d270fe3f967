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
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/signoff/signoff/approval"
)

// Webhook POSTs the approval as JSON to a URL. The URL must start with one of
// the configured prefixes: a requester must not be able to aim the worker at
// arbitrary hosts.
type Webhook struct {
	AllowedPrefixes []string
	// Secret signs "<timestamp>.<body>" (X-Signoff-Signature: sha256=<hex
	// HMAC>, timestamp in X-Signoff-Timestamp) so receivers can refuse forged
	// and replayed calls. From the environment, never config or history.
	Secret []byte
	Client *http.Client
	// MaxOutput bounds the response body kept as the result.
	MaxOutput int
}

// Headers of a webhook call.
const (
	SignatureHeader = "X-Signoff-Signature"
	TimestampHeader = "X-Signoff-Timestamp"
)

// Validate checks the URL's form and that it is allowed.
func (w *Webhook) Validate(a approval.Action) error {
	u, err := url.Parse(a.URL)
	if err != nil || a.URL == "" {
		return errors.New("url must be an absolute http(s) URL")
	}
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil {
		return errors.New("url must be an absolute http(s) URL without credentials")
	}
	for _, p := range w.AllowedPrefixes {
		if strings.HasPrefix(a.URL, p) {
			return nil
		}
	}
	return fmt.Errorf("url %s is not under an allowed prefix (actions.webhook.allowed_url_prefixes)", u.Redacted())
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
// transport errors are retried; 4xx are permanent.
func (w *Webhook) Run(ctx context.Context, st *approval.State) (string, error) {
	if err := w.Validate(st.Request.Action); err != nil {
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
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, st.Request.Action.URL, bytes.NewReader(body))
	if err != nil {
		return "", Permanent(fmt.Errorf("build request: %w", err))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", st.ID)
	req.Header.Set("User-Agent", "signoff-webhook/1")
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	req.Header.Set(TimestampHeader, ts)
	if len(w.Secret) > 0 {
		mac := hmac.New(sha256.New, w.Secret)
		mac.Write([]byte(ts + "."))
		mac.Write(body)
		req.Header.Set(SignatureHeader, "sha256="+hex.EncodeToString(mac.Sum(nil)))
	}
	client := w.Client
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Second}
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", fmt.Errorf("post webhook: %w", err)
	}
	defer resp.Body.Close()
	max := w.MaxOutput
	if max <= 0 {
		max = 4096
	}
	out, _ := io.ReadAll(io.LimitReader(resp.Body, int64(max)))
	result := fmt.Sprintf("HTTP %d: %s", resp.StatusCode, strings.TrimSpace(string(out)))
	switch {
	case resp.StatusCode >= 500:
		return "", errors.New(result)
	case resp.StatusCode >= 400:
		return "", Permanent(errors.New(result))
	}
	return result, nil
}
