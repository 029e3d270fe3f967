// Package secretstore reads and writes secrets in the stores Signoff
// changes (AWS Secrets Manager, HashiCorp Vault KV v2), and keeps the
// sealed staged values of proposed changes next to them. A secret is a
// set of key/value pairs (a JSON object in Secrets Manager, the data map
// in Vault). Nothing here logs or returns a value in an error.
package secretstore

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strconv"
	"strings"
	"sync"

	"github.com/signoff/signoff/approval"
)

// Secret is a secret's values now.
type Secret struct {
	Data map[string]string
	// Version is the store's version id ("" when absent).
	Version string
	Exists  bool
}

// Store is one configured target. Every method refuses a secret name or
// staging id that is not canonical (approval.ErrNotCanonical, marked
// ErrPermanent) before it calls anything.
type Store interface {
	// Read returns the secret now (Exists false when there is none).
	Read(ctx context.Context, name string) (Secret, error)
	// Write makes data the secret's next version, once per token: a retry
	// with the same token writes nothing more. expect is the version it
	// replaces ("" for none); a store that can check it refuses a write
	// over another version (ErrConflict).
	Write(ctx context.Context, name string, data map[string]string, token, expect string) (version string, err error)
	// Stage keeps a sealed blob for change id; Staged reads it back (ok
	// false when gone); Unstage destroys it (no error when gone).
	Stage(ctx context.Context, id, blob string) error
	Staged(ctx context.Context, id string) (blob string, ok bool, err error)
	Unstage(ctx context.Context, id string) error
}

// ErrConflict: the secret is not at the expected version.
var ErrConflict = errors.New("the secret changed meanwhile")

// StagingPrefix names where staged blobs live in a store.
const StagingPrefix = "signoff-staging/"

// checkName refuses, before anything is called, a secret name that is not
// canonical (approval.CheckName): the allow-list matched it as written,
// but Vault's client cleans "apps/../prod-db" to "prod-db". Permanent: a
// retry is refused the same way.
func checkName(name string) error {
	if err := approval.CheckName(name); err != nil {
		return permanent(fmt.Errorf("secret name: %w", err))
	}
	return nil
}

// stagedName is where change id's sealed values live: one segment under
// StagingPrefix, so no id reaches another secret.
func stagedName(id string) (string, error) {
	if err := approval.CheckName(id); err != nil {
		return "", permanent(fmt.Errorf("staging id: %w", err))
	}
	if strings.Contains(id, "/") {
		return "", permanent(fmt.Errorf("staging id: %w: %q holds '/'", approval.ErrNotCanonical, id))
	}
	return StagingPrefix + id, nil
}

// Memory is a Store in memory (tests, and `signoff dev` with no store
// configured). It counts writes per secret.
type Memory struct {
	mu      sync.Mutex
	secrets map[string]Secret
	tokens  map[string]string // token → version written
	staged  map[string]string
	writes  map[string]int
}

// NewMemory returns an empty store.
func NewMemory() *Memory {
	return &Memory{secrets: map[string]Secret{}, tokens: map[string]string{}, staged: map[string]string{}, writes: map[string]int{}}
}

// Read implements Store.
func (m *Memory) Read(_ context.Context, name string) (Secret, error) {
	if err := checkName(name); err != nil {
		return Secret{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.secrets[name]
	s.Data = maps.Clone(s.Data)
	return s, nil
}

// Write implements Store.
func (m *Memory) Write(_ context.Context, name string, data map[string]string, token, expect string) (string, error) {
	if err := checkName(name); err != nil {
		return "", err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if v, ok := m.tokens[name+"\x00"+token]; ok {
		return v, nil
	}
	cur := m.secrets[name]
	if cur.Version != expect {
		return "", fmt.Errorf("%w: at version %q, expected %q", ErrConflict, cur.Version, expect)
	}
	m.writes[name]++
	v := strconv.Itoa(m.writes[name])
	m.secrets[name] = Secret{Data: maps.Clone(data), Version: v, Exists: true}
	m.tokens[name+"\x00"+token] = v
	return v, nil
}

// Stage implements Store.
func (m *Memory) Stage(_ context.Context, id, blob string) error {
	if _, err := stagedName(id); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.staged[id] = blob
	return nil
}

// Staged implements Store.
func (m *Memory) Staged(_ context.Context, id string) (string, bool, error) {
	if _, err := stagedName(id); err != nil {
		return "", false, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.staged[id]
	return b, ok, nil
}

// Unstage implements Store.
func (m *Memory) Unstage(_ context.Context, id string) error {
	if _, err := stagedName(id); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.staged, id)
	return nil
}

// Set puts a secret as if written outside Signoff (tests).
func (m *Memory) Set(name string, data map[string]string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.writes[name]++
	m.secrets[name] = Secret{Data: maps.Clone(data), Version: strconv.Itoa(m.writes[name]), Exists: true}
}

// Writes counts the versions written to name.
func (m *Memory) Writes(name string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.writes[name]
}

// StagedCount is how many staged blobs are kept.
func (m *Memory) StagedCount() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.staged)
}
