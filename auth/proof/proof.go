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
//
// Each stamp also carries an Ed25519 signature by a key derived from the
// same secret (HKDF), whose public half is no secret: a workflow that holds
// the public keys (recorded in its history when it started) checks a
// signature in its own code, with no local activity and no marker per
// message.
package proof

import (
	"crypto/ed25519"
	"crypto/hkdf"
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
	// Sig is base64url Ed25519 over another domain, the key ID, time and
	// subject, by the key derived from the same secret (SignatureKey).
	Sig string `json:"sig,omitempty"`
}

// Errors of Verify.
var (
	ErrMissing    = errors.New("no proof of origin")
	ErrUnknownKey = errors.New("proof made with an unknown key")
	ErrBadMAC     = errors.New("proof does not match the message")
	// ErrBadSignature: the signature is not the named key's over the
	// message.
	ErrBadSignature = errors.New("proof signature does not match the message")
)

// Keyring signs with its first key and verifies with all of them.
type Keyring struct {
	signID string
	keys   map[string][]byte
	// signers are the Ed25519 keys derived from keys.
	signers map[string]ed25519.PrivateKey
}

// SignatureKey is the Ed25519 key derived from an HMAC key: HKDF-SHA256
// with a label of its own, so the public half says nothing of the secret.
func SignatureKey(secret []byte) ed25519.PrivateKey {
	seed, err := hkdf.Key(sha256.New, secret, nil, "signoff-proof-ed25519-v1", ed25519.SeedSize)
	if err != nil {
		panic(fmt.Errorf("proof: derive signature key: %w", err)) // only for lengths HKDF cannot give
	}
	return ed25519.NewKeyFromSeed(seed)
}

// add puts a key in the ring with its derived signature key.
func (k *Keyring) add(id string, key []byte) {
	if k.keys == nil {
		k.keys, k.signers = map[string][]byte{}, map[string]ed25519.PrivateKey{}
	}
	k.keys[id] = key
	k.signers[id] = SignatureKey(key)
}

// PublicKeys are the public halves of the ring's signature keys, by key
// ID: what a workflow needs to check signatures itself.
func (k *Keyring) PublicKeys() map[string][]byte {
	if k == nil {
		return nil
	}
	out := make(map[string][]byte, len(k.signers))
	for id, sk := range k.signers {
		out[id] = []byte(sk.Public().(ed25519.PublicKey))
	}
	return out
}

var keyIDPattern = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,32}$`)

// Parse reads a ring from its environment form.
func Parse(spec string) (*Keyring, error) {
	k := &Keyring{}
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
		k.add(id, key)
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
	k := &Keyring{signID: "dev"}
	k.add("dev", key)
	return k
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
	return Stamp{KeyID: k.signID, IssuedAt: at, MAC: hex.EncodeToString(mac(k.keys[k.signID], k.signID, at, subject)),
		Sig: base64.RawURLEncoding.EncodeToString(ed25519.Sign(k.signers[k.signID], signed(k.signID, at, subject)))}
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

// signed is what a signature covers: a domain of its own (a MAC and a
// signature are never over the same bytes), the key ID, time and subject.
func signed(id string, at time.Time, subject []byte) []byte {
	head := fmt.Sprintf("signoff-proof-sig-v1\n%s\n%d\n", id, at.UnixMilli())
	return append([]byte(head), subject...)
}

// CheckSignature checks a stamp's signature over subject with public keys
// (PublicKeys) and says what it found. It is pure: workflow code calls it,
// and replay gives the same verdict for the same history. known is false
// when the stamp has no signature or names a key not in keys: the caller
// then checks the MAC with the ring instead.
func CheckSignature(keys map[string][]byte, subject []byte, s Stamp) (v Verdict, known bool) {
	pub, ok := keys[s.KeyID]
	if !ok || s.Sig == "" || len(pub) != ed25519.PublicKeySize {
		return Verdict{}, false
	}
	sig, err := base64.RawURLEncoding.Strict().DecodeString(s.Sig)
	if err != nil || !ed25519.Verify(ed25519.PublicKey(pub), signed(s.KeyID, s.IssuedAt.UTC(), subject), sig) {
		return Verdict{Error: ErrBadSignature.Error()}, true
	}
	return Verdict{OK: true, KeyID: s.KeyID, IssuedAt: s.IssuedAt}, true
}

// Verdict is what a check of a stamp found. The workflow records it in
// history (as a local activity's result), so replay gives the same verdict
// whatever keys a worker holds later.
type Verdict struct {
	OK       bool      `json:"ok"`
	KeyID    string    `json:"key_id,omitempty"`
	IssuedAt time.Time `json:"issued_at,omitzero"`
	Error    string    `json:"error,omitempty"`
	// PublicKeys are the checking ring's public keys, when the caller
	// asked for them (a workflow refreshing the keys it checks
	// signatures with).
	PublicKeys map[string][]byte `json:"public_keys,omitempty"`
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
