package proof

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"
)

func ring(t *testing.T, spec string) *Keyring {
	t.Helper()
	k, err := Parse(spec)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func key(b byte) string {
	return base64.StdEncoding.EncodeToString([]byte(strings.Repeat(string(rune('a'+b)), 32)))
}

func TestSignVerifyAndRotation(t *testing.T) {
	old := ring(t, "k1:"+key(1))
	rotated := ring(t, "k2:"+key(2)+",k1:"+key(1))
	at := time.Date(2026, 11, 30, 1, 2, 3, 456789000, time.UTC)
	subject := []byte("decide\nabc\n{}")

	s := old.Sign(subject, at)
	if err := old.Verify(subject, &s); err != nil {
		t.Fatalf("own stamp: %v", err)
	}
	if err := rotated.Verify(subject, &s); err != nil {
		t.Fatalf("old key still verifies after rotation: %v", err)
	}
	s2 := rotated.Sign(subject, at)
	if s2.KeyID != "k2" {
		t.Fatalf("rotated ring signs with %q, want k2", s2.KeyID)
	}
	if err := old.Verify(subject, &s2); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("new key on the old ring: %v", err)
	}
}

func TestVerifyRefusesTampering(t *testing.T) {
	k := ring(t, "k1:"+key(1))
	at := time.Now()
	subject := []byte("decide\nabc\n{\"user\":\"bob\"}")
	good := k.Sign(subject, at)
	cases := map[string]func() (*Stamp, []byte){
		"nil stamp":     func() (*Stamp, []byte) { return nil, subject },
		"empty mac":     func() (*Stamp, []byte) { s := good; s.MAC = ""; return &s, subject },
		"other subject": func() (*Stamp, []byte) { s := good; return &s, []byte("decide\nabc\n{\"user\":\"eve\"}") },
		"other time":    func() (*Stamp, []byte) { s := good; s.IssuedAt = s.IssuedAt.Add(time.Second); return &s, subject },
		"not hex":       func() (*Stamp, []byte) { s := good; s.MAC = "zz"; return &s, subject },
		"other key id":  func() (*Stamp, []byte) { s := good; s.KeyID = "k9"; return &s, subject },
		"forged by another key": func() (*Stamp, []byte) {
			s := ring(t, "k1:"+key(3)).Sign(subject, at)
			return &s, subject
		},
	}
	for name, c := range cases {
		s, subj := c()
		if err := k.Verify(subj, s); err == nil {
			t.Errorf("%s: verified", name)
		}
	}
}

func TestParse(t *testing.T) {
	for _, bad := range []string{"", "k1", "k1:notbase64!", "k1:" + base64.StdEncoding.EncodeToString([]byte("short")),
		"k1:" + key(1) + ",k1:" + key(2), "bad id:" + key(1)} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q) accepted", bad)
		}
	}
	g := Generate()
	back := ring(t, g.Encode())
	s := g.Sign([]byte("x"), time.Now())
	if err := back.Verify([]byte("x"), &s); err != nil {
		t.Fatalf("encoded ring does not verify its own stamps: %v", err)
	}
}

// TestSignatureChecksWithPublicKeysOnly: a stamp's signature checks with
// the ring's public keys alone, refuses every tampering the MAC refuses,
// and says when it cannot tell (no signature, a key it does not hold), so
// the caller checks the MAC instead.
func TestSignatureChecksWithPublicKeysOnly(t *testing.T) {
	k := ring(t, "k2:"+key(2)+",k1:"+key(1))
	pub := k.PublicKeys()
	if len(pub) != 2 || len(pub["k1"]) != 32 || string(pub["k1"]) == string(pub["k2"]) {
		t.Fatalf("public keys: %v", pub)
	}
	if string(ring(t, "k1:"+key(1)).PublicKeys()["k1"]) != string(pub["k1"]) {
		t.Fatal("the same secret must give the same public key on every process")
	}
	at := time.Now()
	subject := []byte("decide\nabc\n{\"user\":\"bob\"}")
	good := k.Sign(subject, at)
	if v, known := CheckSignature(pub, subject, good); !known || !v.OK || v.KeyID != "k2" {
		t.Fatalf("own signature: %+v known=%v", v, known)
	}
	refused := map[string]func() (Stamp, []byte){
		"other subject": func() (Stamp, []byte) { return good, []byte("decide\nabc\n{\"user\":\"eve\"}") },
		"other time":    func() (Stamp, []byte) { s := good; s.IssuedAt = s.IssuedAt.Add(time.Millisecond); return s, subject },
		"other key id":  func() (Stamp, []byte) { s := good; s.KeyID = "k1"; return s, subject },
		"not base64":    func() (Stamp, []byte) { s := good; s.Sig = "!!"; return s, subject },
		"another secret": func() (Stamp, []byte) {
			return ring(t, "k2:"+key(3)).Sign(subject, at), subject
		},
	}
	for name, c := range refused {
		s, subj := c()
		v, known := CheckSignature(pub, subj, s)
		if !known || v.OK || v.Error != ErrBadSignature.Error() {
			t.Errorf("%s: %+v known=%v", name, v, known)
		}
	}
	unsigned := good
	unsigned.Sig = ""
	if _, known := CheckSignature(pub, subject, unsigned); known {
		t.Error("a stamp without a signature must be left to the MAC")
	}
	if _, known := CheckSignature(map[string][]byte{"k1": pub["k1"]}, subject, good); known {
		t.Error("a key the caller does not hold must be left to the ring")
	}
}
