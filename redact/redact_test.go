package redact

import (
	"math/rand/v2"
	"strings"
	"testing"
)

func TestRedactShapes(t *testing.T) {
	cases := []struct {
		name, in, want string
	}{
		{"aws access key id", "key AKIAIOSFODNN7EXAMPLE failed", "key [redacted] failed"},
		{"aws temporary key id", "ASIAY34FZKBOKMUTVV7A,", "[redacted],"},
		{"masked key id stays", "access key AKIA…MPLE of user bob", "access key AKIA…MPLE of user bob"},
		{"aws secret key, ini", "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n", "aws_secret_access_key = [redacted]\n"},
		{"aws secret key, env", "AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "AWS_SECRET_ACCESS_KEY=[redacted]"},
		{"aws secret key, json", `{"SecretAccessKey": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}`, `{"SecretAccessKey": "[redacted]"}`},
		{"slack bot token", "token=xoxb-1234-5678-AbCdEfGhIjKl ok", "token=[redacted] ok"},
		{"slack user token", "xoxp-1-2-3-abcdefabcdef", "[redacted]"},
		{"slack app token", "xapp-1-A0123-456-abcdef0123", "[redacted]"},
		{"github classic pat", "bad credentials ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789 used", "bad credentials [redacted] used"},
		{"github server token", "ghs_16C7e42F292c6912E7710c838347Ae178B4a", "[redacted]"},
		{"github fine-grained pat", "github_pat_11ABCDEFG0123456789_abcdefghijklmnop", "[redacted]"},
		{"bearer header", "Authorization: Bearer eyJhbGciOi.J9.x-y_z=", "Authorization: Bearer [redacted]"},
		{"basic header", "authorization: basic dXNlcjpwYXNzd29yZA==", "authorization: basic [redacted]"},
		{"url with user and password", "GET https://deploy:hunter2@ci.example.com/hook?x=1", "GET https://[redacted]@ci.example.com/hook?x=1"},
		{"url with token as user", "git clone https://x-access-token@github.com/o/r", "git clone https://[redacted]@github.com/o/r"},
		{"plain url untouched", "see https://example.com/a@b", "see https://example.com/a@b"},
		{"ordinary text untouched", "deployed api v2.3.0 to production (HTTP 200)", "deployed api v2.3.0 to production (HTTP 200)"},
		{"bearer word in prose", "bearer of bad news", "bearer [redacted] bad news"},
	}
	r := New()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := r.Redact(c.in); got != c.want {
				t.Errorf("Redact(%q)\n got %q\nwant %q", c.in, got, c.want)
			}
		})
	}
}

func TestRedactConfiguredSecrets(t *testing.T) {
	cases := []struct {
		name    string
		secrets []string
		in      string
		want    string
	}{
		{"exact value", []string{"s3cr3t-webhook"}, "signature key s3cr3t-webhook leaked", "signature key [redacted] leaked"},
		{"every occurrence", []string{"topsecret"}, "topsecret/topsecret", "[redacted]/[redacted]"},
		{"overlapping secrets are one mask", []string{"abcdef", "defghi"}, "xabcdefghiy", "x[redacted]y"},
		{"a secret inside another", []string{"password123", "word12"}, "password123", "[redacted]"},
		{"json-escaped form", []string{`pa"ss\word`}, `{"body":"pa\"ss\\word"}`, `{"body":"[redacted]"}`},
		{"url-escaped form", []string{"p@ss w0rd!"}, "q=p%40ss+w0rd%21&x=1", "q=[redacted]&x=1"},
		{"short values are ignored", []string{"", "abc"}, "abc", "abc"},
		{"secret that is part of the mask", []string{"redacted"}, "value: redacted", "value: [secret]"},
		// The first mask would end in "d]" next to "ab…", spelling the
		// second secret; it must be masked too.
		{"a mask that would spell a secret", []string{"SECRET1x", "ted]abc"}, "SECRET1xabc!", "[redacted]!"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := New(c.secrets...).Redact(c.in)
			if got != c.want {
				t.Errorf("Redact(%q)\n got %q\nwant %q", c.in, got, c.want)
			}
		})
	}
}

func TestNilAndZeroRedactorMaskPatterns(t *testing.T) {
	var nilR *Redactor
	var zero Redactor
	for _, r := range []*Redactor{nilR, &zero} {
		if got := r.Redact("AKIAIOSFODNN7EXAMPLE"); got != Mask {
			t.Errorf("got %q", got)
		}
	}
}

// FuzzRedact: whatever the text and the secrets, the output contains no
// configured secret (of at least MinSecretLen bytes).
func FuzzRedact(f *testing.F) {
	f.Add("token ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789 ok", "hunter22", "s3cr3t-webhook")
	f.Add("SECRET1xabc!", "SECRET1x", "ted]abc")
	f.Add("redactedredacted", "redacted", "[secret]")
	f.Add("aaaaaaaaaaaa", "aaaaaa", "aaaaaaa")
	f.Add("https://u:p@h/ Bearer x", "d][red", "ed]abc")
	f.Fuzz(func(t *testing.T, text, s1, s2 string) {
		out := New(s1, s2).Redact(text)
		for _, s := range []string{s1, s2} {
			if len(s) >= MinSecretLen && strings.Contains(out, s) {
				t.Fatalf("secret %q survives in %q (input %q)", s, out, text)
			}
		}
	})
}

// TestNoSecretSurvivesSmallAlphabet drives the masking loop where it is
// hardest: text and secrets over a tiny alphabet that shares letters with
// the masks, so masks next to text often spell secrets.
func TestNoSecretSurvivesSmallAlphabet(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const alphabet = "[]redacts*"
	word := func(n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = alphabet[rng.IntN(len(alphabet))]
		}
		return string(b)
	}
	for range 20000 {
		s1, s2 := word(MinSecretLen+rng.IntN(4)), word(MinSecretLen+rng.IntN(4))
		text := word(rng.IntN(60))
		out := New(s1, s2).Redact(text)
		for _, s := range []string{s1, s2} {
			if strings.Contains(out, s) {
				t.Fatalf("secret %q survives in %q (input %q, secrets %q %q)", s, out, text, s1, s2)
			}
		}
	}
}
