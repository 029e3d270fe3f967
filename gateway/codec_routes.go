package gateway

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/url"

	"go.temporal.io/sdk/converter"

	"github.com/signoff/signoff/approval/access"
	"github.com/signoff/signoff/auth/authn"
	"github.com/signoff/signoff/channel/web"
	"github.com/signoff/signoff/config/identity"
)

// codecRoutes serves Temporal's remote codec protocol for the Web UI and
// the CLI (`temporal workflow show --codec-endpoint …/codec
// --codec-auth "Bearer <token>"`): POST /codec/decode and /codec/encode with
// a JSON {"payloads": [...]} body. Callers need an API token of an admin or
// of a user with the codec role, or a browser signed in to Signoff as one
// calling from the Temporal UI's origin (codec.ui_origin; the UI sends
// its cookies with includeCredentials): 401 without either, 403 for anyone
// else. Mounted only when payload encryption is on.
func codecRoutes(mux *http.ServeMux, d Deps) error {
	c := d.Codec
	if c == nil {
		return nil
	}
	origin, err := uiOrigin(d.Config.Codec.UIOrigin)
	if err != nil {
		return err
	}
	h := &codecServer{
		origin:   origin,
		authn:    d.Authn,
		sessions: d.Sessions,
		logger:   d.Logger,
		maxBody:  d.Config.Gateway.MaxBodyBytes,
		next:     converter.NewPayloadCodecHTTPHandler(c),
	}
	mux.Handle("POST /codec/decode", h)
	mux.Handle("POST /codec/encode", h)
	mux.Handle("OPTIONS /codec/{op}", h)
	d.Logger.Info("codec server on", "path", "/codec", "key_ids", c.KeyIDs(), "ui_origin", origin)
	return nil
}

// uiOrigin checks codec.ui_origin is a bare origin, as browsers send it.
func uiOrigin(v string) (string, error) {
	if v == "" {
		return "", nil
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
		(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
		return "", fmt.Errorf("codec.ui_origin %q: want scheme://host[:port], as a browser sends it", v)
	}
	return u.Scheme + "://" + u.Host, nil
}

type codecServer struct {
	origin   string
	authn    *authn.Authenticator
	sessions *web.Sessions // nil when browser sign-in is off
	logger   *slog.Logger
	maxBody  int64
	next     http.Handler
}

func (s *codecServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// CORS: the Web UI calls from its own origin. A request from any other
	// origin gets no CORS grant, so a browser will not show it the answer.
	if o := r.Header.Get("Origin"); o != "" && s.origin != "" && o == s.origin {
		h := w.Header()
		h.Set("Access-Control-Allow-Origin", o)
		h.Set("Access-Control-Allow-Credentials", "true")
		h.Add("Vary", "Origin")
	}
	if r.Method == http.MethodOptions {
		if w.Header().Get("Access-Control-Allow-Origin") == "" {
			http.Error(w, "origin not allowed (codec.ui_origin)", http.StatusForbidden)
			return
		}
		h := w.Header()
		h.Set("Access-Control-Allow-Methods", "POST, OPTIONS")
		h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, X-Namespace")
		h.Set("Access-Control-Max-Age", "600")
		w.WriteHeader(http.StatusNoContent)
		return
	}
	u, err := s.caller(r)
	if err != nil {
		w.Header().Set("WWW-Authenticate", `Bearer realm="signoff"`)
		http.Error(w, "missing or unknown bearer token (Authorization: Bearer <token>), and no Signoff sign-in in this browser", http.StatusUnauthorized)
		return
	}
	// Payloads are every approval's content: decoding them is not scoped
	// to one approval, so it takes the codec role (or admin).
	if !access.CanDecodePayloads(u) {
		s.logger.WarnContext(r.Context(), "codec call refused: no codec role", "user", u.Name, "path", r.URL.Path)
		http.Error(w, "the codec endpoints need the codec role (users[].roles) or admin", http.StatusForbidden)
		return
	}
	// Reading decrypted payloads is reading every approval: who did is
	// worth a line.
	s.logger.InfoContext(r.Context(), "codec call", "user", u.Name, "path", r.URL.Path)
	r.Body = http.MaxBytesReader(w, r.Body, s.maxBody)
	s.next.ServeHTTP(w, r)
}

// caller is who calls: a bearer token's owner, else the person signed in
// to Signoff in this browser, when the call comes from the Temporal UI's
// origin. A session is never taken from any other origin: a page elsewhere
// could make the browser send the cookie.
func (s *codecServer) caller(r *http.Request) (*identity.User, error) {
	if token := bearerToken(r.Header.Get("Authorization")); token != "" || s.sessions == nil {
		return s.authn.Authenticate(r.Context(), token)
	}
	if o := r.Header.Get("Origin"); s.origin == "" || o != s.origin {
		return nil, authn.ErrUnknown
	}
	if u, ok := s.sessions.User(r); ok {
		return u, nil
	}
	return nil, authn.ErrUnknown
}
