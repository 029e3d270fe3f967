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
