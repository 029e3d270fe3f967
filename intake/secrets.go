package intake

import (
	"context"
	"fmt"

	"github.com/signoff/signoff/secretchange"
)

// SecretProposer stages a secret change's values and makes its redacted
// diff (the secret_change action of the config in force).
type SecretProposer interface {
	Propose(ctx context.Context, id, target, secret string, edits []secretchange.Edit) (*secretchange.Change, error)
	Unpropose(ctx context.Context, id, target string) error
}

// SecretFields are the diff as request fields, so every channel that shows
// a request (Slack, email, web, CLI, log) shows what changes: one field
// per key, "changed: hmac-sha256:1a2b3c4d… (16 chars) → hmac-sha256:…
// (24 chars)".
func SecretFields(c *secretchange.Change) map[string]string {
	out := map[string]string{"secret": c.Secret + " on " + c.Target}
	for _, k := range c.Keys {
		v := k.Kind
		switch k.Kind {
		case secretchange.KindAdded:
			v += ": new " + fingerprintText(k.New)
		case secretchange.KindRemoved:
			v += ": was " + fingerprintText(k.Old)
		default:
			v += ": " + fingerprintText(k.Old) + " → " + fingerprintText(k.New)
		}
		out["key "+k.Key] = v
	}
	return out
}

func fingerprintText(f secretchange.Fingerprint) string {
	h := f.Hash
	if len(h) > len("hmac-sha256:")+12 {
		h = h[:len("hmac-sha256:")+12] + "…"
	}
	return fmt.Sprintf("%s (%d chars)", h, f.Length)
}
