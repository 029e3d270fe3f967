// Package codec encrypts Temporal payloads (workflow inputs and results,
// signals, queries, memos, activity arguments, failure messages) with
// AES-256-GCM before they leave the process, so Temporal's database and
// anyone reading history without a key see ciphertext.
//
// # Keys
//
// Keys come from the environment variable SIGNOFF_CODEC_KEYS (never from a
// config file), a comma-separated list of <key-id>:<base64 key>:
//
//	SIGNOFF_CODEC_KEYS="2026-07:q2Bm…=,2026-01:7uXv…="
//
// Each key is 32 random bytes in standard base64 (`openssl rand -base64 32`);
// a key ID is 1–64 characters of A–Z a–z 0–9 . _ -. The first key is the
// primary: every payload is encrypted with it. All keys decrypt: each
// payload names its key ID in its metadata.
//
// # Rotation
//
// Put a new key first and keep the old ones after it; deploy to every worker
// and gateway. New payloads use the new key, and history written under the
// old ones stays readable. Drop an old key only when no workflow that used it
// is still open or retained. Every process (workers, gateways, the codec
// server behind the Web UI) must know every key still in history.
//
// # Format
//
// An encrypted payload has metadata encoding=binary/encrypted and
// encryption-key-id=<id>; its data is a 12-byte nonce followed by the
// AES-GCM sealing of the whole original payload (metadata included, so even
// the payload's encoding is hidden), with the key ID as additional data.
// Nonces are random: safe far beyond the number of payloads one key seals
// between rotations.
// Payloads without that encoding pass through Decode unchanged, so history
// written before encryption was turned on stays readable.
//
// The codec protects confidentiality. It is not an access control on
// Temporal: whoever may write to Temporal directly may still send
// plaintext payloads.
package codec

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"strings"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"google.golang.org/protobuf/proto"
)

// EnvKeys is the environment variable holding the keys.
const EnvKeys = "SIGNOFF_CODEC_KEYS"

// Metadata of an encrypted payload.
const (
	MetadataEncoding = "encoding"
	MetadataKeyID    = "encryption-key-id"
	// EncodingEncrypted marks a payload this codec sealed.
	EncodingEncrypted = "binary/encrypted"
)

const keySize = 32 // AES-256

var keyIDPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// Codec is a converter.PayloadCodec encrypting with the primary key and
// decrypting with any known key.
type Codec struct {
	primary string
	keys    map[string]cipher.AEAD
	ids     []string
}

var _ converter.PayloadCodec = (*Codec)(nil)

// Key is one named AES-256 key.
type Key struct {
	ID     string
	Secret []byte
}

// New returns a codec whose primary key is keys[0].
func New(keys ...Key) (*Codec, error) {
	if len(keys) == 0 {
		return nil, errors.New("codec: no keys")
	}
	c := &Codec{primary: keys[0].ID, keys: map[string]cipher.AEAD{}}
	for i, k := range keys {
		if !keyIDPattern.MatchString(k.ID) {
			return nil, fmt.Errorf("codec: key %d: id %q must be 1-64 characters of A-Z a-z 0-9 . _ -", i+1, k.ID)
		}
		if _, dup := c.keys[k.ID]; dup {
			return nil, fmt.Errorf("codec: key id %q appears twice", k.ID)
		}
		if len(k.Secret) != keySize {
			return nil, fmt.Errorf("codec: key %q is %d bytes; want %d (openssl rand -base64 32)", k.ID, len(k.Secret), keySize)
		}
		block, err := aes.NewCipher(k.Secret)
		if err != nil {
			return nil, fmt.Errorf("codec: key %q: %w", k.ID, err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("codec: key %q: %w", k.ID, err)
		}
		c.keys[k.ID] = aead
		c.ids = append(c.ids, k.ID)
	}
	return c, nil
}

// ParseKeys reads the SIGNOFF_CODEC_KEYS format. Errors name the entry, never
// its key material.
func ParseKeys(spec string) ([]Key, error) {
	var keys []Key
	for i, entry := range strings.Split(spec, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		id, b64, ok := strings.Cut(entry, ":")
		if !ok {
			return nil, fmt.Errorf("codec keys: entry %d: want <key-id>:<base64 key>", i+1)
		}
		secret, err := base64.StdEncoding.DecodeString(strings.TrimSpace(b64))
		if err != nil {
			return nil, fmt.Errorf("codec keys: key %q: not standard base64", strings.TrimSpace(id))
		}
		keys = append(keys, Key{ID: strings.TrimSpace(id), Secret: secret})
	}
	if len(keys) == 0 {
		return nil, errors.New("codec keys: no keys")
	}
	return keys, nil
}

// Parse builds a codec from a key list as SIGNOFF_CODEC_KEYS holds it; nil
// (and no error) when spec is empty, meaning payloads are not encrypted.
func Parse(spec string) (*Codec, error) {
	spec = strings.TrimSpace(spec)
	if spec == "" {
		return nil, nil
	}
	keys, err := ParseKeys(spec)
	if err != nil {
		return nil, err
	}
	return New(keys...)
}

// KeyIDs lists the key IDs, primary first.
func (c *Codec) KeyIDs() []string { return append([]string(nil), c.ids...) }

// Encode seals each payload with the primary key. Already sealed payloads
// are left as they are.
func (c *Codec) Encode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	out := make([]*commonpb.Payload, len(payloads))
	aead := c.keys[c.primary]
	for i, p := range payloads {
		if isEncrypted(p) {
			out[i] = p
			continue
		}
		plain, err := proto.Marshal(p)
		if err != nil {
			return nil, fmt.Errorf("codec: marshal payload: %w", err)
		}
		nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plain)+aead.Overhead())
		if _, err := rand.Read(nonce); err != nil {
			return nil, fmt.Errorf("codec: nonce: %w", err)
		}
		out[i] = &commonpb.Payload{
			Metadata: map[string][]byte{
				MetadataEncoding: []byte(EncodingEncrypted),
				MetadataKeyID:    []byte(c.primary),
			},
			Data: aead.Seal(nonce, nonce, plain, []byte(c.primary)),
		}
	}
	return out, nil
}

// Decode opens sealed payloads with the key each names; other payloads pass
// through.
func (c *Codec) Decode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		if !isEncrypted(p) {
			out[i] = p
			continue
		}
		id := string(p.GetMetadata()[MetadataKeyID])
		aead, ok := c.keys[id]
		if !ok {
			return nil, fmt.Errorf("codec: payload sealed with unknown key id %q (known: %s); add the key to %s",
				id, strings.Join(c.ids, ", "), EnvKeys)
		}
		data := p.GetData()
		if len(data) < aead.NonceSize()+aead.Overhead() {
			return nil, fmt.Errorf("codec: payload sealed with key %q is truncated", id)
		}
		plain, err := aead.Open(nil, data[:aead.NonceSize()], data[aead.NonceSize():], []byte(id))
		if err != nil {
			return nil, fmt.Errorf("codec: payload sealed with key %q does not authenticate (wrong key or tampered)", id)
		}
		var orig commonpb.Payload
		if err := proto.Unmarshal(plain, &orig); err != nil {
			return nil, fmt.Errorf("codec: unmarshal payload sealed with key %q: %w", id, err)
		}
		out[i] = &orig
	}
	return out, nil
}

func isEncrypted(p *commonpb.Payload) bool {
	return string(p.GetMetadata()[MetadataEncoding]) == EncodingEncrypted
}

// DataConverter wraps Temporal's default data converter with c.
func DataConverter(c *Codec) converter.DataConverter {
	return converter.NewCodecDataConverter(converter.GetDefaultDataConverter(), c)
}

// FailureConverter also moves failure messages and stack traces into an
// encrypted payload: action errors can quote what a remote system sent back.
func FailureConverter(dc converter.DataConverter) converter.FailureConverter {
	return temporal.NewDefaultFailureConverter(temporal.DefaultFailureConverterOptions{
		DataConverter:          dc,
		EncodeCommonAttributes: true,
	})
}
