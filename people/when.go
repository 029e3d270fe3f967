package people

import (
	"fmt"
	"strings"
	"time"

	"github.com/signoff/signoff/policy"
)

// ParseWhen reads when a delegation starts or ends as people write it: a
// date (YYYY-MM-DD, UTC; its end when endOfDay, so "until 2026-12-24"
// covers the 24th), an RFC 3339 time, or a duration from now (8h, 90m,
// 3d).
func ParseWhen(s string, now time.Time, endOfDay bool) (time.Time, error) {
	s = strings.TrimSpace(s)
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		if endOfDay {
			t = t.Add(24 * time.Hour)
		}
		return t, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	var d policy.Duration
	if err := d.UnmarshalText([]byte(s)); err == nil && d > 0 {
		return now.Add(d.Std()), nil
	}
	return time.Time{}, fmt.Errorf("%q is not a date (2026-12-24), an RFC 3339 time or a duration (8h, 3d)", s)
}
