package secretchange

import (
	"errors"
	"strings"
	"testing"
)

const planted = "s3cr3t-planted-value"

func TestDiffShowsKeysAndFingerprintsNeverValues(t *testing.T) {
	k := GenerateKeys()
	f := k.Fingerprinter()
	current := map[string]string{"DB_PASSWORD": "old-pw", "API_KEY": "same", "OLD": "x"}
	edits := []Edit{{Key: "DB_PASSWORD", Op: OpRotate, Value: planted}, {Key: "API_KEY", Op: OpSet, Value: "same"},
		{Key: "NEW", Op: OpSet, Value: "n"}, {Key: "OLD", Op: OpDelete}}
	diff, err := Diff(f, "prod", "production/api", current, edits)
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]string{}
	for _, d := range diff {
		kinds[d.Key] = d.Kind
	}
	want := map[string]string{"API_KEY": KindUnchanged, "DB_PASSWORD": KindChanged, "NEW": KindAdded, "OLD": KindRemoved}
	for key, kind := range want {
		if kinds[key] != kind {
			t.Errorf("%s: %s, want %s", key, kinds[key], kind)
		}
	}
	if diff[1].Key != "DB_PASSWORD" || diff[1].New.Length != len(planted) || diff[1].Old == diff[1].New {
		t.Errorf("DB_PASSWORD line %+v", diff[1])
	}
	// The same value elsewhere fingerprints differently: only versions of
	// one key compare.
	if f.Of("prod", "production/api", "OTHER", planted) == diff[1].New {
		t.Error("fingerprints link values across keys")
	}
	if strings.Contains(Change{Keys: diff}.Summary(), planted) {
		t.Error("summary shows a value")
	}
}

func TestDiffRefusals(t *testing.T) {
	f := GenerateKeys().Fingerprinter()
	for name, edits := range map[string][]Edit{
		"rotate missing": {{Key: "NOPE", Op: OpRotate, Value: planted}},
		"delete missing": {{Key: "NOPE", Op: OpDelete}},
		"twice":          {{Key: "A", Op: OpSet, Value: planted}, {Key: "A", Op: OpSet, Value: "b"}},
		"bad key":        {{Key: "1A", Op: OpSet, Value: planted}},
		"no value":       {{Key: "A", Op: OpSet}},
		"delete value":   {{Key: "A", Op: OpDelete, Value: planted}},
		"bad op":         {{Key: "A", Op: "merge", Value: planted}},
		"none":           nil,
	} {
		_, err := Diff(f, "t", "s", map[string]string{"A": "x"}, edits)
		if err == nil {
			t.Errorf("%s: accepted", name)
			continue
		}
		if strings.Contains(err.Error(), planted) {
			t.Errorf("%s: error shows the value: %v", name, err)
		}
	}
}

func TestApplyOnceAndOnlyWhatWasApproved(t *testing.T) {
	k := GenerateKeys()
	f := k.Fingerprinter()
	current := map[string]string{"DB_PASSWORD": "old-pw", "KEEP": "k"}
	edits := []Edit{{Key: "DB_PASSWORD", Op: OpRotate, Value: planted}}
	diff, err := Diff(f, "prod", "production/api", current, edits)
	if err != nil {
		t.Fatal(err)
	}
	c := Change{Target: "prod", Secret: "production/api", Keys: diff, KeyID: f.ID}
	if err := c.Verify(f, edits); err != nil {
		t.Fatal(err)
	}
	if err := c.Verify(f, []Edit{{Key: "DB_PASSWORD", Op: OpRotate, Value: "swapped"}}); !errors.Is(err, ErrStagedMismatch) {
		t.Errorf("a swapped staged value: %v", err)
	}
	next, done, err := c.Apply(f, current, edits)
	if err != nil || done || next["DB_PASSWORD"] != planted || next["KEEP"] != "k" || current["DB_PASSWORD"] != "old-pw" {
		t.Fatalf("apply: %v %v %v", next, done, err)
	}
	// A retry after the write finds it done.
	if _, done, err := c.Apply(f, next, edits); err != nil || !done {
		t.Errorf("retry: done %v, %v", done, err)
	}
	// Someone changed the key since: refused, not overwritten.
	if _, _, err := c.Apply(f, map[string]string{"DB_PASSWORD": "changed-by-hand"}, edits); !errors.Is(err, ErrChangedSince) {
		t.Errorf("changed since: %v", err)
	}
}

func TestSealOpensOnlyForItsBinding(t *testing.T) {
	k := GenerateKeys()
	edits := []Edit{{Key: "DB_PASSWORD", Op: OpSet, Value: planted}}
	blob, err := k.Seal(Binding("a1", "prod", "production/api"), edits)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(blob, planted) {
		t.Fatal("sealed blob shows the value")
	}
	got, err := k.Open(Binding("a1", "prod", "production/api"), blob)
	if err != nil || len(got) != 1 || got[0].Value != planted {
		t.Fatalf("open: %v %v", got, err)
	}
	if _, err := k.Open(Binding("a2", "prod", "production/api"), blob); !errors.Is(err, ErrOpen) {
		t.Errorf("another approval's binding opened it: %v", err)
	}
	if _, err := GenerateKeys().Open(Binding("a1", "prod", "production/api"), blob); !errors.Is(err, ErrOpen) {
		t.Errorf("another key opened it: %v", err)
	}
	parsed, err := ParseKeys(k.Encode())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := parsed.Open(Binding("a1", "prod", "production/api"), blob); err != nil {
		t.Errorf("encoded keys: %v", err)
	}
	for _, bad := range []string{"", "x", "id:short", "a:" + strings.Repeat("A", 44) + ",a:" + strings.Repeat("A", 44)} {
		if _, err := ParseKeys(bad); err == nil {
			t.Errorf("ParseKeys(%q) accepted", bad)
		}
	}
}
