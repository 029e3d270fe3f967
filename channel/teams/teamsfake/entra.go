package teamsfake

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// BotFrameworkScope is the scope of a token for the Bot Connector.
const BotFrameworkScope = "https://api.botframework.com/.default"

// tokenLifetime is how long an access token lasts (Entra's usual hour).
const tokenLifetime = time.Hour

// token is Entra ID's token endpoint for the client credentials grant:
// the client authenticates with its secret in the form or with HTTP Basic
// (form-encoded, as RFC 6749 §2.3.1 and x/oauth2 do it).
func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	if tenant := r.PathValue("tenant"); tenant != s.tenantID {
		entraError(w, http.StatusBadRequest, "invalid_request", 90002, fmt.Sprintf("Tenant '%s' not found.", tenant))
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		entraError(w, http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: 'grant_type'.")
		return
	}
	grant := r.PostForm.Get("grant_type")
	switch grant {
	case "":
		entraError(w, http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: 'grant_type'.")
		return
	case "client_credentials":
	default:
		entraError(w, http.StatusBadRequest, "unsupported_grant_type", 70003, "The app requested an unsupported grant type '"+grant+"'.")
		return
	}
	id, secret := r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	if u, p, ok := r.BasicAuth(); ok {
		var err1, err2 error
		id, err1 = url.QueryUnescape(u)
		secret, err2 = url.QueryUnescape(p)
		if err1 != nil || err2 != nil {
			entraError(w, http.StatusUnauthorized, "invalid_client", 7000215, "Invalid client secret provided.")
			return
		}
	}
	switch {
	case id != s.appID:
		entraError(w, http.StatusUnauthorized, "invalid_client", 700016,
			fmt.Sprintf("Application with identifier '%s' was not found in the directory.", id))
		return
	case secret != s.password:
		entraError(w, http.StatusUnauthorized, "invalid_client", 7000215,
			"Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID.")
		return
	}
	if scope := r.PostForm.Get("scope"); scope != BotFrameworkScope {
		entraError(w, http.StatusBadRequest, "invalid_scope", 1002012,
			fmt.Sprintf("The provided value for scope %s is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier.", scope))
		return
	}

	tok := "fake-bf-" + randomHex(24)
	s.mu.Lock()
	s.tokens[tok] = time.Now().Add(tokenLifetime)
	s.tokensIssued++
	s.notifyLocked()
	s.mu.Unlock()
	s.log.Debug("teamsfake: issued a token", "client_id", id)
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, map[string]any{
		"token_type": "Bearer", "expires_in": int(tokenLifetime.Seconds()),
		"ext_expires_in": int(tokenLifetime.Seconds()), "access_token": tok,
	})
}

// entraError answers as Entra ID does (AADSTS codes in the description).
func entraError(w http.ResponseWriter, status int, code string, aadsts int, description string) {
	writeJSON(w, status, map[string]any{
		"error":             code,
		"error_description": fmt.Sprintf("AADSTS%d: %s", aadsts, description),
		"error_codes":       []int{aadsts},
		"timestamp":         time.Now().UTC().Format("2006-01-02 15:04:05Z"),
		"trace_id":          randomHex(16),
		"correlation_id":    randomHex(16),
	})
}

// tokenValidLocked tells whether the Authorization header carries a token
// the endpoint issued and that has not expired.
func (s *Server) tokenValidLocked(authorization string) bool {
	scheme, tok, ok := strings.Cut(authorization, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	exp, ok := s.tokens[tok]
	return ok && time.Now().Before(exp)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
