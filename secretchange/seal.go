package secretchange

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// EnvKeys holds the secret change keys, "id:base64key[,id:base64key…]"
// (keys of at least 32 bytes): the first seals and fingerprints, all open.
// The same value on every gateway and worker; nothing else holds it.
const EnvKeys = "SIGNOFF_SECRET_KEYS"

// ActionType is the action type of a secret change request.
const ActionType = "secret_change"

// ErrNoKeys: proposals need the secret change keys.
var ErrNoKeys = errors.New("secret changes are off: " + EnvKeys + " is not set")

// Keys seal staged values and fingerprint them. Each master key derives
// two: one for fingerprints, one for sealing.
type Keys struct {
	currentID string
	masters   map[string][]byte
}

// ParseKeys reads an EnvKeys value.
func ParseKeys(spec string) (*Keys, error) {
	k := &Keys{masters: map[string][]byte{}}
	for i, entry := range strings.Split(strings.TrimSpace(spec), ",") {
		id, b64, ok := strings.Cut(strings.TrimSpace(entry), ":")
		if !ok || id == "" {
			return nil, fmt.Errorf("%s entry %d: want id:base64key", EnvKeys, i+1)
		}
		key, err := base64.StdEncoding.DecodeString(b64)
		if err != nil || len(key) < 32 {
			return nil, fmt.Errorf("%s entry %q: want a base64 key of at least 32 bytes", EnvKeys, id)
		}
		if _, dup := k.masters[id]; dup {
			return nil, fmt.Errorf("%s: key id %q twice", EnvKeys, id)
		}
		if i == 0 {
			k.currentID = id
		}
		k.masters[id] = key
	}
	return k, nil
}

// GenerateKeys returns one random key (dev and tests).
func GenerateKeys() *Keys {
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	return &Keys{currentID: "dev", masters: map[string][]byte{"dev": key}}
}

// Encode is the EnvKeys value of k.
func (k *Keys) Encode() string {
	parts := []string{k.currentID + ":" + base64.StdEncoding.EncodeToString(k.masters[k.currentID])}
	for id, key := range k.masters {
		if id != k.currentID {
			parts = append(parts, id+":"+base64.StdEncoding.EncodeToString(key))
		}
	}
	return strings.Join(parts, ",")
}

// derive is a sub-key of master for one purpose.
func derive(master []byte, purpose string) []byte {
	m := hmac.New(sha256.New, master)
	m.Write([]byte("signoff secret change v1 " + purpose))
	return m.Sum(nil)
}

// Fingerprinter fingerprints with the current key; For with a named one.
func (k *Keys) Fingerprinter() *Fingerprinter {
	f, _ := k.For(k.currentID)
	return f
}

// For is the fingerprinter of key id, which a change records.
func (k *Keys) For(id string) (*Fingerprinter, error) {
	m, ok := k.masters[id]
	if !ok {
		return nil, fmt.Errorf("secret change key %q is not held here (%s)", id, EnvKeys)
	}
	return NewFingerprinter(id, derive(m, "fingerprint"))
}

// sealed is a staged value set as stored: key id, nonce, ciphertext.
type sealed struct {
	KeyID      string `json:"kid"`
	Nonce      []byte `json:"n"`
	Ciphertext []byte `json:"c"`
}

// Seal encrypts edits for staging, bound to binding (the approval, target
// and secret): a blob sealed for one change does not open for another.
func (k *Keys) Seal(binding string, edits []Edit) (string, error) {
	aead, err := k.aead(k.currentID)
	if err != nil {
		return "", err
	}
	plain, err := json.Marshal(edits)
	if err != nil {
		return "", fmt.Errorf("seal: %w", err)
	}
	s := sealed{KeyID: k.currentID, Nonce: make([]byte, aead.NonceSize())}
	if _, err := rand.Read(s.Nonce); err != nil {
		return "", fmt.Errorf("seal: %w", err)
	}
	s.Ciphertext = aead.Seal(nil, s.Nonce, plain, []byte(binding))
	clear(plain)
	b, err := json.Marshal(s)
	if err != nil {
		return "", fmt.Errorf("seal: %w", err)
	}
	return "signoff-sealed-v1:" + base64.StdEncoding.EncodeToString(b), nil
}

// ErrOpen: the blob is not one this key ring sealed for this binding.
var ErrOpen = errors.New("staged values do not open: another change's, altered, or sealed with a key not held here")

// Open decrypts a Seal blob bound to binding.
func (k *Keys) Open(binding, blob string) ([]Edit, error) {
	raw, ok := strings.CutPrefix(blob, "signoff-sealed-v1:")
	if !ok {
		return nil, ErrOpen
	}
	b, err := base64.StdEncoding.DecodeString(raw)
	if err != nil {
		return nil, ErrOpen
	}
	var s sealed
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, ErrOpen
	}
	aead, err := k.aead(s.KeyID)
	if err != nil || len(s.Nonce) != aead.NonceSize() {
		return nil, ErrOpen
	}
	plain, err := aead.Open(nil, s.Nonce, s.Ciphertext, []byte(binding))
	if err != nil {
		return nil, ErrOpen
	}
	var edits []Edit
	err = json.Unmarshal(plain, &edits)
	clear(plain)
	if err != nil {
		return nil, ErrOpen
	}
	return edits, nil
}

func (k *Keys) aead(id string) (cipher.AEAD, error) {
	m, ok := k.masters[id]
	if !ok {
		return nil, ErrOpen
	}
	block, err := aes.NewCipher(derive(m, "staging"))
	if err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	return cipher.NewGCM(block)
}

// Binding is what a staged blob is bound to.
func Binding(approvalID, target, secret string) string {
	return approvalID + "\n" + target + "\n" + secret
}
