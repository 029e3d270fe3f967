// Package teamsfake is a fake Microsoft Teams for tests: one HTTP server
// on 127.0.0.1 playing the three Microsoft parts a Teams bot talks to,
// with the real wire shapes (the teamsmsg types), so tests run Signoff's
// real client and gateway code against it:
//
//   - the Entra ID token endpoint (client credentials, as
//     golang.org/x/oauth2/clientcredentials sends them), see entra.go;
//   - the Bot Connector REST API under ServiceURL (create conversation,
//     send, update, get member), recording every call, see connector.go;
//   - the Teams channel service, which signs activities with a key of its
//     published JWKS (Bot Framework OpenID metadata) and posts them to the
//     bot's endpoint: card clicks (Invoke) and other activities (Post),
//     see channel.go.
//
// Typical use:
//
//	f := teamsfake.New(teamsfake.Options{})
//	defer f.Close()
//	f.AddUser(teamsfake.User{TeamsID: "29:1abc", AADObjectID: "…", Name: "Ada", Email: "ada@example.com"})
//	// configure the bot with f.AppID(), f.AppPassword(), f.TokenURL(),
//	// f.ServiceURL() and f.OpenIDMetadataURL(); then
//	msgs, err := f.WaitMessages(ctx, 1)
//	status, body, err := f.Invoke(ctx, botURL, user, msgs[0].ConversationID, value)
package teamsfake

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/signoff/signoff/channel/teams/teamsmsg"
)

// Defaults of Options.
const (
	DefaultAppID       = "5bd3cc1e-6d45-4b8a-9f1c-0b7a5f0e51d0"
	DefaultAppPassword = "fake~teams~app~password"
	DefaultTenantID    = "9c1f2a47-3e0b-4c55-8f7d-2a6b1e0c9d34"
)

// Options configure a fake; empty fields take the defaults above.
type Options struct {
	// AppID and AppPassword are the bot's Entra app registration (client
	// ID and secret) the token endpoint accepts.
	AppID, AppPassword string
	// TenantID is the Entra tenant: the token endpoint's and every
	// conversation's.
	TenantID string
	// Logger receives a line per request (default: discarded).
	Logger *slog.Logger
}

// User is a Teams user the fake knows.
type User struct {
	// TeamsID is the user's Bot Framework ID ("29:…").
	TeamsID string
	// AADObjectID is the user's Entra object ID.
	AADObjectID string
	Name        string
	Email       string
	UPN         string
	// Role is the members API's userRole: "user" (the default) or
	// "guest".
	Role string
}

// Call is one Bot Connector call the fake received, whatever its answer.
type Call struct {
	Method string
	// Path is the request path as sent (escaped).
	Path string
	// ConversationID and ActivityID are the path's, unescaped ("" when
	// the route has none).
	ConversationID string
	ActivityID     string
	// Activity is the decoded body of an activity post or update.
	Activity *teamsmsg.Activity
	Body     []byte
	// Status is the HTTP status the fake answered.
	Status int
}

// Message is an activity the bot posted, as it stands after updates.
type Message struct {
	// ConversationID is the conversation it was posted to (as in the
	// path, e.g. with ";messageid=…" for a channel thread reply).
	ConversationID string
	ActivityID     string
	Activity       teamsmsg.Activity
	// Updates counts the PUTs that replaced it.
	Updates int
}

// conversation is one conversation the Bot Connector knows.
type conversation struct {
	kind   string // "personal", "channel" or "groupChat"
	member string // the user's TeamsID, for a personal chat
}

// Server is a running fake. It is safe for concurrent use.
type Server struct {
	srv      *httptest.Server
	appID    string
	password string
	tenantID string
	log      *slog.Logger
	client   *http.Client // posts activities to the bot
	start    time.Time    // activity IDs count from it, as Teams' do from the epoch

	mu            sync.Mutex
	changed       chan struct{}
	seq           int
	users         []User
	tokens        map[string]time.Time // access token → expiry
	tokensIssued  int
	conversations map[string]*conversation // by ID, without ";messageid=…"
	personal      map[string]string        // TeamsID → personal conversation ID
	messages      []Message
	byActivity    map[string]int // conversation ID (base) + "\x00" + activity ID → index in messages
	calls         []Call
	limitNext     int
	keyFetches    int
	// The channel service's signing keys (channel.go).
	listed     []*signingKey // in the JWKS, oldest first
	current    *signingKey   // signs activities
	unendorsed *signingKey   // in the JWKS, endorsed for webchat only
	foreign    *signingKey   // never published; made on first use
}

// New starts a fake on 127.0.0.1; Close it when done. It generates its
// signing keys (RSA 2048), which takes a moment.
func New(o Options) *Server {
	s := &Server{
		appID: o.AppID, password: o.AppPassword, tenantID: o.TenantID, log: o.Logger,
		client: &http.Client{Timeout: 30 * time.Second}, start: time.Now(),
		changed: make(chan struct{}), tokens: map[string]time.Time{},
		conversations: map[string]*conversation{}, personal: map[string]string{},
		byActivity: map[string]int{},
	}
	if s.appID == "" {
		s.appID = DefaultAppID
	}
	if s.password == "" {
		s.password = DefaultAppPassword
	}
	if s.tenantID == "" {
		s.tenantID = DefaultTenantID
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.current = newSigningKey(teamsmsg.ChannelTeams)
	s.unendorsed = newSigningKey("webchat")
	s.listed = []*signingKey{s.current, s.unendorsed}

	mux := http.NewServeMux()
	// Entra ID.
	mux.HandleFunc("POST /{tenant}/oauth2/v2.0/token", s.token)
	// Bot Connector.
	mux.HandleFunc("POST /teams/v3/conversations", s.connector(s.createConversation))
	mux.HandleFunc("POST /teams/v3/conversations/{conversationId}/activities", s.connector(s.sendActivity))
	mux.HandleFunc("POST /teams/v3/conversations/{conversationId}/activities/{activityId}", s.connector(s.sendActivity))
	mux.HandleFunc("PUT /teams/v3/conversations/{conversationId}/activities/{activityId}", s.connector(s.updateActivity))
	mux.HandleFunc("GET /teams/v3/conversations/{conversationId}/members/{memberId}", s.connector(s.getMember))
	mux.HandleFunc("/teams/v3/", s.connector(s.notFound))
	// The Bot Framework's OpenID metadata and keys.
	mux.HandleFunc("GET /v1/.well-known/openidconfiguration", s.openIDMetadata)
	mux.HandleFunc("GET /v1/keys", s.jwks)
	s.srv = httptest.NewServer(mux)
	return s
}

// Close stops the fake.
func (s *Server) Close() {
	s.srv.Close()
	s.client.CloseIdleConnections()
}

// URL is the fake's base URL.
func (s *Server) URL() string { return s.srv.URL }

// ServiceURL is the Bot Connector base the bot calls (an activity's
// serviceUrl), ending in "/".
func (s *Server) ServiceURL() string { return s.srv.URL + "/teams/" }

// TokenURL is the tenant's Entra token endpoint.
func (s *Server) TokenURL() string { return s.srv.URL + "/" + s.tenantID + "/oauth2/v2.0/token" }

// OpenIDMetadataURL is the Bot Framework OpenID metadata the bot reads
// the channel service's signing keys from.
func (s *Server) OpenIDMetadataURL() string { return s.srv.URL + "/v1/.well-known/openidconfiguration" }

// AppID is the bot's app ID: client ID at the token endpoint, audience of
// the activities' tokens.
func (s *Server) AppID() string { return s.appID }

// AppPassword is the bot's client secret.
func (s *Server) AppPassword() string { return s.password }

// TenantID is the fake's Entra tenant.
func (s *Server) TenantID() string { return s.tenantID }

// BotID is the bot's ID in Teams activities ("28:" + app ID).
func (s *Server) BotID() string { return "28:" + s.appID }

// AddUser adds a user, or replaces the one with the same TeamsID.
func (s *Server) AddUser(u User) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.addUserLocked(u)
}

func (s *Server) addUserLocked(u User) {
	if i := slices.IndexFunc(s.users, func(x User) bool { return x.TeamsID == u.TeamsID }); i >= 0 {
		s.users[i] = u
		return
	}
	s.users = append(s.users, u)
}

// userLocked finds a user by TeamsID or Entra object ID (GUIDs compare
// case-insensitively).
func (s *Server) userLocked(id string) (User, bool) {
	if id == "" {
		return User{}, false
	}
	for _, u := range s.users {
		if u.TeamsID == id || (u.AADObjectID != "" && strings.EqualFold(u.AADObjectID, id)) {
			return u, true
		}
	}
	return User{}, false
}

// AddChannel makes a channel conversation known (e.g.
// "19:abc@thread.tacv2"); posts to it, and to its threads
// ("…;messageid=…"), are accepted.
func (s *Server) AddChannel(conversationID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.conversations[baseConversation(conversationID)] = &conversation{kind: "channel"}
}

// RateLimitNext makes the next n Bot Connector calls answer 429 with
// Retry-After: 1, as Teams throttles a bot.
func (s *Server) RateLimitNext(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.limitNext = n
}

// TokensIssued counts the access tokens the token endpoint issued.
func (s *Server) TokensIssued() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tokensIssued
}

// ExpireTokens makes every access token issued so far refused by the Bot
// Connector, as after their expiry.
func (s *Server) ExpireTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.tokens)
}

// KeyFetches counts the requests for the JWKS.
func (s *Server) KeyFetches() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.keyFetches
}

// Calls returns every Bot Connector call received, oldest first.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.calls)
}

// Messages returns the activities the bot posted, oldest first, each as
// it stands after updates.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.messages)
}

// Message returns the current content of activity activityID of a
// conversation.
func (s *Server) Message(conversationID, activityID string) (Message, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	i, ok := s.byActivity[activityKey(conversationID, activityID)]
	if !ok {
		return Message{}, false
	}
	return s.messages[i], true
}

// Changed returns a channel closed at the next change the fake records
// (a Bot Connector call, a token issued). Take it before checking the
// state, then wait on it:
//
//	for ch := f.Changed(); !done(); ch = f.Changed() { <-ch }
func (s *Server) Changed() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.changed
}

// Wait blocks until cond holds (checked now and after every recorded
// change) or ctx ends.
func (s *Server) Wait(ctx context.Context, cond func() bool) error {
	for {
		ch := s.Changed()
		if cond() {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
}

// WaitMessages blocks until the bot has posted at least n activities or
// ctx ends; it returns the messages.
func (s *Server) WaitMessages(ctx context.Context, n int) ([]Message, error) {
	var msgs []Message
	err := s.Wait(ctx, func() bool {
		msgs = s.Messages()
		return len(msgs) >= n
	})
	return msgs, err
}

// notifyLocked wakes the waiters; call with mu held.
func (s *Server) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// nextActivityIDLocked returns a new activity ID: milliseconds, as Teams'
// message IDs, kept unique by a counter.
func (s *Server) nextActivityIDLocked() string {
	s.seq++
	return strconv.FormatInt(s.start.UnixMilli()+int64(s.seq), 10)
}

// baseConversation strips a channel thread's ";messageid=…".
func baseConversation(id string) string {
	base, _, _ := strings.Cut(id, ";messageid=")
	return base
}

func activityKey(conversationID, activityID string) string {
	return baseConversation(conversationID) + "\x00" + activityID
}

// randomHex returns n random bytes, hex-encoded.
func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails (crypto/rand panics rather)
	return hex.EncodeToString(b)
}
