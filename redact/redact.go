// Package redact scrubs secrets from text that leaves an activity (action
// outputs and errors land in workflow history, logs and chat). It replaces
// the exact values of configured secrets, and common credential shapes
// (cloud keys, chat and forge tokens, bearer and basic credentials) whose
// values the worker cannot know in advance.
package redact

import (
	"encoding/json"
	"net/url"
	"regexp"
	"slices"
	"strings"
)

// Mask replaces what is redacted.
const Mask = "[redacted]"

// MinSecretLen is the shortest configured secret that is matched: shorter
// values would shred ordinary words and are too weak to be real secrets.
const MinSecretLen = 6

// masks are tried in order: a mask that contains a configured secret would
// put the secret back. The last is shorter than MinSecretLen, so it always
// fits.
var masks = []string{Mask, "[secret]", "***"}

// patterns are credential shapes found in API responses, URLs and error
// messages, after their issuers' published formats. Where a pattern has a
// group named "v", only that group is masked, so a key name or a URL
// scheme stays readable.
var patterns = []*regexp.Regexp{
	// AWS access key IDs (long-term AKIA, temporary ASIA).
	regexp.MustCompile(`\b(?:AKIA|ASIA)[A-Z0-9]{16}\b`),
	// AWS secret access keys written as key=value, key: value or JSON.
	regexp.MustCompile(`(?i)(?:aws_?secret_?access_?key|secret_?access_?key)["']?\s*[:=]\s*["']?(?P<v>[A-Za-z0-9/+=]{16,})`),
	// Slack tokens: bot, user, app-level, configuration, refresh.
	regexp.MustCompile(`\bxox[abposr]-[A-Za-z0-9-]{8,}`),
	regexp.MustCompile(`\bxapp-[A-Za-z0-9-]{8,}`),
	// GitHub tokens: classic PAT, OAuth, user-to-server, server-to-server,
	// refresh, fine-grained PAT.
	regexp.MustCompile(`\bgh[pousr]_[A-Za-z0-9]{20,}`),
	regexp.MustCompile(`\bgithub_pat_[A-Za-z0-9_]{20,}`),
	// Authorization header values.
	regexp.MustCompile(`(?i)\bbearer\s+(?P<v>[A-Za-z0-9\-._~+/]+=*)`),
	regexp.MustCompile(`(?i)\bbasic\s+(?P<v>[A-Za-z0-9+/]{8,}=*)`),
	// Credentials in URLs: scheme://user:password@host, scheme://token@host.
	regexp.MustCompile(`[A-Za-z][A-Za-z0-9+.-]*://(?P<v>[^/?#\s@]+)@`),
}

// Redactor replaces secrets with a mask. The zero value redacts patterns
// only. It is safe for concurrent use.
type Redactor struct {
	secrets []string
	mask    string
}

// New returns a Redactor for the given secret values. Empty values and
// values shorter than MinSecretLen are ignored. Each secret is also matched
// in its JSON-escaped and URL-escaped forms, the ways it most often reaches
// a response body.
func New(secrets ...string) *Redactor {
	r := &Redactor{}
	seen := map[string]bool{}
	for _, s := range secrets {
		if len(s) < MinSecretLen {
			continue
		}
		for _, v := range variants(s) {
			if !seen[v] {
				seen[v] = true
				r.secrets = append(r.secrets, v)
			}
		}
	}
	// Longest first, so a secret containing another is masked whole.
	slices.SortFunc(r.secrets, func(a, b string) int { return len(b) - len(a) })
	r.mask = masks[len(masks)-1]
	for _, m := range masks {
		if !slices.ContainsFunc(r.secrets, func(s string) bool { return strings.Contains(m, s) }) {
			r.mask = m
			break
		}
	}
	return r
}

func variants(s string) []string {
	out := []string{s}
	if b, err := json.Marshal(s); err == nil {
		out = append(out, string(b[1:len(b)-1]))
	}
	out = append(out, url.QueryEscape(s), url.PathEscape(s))
	return out
}

// Redact returns s with every configured secret and credential shape
// masked. The output never contains a configured secret, even where a
// mask placed next to ordinary text would spell one.
func (r *Redactor) Redact(s string) string {
	mask := Mask
	if r != nil && r.mask != "" {
		mask = r.mask
	}
	for _, re := range patterns {
		s = replacePattern(re, s, mask)
	}
	if r == nil || len(r.secrets) == 0 {
		return s
	}
	return r.maskSecrets(s)
}

// replacePattern masks every match of re in s, or only its "v" group.
func replacePattern(re *regexp.Regexp, s, mask string) string {
	g := re.SubexpIndex("v")
	if g < 0 {
		return re.ReplaceAllLiteralString(s, mask)
	}
	var b strings.Builder
	last := 0
	for _, m := range re.FindAllStringSubmatchIndex(s, -1) {
		b.WriteString(s[last:m[2*g]])
		b.WriteString(mask)
		last = m[2*g+1]
	}
	b.WriteString(s[last:])
	return b.String()
}

// maskSecrets marks the bytes of s covered by a secret and replaces each run
// of marked bytes with one mask. A mask next to unmarked text can spell a
// secret that s did not contain ("…d]" + "ab" for the secret "d]ab"), so
// it renders, searches the rendering and marks again until nothing is
// found. Every round marks at least one more byte of s (no secret fits
// inside a mask, and runs are maximal, so two masks never touch), so it
// ends.
func (r *Redactor) maskSecrets(s string) string {
	marked := make([]bool, len(s))
	for {
		out, origin := render(s, marked, r.mask)
		grew := false
		for _, sec := range r.secrets {
			for from := 0; from <= len(out)-len(sec); {
				i := strings.Index(out[from:], sec)
				if i < 0 {
					break
				}
				for _, o := range origin[from+i : from+i+len(sec)] {
					if o >= 0 && !marked[o] {
						marked[o] = true
						grew = true
					}
				}
				from += i + 1
			}
		}
		if !grew {
			return out
		}
	}
}

// render writes s with each run of marked bytes as one mask. origin maps
// each output byte to its byte in s, or -1 inside a mask.
func render(s string, marked []bool, mask string) (string, []int) {
	var b strings.Builder
	origin := make([]int, 0, len(s))
	for i := 0; i < len(s); i++ {
		if !marked[i] {
			b.WriteByte(s[i])
			origin = append(origin, i)
			continue
		}
		if i > 0 && marked[i-1] {
			continue
		}
		b.WriteString(mask)
		for range len(mask) {
			origin = append(origin, -1)
		}
	}
	return b.String(), origin
}
