package secretstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/hashicorp/vault/api"
)

// VaultOptions say how to reach a Vault KV version 2 engine.
type VaultOptions struct {
	// Address of the server (https://vault.example.com:8200).
	Address string
	// Mount is the KV v2 engine's mount path; default "secret".
	Mount string
	// Token authenticates every call.
	Token string

	// tune adjusts the client's config (tests: retries that do not wait).
	tune func(*api.Config)
}

// Vault is a Store over a Vault KV version 2 engine: a secret is the data
// of its current version, all values strings; its version is the KV
// version number. Staged blobs are secrets of their own at
// StagingPrefix+id in the same mount, deleted with all their versions.
//
// The client is Vault's own: it reads the VAULT_* environment variables
// (VAULT_CACERT, VAULT_CLIENT_CERT, VAULT_NAMESPACE, VAULT_MAX_RETRIES,
// ...) for what the options do not say, and retries 5xx answers. The
// token is used as given: it is not renewed.
//
// Policy needed: create, read and update on <mount>/data/<secrets> and
// <mount>/data/signoff-staging/*, delete on
// <mount>/metadata/signoff-staging/*.
type Vault struct {
	kv    *api.KVv2
	mount string
}

// NewVault returns a Store over the KV v2 engine at o.Mount; it does not
// call the server.
func NewVault(o VaultOptions) (*Vault, error) {
	if o.Mount = strings.Trim(o.Mount, "/"); o.Mount == "" {
		o.Mount = "secret"
	}
	u, err := url.Parse(o.Address)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("vault address %q: want an http(s) URL", o.Address)
	}
	if o.Token == "" {
		return nil, errors.New("no vault token")
	}
	cfg := api.DefaultConfig()
	if cfg.Error != nil {
		return nil, fmt.Errorf("vault client config: %w", cfg.Error)
	}
	cfg.Address = o.Address
	if o.tune != nil {
		o.tune(cfg)
	}
	c, err := api.NewClient(cfg)
	if err != nil {
		return nil, fmt.Errorf("vault client: %w", err)
	}
	c.SetToken(o.Token)
	return &Vault{kv: c.KVv2(o.Mount), mount: o.Mount}, nil
}

// Read implements Store. A secret whose current version is deleted reads
// as absent, with that version: a Write expecting it replaces it.
func (v *Vault) Read(ctx context.Context, name string) (Secret, error) {
	if err := checkName(name); err != nil {
		return Secret{}, err
	}
	s, err := v.kv.Get(ctx, name)
	if errors.Is(err, api.ErrSecretNotFound) {
		return Secret{}, nil
	}
	if err != nil {
		return Secret{}, classifyVault(fmt.Errorf("read secret %s: %w", name, err))
	}
	version := ""
	if s.VersionMetadata != nil && s.VersionMetadata.Version > 0 {
		version = strconv.Itoa(s.VersionMetadata.Version)
	}
	if s.Data == nil { // the current version was deleted or destroyed
		return Secret{Version: version}, nil
	}
	data, err := stringValues(name, s.Data)
	if err != nil {
		return Secret{}, err
	}
	return Secret{Data: data, Version: version, Exists: true}, nil
}

// Write implements Store with check-and-set: the write is refused unless
// the secret is at version expect (absent when ""). Vault keeps no token,
// so a retry of a write that went through is refused too; Write then
// reads the secret: if it holds data, the write happened and its version
// is returned, else ErrConflict.
func (v *Vault) Write(ctx context.Context, name string, data map[string]string, _, expect string) (string, error) {
	if err := checkName(name); err != nil {
		return "", err
	}
	cas := 0
	if expect != "" {
		n, err := strconv.Atoi(expect)
		if err != nil || n < 1 {
			return v.mismatch(ctx, name, data, expect)
		}
		cas = n
	}
	values := make(map[string]any, len(data))
	for k, val := range data {
		values[k] = val
	}
	s, err := v.kv.Put(ctx, name, values, api.WithCheckAndSet(cas))
	if isCASMismatch(err) {
		return v.mismatch(ctx, name, data, expect)
	}
	if err != nil {
		return "", classifyVault(fmt.Errorf("write secret %s: %w", name, err))
	}
	if s.VersionMetadata == nil || s.VersionMetadata.Version < 1 {
		return "", fmt.Errorf("write secret %s: vault answered no version", name)
	}
	return strconv.Itoa(s.VersionMetadata.Version), nil
}

// mismatch answers a write whose check-and-set failed: the version now if
// it holds data (an earlier call wrote it), else ErrConflict.
func (v *Vault) mismatch(ctx context.Context, name string, data map[string]string, expect string) (string, error) {
	cur, err := v.Read(ctx, name)
	if err != nil {
		return "", err
	}
	if cur.Exists && maps.Equal(cur.Data, data) {
		return cur.Version, nil
	}
	return "", fmt.Errorf("secret %s: %w: at version %q, expected %q", name, ErrConflict, cur.Version, expect)
}

// stagedKey holds a staged blob in its secret.
const stagedKey = "blob"

// Stage implements Store.
func (v *Vault) Stage(ctx context.Context, id, blob string) error {
	name, err := stagedName(id)
	if err != nil {
		return err
	}
	if _, err := v.kv.Put(ctx, name, map[string]any{stagedKey: blob}); err != nil {
		return classifyVault(fmt.Errorf("stage %s: %w", name, err))
	}
	return nil
}

// Staged implements Store.
func (v *Vault) Staged(ctx context.Context, id string) (string, bool, error) {
	name, err := stagedName(id)
	if err != nil {
		return "", false, err
	}
	s, err := v.kv.Get(ctx, name)
	switch {
	case errors.Is(err, api.ErrSecretNotFound):
		return "", false, nil
	case err != nil:
		return "", false, classifyVault(fmt.Errorf("read %s: %w", name, err))
	case s.Data == nil:
		return "", false, nil
	}
	blob, ok := s.Data[stagedKey].(string)
	if !ok {
		return "", false, permanent(fmt.Errorf("read %s: it holds no staged change", name))
	}
	return blob, true, nil
}

// Unstage implements Store: it deletes every version and the metadata.
func (v *Vault) Unstage(ctx context.Context, id string) error {
	name, err := stagedName(id)
	if err != nil {
		return err
	}
	if err := v.kv.DeleteMetadata(ctx, name); err != nil {
		return classifyVault(fmt.Errorf("delete %s: %w", name, err))
	}
	return nil
}

// stringValues checks a secret's values are strings; errors name keys,
// never values.
func stringValues(name string, in map[string]any) (map[string]string, error) {
	out := make(map[string]string, len(in))
	for _, k := range sortedKeys(in) {
		s, ok := in[k].(string)
		if !ok {
			return nil, permanent(fmt.Errorf("secret %s: key %q holds %s, not a string (Signoff changes secrets of string values only)", name, k, goKind(in[k])))
		}
		out[k] = s
	}
	return out, nil
}

// goKind names the kind of a decoded JSON value, for errors.
func goKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case json.Number, float64, int, int64:
		return "a number"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return "a non-string value"
}

// isCASMismatch tells whether err is Vault refusing a check-and-set.
func isCASMismatch(err error) bool {
	var re *api.ResponseError
	return errors.As(err, &re) && re.StatusCode == http.StatusBadRequest &&
		strings.Contains(strings.Join(re.Errors, "\n"), "check-and-set")
}

// classifyVault marks Vault's 4xx answers (permission denied, a bad
// request, no such mount) ErrPermanent; 5xx (sealed, standby, outage),
// 412, 429 and transport errors stay plain, to be retried.
func classifyVault(err error) error {
	var re *api.ResponseError
	if !errors.As(err, &re) {
		return err
	}
	switch code := re.StatusCode; {
	case code >= 500, code == http.StatusPreconditionFailed, code == http.StatusTooManyRequests, code == http.StatusRequestTimeout:
		return err
	case code >= 400:
		return permanent(err)
	}
	return err
}
