package approval

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// ErrNotCanonical: a secret name or request resource is not written the
// one way it is read.
var ErrNotCanonical = errors.New("not a canonical name")

// encodedSeparators are percent escapes of '/', '\', '.' and '%' itself
// (the way to a second decoding), lower case.
var encodedSeparators = []string{"%2f", "%5c", "%2e", "%25"}

// CheckName refuses a secret name or request resource that is not
// canonical: one that names something else once read. Allow-lists and
// policies match names as written (path.Match), but Vault's client cleans
// a path ("apps/../prod-db" is read as "prod-db") and an HTTP API may
// decode escapes, so a name that matched "apps/*/*" could reach a secret
// the pattern never allowed. A canonical name is '/'-separated segments,
// none empty, "." or ".." (no leading, trailing or doubled '/'), in valid
// UTF-8, with no backslash, control character (NUL included) or
// percent-encoded '/', '\', '.' or '%'. Errors quote the name with %q, so
// they never carry a raw control character.
func CheckName(name string) error {
	bad := func(why string) error { return fmt.Errorf("%w: %q %s", ErrNotCanonical, name, why) }
	if name == "" {
		return bad("is empty")
	}
	if !utf8.ValidString(name) {
		return bad("is not valid UTF-8")
	}
	for _, r := range name {
		switch {
		case r == '\\':
			return bad(`holds a backslash (read as '/' by some stores)`)
		case unicode.IsControl(r):
			return bad("holds a control character")
		}
	}
	lower := strings.ToLower(name)
	for _, e := range encodedSeparators {
		if strings.Contains(lower, e) {
			return bad(fmt.Sprintf("holds %q, a percent-encoded separator", e))
		}
	}
	for seg := range strings.SplitSeq(name, "/") {
		switch seg {
		case "":
			return bad("has an empty segment (a leading, trailing or doubled '/')")
		case ".", "..":
			return bad(fmt.Sprintf("has a %q segment: write the name it leads to", seg))
		}
	}
	return nil
}

// namePattern is the shape of a name the API takes from people for an
// environment, a requester or the approver someone decides for: short,
// printable, no spaces, safe in a visibility query and a URL path.
var namePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,63}$`)

// IsName reports whether s has the shape of such a name. Every edge that
// takes one (the API, ballots, the GitHub app, trigger rows, config)
// checks it here, so a name one accepts the others accept too.
func IsName(s string) bool { return namePattern.MatchString(s) }
