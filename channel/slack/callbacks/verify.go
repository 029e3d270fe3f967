// Package callbacks serves Slack's callbacks: button clicks, selects and
// modal submissions on /slack/interactions, the /signoff slash command on
// /slack/commands, or the same over Socket Mode. Every request is verified
// (Slack's v0 signature, or the socket's authentication), every person is
// mapped to a configured user and checked (workspace, guests, deactivated
// accounts, 2FA, channel), and every decision — accepted or refused — is
// delivered to the approval's workflow, which has the last word.
package callbacks

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/slack-go/slack"
)

// MaxBody bounds what is read of a Slack request: interaction payloads
// carry the whole message, but stay far below this.
const MaxBody = 64 << 10

// MaxSkew is how far a request's timestamp may be from now.
const MaxSkew = 5 * time.Minute

// Errors of verification; all answer 401 (413 for ErrTooLarge).
var (
	ErrTooLarge      = errors.New("request body too large")
	ErrNoSignature   = errors.New("missing X-Slack-Signature or X-Slack-Request-Timestamp")
	ErrBadSignature  = errors.New("signature does not match")
	ErrStale         = errors.New("request timestamp is more than 5 minutes from now")
	ErrNotConfigured = errors.New("no signing secret configured")
)

// readBody reads at most MaxBody bytes of r's body, once.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	if r.ContentLength > MaxBody {
		return nil, ErrTooLarge
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return nil, ErrTooLarge
	}
	if err != nil {
		return nil, fmt.Errorf("read body: %w", err)
	}
	return b, nil
}

// Verify checks Slack's v0 signature of body: HMAC-SHA256 of
// "v0:<timestamp>:<body>" keyed with the signing secret, compared in
// constant time, and a timestamp within five minutes of now (either way,
// so neither replays nor pre-signed requests pass).
func Verify(header http.Header, body []byte, secret string, now time.Time) error {
	if secret == "" {
		return ErrNotConfigured
	}
	sig, ts := header.Get("X-Slack-Signature"), header.Get("X-Slack-Request-Timestamp")
	if sig == "" || ts == "" {
		return ErrNoSignature
	}
	// Check the clock ourselves first: slack-go's check uses the wall clock,
	// ours the injected one, and an absurd timestamp fails here cleanly.
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || len(ts) > 12 {
		return ErrStale
	}
	if d := now.Sub(time.Unix(sec, 0)); d > MaxSkew || d < -MaxSkew {
		return ErrStale
	}
	sv, err := slack.NewSecretsVerifier(header, secret)
	switch {
	case errors.Is(err, slack.ErrExpiredTimestamp):
		return ErrStale
	case errors.Is(err, slack.ErrMissingHeaders):
		return ErrNoSignature
	case err != nil:
		// Malformed signature (not v0=, not hex, wrong length).
		return ErrBadSignature
	}
	if _, err := sv.Write(body); err != nil {
		return ErrBadSignature
	}
	if err := sv.Ensure(); err != nil {
		return ErrBadSignature
	}
	return nil
}

// formValue reads one field of an application/x-www-form-urlencoded body.
// It never looks at the URL's query string: a value there is not signed.
func formValue(body []byte, key string) (string, error) {
	if !bytes.Contains(body, []byte(key+"=")) {
		return "", fmt.Errorf("no %s field in the form body", key)
	}
	vals, err := url.ParseQuery(string(body))
	if err != nil {
		return "", fmt.Errorf("malformed form body: %w", err)
	}
	v := vals.Get(key)
	if v == "" {
		return "", fmt.Errorf("empty %s field in the form body", key)
	}
	return v, nil
}
