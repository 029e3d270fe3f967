package linktoken

import (
	"strings"
	"testing"
)

// FuzzVerify: no input but a token this key signed verifies, and nothing
// panics. A mutated valid token must not verify with different claims.
func FuzzVerify(f *testing.F) {
	k, err := New(key(7))
	if err != nil {
		f.Fatal(err)
	}
	valid, err := k.Sign(claims())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(valid)
	f.Add("")
	f.Add(".")
	f.Add(strings.Repeat("A", 300) + "." + strings.Repeat("B", 43))
	f.Add(valid[:len(valid)-1] + "x")
	f.Fuzz(func(t *testing.T, tok string) {
		c, err := k.Verify(tok, now)
		if err != nil {
			return
		}
		// Only the exact token signed above carries valid claims.
		if c != claims() {
			t.Fatalf("forged token %q verified with claims %+v", tok, c)
		}
	})
}
