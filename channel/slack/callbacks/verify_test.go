package callbacks

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/signoff/signoff/channel/slack/slackfake"
)

const secret = "8f742231b10e8888abcd99yyyzzz85a5"

func signed(t time.Time, body string) http.Header {
	return slackfake.Header(secret, t, []byte(body))
}

func TestVerify(t *testing.T) {
	now := time.Now()
	body := "payload=%7B%22type%22%3A%22block_actions%22%7D"
	for _, tc := range []struct {
		name   string
		header http.Header
		body   string
		secret string
		want   error
	}{
		{"signed by Slack", signed(now, body), body, secret, nil},
		{"signed a few minutes ago", signed(now.Add(-4*time.Minute), body), body, secret, nil},
		{"forged with another secret", slackfake.Header("not-the-secret", now, []byte(body)), body, secret, ErrBadSignature},
		{"body changed after signing", signed(now, body), body + "&x=1", secret, ErrBadSignature},
		{"stale: replayed after 6 minutes", signed(now.Add(-6*time.Minute), body), body, secret, ErrStale},
		{"future: pre-signed 6 minutes ahead", signed(now.Add(6*time.Minute), body), body, secret, ErrStale},
		{"missing signature", without(signed(now, body), "X-Slack-Signature"), body, secret, ErrNoSignature},
		{"missing timestamp", without(signed(now, body), "X-Slack-Request-Timestamp"), body, secret, ErrNoSignature},
		{"timestamp not a number", with(signed(now, body), "X-Slack-Request-Timestamp", "soon"), body, secret, ErrStale},
		{"other signature version", with(signed(now, body), "X-Slack-Signature", "v1="+strings.Repeat("a", 64)), body, secret, ErrBadSignature},
		{"signature not hex", with(signed(now, body), "X-Slack-Signature", "v0=zz"), body, secret, ErrBadSignature},
		{"truncated signature", with(signed(now, body), "X-Slack-Signature", signed(now, body).Get("X-Slack-Signature")[:40]), body, secret, ErrBadSignature},
		{"no secret configured", signed(now, body), body, "", ErrNotConfigured},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.ErrorIs(t, Verify(tc.header, []byte(tc.body), tc.secret, now), tc.want)
			if tc.want == nil {
				assert.NoError(t, Verify(tc.header, []byte(tc.body), tc.secret, now))
			}
		})
	}
}

func without(h http.Header, k string) http.Header { h.Del(k); return h }
func with(h http.Header, k, v string) http.Header { h.Set(k, v); return h }

// FuzzVerify: whatever the headers and body, Verify never panics, and it
// accepts only a correct v0 HMAC of this very body within five minutes.
func FuzzVerify(f *testing.F) {
	now := time.Now()
	body := "payload=%7B%7D"
	sig := signed(now, body).Get("X-Slack-Signature")
	ts := strconv.FormatInt(now.Unix(), 10)
	f.Add(ts, sig, body)
	f.Add(ts, sig, body+"x")
	f.Add(strconv.FormatInt(now.Unix()-301, 10), sig, body)
	f.Add("", "", "")
	f.Add("99999999999999999999", "v0=", "payload=")
	f.Add("-1", "v0="+strings.Repeat("0", 64), "")
	f.Add(ts, "v0="+strings.Repeat("g", 64), body)
	f.Fuzz(func(t *testing.T, ts, sig, body string) {
		h := http.Header{}
		h.Set("X-Slack-Request-Timestamp", ts)
		h.Set("X-Slack-Signature", sig)
		err := Verify(h, []byte(body), secret, now)
		if err != nil {
			return
		}
		mac := hmac.New(sha256.New, []byte(secret))
		mac.Write([]byte("v0:" + h.Get("X-Slack-Request-Timestamp") + ":" + body))
		want := "v0=" + hex.EncodeToString(mac.Sum(nil))
		if !strings.EqualFold(h.Get("X-Slack-Signature"), want) {
			t.Fatalf("accepted a wrong signature %q for ts %q", sig, ts)
		}
		n, perr := strconv.ParseInt(h.Get("X-Slack-Request-Timestamp"), 10, 64)
		if perr != nil || now.Sub(time.Unix(n, 0)).Abs() > MaxSkew {
			t.Fatalf("accepted timestamp %q", ts)
		}
	})
}
