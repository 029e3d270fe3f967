// Package evidence turns an approval's audit trail into one signed JSON
// document for auditors (SOC 2, ISO 27001) and verifies such documents
// offline.
//
// The document holds the request and its content hash, the policy
// snapshot (name and version), and a timeline: the request, every
// notification and where it went, every decision attempt and how the
// person was identified, timers fired, escalations, break-glass and the
// action's result. Each entry carries the hash of the one before it (the
// first, the hash of the approval header), so no entry can be changed,
// dropped or moved without breaking the chain; the whole document is signed
// with Ed25519 and carries its public key.
//
// Hashes and the signature are over a canonical form: the JSON value with
// object keys sorted and no insignificant whitespace (encoding/json's
// output for a generic value). Reformatting the file keeps it valid;
// changing any value, key or order does not.
package evidence

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/signoff/signoff/approval"
)

// EnvKey holds the signing key: a base64 Ed25519 seed (32 bytes).
const EnvKey = "SIGNOFF_EVIDENCE_KEY"

// Format names this document's layout.
const Format = "signoff-evidence/v1"

// Algorithm is the signature algorithm.
const Algorithm = "ed25519"

// Document is an evidence export.
type Document struct {
	Format      string    `json:"format"`
	GeneratedAt time.Time `json:"generated_at"`
	// ExportedBy is the authenticated user who asked for the export.
	ExportedBy string  `json:"exported_by,omitempty"`
	Approval   Header  `json:"approval"`
	Entries    []Entry `json:"entries"`
	// HeadHash is the last entry's hash.
	HeadHash  string `json:"head_hash"`
	Algorithm string `json:"signature_algorithm"`
	// PublicKey (base64) verifies Signature (base64) over the canonical
	// document without its signature.
	PublicKey string `json:"public_key"`
	Signature string `json:"signature"`
}

// Header is what was asked and under which rules.
type Header struct {
	ID         string           `json:"id"`
	WorkflowID string           `json:"workflow_id"`
	RunID      string           `json:"run_id,omitempty"`
	Requester  string           `json:"requester"`
	Request    approval.Request `json:"request"`
	// RequestHash is the SHA-256 of the request's content, as approvers
	// decided on it; Verify recomputes it.
	RequestHash      string             `json:"request_hash"`
	Justification    string             `json:"justification,omitempty"`
	Revision         int                `json:"revision,omitempty"`
	PreviousRequests []approval.Request `json:"previous_requests,omitempty"`
	// Policy is the snapshot the approval was decided under: its name and
	// version, approvers and rules.
	Policy     approval.Policy `json:"policy"`
	Status     approval.Status `json:"status"`
	CreatedAt  time.Time       `json:"created_at"`
	Deadline   time.Time       `json:"deadline"`
	ClosedAt   time.Time       `json:"closed_at,omitzero"`
	ApprovedBy []string        `json:"approved_by"`
	// Messages are the notifications posted (Slack ts, email Message-ID).
	Messages []approval.MessageRef `json:"messages,omitempty"`
	// Grant is an access grant's record: granted at, revoke due, revoked at
	// and how it was verified, extensions and by which approvals, a
	// take-over of a failing revoke.
	Grant *approval.Grant `json:"grant,omitempty"`
}

// Entry is one audit event.
type Entry struct {
	Seq  int       `json:"seq"`
	Time time.Time `json:"time"`
	// Type is requested, notification, notification_failed, decision,
	// timer_fired, reminder, escalation, break_glass, action, outcome, or
	// the workflow's own event kind (cancelled, amended, expired, ...).
	Type  string `json:"type"`
	Actor string `json:"actor,omitempty"`
	// Channel and IdentifiedBy say how the actor was identified.
	Channel      string                 `json:"channel,omitempty"`
	IdentifiedBy string                 `json:"identified_by,omitempty"`
	Detail       string                 `json:"detail,omitempty"`
	Attempt      *approval.Attempt      `json:"attempt,omitempty"`
	Action       *approval.ActionResult `json:"action,omitempty"`
	PrevHash     string                 `json:"prev_hash"`
	Hash         string                 `json:"hash"`
}

// Timer is a workflow timer that fired (from the workflow's history).
type Timer struct {
	Time time.Time
	Name string
}

// Input is what a document is built from.
type Input struct {
	State      *approval.State
	WorkflowID string
	RunID      string
	Timers     []Timer
	ExportedBy string
}

// Unproven is the identification of an attempt whose channel records no
// way of establishing who decided.
const Unproven = "unproven"

// identifiedBy says how the person behind an attempt was identified: what
// the gateway stated under its proof ("bearer token", "signed email link",
// "slack user U… (configured slack_id)"), "unproven" for an attempt
// without one under the proven rules, else derived from the channel
// (attempts of approvals judged by the legacy rules).
func identifiedBy(st *approval.State, a approval.Attempt) string {
	switch {
	case a.IdentifiedBy != "" && a.Proof != "":
		return a.IdentifiedBy
	case st.Rules >= approval.RulesProven && a.Proof == "":
		return Unproven
	}
	return identification(a.Channel)
}

// identification is what a legacy attempt's channel says of how its
// person was identified; a Slack attempt recorded no Slack user ID then.
func identification(channel string) string {
	switch {
	case channel == "api":
		return "bearer token"
	case channel == "email":
		return "signed email link"
	case channel == "slack" || strings.HasPrefix(channel, "slack:"):
		where := ""
		if c := strings.TrimPrefix(channel, "slack:"); c != channel && c != "" {
			where = " in channel " + c
		}
		return Unproven + ": Slack click" + where + "; the Slack user ID was not recorded"
	}
	return Unproven
}

// eventTypes maps the workflow's event kinds to entry types; other kinds
// keep their name.
var eventTypes = map[approval.EventKind]string{
	approval.EventNotified:     "notification",
	approval.EventNotifyFailed: "notification_failed",
	approval.EventReminded:     "reminder",
	approval.EventEscalated:    "escalation",
}

// Timeline is the approval's audit trail in time order, without hashes.
// The audit trail page shows it; Build signs it.
func Timeline(in Input) []Entry {
	st := in.State
	var out []Entry
	out = append(out, Entry{Time: st.CreatedAt, Type: "requested", Actor: st.Requester, Detail: st.Request.Title})
	// Timers go first among entries of one instant: what they caused
	// (a reminder, the deadline) is recorded as they fire.
	for _, t := range in.Timers {
		out = append(out, Entry{Time: t.Time, Type: "timer_fired", Detail: t.Name})
	}
	for _, a := range st.Attempts {
		a := a
		detail := string(a.Decision) + ": accepted"
		switch {
		case !a.Accepted:
			detail = string(a.Decision) + ": refused: " + a.RefusalReason
		case a.Voided:
			detail = string(a.Decision) + ": accepted, later voided by an amendment"
		case a.Duration > 0:
			detail += " for " + approval.ShortDuration(a.Duration) + " only"
		}
		out = append(out, Entry{Time: a.Time, Type: "decision", Actor: a.Who(), Channel: a.Channel,
			IdentifiedBy: identifiedBy(st, a), Detail: detail, Attempt: &a})
	}
	for _, e := range st.Events {
		typ := string(e.Kind)
		if t, ok := eventTypes[e.Kind]; ok {
			typ = t
		}
		entry := Entry{Time: e.Time, Type: typ, Actor: e.User, Detail: e.Detail}
		if e.Kind == approval.EventAction && st.ActionResult != nil {
			r := *st.ActionResult
			entry.Action = &r
		}
		out = append(out, entry)
	}
	if st.Status.Final() && !st.ClosedAt.IsZero() {
		out = append(out, Entry{Time: st.ClosedAt, Type: "outcome", Detail: string(st.Status)})
	}
	// Stable: entries of one instant keep their order (request, timers,
	// attempts, events, outcome).
	slices.SortStableFunc(out, func(a, b Entry) int { return a.Time.Compare(b.Time) })
	for i := range out {
		out[i].Seq = i + 1
		out[i].Time = out[i].Time.UTC()
	}
	return out
}

func header(in Input) Header {
	st := in.State
	return Header{
		ID: st.ID, WorkflowID: in.WorkflowID, RunID: in.RunID, Requester: st.Requester,
		Request: st.Request, RequestHash: st.RequestHash, Justification: st.Justification,
		Revision: st.Revision, PreviousRequests: st.PreviousRequests, Policy: st.Policy, Status: st.Status,
		CreatedAt: st.CreatedAt.UTC(), Deadline: st.Deadline.UTC(), ClosedAt: st.ClosedAt.UTC(),
		ApprovedBy: st.ApprovedBy, Messages: st.Messages, Grant: st.Grant,
	}
}

// Build makes the signed document and its bytes (indented JSON).
func Build(in Input, key ed25519.PrivateKey, now time.Time) (*Document, []byte, error) {
	if in.State == nil {
		return nil, nil, errors.New("evidence: no approval state")
	}
	if len(key) != ed25519.PrivateKeySize {
		return nil, nil, errors.New("evidence: bad signing key")
	}
	doc := &Document{
		Format: Format, GeneratedAt: now.UTC().Truncate(time.Second), ExportedBy: in.ExportedBy, Approval: header(in),
		Entries: Timeline(in), Algorithm: Algorithm,
		PublicKey: base64.StdEncoding.EncodeToString(key.Public().(ed25519.PublicKey)),
	}
	prev, err := hashValue(doc.Approval, "")
	if err != nil {
		return nil, nil, err
	}
	for i := range doc.Entries {
		doc.Entries[i].PrevHash = prev
		h, err := hashValue(doc.Entries[i], "hash")
		if err != nil {
			return nil, nil, err
		}
		doc.Entries[i].Hash = h
		prev = h
	}
	doc.HeadHash = prev
	msg, err := canonicalOf(doc, "signature")
	if err != nil {
		return nil, nil, err
	}
	doc.Signature = base64.StdEncoding.EncodeToString(ed25519.Sign(key, msg))
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, nil, fmt.Errorf("evidence: %w", err)
	}
	return doc, append(b, '\n'), nil
}

// Result is what a successful verification established.
type Result struct {
	Document *Document
	// KeyFingerprint names the key that signed (hex SHA-256 of the public
	// key, first 16 bytes).
	KeyFingerprint string
}

// Verify checks a document offline: strict layout, the request's content
// hash, every entry's hash and link to the one before, the head hash and
// the signature. With pin set, the document must be signed by that key;
// without, any key verifies and the caller should compare the fingerprint
// with the one it trusts.
func Verify(b []byte, pin ed25519.PublicKey) (*Result, error) {
	var doc Document
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("not an evidence document: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("not an evidence document: data after the JSON value")
	}
	if doc.Format != Format {
		return nil, fmt.Errorf("format %q, want %q", doc.Format, Format)
	}
	raw, err := generic(b)
	if err != nil {
		return nil, err
	}
	root, ok := raw.(map[string]any)
	if !ok {
		return nil, errors.New("not an evidence document: not a JSON object")
	}
	prev, err := hashGeneric(root["approval"], "")
	if err != nil {
		return nil, err
	}
	entries, _ := root["entries"].([]any)
	if len(entries) != len(doc.Entries) {
		return nil, errors.New("entries: malformed")
	}
	for i, e := range entries {
		obj, ok := e.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("entry %d: not an object", i+1)
		}
		if doc.Entries[i].Seq != i+1 {
			return nil, fmt.Errorf("entry %d: sequence number %d: entries were removed or reordered", i+1, doc.Entries[i].Seq)
		}
		if obj["prev_hash"] != prev {
			return nil, fmt.Errorf("entry %d: previous-hash link broken: an entry before it was altered, removed or reordered", i+1)
		}
		h, err := hashGeneric(obj, "hash")
		if err != nil {
			return nil, err
		}
		if obj["hash"] != h {
			return nil, fmt.Errorf("entry %d (%s): altered: its content does not match its hash", i+1, doc.Entries[i].Type)
		}
		prev = h
	}
	if doc.HeadHash != prev {
		return nil, errors.New("head hash does not match the last entry: entries were added or removed")
	}
	if doc.Algorithm != Algorithm {
		return nil, fmt.Errorf("signature algorithm %q, want %q", doc.Algorithm, Algorithm)
	}
	pub, err := base64.StdEncoding.DecodeString(doc.PublicKey)
	if err != nil || len(pub) != ed25519.PublicKeySize {
		return nil, errors.New("public key: not a base64 Ed25519 key")
	}
	if pin != nil && !bytes.Equal(pub, pin) {
		return nil, fmt.Errorf("signed by key %s, not by the expected key %s", Fingerprint(pub), Fingerprint(pin))
	}
	sig, err := base64.StdEncoding.DecodeString(doc.Signature)
	if err != nil || len(sig) != ed25519.SignatureSize {
		return nil, errors.New("signature: not a base64 Ed25519 signature")
	}
	delete(root, "signature")
	msg, err := canonical(root)
	if err != nil {
		return nil, err
	}
	if !ed25519.Verify(pub, msg, sig) {
		return nil, errors.New("signature does not match: the document was altered after signing")
	}
	if got := doc.Approval.Request.Hash(); got != doc.Approval.RequestHash {
		return nil, fmt.Errorf("request content hash %s does not match the request (%s)", doc.Approval.RequestHash, got)
	}
	return &Result{Document: &doc, KeyFingerprint: Fingerprint(pub)}, nil
}

// Fingerprint names a public key.
func Fingerprint(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return hex.EncodeToString(sum[:16])
}

// generic decodes JSON keeping numbers as written.
func generic(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("not JSON: %w", err)
	}
	return v, nil
}

// canonical is v's JSON with sorted keys and no whitespace.
func canonical(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("canonical form: %w", err)
	}
	return b, nil
}

// canonicalOf is the canonical form of a Go value, without one top-level
// key.
func canonicalOf(v any, without string) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("evidence: %w", err)
	}
	g, err := generic(b)
	if err != nil {
		return nil, err
	}
	if obj, ok := g.(map[string]any); ok && without != "" {
		delete(obj, without)
	}
	return canonical(g)
}

func hashValue(v any, without string) (string, error) {
	b, err := canonicalOf(v, without)
	if err != nil {
		return "", err
	}
	return sha256Hex(b), nil
}

func hashGeneric(v any, without string) (string, error) {
	if obj, ok := v.(map[string]any); ok && without != "" {
		c := make(map[string]any, len(obj))
		for k, x := range obj {
			if k != without {
				c[k] = x
			}
		}
		v = c
	}
	b, err := canonical(v)
	if err != nil {
		return "", err
	}
	return sha256Hex(b), nil
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// ParseKey decodes the signing key, the value of SIGNOFF_EVIDENCE_KEY (a
// base64 Ed25519 seed of 32 bytes), which the composition root reads from
// the environment. ok is false when v is empty.
func ParseKey(v string) (key ed25519.PrivateKey, ok bool, err error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return nil, false, nil
	}
	seed, err := base64.StdEncoding.DecodeString(v)
	if err != nil {
		return nil, true, fmt.Errorf("%s: not base64", EnvKey)
	}
	if len(seed) != ed25519.SeedSize {
		return nil, true, fmt.Errorf("%s: %d bytes, want a %d-byte Ed25519 seed", EnvKey, len(seed), ed25519.SeedSize)
	}
	return ed25519.NewKeyFromSeed(seed), true, nil
}

// ParsePublicKey decodes a base64 Ed25519 public key.
func ParsePublicKey(s string) (ed25519.PublicKey, error) {
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil || len(b) != ed25519.PublicKeySize {
		return nil, errors.New("want a base64 Ed25519 public key (32 bytes)")
	}
	return ed25519.PublicKey(b), nil
}
