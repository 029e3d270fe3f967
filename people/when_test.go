package people

import (
	"testing"
	"time"
)

func TestParseWhen(t *testing.T) {
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Time{
		"2026-12-24":           time.Date(2026, 12, 25, 0, 0, 0, 0, time.UTC), // through the 24th
		"2026-12-24T17:00:00Z": time.Date(2026, 12, 24, 17, 0, 0, 0, time.UTC),
		"8h":                   now.Add(8 * time.Hour),
		"3d":                   now.Add(72 * time.Hour),
	} {
		got, err := ParseWhen(in, now, true)
		if err != nil || !got.Equal(want) {
			t.Errorf("ParseWhen(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	if got, _ := ParseWhen("2026-12-24", now, false); !got.Equal(time.Date(2026, 12, 24, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("a start date is its beginning: %v", got)
	}
	for _, bad := range []string{"", "tomorrow", "-3h", "24/12/2026", "1.5d"} {
		if _, err := ParseWhen(bad, now, true); err == nil {
			t.Errorf("ParseWhen(%q) accepted", bad)
		}
	}
}
