// Package linktoken signs and verifies the links in Signoff's emails. A
// token names one approval, one person and, for decision links, one
// decision (and option); it expires, and its ID becomes the decision's
// attempt ID, so the workflow recognises a link used twice.
//
// Format: "v1." + base64url(JSON claims) + "." + base64url(HMAC-SHA256).
// The HMAC key is derived from SIGNOFF_EMAIL_LINK_KEY; links signed with
// SIGNOFF_EMAIL_LINK_KEY_PREVIOUS still verify, so keys rotate without
// breaking mail already sent.
package linktoken

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base32"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/signoff/signoff/approval"
	"github.com/signoff/signoff/config"
)

// Purposes of a token.
const (
	// PurposeDecide is a decision link: GET shows a confirmation page,
	// POST decides.
	PurposeDecide = "decide"
	// PurposeView lets its holder read one approval's audit trail.
	PurposeView = "view"
	// PurposeSession is the cookie set from a valid link, for the audit
	// trail page.
	PurposeSession = "session"
)

// MinKeyBytes is the shortest key accepted.
const MinKeyBytes = 32

// Verification errors. Each is shown to the person as a different page,
// and none of them ever leads to a decision.
var (
	ErrMalformed = errors.New("this link is not a valid Signoff link")
	ErrSignature = errors.New("this link has been altered or was not issued by this Signoff")
	ErrExpired   = errors.New("this link has expired")
)

// Claims are what a token says.
type Claims struct {
	Purpose  string            `json:"p"`
	Approval string            `json:"a"`
	User     string            `json:"u"`
	Decision approval.Decision `json:"d,omitempty"`
	// Option is the chosen option's value (button and select inputs).
	Option string `json:"o,omitempty"`
	// RequestHash is the request the email showed: a link does not decide
	// on content amended after it was sent.
	RequestHash string `json:"h,omitempty"`
	Expires     int64  `json:"e"`
	// ID is unique per link; the decision's attempt ID derives from it.
	ID string `json:"i"`
}

// ShortRequestHash is the part of a request hash a link carries: enough to
// tell an amended request from the one the email showed.
func ShortRequestHash(h string) string {
	if len(h) > 16 {
		return h[:16]
	}
	return h
}

// AttemptID is the attempt ID of a decision made with this token.
func (c Claims) AttemptID() string { return "email:" + c.ID }

// ExpiresAt is the expiry as a time.
func (c Claims) ExpiresAt() time.Time { return time.Unix(c.Expires, 0).UTC() }

// Keys sign with the current key and verify with the current and previous
// ones.
type Keys struct {
	keys [][]byte // derived token keys, current first
	csrf []byte
	ids  []byte
}

// New derives keys from raw key material (current first).
func New(current []byte, previous ...[]byte) (*Keys, error) {
	all := append([][]byte{current}, previous...)
	k := &Keys{}
	for i, raw := range all {
		if len(raw) < MinKeyBytes {
			return nil, fmt.Errorf("email link key %d: %d bytes, want at least %d", i, len(raw), MinKeyBytes)
		}
		k.keys = append(k.keys, derive(raw, "signoff email link token v1"))
	}
	// CSRF and ID keys only ever need the current key: they protect
	// nothing that outlives a page view or a send.
	k.csrf = derive(current, "signoff email csrf v1")
	k.ids = derive(current, "signoff email link id v1")
	return k, nil
}

// derive separates uses of one key, so a MAC made for one purpose is never
// valid for another.
func derive(key []byte, label string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(label))
	return m.Sum(nil)
}

// ParseKey decodes a base64 key (standard or URL alphabet, padded or not).
func ParseKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			return b, nil
		}
	}
	return nil, errors.New("not base64")
}

// Parse derives keys from the values of SIGNOFF_EMAIL_LINK_KEY (current)
// and SIGNOFF_EMAIL_LINK_KEY_PREVIOUS (may be empty), which the
// composition root reads from the environment. ok is false when current is
// empty.
func Parse(current, previous string) (k *Keys, ok bool, err error) {
	cur := current
	if strings.TrimSpace(cur) == "" {
		return nil, false, nil
	}
	raw, err := ParseKey(cur)
	if err != nil {
		return nil, true, fmt.Errorf("%s: %w", config.EnvEmailLinkKey, err)
	}
	var prev [][]byte
	if p := previous; strings.TrimSpace(p) != "" {
		b, err := ParseKey(p)
		if err != nil {
			return nil, true, fmt.Errorf("%s: %w", config.EnvEmailLinkKeyPrevious, err)
		}
		prev = append(prev, b)
	}
	k, err = New(raw, prev...)
	if err != nil {
		return nil, true, err
	}
	return k, true, nil
}

const version = "v1"

// b64 decodes strictly: one token has one spelling.
var b64 = base64.RawURLEncoding.Strict()

// Sign returns the token for c.
func (k *Keys) Sign(c Claims) (string, error) {
	if c.Purpose == "" || c.Approval == "" || c.User == "" || c.ID == "" || c.Expires == 0 {
		return "", errors.New("email token: purpose, approval, user, id and expiry are required")
	}
	payload, err := json.Marshal(c)
	if err != nil {
		return "", fmt.Errorf("email token: %w", err)
	}
	body := version + "." + base64.RawURLEncoding.EncodeToString(payload)
	return body + "." + base64.RawURLEncoding.EncodeToString(mac(k.keys[0], body)), nil
}

func mac(key []byte, body string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(body))
	return m.Sum(nil)
}

// Verify checks the signature (current key, then previous ones) before
// reading anything, then the expiry. A token with a valid signature but
// past its expiry returns its claims with ErrExpired, so pages can say
// which approval it was for.
func (k *Keys) Verify(token string, now time.Time) (Claims, error) {
	var c Claims
	if len(token) > 2048 {
		return c, ErrMalformed
	}
	parts := strings.Split(token, ".")
	if len(parts) != 3 || parts[0] != version {
		return c, ErrMalformed
	}
	sig, err := b64.DecodeString(parts[2])
	if err != nil || len(sig) != sha256.Size {
		return c, ErrMalformed
	}
	body := parts[0] + "." + parts[1]
	valid := false
	for _, key := range k.keys {
		// Check every key, so timing does not tell which one matched.
		if hmac.Equal(mac(key, body), sig) {
			valid = true
		}
	}
	if !valid {
		return c, ErrSignature
	}
	payload, err := b64.DecodeString(parts[1])
	if err != nil {
		return c, ErrMalformed
	}
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil || c.Approval == "" || c.User == "" || c.ID == "" {
		return Claims{}, ErrMalformed
	}
	switch c.Purpose {
	case PurposeDecide, PurposeView, PurposeSession:
	default:
		return Claims{}, ErrMalformed
	}
	if !now.Before(c.ExpiresAt()) {
		return c, ErrExpired
	}
	return c, nil
}

var idEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// ID derives a link ID from parts (a Message-ID, a decision, an option):
// the same email sent again carries the same links, so a retried send can
// never count twice; outsiders cannot predict IDs without the key.
func (k *Keys) ID(parts ...string) string {
	m := hmac.New(sha256.New, k.ids)
	for _, p := range parts {
		m.Write([]byte(p))
		m.Write([]byte{0})
	}
	return strings.ToLower(idEncoding.EncodeToString(m.Sum(nil)[:20]))
}

// CSRF is the form token bound to a link and the browser's CSRF cookie.
func (k *Keys) CSRF(tokenID, cookie string) string {
	m := hmac.New(sha256.New, k.csrf)
	m.Write([]byte(tokenID))
	m.Write([]byte{0})
	m.Write([]byte(cookie))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// CheckCSRF compares in constant time.
func (k *Keys) CheckCSRF(tokenID, cookie, form string) bool {
	if cookie == "" || form == "" {
		return false
	}
	return hmac.Equal([]byte(k.CSRF(tokenID, cookie)), []byte(form))
}
