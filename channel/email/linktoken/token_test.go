package linktoken

import (
	"bytes"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/signoff/signoff/approval"
	"github.com/signoff/signoff/config"
)

func key(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }

func mustKeys(t *testing.T, cur []byte, prev ...[]byte) *Keys {
	t.Helper()
	k, err := New(cur, prev...)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

var now = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func claims() Claims {
	return Claims{
		Purpose: PurposeDecide, Approval: "abcdefghijklmnopqrstuvwxyz", User: "bob",
		Decision: approval.DecisionApprove, Option: "ship", RequestHash: "0123456789abcdef",
		Expires: now.Add(time.Hour).Unix(), ID: "id1",
	}
}

func TestRoundTrip(t *testing.T) {
	k := mustKeys(t, key(1))
	tok, err := k.Sign(claims())
	if err != nil {
		t.Fatal(err)
	}
	got, err := k.Verify(tok, now)
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	if got != claims() {
		t.Fatalf("claims changed: %+v", got)
	}
	if got.AttemptID() != "email:id1" {
		t.Fatalf("attempt id %q", got.AttemptID())
	}
}

// Every single-character change anywhere in the token is refused, and never
// verifies as some other valid claim.
func TestTamperedTokensAreRefused(t *testing.T) {
	k := mustKeys(t, key(1))
	tok, _ := k.Sign(claims())
	for i := range len(tok) {
		for _, c := range []byte{'A', 'b', '0', '_', '.'} {
			if tok[i] == c {
				continue
			}
			bad := tok[:i] + string(c) + tok[i+1:]
			_, err := k.Verify(bad, now)
			if !errors.Is(err, ErrSignature) && !errors.Is(err, ErrMalformed) {
				t.Fatalf("altered at %d: %v", i, err)
			}
		}
	}
}

func TestForgedPayloadIsRefused(t *testing.T) {
	k := mustKeys(t, key(1))
	tok, _ := k.Sign(claims())
	parts := strings.Split(tok, ".")
	forged := claims()
	forged.User = "mallory"
	other, _ := k.Sign(forged)
	// The payload of one token with the signature of another.
	mixed := parts[0] + "." + strings.Split(other, ".")[1] + "." + parts[2]
	if _, err := k.Verify(mixed, now); !errors.Is(err, ErrSignature) {
		t.Fatalf("want ErrSignature, got %v", err)
	}
	// Signed by a key this gateway does not know.
	stranger := mustKeys(t, key(9))
	tok2, _ := stranger.Sign(claims())
	if _, err := k.Verify(tok2, now); !errors.Is(err, ErrSignature) {
		t.Fatalf("foreign key: want ErrSignature, got %v", err)
	}
	for _, junk := range []string{"", "v1", "v1..", "v2.a.b", "v1.!!!.abc", strings.Repeat("a", 3000)} {
		if _, err := k.Verify(junk, now); !errors.Is(err, ErrMalformed) {
			t.Fatalf("%q: want ErrMalformed, got %v", junk, err)
		}
	}
}

func TestExpiredTokenKeepsItsClaims(t *testing.T) {
	k := mustKeys(t, key(1))
	tok, _ := k.Sign(claims())
	got, err := k.Verify(tok, now.Add(time.Hour))
	if !errors.Is(err, ErrExpired) {
		t.Fatalf("at expiry: want ErrExpired, got %v", err)
	}
	if got.Approval != claims().Approval {
		t.Fatalf("expired claims lost: %+v", got)
	}
	if _, err := k.Verify(tok, now.Add(time.Hour-time.Second)); err != nil {
		t.Fatalf("a second before expiry: %v", err)
	}
}

func TestRotation(t *testing.T) {
	old := mustKeys(t, key(1))
	tok, _ := old.Sign(claims())
	rotated := mustKeys(t, key(2), key(1))
	if _, err := rotated.Verify(tok, now); err != nil {
		t.Fatalf("link signed with the previous key: %v", err)
	}
	fresh, _ := rotated.Sign(claims())
	if _, err := old.Verify(fresh, now); !errors.Is(err, ErrSignature) {
		t.Fatalf("old gateway must not accept the new key's links: %v", err)
	}
	dropped := mustKeys(t, key(2))
	if _, err := dropped.Verify(tok, now); !errors.Is(err, ErrSignature) {
		t.Fatalf("after the previous key is dropped: %v", err)
	}
}

func TestShortKeysAndEnv(t *testing.T) {
	if _, err := New(make([]byte, 16)); err == nil {
		t.Fatal("a 16-byte key must be refused")
	}
	if _, ok, err := Parse(" ", base64.StdEncoding.EncodeToString(key(1))); ok || err != nil {
		t.Fatalf("unset: ok=%v err=%v", ok, err)
	}
	k, ok, err := Parse(base64.StdEncoding.EncodeToString(key(3)), base64.RawURLEncoding.EncodeToString(key(1)))
	if !ok || err != nil {
		t.Fatalf("set: ok=%v err=%v", ok, err)
	}
	tok, _ := mustKeys(t, key(1)).Sign(claims())
	if _, err := k.Verify(tok, now); err != nil {
		t.Fatalf("previous key from env: %v", err)
	}
	if _, _, err := Parse("not base64 !!", ""); err == nil || strings.Contains(err.Error(), "not base64 !!") ||
		!strings.Contains(err.Error(), config.EnvEmailLinkKey) {
		t.Fatalf("bad key must fail without echoing it: %v", err)
	}
	if _, _, err := Parse(base64.StdEncoding.EncodeToString(key(3)), "not base64 !!"); err == nil ||
		!strings.Contains(err.Error(), config.EnvEmailLinkKeyPrevious) {
		t.Fatalf("bad previous key: %v", err)
	}
}

func TestCSRFAndIDs(t *testing.T) {
	k := mustKeys(t, key(1))
	form := k.CSRF("id1", "cookie")
	if !k.CheckCSRF("id1", "cookie", form) {
		t.Fatal("valid CSRF refused")
	}
	for _, c := range [][3]string{{"id2", "cookie", form}, {"id1", "other", form}, {"id1", "", form}, {"id1", "cookie", ""}} {
		if k.CheckCSRF(c[0], c[1], c[2]) {
			t.Fatalf("CSRF %v accepted", c)
		}
	}
	if a, b := k.ID("m1", "approve"), mustKeys(t, key(1)).ID("m1", "approve"); a != b {
		t.Fatal("IDs must be deterministic")
	}
	if k.ID("m1", "approve") == k.ID("m1", "reject") || k.ID("m1a", "pprove") == k.ID("m1", "approve") {
		t.Fatal("IDs must differ by part")
	}
	if mustKeys(t, key(2)).ID("m1", "approve") == k.ID("m1", "approve") {
		t.Fatal("IDs must depend on the key")
	}
}
