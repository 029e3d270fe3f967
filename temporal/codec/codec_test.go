package codec

import (
	"bytes"
	"encoding/base64"
	"strings"
	"testing"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
)

func key(id string, fill byte) Key { return Key{ID: id, Secret: bytes.Repeat([]byte{fill}, 32)} }

func spec(keys ...Key) string {
	var parts []string
	for _, k := range keys {
		parts = append(parts, k.ID+":"+base64.StdEncoding.EncodeToString(k.Secret))
	}
	return strings.Join(parts, ",")
}

func mustNew(t *testing.T, keys ...Key) *Codec {
	t.Helper()
	c, err := New(keys...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func jsonPayload(t *testing.T, v any) *commonpb.Payload {
	t.Helper()
	p, err := converter.GetDefaultDataConverter().ToPayload(v)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRoundTripHidesContentAndEncoding(t *testing.T) {
	c := mustNew(t, key("k1", 1))
	in := jsonPayload(t, map[string]string{"title": "Rotate the prod database password"})
	enc, err := c.Encode([]*commonpb.Payload{in})
	if err != nil {
		t.Fatal(err)
	}
	got := enc[0]
	if string(got.Metadata[MetadataEncoding]) != EncodingEncrypted || string(got.Metadata[MetadataKeyID]) != "k1" {
		t.Fatalf("metadata: %v", got.Metadata)
	}
	if len(got.Metadata) != 2 {
		t.Errorf("original metadata leaks next to the ciphertext: %v", got.Metadata)
	}
	if bytes.Contains(got.Data, []byte("Rotate")) || bytes.Contains(got.Data, []byte("json/plain")) {
		t.Fatal("ciphertext contains cleartext")
	}
	dec, err := c.Decode(enc)
	if err != nil {
		t.Fatal(err)
	}
	if string(dec[0].Data) != string(in.Data) || string(dec[0].Metadata["encoding"]) != "json/plain" {
		t.Fatalf("decoded %v, want %v", dec[0], in)
	}
	// Sealing twice gives different ciphertexts (fresh nonces).
	again, _ := c.Encode([]*commonpb.Payload{in})
	if bytes.Equal(again[0].Data, got.Data) {
		t.Error("nonce reused")
	}
}

func TestRotation(t *testing.T) {
	old := mustNew(t, key("2026-01", 1))
	sealedOld, err := old.Encode([]*commonpb.Payload{jsonPayload(t, "before rotation")})
	if err != nil {
		t.Fatal(err)
	}
	// The new key goes first; the old one stays to read old history.
	rotated := mustNew(t, key("2026-07", 2), key("2026-01", 1))
	dec, err := rotated.Decode(sealedOld)
	if err != nil {
		t.Fatalf("old payload after rotation: %v", err)
	}
	var s string
	if err := converter.GetDefaultDataConverter().FromPayload(dec[0], &s); err != nil || s != "before rotation" {
		t.Fatalf("got %q, %v", s, err)
	}
	sealedNew, _ := rotated.Encode([]*commonpb.Payload{jsonPayload(t, "after")})
	if id := string(sealedNew[0].Metadata[MetadataKeyID]); id != "2026-07" {
		t.Fatalf("new payloads sealed with %q, want the primary", id)
	}
	// A process that never got the new key cannot read, and says why.
	_, err = old.Decode(sealedNew)
	if err == nil || !strings.Contains(err.Error(), `unknown key id "2026-07"`) {
		t.Fatalf("got %v", err)
	}
}

func TestDecodeRefusesTamperingAndWrongKeys(t *testing.T) {
	c := mustNew(t, key("k1", 1))
	enc, _ := c.Encode([]*commonpb.Payload{jsonPayload(t, "x")})

	flipped := &commonpb.Payload{Metadata: enc[0].Metadata, Data: bytes.Clone(enc[0].Data)}
	flipped.Data[len(flipped.Data)-1] ^= 1
	if _, err := c.Decode([]*commonpb.Payload{flipped}); err == nil || !strings.Contains(err.Error(), "does not authenticate") {
		t.Errorf("tampered data: %v", err)
	}
	// Same ID, different key material: a misconfigured process.
	imposter := mustNew(t, key("k1", 9))
	if _, err := imposter.Decode(enc); err == nil {
		t.Error("decoded with the wrong key")
	}
	// Relabelling to another known key fails too: the ID is bound as
	// additional data.
	two := mustNew(t, key("k2", 2), key("k1", 1))
	relabelled := &commonpb.Payload{Metadata: map[string][]byte{MetadataEncoding: []byte(EncodingEncrypted), MetadataKeyID: []byte("k2")}, Data: enc[0].Data}
	if _, err := two.Decode([]*commonpb.Payload{relabelled}); err == nil {
		t.Error("relabelled payload decoded")
	}
	short := &commonpb.Payload{Metadata: enc[0].Metadata, Data: []byte{1, 2, 3}}
	if _, err := c.Decode([]*commonpb.Payload{short}); err == nil || !strings.Contains(err.Error(), "truncated") {
		t.Errorf("short data: %v", err)
	}
}

func TestPlainPayloadsPassThroughDecodeAndSealedOnesAreNotResealed(t *testing.T) {
	c := mustNew(t, key("k1", 1))
	plain := jsonPayload(t, "written before encryption was on")
	dec, err := c.Decode([]*commonpb.Payload{plain})
	if err != nil || dec[0] != plain {
		t.Fatalf("got %v, %v", dec, err)
	}
	enc, _ := c.Encode([]*commonpb.Payload{plain})
	twice, _ := c.Encode(enc)
	if twice[0] != enc[0] {
		t.Error("a sealed payload was sealed again")
	}
}

func TestParseKeys(t *testing.T) {
	good := spec(key("a", 1), key("b.2_x-y", 2))
	keys, err := ParseKeys(" " + good + ", ")
	if err != nil || len(keys) != 2 || keys[0].ID != "a" {
		t.Fatalf("got %v, %v", keys, err)
	}
	c := mustNew(t, keys...)
	if got := c.KeyIDs(); strings.Join(got, ",") != "a,b.2_x-y" {
		t.Errorf("ids %v", got)
	}

	secretB64 := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 16))
	bad := map[string]string{
		"":                             "no keys",
		"k1" + secretB64:               "want <key-id>:<base64 key>",
		"k1:%%%":                       "not standard base64",
		"k1:" + secretB64:              "is 16 bytes; want 32",
		spec(key("k", 1), key("k", 2)): "appears twice",
		spec(key("bad id", 1)):         "must be 1-64 characters",
	}
	for in, want := range bad {
		keys, err := ParseKeys(in)
		if err == nil {
			_, err = New(keys...)
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: want error containing %q, got %v", in, want, err)
			continue
		}
		if strings.Contains(err.Error(), secretB64) || strings.Contains(err.Error(), base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{1}, 32))) {
			t.Errorf("error quotes key material: %v", err)
		}
	}
}

func TestParse(t *testing.T) {
	if c, err := Parse(" "); c != nil || err != nil {
		t.Fatalf("empty: %v, %v", c, err)
	}
	c, err := Parse(spec(key("k1", 1)))
	if err != nil || c == nil || c.KeyIDs()[0] != "k1" {
		t.Fatalf("got %v, %v", c, err)
	}
	if _, err := Parse("k1:short"); err == nil {
		t.Fatal("bad keys accepted")
	}
}

func TestDataConverterEncryptsValues(t *testing.T) {
	dc := DataConverter(mustNew(t, key("k1", 1)))
	type req struct{ Title string }
	p, err := dc.ToPayload(req{Title: "secret plans"})
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(p.Data, []byte("secret plans")) {
		t.Fatal("cleartext in payload")
	}
	var out req
	if err := dc.FromPayload(p, &out); err != nil || out.Title != "secret plans" {
		t.Fatalf("got %+v, %v", out, err)
	}
	// Failure messages go into an encrypted payload too.
	f := FailureConverter(dc).ErrorToFailure(errString("remote said: secret plans"))
	if strings.Contains(f.GetMessage(), "secret plans") || f.GetEncodedAttributes() == nil {
		t.Fatalf("failure message in clear: %v", f)
	}
}

type errString string

func (e errString) Error() string { return string(e) }

func TestDataConverterReadsPlainPayloads(t *testing.T) {
	plain, _ := converter.GetDefaultDataConverter().ToPayload("memo title")
	dc := DataConverter(mustNew(t, key("k1", 1)))
	sealed, _ := dc.ToPayload("memo title")
	for _, p := range []*commonpb.Payload{plain, sealed} {
		var s string
		if err := dc.FromPayload(p, &s); err != nil || s != "memo title" {
			t.Fatalf("got %q, %v", s, err)
		}
	}
}
