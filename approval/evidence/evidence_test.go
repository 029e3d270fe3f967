package evidence

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/signoff/signoff/approval"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func seedKey(b byte) ed25519.PrivateKey { return ed25519.NewKeyFromSeed(bytes.Repeat([]byte{b}, 32)) }

// finished is an approval with a bit of everything: a refused attempt, an
// accepted email decision, notifications, a reminder, the action.
func finished() Input {
	st := approval.New("abcdefghijklmnopqrstuvwxyz", "alice", approval.Request{
		Title: "Deploy <api> & v2.3.0", Environment: "production", Fields: map[string]string{"commit": "abc123"},
		Action: approval.Action{Type: "noop"},
	}, approval.Policy{Name: "production", Version: "sha256:1234", Approvers: []string{"bob", "carol"},
		RequiredApprovals: 1, Deadline: time.Hour, Reminder: 10 * time.Minute}, t0)
	st.Record(t0, "notified", "", "email prompt: email:bob@example.com, email:carol@example.com")
	st.Messages = []approval.MessageRef{{Notifier: "email", Channel: "bob@example.com", ID: "m1@example.com", User: "bob"}}
	st.Decide(approval.Attempt{ID: "api:1", User: "alice", Decision: approval.DecisionApprove, Channel: "api"}, t0.Add(time.Minute))
	st.Record(t0.Add(10*time.Minute), "reminded", "", "bob, carol")
	st.Decide(approval.Attempt{ID: "email:x", User: "bob", Decision: approval.DecisionApprove, Channel: "email", Comment: "lgtm"}, t0.Add(11*time.Minute))
	st.ActionResult = &approval.ActionResult{Type: "noop", Success: true, Output: "done", FinishTime: t0.Add(12 * time.Minute)}
	st.Record(t0.Add(12*time.Minute), "action", "", "noop succeeded: done")
	return Input{State: st, WorkflowID: "approval-" + st.ID, RunID: "run-1",
		Timers: []Timer{{Time: t0.Add(10 * time.Minute), Name: "reminder"}}}
}

func build(t *testing.T, in Input, key ed25519.PrivateKey) []byte {
	t.Helper()
	_, b, err := Build(in, key, t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestRoundTrip(t *testing.T) {
	key := seedKey(1)
	b := build(t, finished(), key)
	res, err := Verify(b, key.Public().(ed25519.PublicKey))
	if err != nil {
		t.Fatalf("verify: %v\n%s", err, b)
	}
	doc := res.Document
	var types []string
	for _, e := range doc.Entries {
		types = append(types, e.Type)
	}
	want := "requested notification decision timer_fired reminder decision stage_approved outcome action"
	if strings.Join(types, " ") != want {
		t.Fatalf("timeline:\n got %s\nwant %s", strings.Join(types, " "), want)
	}
	refused := doc.Entries[2]
	if refused.Attempt == nil || refused.Attempt.Accepted || refused.Actor != "alice" || refused.IdentifiedBy != "bearer token" ||
		!strings.Contains(refused.Detail, approval.RefusedSelfApproval) {
		t.Fatalf("refused attempt entry %+v", refused)
	}
	bob := doc.Entries[5]
	if bob.Channel != "email" || bob.IdentifiedBy != "signed email link" || !bob.Attempt.Accepted {
		t.Fatalf("email decision entry %+v", bob)
	}
	if doc.Approval.Policy.Name != "production" || doc.Approval.Policy.Version != "sha256:1234" ||
		doc.Approval.RequestHash != finished().State.RequestHash || doc.Entries[8].Action == nil {
		t.Fatalf("header %+v", doc.Approval)
	}
	if doc.Entries[0].PrevHash == "" || doc.Entries[1].PrevHash != doc.Entries[0].Hash || doc.HeadHash != doc.Entries[8].Hash {
		t.Fatal("hash chain not linked")
	}
	if res.KeyFingerprint != Fingerprint(key.Public().(ed25519.PublicKey)) {
		t.Fatal("fingerprint")
	}
	// Reformatting is not tampering.
	var compact bytes.Buffer
	if err := json.Compact(&compact, b); err != nil {
		t.Fatal(err)
	}
	if _, err := Verify(compact.Bytes(), nil); err != nil {
		t.Fatalf("compacted copy: %v", err)
	}
}

// Flipping the low bit of any byte of the document — entries, header,
// signature — fails verification. (Every byte of the entries; every third
// elsewhere, to keep the race-detector run short.)
func TestEveryByteFlipIsDetected(t *testing.T) {
	key := seedKey(1)
	b := build(t, finished(), key)
	start := bytes.Index(b, []byte(`"entries"`))
	end := bytes.Index(b, []byte(`"head_hash"`))
	if start < 0 || end < start {
		t.Fatal("entries not found")
	}
	for i := range len(b) - 1 { // the final newline is not content
		if (i < start || i >= end) && i%3 != 0 {
			continue
		}
		bad := bytes.Clone(b)
		bad[i] ^= 0x01
		if _, err := Verify(bad, nil); err == nil {
			region := "outside the entries"
			if i >= start && i < end {
				region = "in the entries"
			}
			t.Fatalf("flipped byte %d (%q→%q) %s still verifies", i, b[i], bad[i], region)
		}
	}
}

func mutate(t *testing.T, b []byte, f func(*Document)) []byte {
	t.Helper()
	var d Document
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	f(&d)
	out, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// resign recomputes every hash and signs with key: what an attacker who
// rewrote history would do.
func resign(t *testing.T, d *Document, key ed25519.PrivateKey) {
	t.Helper()
	prev, _ := hashValue(d.Approval, "")
	for i := range d.Entries {
		d.Entries[i].PrevHash = prev
		d.Entries[i].Hash = ""
		prev, _ = hashValue(d.Entries[i], "hash")
		d.Entries[i].Hash = prev
	}
	d.HeadHash = prev
	d.PublicKey = base64.StdEncoding.EncodeToString(key.Public().(ed25519.PublicKey))
	d.Signature = ""
	msg, _ := canonicalOf(d, "signature")
	d.Signature = base64.StdEncoding.EncodeToString(ed25519.Sign(key, msg))
}

func TestTamperingIsDetected(t *testing.T) {
	key := seedKey(1)
	pub := key.Public().(ed25519.PublicKey)
	b := build(t, finished(), key)
	cases := map[string]struct {
		f    func(*Document)
		pin  ed25519.PublicKey
		want string
	}{
		"entries swapped": {f: func(d *Document) {
			d.Entries[2], d.Entries[5] = d.Entries[5], d.Entries[2]
		}, want: "entry 3"},
		"entries swapped with sequence numbers fixed": {f: func(d *Document) {
			d.Entries[2], d.Entries[5] = d.Entries[5], d.Entries[2]
			d.Entries[2].Seq, d.Entries[5].Seq = 3, 6
		}, want: "entry 3"},
		"entry removed": {f: func(d *Document) {
			d.Entries = append(d.Entries[:2], d.Entries[3:]...)
		}, want: "entry 3"},
		"last entry removed, head moved": {f: func(d *Document) {
			d.Entries = d.Entries[:len(d.Entries)-1]
			d.HeadHash = d.Entries[len(d.Entries)-1].Hash
		}, want: "signature does not match"},
		"refusal turned into acceptance, chain recomputed with the real hashes but not re-signed": {f: func(d *Document) {
			d.Entries[2].Attempt.Accepted = true
			sig := d.Signature
			resign(t, d, key)
			d.Signature = sig
		}, want: "signature does not match"},
		"header changed": {f: func(d *Document) {
			d.Approval.ApprovedBy = []string{"bob", "mallory"}
		}, want: "entry 1"},
		"history rewritten and re-signed by another key": {f: func(d *Document) {
			d.Entries[2].Attempt.Accepted = true
			resign(t, d, seedKey(2))
		}, pin: pub, want: "not by the expected key"},
		"request changed and everything re-signed": {f: func(d *Document) {
			d.Approval.Request.Title = "Deploy something else"
			resign(t, d, key)
		}, want: "request content hash"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := Verify(mutate(t, b, c.f), c.pin)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("want error containing %q, got %v", c.want, err)
			}
		})
	}
	t.Run("unknown field added", func(t *testing.T) {
		bad := bytes.Replace(b, []byte(`"seq": 3,`), []byte(`"seq": 3, "approved_by_ceo": true,`), 1)
		if _, err := Verify(bad, nil); err == nil {
			t.Fatal("an added field verified")
		}
	})
	t.Run("key name case changed", func(t *testing.T) {
		bad := bytes.Replace(b, []byte(`"detail": "approve: refused`), []byte(`"Detail": "approve: refused`), 1)
		if bytes.Equal(bad, b) {
			t.Fatal("fixture changed")
		}
		if _, err := Verify(bad, nil); err == nil {
			t.Fatal("a key with other case verified")
		}
	})
}

func TestParseKey(t *testing.T) {
	if _, ok, err := ParseKey(" "); ok || err != nil {
		t.Fatalf("unset: %v %v", ok, err)
	}
	k, ok, err := ParseKey(base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{1}, 32)) + "\n")
	if !ok || err != nil || !k.Equal(seedKey(1)) {
		t.Fatalf("set: %v %v", ok, err)
	}
	if _, _, err := ParseKey(base64.StdEncoding.EncodeToString([]byte("short"))); err == nil || !strings.Contains(err.Error(), EnvKey) {
		t.Fatalf("a short seed must be refused: %v", err)
	}
	if _, _, err := ParseKey("not base64!"); err == nil || !strings.Contains(err.Error(), "not base64") {
		t.Fatalf("not base64: %v", err)
	}
}

// TestIdentifiedBy: each channel of a legacy attempt says how the person
// was identified; a channel that records no way of doing so says it is
// unproven. Under the proven rules, the gateway's statement counts only
// with a proof.
func TestIdentifiedBy(t *testing.T) {
	cases := []struct {
		channel string
		want    string
	}{
		{channel: "api", want: "bearer token"},
		{channel: "email", want: "signed email link"},
		// What a legacy Slack attempt records: the channel, not the user.
		{channel: "slack:C0123456", want: "unproven: Slack click in channel C0123456; the Slack user ID was not recorded"},
		{channel: "slack", want: "unproven: Slack click; the Slack user ID was not recorded"},
		{channel: "", want: "unproven"},
		{channel: "web", want: "unproven"},
		{channel: "temporal-cli", want: "unproven"},
		{channel: "API", want: "unproven"},
		{channel: "slacker", want: "unproven"},
		{channel: "emailx", want: "unproven"},
	}
	legacy := &approval.State{}
	for _, c := range cases {
		if got := identifiedBy(legacy, approval.Attempt{Channel: c.channel}); got != c.want {
			t.Errorf("%q: got %q, want %q", c.channel, got, c.want)
		}
	}
	proven := &approval.State{Rules: approval.RulesProven}
	stated := approval.Attempt{Channel: "slack:C1", IdentifiedBy: "slack user U123 (configured slack_id)"}
	if got := identifiedBy(proven, stated); got != Unproven {
		t.Errorf("a statement without proof: %q", got)
	}
	stated.Proof = "gateway stamp (key k1, 2026-11-30T00:00:00Z)"
	if got := identifiedBy(proven, stated); got != stated.IdentifiedBy {
		t.Errorf("a proven statement: %q", got)
	}
}

// TestTimelineIdentifiesSlackDecisions: a Slack decision's entry names its
// channel, never passes the channel ID off as an identification.
func TestTimelineIdentifiesSlackDecisions(t *testing.T) {
	in := finished()
	in.State.Decide(approval.Attempt{ID: "slack:1", User: "carol", Decision: approval.DecisionApprove, Channel: "slack:C0123456"}, t0.Add(13*time.Minute))
	in.State.Decide(approval.Attempt{ID: "x:1", User: "carol", Decision: approval.DecisionApprove, Channel: "temporal"}, t0.Add(14*time.Minute))
	got := map[string]string{}
	for _, e := range Timeline(in) {
		if e.Type == "decision" {
			got[e.Channel] = e.IdentifiedBy
		}
	}
	want := map[string]string{
		"api": "bearer token", "email": "signed email link", "temporal": "unproven",
		"slack:C0123456": "unproven: Slack click in channel C0123456; the Slack user ID was not recorded",
	}
	for ch, w := range want {
		if got[ch] != w {
			t.Errorf("%s: identified_by %q, want %q", ch, got[ch], w)
		}
	}
}

// TestGrantRecordIsSignedEvidence: an access grant's record (granted at,
// the extension and which approval approved it, revoked at and how it was
// verified) is in the signed header; changing it breaks the signature.
func TestGrantRecordIsSignedEvidence(t *testing.T) {
	key := seedKey(1)
	in := finished()
	st := in.State
	st.Status = approval.StatusRevoked
	st.Grant = &approval.Grant{RevokeAt: t0.Add(3 * time.Hour), GrantedAt: t0.Add(12 * time.Minute), RevokedAt: t0.Add(3 * time.Hour),
		RevokeOutput: "revoked role orders_read from alice on orders (verified: not a member)",
		Extensions:   []approval.Extension{{Approval: "ext1", From: t0.Add(2 * time.Hour), To: t0.Add(3 * time.Hour), At: t0.Add(time.Hour)}}}
	b := build(t, in, key)
	res, err := Verify(b, key.Public().(ed25519.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	g := res.Document.Approval.Grant
	if g == nil || g.Extensions[0].Approval != "ext1" || !strings.Contains(g.RevokeOutput, "verified: not a member") || !g.RevokedAt.Equal(t0.Add(3*time.Hour)) {
		t.Fatalf("grant record %+v", g)
	}
	forged := bytes.Replace(b, []byte(`"approval": "ext1"`), []byte(`"approval": "ext2"`), 1)
	if bytes.Equal(forged, b) {
		t.Fatal("test did not change the document")
	}
	if _, err := Verify(forged, key.Public().(ed25519.PublicKey)); err == nil {
		t.Fatal("an altered grant record verified")
	}
}
