// Package proof lets the gateway prove to the workflow that a decision (or a
// cancel, break-glass or amendment) came through an authenticated request.
//
// Temporal access is not approval authority: anyone who can reach Temporal
// (CLI, Web UI, SDK) can send a signal or update naming any user. The
// gateway stamps what it verified with an HMAC over the message's canonical
// bytes; the workflow accepts only stamped messages. Keys come from the
// environment and rotate: the first key of the ring signs, every key
// verifies, and the workflow records each verdict in history so replay does
// not depend on which keys a worker holds later.
package proof

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
)

// KeysEnv is the environment variable holding the key ring:
// "id:base64key[,id:base64key...]", the first one signing.
const KeysEnv = "SIGNOFF_PROOF_KEYS"

// MinKeyBytes is the shortest key accepted.
const MinKeyBytes = 32

// Stamp is the proof attached to a message.
type Stamp struct {
	// KeyID names the key that made the MAC.
	KeyID string `json:"kid"`
	// IssuedAt is when the gateway made it; stale stamps are refused.
	IssuedAt time.Time `json:"iat"`
	// MAC is hex HMAC-SHA256 over the domain, key ID, time and subject.
	MAC string `json:"mac"`
}

// Errors of Verify.
var (
	ErrMissing    = errors.New("no proof of origin")
	ErrUnknownKey = errors.New("proof made with an unknown key")
	ErrBadMAC     = errors.New("proof does not match the message")
)

// Keyring signs with its first key and verifies with all of them.
type Keyring struct {
	signID string
	keys   map[string][]byte
}

var keyIDPattern = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,32}$`)

// Parse reads a ring from its environment form.
func Parse(spec string) (*Keyring, error) {
	k := &Keyring{keys: map[string][]byte{}}
	for i, part := range strings.Split(strings.TrimSpace(spec), ",") {
		id, enc, ok := strings.Cut(strings.TrimSpace(part), ":")
		if !ok || !keyIDPattern.MatchString(id) {
			return nil, fmt.Errorf("%s: entry %d: want id:base64key with an id of 1-32 letters, digits, '_', '.', '-'", KeysEnv, i+1)
		}
		key, err := base64.StdEncoding.DecodeString(enc)
		if err != nil {
			return nil, fmt.Errorf("%s: key %q: not base64: %w", KeysEnv, id, err)
		}
		if len(key) < MinKeyBytes {
			return nil, fmt.Errorf("%s: key %q: %d bytes, want at least %d", KeysEnv, id, len(key), MinKeyBytes)
		}
		if _, dup := k.keys[id]; dup {
			return nil, fmt.Errorf("%s: key id %q appears twice", KeysEnv, id)
		}
		k.keys[id] = key
		if i == 0 {
			k.signID = id
		}
	}
	return k, nil
}

// Generate makes a ring with one random key, for a single process that runs
// both gateway and worker (signoff dev, tests).
func Generate() *Keyring {
	key := make([]byte, MinKeyBytes)
	if _, err := rand.Read(key); err != nil {
		panic(fmt.Errorf("proof: random key: %w", err)) // crypto/rand does not fail on supported platforms
	}
	return &Keyring{signID: "dev", keys: map[string][]byte{"dev": key}}
}

// Encode is the ring's environment form, for handing it to child processes.
func (k *Keyring) Encode() string {
	parts := []string{k.signID + ":" + base64.StdEncoding.EncodeToString(k.keys[k.signID])}
	for id, key := range k.keys {
		if id != k.signID {
			parts = append(parts, id+":"+base64.StdEncoding.EncodeToString(key))
		}
	}
	return strings.Join(parts, ",")
}

// Sign stamps subject at time at.
func (k *Keyring) Sign(subject []byte, at time.Time) Stamp {
	at = at.UTC().Truncate(time.Millisecond)
	return Stamp{KeyID: k.signID, IssuedAt: at, MAC: hex.EncodeToString(mac(k.keys[k.signID], k.signID, at, subject))}
}

// Verify checks a stamp against subject.
func (k *Keyring) Verify(subject []byte, s *Stamp) error {
	if s == nil || s.MAC == "" {
		return ErrMissing
	}
	key, ok := k.keys[s.KeyID]
	if !ok {
		return fmt.Errorf("%w %q", ErrUnknownKey, s.KeyID)
	}
	got, err := hex.DecodeString(s.MAC)
	if err != nil || !hmac.Equal(got, mac(key, s.KeyID, s.IssuedAt.UTC(), subject)) {
		return ErrBadMAC
	}
	return nil
}

func mac(key []byte, id string, at time.Time, subject []byte) []byte {
	m := hmac.New(sha256.New, key)
	// Domain, key ID and time are length-delimited by the newlines: none
	// of them can hold one.
	fmt.Fprintf(m, "signoff-proof-v1\n%s\n%d\n", id, at.UnixMilli())
	m.Write(subject)
	return m.Sum(nil)
}

// Verdict is what a check of a stamp found. The workflow records it in
// history (as a local activity's result), so replay gives the same verdict
// whatever keys a worker holds later.
type Verdict struct {
	OK       bool      `json:"ok"`
	KeyID    string    `json:"key_id,omitempty"`
	IssuedAt time.Time `json:"issued_at,omitzero"`
	Error    string    `json:"error,omitempty"`
}

// Check verifies a stamp over subject and says what it found. A nil ring
// refuses everything (deny by default).
func (k *Keyring) Check(subject []byte, s Stamp) Verdict {
	if k == nil {
		return Verdict{Error: "this worker holds no proof keys (" + KeysEnv + ")"}
	}
	if err := k.Verify(subject, &s); err != nil {
		return Verdict{Error: err.Error()}
	}
	return Verdict{OK: true, KeyID: s.KeyID, IssuedAt: s.IssuedAt}
}
