package action

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path"
	"regexp"
	"time"

	"github.com/signoff/signoff/approval"
	"github.com/signoff/signoff/secretchange"
	"github.com/signoff/signoff/store/secretstore"
)

// SecretChangeType applies an approved change to a production secret.
const SecretChangeType = secretchange.ActionType

// SecretChange is the secret_change action. The approval carries only the
// redacted diff (approval.Request.Secret); the values were staged, sealed
// and bound to the approval, in the target store when it was proposed.
// Run opens them, checks they are what was approved, writes the secret
// once (an idempotency token per approval; a retry finds the write done
// by fingerprint), reads it back, destroys the staged values, then rolls
// the dependents. Discard destroys the staged values of a change that is
// not applied. No value is ever returned, logged or put in an error.
type SecretChange struct {
	Targets map[string]SecretTarget
	// Keys open staged values and fingerprint (SIGNOFF_SECRET_KEYS); nil:
	// every change fails (deny by default).
	Keys *secretchange.Keys
	// Client calls the roll webhooks.
	Client *http.Client
	Now    func() time.Time
}

// SecretTarget is one configured store.
type SecretTarget struct {
	Store secretstore.Store
	// Secrets are path.Match patterns of the secret names that may be
	// changed here; none: none may.
	Secrets []string
	// Roll, when set, is told after each applied change so it restarts
	// what reads the secret.
	Roll *RollHook
}

// RollHook is a signed webhook called after a change is applied, with
// {"approval_id","target","secret","version"}, Idempotency-Key
// "<approval id>:roll", and the webhook action's timestamp and signature
// headers.
type RollHook struct {
	URL    string
	Secret []byte
}

var secretName = regexp.MustCompile(`^[A-Za-z0-9/_+=.@-]{1,512}$`)

// Validate checks target and secret name; the diff is the gateway's.
func (s *SecretChange) Validate(a approval.Action) error {
	if a.URL != "" {
		return errors.New("secret_change takes no url")
	}
	for k := range a.Params {
		if k != "target" && k != "secret" {
			return fmt.Errorf("params.%s: unknown (target, secret)", k)
		}
	}
	t, ok := s.Targets[a.Params["target"]]
	if !ok {
		return fmt.Errorf("params.target %q is not a configured target (actions.secrets.targets)", a.Params["target"])
	}
	name := a.Params["secret"]
	if !secretName.MatchString(name) {
		return fmt.Errorf("params.secret %q: want a secret name or path (letters, digits, / _ + = . @ -)", name)
	}
	// Matched as written, but read as the store cleans it: "apps/../prod-db"
	// matches "apps/*/*" and Vault reads prod-db.
	if err := approval.CheckName(name); err != nil {
		return fmt.Errorf("params.secret: %w", err)
	}
	for _, p := range t.Secrets {
		if ok, _ := path.Match(p, name); ok {
			return nil
		}
	}
	return fmt.Errorf("params.secret %q may not be changed on %s (allowed: %v)", name, a.Params["target"], t.Secrets)
}

// change is the approval's diff, checked against its action.
func (s *SecretChange) change(st *approval.State) (*secretchange.Change, SecretTarget, *secretchange.Fingerprinter, error) {
	a := st.Request.Action
	if err := s.Validate(a); err != nil {
		return nil, SecretTarget{}, nil, Permanent(err)
	}
	c := st.Request.Secret
	if c == nil || c.Target != a.Params["target"] || c.Secret != a.Params["secret"] {
		return nil, SecretTarget{}, nil, Permanent(errors.New("the approval carries no diff for this secret"))
	}
	if s.Keys == nil {
		return nil, SecretTarget{}, nil, Permanent(errors.New("this worker holds no secret change keys (" + secretchange.EnvKeys + ")"))
	}
	f, err := s.Keys.For(c.KeyID)
	if err != nil {
		return nil, SecretTarget{}, nil, Permanent(err)
	}
	return c, s.Targets[c.Target], f, nil
}

// Run applies the approved change.
func (s *SecretChange) Run(ctx context.Context, st *approval.State) (string, error) {
	c, t, f, err := s.change(st)
	if err != nil {
		return "", err
	}
	cur, err := t.Store.Read(ctx, c.Secret)
	if err != nil {
		return "", storeErr(fmt.Errorf("read %s: %w", c.Secret, err))
	}
	blob, staged, err := t.Store.Staged(ctx, st.ID)
	if err != nil {
		return "", storeErr(fmt.Errorf("read the staged values: %w", err))
	}
	version, wrote := cur.Version, false
	switch {
	case !staged && c.Applied(f, cur.Data):
		// A retry after the write and the clean-up: nothing left to do but
		// the roll.
	case !staged:
		return "", Permanent(errors.New("the staged values are gone: propose the change again"))
	default:
		edits, err := s.Keys.Open(secretchange.Binding(st.ID, c.Target, c.Secret), blob)
		if err != nil {
			return "", Permanent(err)
		}
		if err := c.Verify(f, edits); err != nil {
			return "", Permanent(err)
		}
		next, done, err := c.Apply(f, cur.Data, edits)
		if err != nil {
			return "", Permanent(err)
		}
		if !done {
			// The version the read-back sees is the one reported.
			if _, err := t.Store.Write(ctx, c.Secret, next, "signoff-apply-"+st.ID, cur.Version); err != nil {
				return "", storeErr(fmt.Errorf("write %s: %w", c.Secret, err))
			}
			wrote = true
		}
		back, err := t.Store.Read(ctx, c.Secret)
		if err != nil {
			return "", storeErr(fmt.Errorf("read %s back: %w", c.Secret, err))
		}
		if !c.Applied(f, back.Data) {
			return "", fmt.Errorf("read %s back: the keys do not hold the approved values", c.Secret)
		}
		version = back.Version
		if err := t.Store.Unstage(ctx, st.ID); err != nil {
			return "", storeErr(fmt.Errorf("destroy the staged values: %w", err))
		}
	}
	out := fmt.Sprintf("%s on %s: version %s (verified: %d key(s) read back by fingerprint); staged values destroyed",
		c.Secret, c.Target, version, len(c.Keys))
	if wrote {
		out = "wrote " + out
	} else {
		out = "already applied: " + out
	}
	if t.Roll != nil {
		status, err := s.roll(ctx, t.Roll, st.ID, c, version)
		if err != nil {
			return "", err
		}
		out += "; rolled dependents (" + status + ")"
	}
	return out, nil
}

// storeErr makes the store's errors that retrying cannot fix (access
// denied, a value that is not key/value pairs) permanent.
func storeErr(err error) error {
	if errors.Is(err, secretstore.ErrPermanent) {
		return Permanent(err)
	}
	return err
}

// Discard destroys the staged values of a change that was not applied.
func (s *SecretChange) Discard(ctx context.Context, st *approval.State) (string, error) {
	c, t, _, err := s.change(st)
	if err != nil {
		return "", err
	}
	if err := t.Store.Unstage(ctx, st.ID); err != nil {
		return "", storeErr(fmt.Errorf("destroy the staged values: %w", err))
	}
	return fmt.Sprintf("staged values of %s on %s destroyed; the secret was not changed", c.Secret, c.Target), nil
}

// roll tells the roll webhook, once per approval (Idempotency-Key).
func (s *SecretChange) roll(ctx context.Context, h *RollHook, id string, c *secretchange.Change, version string) (string, error) {
	body, err := json.Marshal(map[string]string{"approval_id": id, "target": c.Target, "secret": c.Secret, "version": version})
	if err != nil {
		return "", Permanent(err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.URL, bytes.NewReader(body))
	if err != nil {
		return "", Permanent(fmt.Errorf("roll webhook: %w", err))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", id+":roll")
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	signRequest(req, h.Secret, body, now())
	client := s.Client
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Second}
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", fmt.Errorf("roll webhook: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return "HTTP " + resp.Status, nil
	case resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusRequestTimeout:
		return "", fmt.Errorf("roll webhook: HTTP %s", resp.Status)
	}
	return "", Permanent(fmt.Errorf("roll webhook: HTTP %s", resp.Status))
}

// ErrNoSecretKeys: proposals need the secret change keys.
var ErrNoSecretKeys = secretchange.ErrNoKeys

// Propose stages edits of target's secret for approval id, sealed and
// bound to it, and returns the redacted diff against the secret now. The
// gateway calls it before it starts the approval; Unpropose undoes it
// when the start fails. Errors name keys, never values.
func (s *SecretChange) Propose(ctx context.Context, id, target, secret string, edits []secretchange.Edit) (*secretchange.Change, error) {
	if err := s.Validate(approval.Action{Type: SecretChangeType, Params: map[string]string{"target": target, "secret": secret}}); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if s.Keys == nil {
		return nil, ErrNoSecretKeys
	}
	t := s.Targets[target]
	f := s.Keys.Fingerprinter()
	cur, err := t.Store.Read(ctx, secret)
	if err != nil {
		return nil, fmt.Errorf("read %s on %s: %w", secret, target, err)
	}
	diff, err := secretchange.Diff(f, target, secret, cur.Data, edits)
	clear(cur.Data)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	blob, err := s.Keys.Seal(secretchange.Binding(id, target, secret), edits)
	if err != nil {
		return nil, err
	}
	if err := t.Store.Stage(ctx, id, blob); err != nil {
		return nil, fmt.Errorf("stage on %s: %w", target, err)
	}
	return &secretchange.Change{Target: target, Secret: secret, Keys: diff, BaseVersion: cur.Version, KeyID: f.ID}, nil
}

// Unpropose destroys what Propose staged for id.
func (s *SecretChange) Unpropose(ctx context.Context, id, target string) error {
	t, ok := s.Targets[target]
	if !ok {
		return nil
	}
	return t.Store.Unstage(ctx, id)
}
