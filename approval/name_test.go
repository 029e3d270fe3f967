package approval

import (
	"errors"
	"strings"
	"testing"
)

func TestCheckName(t *testing.T) {
	for _, name := range []string{
		"prod-db", "apps/api/db", "production/api", "iam/carol/AKIA123", "exception/cve-2026-1", "a.b/c..d/.e/f.",
		"acme/web", "arn:aws:secretsmanager:us-east-1:123:secret:x", "db@main", "k=v+w", "naïve", "100%", "a%20b",
	} {
		if err := CheckName(name); err != nil {
			t.Errorf("CheckName(%q): %v", name, err)
		}
	}
	for name, why := range map[string]string{
		"":                 "empty",
		"apps/../prod-db":  `".." segment`,
		"..":               `".." segment`,
		"../prod-db":       `".." segment`,
		"apps/..":          `".." segment`,
		"apps/./db":        `"." segment`,
		"./db":             `"." segment`,
		".":                `"." segment`,
		"a//b":             "empty segment",
		"/prod-db":         "empty segment",
		"prod-db/":         "empty segment",
		"/":                "empty segment",
		`apps\..\prod-db`:  "backslash",
		`prod\db`:          "backslash",
		"apps%2f..%2fdb":   "percent-encoded",
		"apps%2F..%2Fdb":   "percent-encoded",
		"apps%5cdb":        "percent-encoded",
		"apps%5C..%5Cdb":   "percent-encoded",
		"apps/%2e%2e/db":   "percent-encoded",
		"apps/%2E%2E/db":   "percent-encoded",
		"apps%252fdb":      "percent-encoded",
		"prod\x00db":       "control character",
		"prod-db\n":        "control character",
		"prod\tdb":         "control character",
		"prod\rdb":         "control character",
		"prod\x7fdb":       "control character",
		"prod\u0085db":     "control character",
		"prod\xffdb":       "UTF-8",
		"apps/\x00/../db":  "control character",
		"apps/.%2e/prod":   "percent-encoded",
		"apps/..%5cprod":   "percent-encoded",
		"apps//../prod-db": "empty segment",
	} {
		err := CheckName(name)
		if !errors.Is(err, ErrNotCanonical) || !strings.Contains(err.Error(), why) {
			t.Errorf("CheckName(%q) = %v, want ErrNotCanonical saying %q", name, err, why)
		}
		if err != nil && strings.ContainsAny(err.Error(), "\x00\n\r\t") {
			t.Errorf("CheckName(%q): the error holds a raw control character: %q", name, err)
		}
	}
}

// FuzzCheckName: a name CheckName accepts is one path.Clean leaves alone
// and one a decoding leaves without new separators.
func FuzzCheckName(f *testing.F) {
	for _, s := range []string{"apps/api/db", "apps/../prod-db", "a//b", "a%2fb", `a\b`, "a\x00b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		if CheckName(name) != nil {
			return
		}
		if cleaned := cleanPath(name); cleaned != name {
			t.Fatalf("CheckName(%q) accepted a name that cleans to %q", name, cleaned)
		}
		for _, c := range []string{"%2f", "%5c", "%2e", "%25", `\`, "\x00"} {
			if strings.Contains(strings.ToLower(name), c) {
				t.Fatalf("CheckName(%q) accepted %q", name, c)
			}
		}
	})
}

// cleanPath is path.Clean without its leading-slash rule: what Vault's
// client makes of a name.
func cleanPath(name string) string {
	var out []string
	for _, seg := range strings.Split(name, "/") {
		switch seg {
		case "", ".":
		case "..":
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
		default:
			out = append(out, seg)
		}
	}
	return strings.Join(out, "/")
}
