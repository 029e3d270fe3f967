package web

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/signoff/signoff/config/identity"
)

// Sessions are browser sign-ins: a signed cookie naming a configured
// person, until it expires or they sign out. The person is looked up in
// the directory in force on every request, so someone removed from the
// config is signed out everywhere at the next reload.
type Sessions struct {
	key    []byte
	ttl    time.Duration
	secure bool
	dir    func() *identity.Directory
	now    func() time.Time

	mu sync.Mutex
	// ended are sessions signed out before their expiry, until then: a
	// copy of the cookie stops working with the sign-out (in this
	// process; each gateway replica keeps its own list).
	ended map[string]time.Time
}

// SessionOptions build Sessions.
type SessionOptions struct {
	// Key signs the cookies (SIGNOFF_SESSION_KEY, 32 bytes or more).
	Key []byte
	TTL time.Duration
	// Secure marks the cookies Secure (an https public URL).
	Secure    bool
	Directory func() *identity.Directory
	Now       func() time.Time
}

// NewSessions checks the key.
func NewSessions(o SessionOptions) (*Sessions, error) {
	if len(o.Key) < 32 {
		return nil, errors.New("session key: want 32 bytes or more")
	}
	if o.Directory == nil || o.TTL <= 0 {
		return nil, errors.New("sessions: directory and TTL are required")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	m := hmac.New(sha256.New, o.Key)
	m.Write([]byte("signoff web session v1"))
	return &Sessions{key: m.Sum(nil), ttl: o.TTL, secure: o.Secure, dir: o.Directory, now: o.Now, ended: map[string]time.Time{}}, nil
}

// RandomSessionKey is a key for one process's life (dev configs).
func RandomSessionKey() []byte {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return b
}

// webCookie names the browser's session. Lax: a link from Slack or an
// email (a cross-site navigation) arrives signed in; POSTs carry a CSRF
// token as well.
const webCookie = "signoff_web"

// session is what the cookie says.
type session struct {
	User    string `json:"u"`
	ID      string `json:"sid"`
	Via     string `json:"via"`
	Issued  int64  `json:"iat"`
	Expires int64  `json:"exp"`
}

// Ways of signing in, for the audit trail.
const (
	viaOIDC = "oidc"
	viaDev  = "dev"
	// viaKey: minted by a holder of the session key (Cookie), not a sign-in.
	viaKey = "key"
)

// identifiedBy is what decisions made in a session record as how the
// person was known.
func (s session) identifiedBy() string {
	switch s.Via {
	case viaDev:
		return "web session (dev sign-in)"
	case viaKey:
		return "web session (minted with the session key)"
	}
	return "web session (OIDC sign-in)"
}

// seal signs v as body.mac, both base64url.
func seal(key []byte, v any) (string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	body := base64.RawURLEncoding.EncodeToString(b)
	return body + "." + base64.RawURLEncoding.EncodeToString(sum(key, body)), nil
}

// open checks the mac before reading anything.
func open(key []byte, token string, v any) bool {
	body, sig, ok := strings.Cut(token, ".")
	if !ok || len(token) > 4096 {
		return false
	}
	mac, err := base64.RawURLEncoding.Strict().DecodeString(sig)
	if err != nil || !hmac.Equal(mac, sum(key, body)) {
		return false
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(body)
	return err == nil && json.Unmarshal(b, v) == nil
}

func sum(key []byte, parts ...string) []byte {
	m := hmac.New(sha256.New, key)
	for _, p := range parts {
		m.Write([]byte(p))
		m.Write([]byte{0})
	}
	return m.Sum(nil)
}

// start signs user in.
func (s *Sessions) start(w http.ResponseWriter, user, via string) error {
	tok, err := s.token(user, via)
	if err != nil {
		return err
	}
	http.SetCookie(w, &http.Cookie{
		Name: webCookie, Value: tok, Path: "/", MaxAge: int(s.ttl.Seconds()),
		HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteLaxMode,
	})
	return nil
}

// Cookie is a session cookie for user, minted rather than signed in: for
// tools that hold the session key anyway (the bench opens the inbox with
// it). Decisions made in it say so in the audit trail.
func (s *Sessions) Cookie(user string) (*http.Cookie, error) {
	tok, err := s.token(user, viaKey)
	if err != nil {
		return nil, err
	}
	return &http.Cookie{Name: webCookie, Value: tok}, nil
}

// token is a new session's signed cookie value.
func (s *Sessions) token(user, via string) (string, error) {
	now := s.now()
	return seal(s.key, session{User: user, ID: randomString(), Via: via, Issued: now.Unix(), Expires: now.Add(s.ttl).Unix()})
}

// current is the browser's session and its person, if it has a live one.
func (s *Sessions) current(r *http.Request) (session, *identity.User, bool) {
	var ss session
	ck, err := r.Cookie(webCookie)
	if err != nil || !open(s.key, ck.Value, &ss) {
		return ss, nil, false
	}
	now := s.now()
	if now.Unix() >= ss.Expires || ss.ID == "" {
		return ss, nil, false
	}
	s.mu.Lock()
	_, ended := s.ended[ss.ID]
	s.mu.Unlock()
	if ended {
		return ss, nil, false
	}
	u, ok := s.dir().Lookup(ss.User)
	return ss, u, ok
}

// User is the signed-in person of r, for other routes that accept a
// browser's session (the codec endpoints the Temporal UI calls).
func (s *Sessions) User(r *http.Request) (*identity.User, bool) {
	_, u, ok := s.current(r)
	return u, ok
}

// end signs the session out: the cookie is cleared and the session is
// refused until it would have expired.
func (s *Sessions) end(w http.ResponseWriter, ss session) {
	now := s.now()
	s.mu.Lock()
	for id, exp := range s.ended {
		if !now.Before(exp) {
			delete(s.ended, id)
		}
	}
	if ss.ID != "" {
		s.ended[ss.ID] = time.Unix(ss.Expires, 0)
	}
	s.mu.Unlock()
	http.SetCookie(w, &http.Cookie{
		Name: webCookie, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteLaxMode,
	})
}

// csrf is the form token of a session: bound to it, so a token read from
// one session is useless in another.
func (s *Sessions) csrf(ss session) string {
	return base64.RawURLEncoding.EncodeToString(sum(s.key, "csrf", ss.ID))
}

// checkCSRF compares a form's token with the session's.
func (s *Sessions) checkCSRF(ss session, form string) bool {
	return ss.ID != "" && hmac.Equal([]byte(form), []byte(s.csrf(ss)))
}

// signinCookie keeps one sign-in attempt (state, nonce, PKCE verifier,
// where to go after) for ten minutes. Lax: the provider's redirect back
// is a cross-site navigation.
const (
	signinCookie = "signoff_signin"
	signinTTL    = 10 * time.Minute
)

// pending is a sign-in under way.
type pending struct {
	State    string `json:"s"`
	Nonce    string `json:"n"`
	Verifier string `json:"v"`
	Next     string `json:"next"`
	Expires  int64  `json:"exp"`
}

func (s *Sessions) setPending(w http.ResponseWriter, p pending) error {
	p.Expires = s.now().Add(signinTTL).Unix()
	tok, err := seal(s.key, p)
	if err != nil {
		return err
	}
	http.SetCookie(w, &http.Cookie{
		Name: signinCookie, Value: tok, Path: "/", MaxAge: int(signinTTL.Seconds()),
		HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteLaxMode,
	})
	return nil
}

func (s *Sessions) pending(r *http.Request) (pending, bool) {
	var p pending
	ck, err := r.Cookie(signinCookie)
	if err != nil || !open(s.key, ck.Value, &p) {
		return p, false
	}
	return p, s.now().Unix() < p.Expires
}

func (s *Sessions) clearPending(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: signinCookie, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteLaxMode})
}

// afterSignIn is where a browser goes after sign-in when next is not a
// safe path of this site.
const afterSignIn = "/inbox"

// localPath keeps a post-sign-in destination on this site: a path of it,
// re-serialized from its parts (path and query; the fragment is dropped),
// or afterSignIn. Browsers read '\' as '/' and drop tabs and newlines
// anywhere, and a proxy or a later step may decode the path once more, so
// anything that could read as "//host" in any of those ways is refused,
// not repaired.
func localPath(next string) string {
	if next == "" || next[0] != '/' || strings.HasPrefix(next, "//") {
		return afterSignIn
	}
	// Printable ASCII only: no control characters, spaces or backslashes,
	// and nothing a browser might fold into a separator. Legitimate values
	// come from signinURL, whose request URIs are already escaped.
	for i := 0; i < len(next); i++ {
		if c := next[i]; c <= ' ' || c >= 0x7f || c == '\\' {
			return afterSignIn
		}
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" {
		return afterSignIn
	}
	// The query is kept as written, so it must be a well-formed one.
	if _, err := url.ParseQuery(u.RawQuery); err != nil {
		return afterSignIn
	}
	// Encoded separators (%2F, %5C) and encoded percents (%25, the way in
	// to a second decoding) in the path would change meaning when decoded.
	rawPath, _, _ := strings.Cut(next, "?")
	rawPath, _, _ = strings.Cut(rawPath, "#")
	lower := strings.ToLower(rawPath)
	if strings.Contains(lower, "%2f") || strings.Contains(lower, "%5c") || strings.Contains(lower, "%25") {
		return afterSignIn
	}
	// u.Path is decoded once: no control character or backslash there
	// either.
	for i := 0; i < len(u.Path); i++ {
		if c := u.Path[i]; c < ' ' || c == 0x7f || c == '\\' {
			return afterSignIn
		}
	}
	// Cleaned, the path has no "." or ".." segments and no doubled
	// slashes, so it cannot begin with "//"; checked all the same.
	clean := path.Clean(u.Path)
	if !strings.HasPrefix(clean, "/") || strings.HasPrefix(clean, "//") {
		return afterSignIn
	}
	if strings.HasSuffix(u.Path, "/") && clean != "/" {
		clean += "/"
	}
	out := (&url.URL{Path: clean, RawQuery: u.RawQuery}).String()
	if !strings.HasPrefix(out, "/") || strings.HasPrefix(out, "//") {
		return afterSignIn
	}
	return out
}
