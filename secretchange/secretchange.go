// Package secretchange holds the rules of a secret change request: what a
// proposal may change, the redacted diff approvers see (keys, operations,
// keyed fingerprints and lengths, never a value), and how the approved
// change applies to the secret's current values. Values live only in
// memory here: the gateway seals them for staging, the worker opens them
// to apply, and neither returns or logs them.
package secretchange

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
)

// Op is what a change does to one key.
type Op string

// Operations: set adds a key or changes it; rotate changes a key that
// exists (refused if it does not); delete removes one that exists.
const (
	OpSet    Op = "set"
	OpRotate Op = "rotate"
	OpDelete Op = "delete"
)

// Limits of one proposal.
const (
	MaxKeys       = 50
	MaxValueBytes = 32 << 10
)

// keyName is the key charset every store accepts (environment-variable
// like, plus . and -).
var keyName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.-]{0,127}$`)

// Edit is one key's proposed change, with its value: only in memory.
type Edit struct {
	Key   string
	Op    Op
	Value string
}

// Fingerprint identifies a value without revealing it: a keyed hash (the
// staging key's fingerprint key), per secret and key, so two versions of
// one key compare and nothing else does. Empty for no value.
type Fingerprint struct {
	// Hash is "hmac-sha256:" and 16 bytes of hex.
	Hash   string `json:"hash,omitempty"`
	Length int    `json:"length,omitempty"`
}

// KeyChange is one line of the redacted diff.
type KeyChange struct {
	Key string `json:"key"`
	Op  Op     `json:"op"`
	// Kind says what approvers see: added, changed, unchanged (the same
	// value again), removed.
	Kind string      `json:"kind"`
	Old  Fingerprint `json:"old,omitzero"`
	New  Fingerprint `json:"new,omitzero"`
}

// Diff kinds.
const (
	KindAdded     = "added"
	KindChanged   = "changed"
	KindUnchanged = "unchanged"
	KindRemoved   = "removed"
)

// Change is what an approval carries of a secret change: where, the
// redacted diff, and the version it was computed against. It is part of
// the request, so the content binding covers it.
type Change struct {
	Target string      `json:"target"`
	Secret string      `json:"secret"`
	Keys   []KeyChange `json:"keys"`
	// BaseVersion is the secret's version the diff was made against
	// ("" when the secret did not exist).
	BaseVersion string `json:"base_version,omitempty"`
	// KeyID names the fingerprint key, so a rotated key is noticed.
	KeyID string `json:"key_id"`
}

// Fingerprinter computes fingerprints with one key.
type Fingerprinter struct {
	ID  string
	key []byte
}

// NewFingerprinter returns a fingerprinter with key (at least 32 bytes).
func NewFingerprinter(id string, key []byte) (*Fingerprinter, error) {
	if len(key) < 32 {
		return nil, errors.New("fingerprint key: want at least 32 bytes")
	}
	return &Fingerprinter{ID: id, key: key}, nil
}

// Of fingerprints value of key in target's secret.
func (f *Fingerprinter) Of(target, secret, key, value string) Fingerprint {
	m := hmac.New(sha256.New, f.key)
	// Length-prefixed parts: no two different tuples hash the same input.
	for _, p := range []string{target, secret, key, value} {
		fmt.Fprintf(m, "%d:%s", len(p), p)
	}
	return Fingerprint{Hash: "hmac-sha256:" + hex.EncodeToString(m.Sum(nil)[:16]), Length: len(value)}
}

// Check validates edits before anything is read or staged. Errors never
// quote a value.
func Check(edits []Edit) error {
	if len(edits) == 0 {
		return errors.New("no change: give at least one key to set, rotate or delete")
	}
	if len(edits) > MaxKeys {
		return fmt.Errorf("%d keys: at most %d per change", len(edits), MaxKeys)
	}
	seen := map[string]bool{}
	for _, e := range edits {
		switch {
		case !keyName.MatchString(e.Key):
			return fmt.Errorf("key %q: want letters, digits, _ . - (at most 128, not starting with a digit)", truncate(e.Key, 40))
		case seen[e.Key]:
			return fmt.Errorf("key %s: changed twice", e.Key)
		case e.Op != OpSet && e.Op != OpRotate && e.Op != OpDelete:
			return fmt.Errorf("key %s: op %q: want set, rotate or delete", e.Key, truncate(string(e.Op), 20))
		case e.Op == OpDelete && e.Value != "":
			return fmt.Errorf("key %s: delete takes no value", e.Key)
		case e.Op != OpDelete && e.Value == "":
			return fmt.Errorf("key %s: %s needs a value", e.Key, e.Op)
		case len(e.Value) > MaxValueBytes:
			return fmt.Errorf("key %s: value longer than %d bytes", e.Key, MaxValueBytes)
		}
		seen[e.Key] = true
	}
	return nil
}

// Diff is the redacted diff of edits against current (the secret's
// values now; nil when it does not exist), sorted by key.
func Diff(f *Fingerprinter, target, secret string, current map[string]string, edits []Edit) ([]KeyChange, error) {
	if err := Check(edits); err != nil {
		return nil, err
	}
	var out []KeyChange
	for _, e := range edits {
		old, exists := current[e.Key]
		kc := KeyChange{Key: e.Key, Op: e.Op}
		if exists {
			kc.Old = f.Of(target, secret, e.Key, old)
		}
		switch {
		case e.Op == OpDelete && !exists:
			return nil, fmt.Errorf("key %s: delete: no such key", e.Key)
		case e.Op == OpRotate && !exists:
			return nil, fmt.Errorf("key %s: rotate: no such key (set adds one)", e.Key)
		case e.Op == OpDelete:
			kc.Kind = KindRemoved
		case !exists:
			kc.Kind, kc.New = KindAdded, f.Of(target, secret, e.Key, e.Value)
		default:
			kc.New = f.Of(target, secret, e.Key, e.Value)
			kc.Kind = KindChanged
			if kc.New.Hash == kc.Old.Hash {
				kc.Kind = KindUnchanged
			}
		}
		out = append(out, kc)
	}
	slices.SortFunc(out, func(a, b KeyChange) int { return strings.Compare(a.Key, b.Key) })
	return out, nil
}

// Errors of applying an approved change.
var (
	// ErrStagedMismatch: the staged values are not those approved.
	ErrStagedMismatch = errors.New("the staged values do not match the approved diff")
	// ErrChangedSince: the secret changed since the diff was made, in a
	// key the change touches; applying would undo someone's change.
	ErrChangedSince = errors.New("the secret changed since the change was proposed")
)

// Verify checks that the staged edits are exactly those the approved
// diff describes (same keys, operations and new fingerprints).
func (c Change) Verify(f *Fingerprinter, edits []Edit) error {
	if f.ID != c.KeyID {
		return fmt.Errorf("%w: fingerprinted with key %q, this worker holds %q", ErrStagedMismatch, c.KeyID, f.ID)
	}
	if len(edits) != len(c.Keys) {
		return fmt.Errorf("%w: %d keys staged, %d approved", ErrStagedMismatch, len(edits), len(c.Keys))
	}
	byKey := map[string]KeyChange{}
	for _, k := range c.Keys {
		byKey[k.Key] = k
	}
	for _, e := range edits {
		k, ok := byKey[e.Key]
		if !ok || k.Op != e.Op {
			return fmt.Errorf("%w: key %s", ErrStagedMismatch, e.Key)
		}
		if e.Op != OpDelete && f.Of(c.Target, c.Secret, e.Key, e.Value) != k.New {
			return fmt.Errorf("%w: key %s", ErrStagedMismatch, e.Key)
		}
	}
	return nil
}

// Apply returns current with the change made, or done=true when current
// already is the changed secret (a retry after the write). Keys the change
// touches must still hold what the diff was made against.
func (c Change) Apply(f *Fingerprinter, current map[string]string, edits []Edit) (next map[string]string, done bool, err error) {
	if c.Applied(f, current) {
		return current, true, nil
	}
	byKey := map[string]KeyChange{}
	for _, k := range c.Keys {
		byKey[k.Key] = k
	}
	next = maps.Clone(current)
	if next == nil {
		next = map[string]string{}
	}
	for _, e := range edits {
		k := byKey[e.Key]
		old, exists := current[e.Key]
		var now Fingerprint
		if exists {
			now = f.Of(c.Target, c.Secret, e.Key, old)
		}
		if now != k.Old {
			return nil, false, fmt.Errorf("%w: key %s", ErrChangedSince, e.Key)
		}
		if e.Op == OpDelete {
			delete(next, e.Key)
		} else {
			next[e.Key] = e.Value
		}
	}
	return next, false, nil
}

// Applied reports whether values already hold the change: every key's
// fingerprint is the approved new one (absent for deletes).
func (c Change) Applied(f *Fingerprinter, values map[string]string) bool {
	for _, k := range c.Keys {
		v, exists := values[k.Key]
		if k.Op == OpDelete {
			if exists {
				return false
			}
			continue
		}
		if !exists || f.Of(c.Target, c.Secret, k.Key, v) != k.New {
			return false
		}
	}
	return true
}

// Summary is one line for prompts and logs: "3 keys: DB_PASSWORD changed,
// API_KEY added, OLD removed".
func (c Change) Summary() string {
	parts := make([]string, 0, len(c.Keys))
	for _, k := range c.Keys {
		parts = append(parts, k.Key+" "+k.Kind)
	}
	return fmt.Sprintf("%d key(s) of %s on %s: %s", len(c.Keys), c.Secret, c.Target, strings.Join(parts, ", "))
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
