// Package slackfake is a fake Slack for tests and benchmarks: a Web API on
// 127.0.0.1 that records what Signoff sends (chat.postMessage, chat.update,
// chat.postEphemeral, views.open, users.info, usergroups.users.list,
// auth.test, response_url
// posts), answers like Slack does (channel IDs, message timestamps, error
// codes, 429 with Retry-After), and a Socket Mode endpoint. It also builds
// and signs requests exactly as Slack sends them (see payloads.go).
//
//	f := slackfake.New()
//	defer f.Close()
//	t.Setenv("SLACK_API_URL", f.APIURL())
//	t.Setenv("SLACK_BOT_TOKEN", f.Token())
package slackfake

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/slack-go/slack"
)

// Defaults of a new fake.
const (
	DefaultToken    = "xoxb-fake-0000-bot-token"
	DefaultAppToken = "xapp-fake-0000-app-token"
	DefaultTeamID   = "T0SIGNOFF"
	DefaultBotUser  = "U0SIGNOFFBOT"
)

// Message is a chat.postMessage the fake accepted (thread replies too).
type Message struct {
	// Channel is the channel ID the fake answered with; Requested is what
	// the caller asked for (a name, a user ID for a DM, or an ID).
	Channel   string
	Requested string
	TS        string
	ThreadTS  string
	Text      string
	Blocks    json.RawMessage
	// UnfurlLinks and UnfurlMedia are the raw form values ("false" when
	// unfurling was disabled, "" when not sent).
	UnfurlLinks string
	UnfurlMedia string
}

// Update is a chat.update the fake accepted.
type Update struct {
	Channel string
	TS      string
	Text    string
	Blocks  json.RawMessage
}

// Ephemeral is a chat.postEphemeral the fake accepted.
type Ephemeral struct {
	Channel string
	User    string
	Text    string
	Blocks  json.RawMessage
}

// View is a views.open the fake accepted.
type View struct {
	ID        string
	TriggerID string
	View      slack.ModalViewRequest
	Raw       json.RawMessage
}

// Response is a POST to a response_url the fake handed out.
type Response struct {
	Path    string
	Message slack.WebhookMessage
	Raw     json.RawMessage
}

// Server is a running fake.
type Server struct {
	srv      *httptest.Server
	token    string
	appToken string
	teamID   string

	mu          sync.Mutex
	changed     chan struct{}
	seq         int
	channels    map[string]string // name → ID
	messages    []Message
	current     map[string]Message // channel:ts → latest content
	updates     []Update
	ephemerals  []Ephemeral
	views       []View
	responses   []Response
	userCalls   []string
	authCalls   int
	users       map[string]slack.User
	usergroups  map[string][]string // usergroup ID → member user IDs
	groupCalls  int
	failures    map[string]string // channel name or ID → error code
	methodFails map[string]string // method → error code
	limit       int
	limitNext   int // message calls still to answer 429, whatever the time
	windows     map[string]*window
	rateLimited int
	socket      *socket
	// calls is every Web API call's arguments as received, decoded
	// (form values, JSON body): what a leak scan reads.
	calls []string
	// badAuth counts calls refused for their token.
	badAuth int
}

type window struct {
	start time.Time
	n     int
}

// Option configures New.
type Option func(*Server)

// WithToken sets the bot token the fake accepts.
func WithToken(t string) Option { return func(s *Server) { s.token = t } }

// WithTeam sets the workspace ID of auth.test and of users added by SetUser
// without one.
func WithTeam(id string) Option { return func(s *Server) { s.teamID = id } }

// New starts a fake on 127.0.0.1; Close it when done.
func New(opts ...Option) *Server {
	s := &Server{
		token: DefaultToken, appToken: DefaultAppToken, teamID: DefaultTeamID,
		changed: make(chan struct{}), channels: map[string]string{}, current: map[string]Message{},
		users: map[string]slack.User{}, usergroups: map[string][]string{}, failures: map[string]string{}, methodFails: map[string]string{},
		windows: map[string]*window{},
	}
	for _, o := range opts {
		o(s)
	}
	s.socket = newSocket(s)
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/{method}", s.api)
	mux.HandleFunc("POST /response/{id}", s.response)
	mux.HandleFunc("GET /socket", s.socket.serve)
	s.srv = httptest.NewServer(mux)
	return s
}

// Close stops the fake.
func (s *Server) Close() {
	s.socket.close()
	s.srv.Close()
}

// URL is the fake's base URL.
func (s *Server) URL() string { return s.srv.URL }

// APIURL is the Web API base URL (SLACK_API_URL).
func (s *Server) APIURL() string { return s.srv.URL + "/api/" }

// Token is the bot token the fake accepts (SLACK_BOT_TOKEN).
func (s *Server) Token() string { return s.token }

// AppToken is the app-level token the fake accepts (SLACK_APP_TOKEN).
func (s *Server) AppToken() string { return s.appToken }

// TeamID is the fake workspace's ID.
func (s *Server) TeamID() string { return s.teamID }

// ResponseURL hands out a fresh response_url on the fake.
func (s *Server) ResponseURL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	return fmt.Sprintf("%s/response/%d", s.srv.URL, s.seq)
}

// SetUsergroup sets the members (user IDs) of a user group, as
// usergroups.users.list answers them.
func (s *Server) SetUsergroup(id string, members ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.usergroups[id] = slices.Clone(members)
}

// UsergroupCalls counts usergroups.users.list calls.
func (s *Server) UsergroupCalls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.groupCalls
}

// SetUser adds or replaces a user answered by users.info. A user without
// a team gets the fake's.
func (s *Server) SetUser(u slack.User) {
	if u.TeamID == "" {
		u.TeamID = s.teamID
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.users[u.ID] = u
}

// RateLimit answers 429 (Retry-After: 1) to message calls past perSecond
// per channel per second; 0 turns it off.
func (s *Server) RateLimit(perSecond int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.limit = perSecond
	s.windows = map[string]*window{}
}

// RateLimitNext answers 429 (Retry-After: 1) to the next n message calls,
// however far apart they come (a test on a loaded machine cannot count on
// two calls within a second).
func (s *Server) RateLimitNext(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.limitNext = n
}

// RateLimited is how many 429s the fake has answered.
func (s *Server) RateLimited() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rateLimited
}

// FailChannel makes every call on channel (name or ID) fail with code,
// e.g. "channel_not_found"; "" clears it.
func (s *Server) FailChannel(channel, code string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if code == "" {
		delete(s.failures, channel)
		return
	}
	s.failures[channel] = code
}

// FailMethod makes every call of method fail with code; "" clears it.
// Codes starting with "http_" answer that HTTP status instead
// (e.g. "http_500").
func (s *Server) FailMethod(method, code string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if code == "" {
		delete(s.methodFails, method)
		return
	}
	s.methodFails[method] = code
}

// ChannelID is the ID the fake gives a channel name ("#x" or "x").
func (s *Server) ChannelID(name string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.channelIDLocked(name)
}

// Calls returns every Web API call received, decoded (form values and
// JSON bodies), for tests that scan what was sent to Slack.
func (s *Server) Calls() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.calls)
}

// BadAuthCalls is how many calls were refused as invalid_auth.
func (s *Server) BadAuthCalls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.badAuth
}

// Messages are the posted messages, oldest first.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.messages)
}

// Message is the current content of a posted message (after updates).
func (s *Server) Message(channel, ts string) (Message, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.current[channel+":"+ts]
	return m, ok
}

// Updates are the chat.update calls, oldest first.
func (s *Server) Updates() []Update {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.updates)
}

// Ephemerals are the chat.postEphemeral calls, oldest first.
func (s *Server) Ephemerals() []Ephemeral {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.ephemerals)
}

// Views are the views.open calls, oldest first.
func (s *Server) Views() []View {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.views)
}

// Responses are the response_url posts, oldest first.
func (s *Server) Responses() []Response {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.responses)
}

// UserInfoCalls are the user IDs users.info was asked about.
func (s *Server) UserInfoCalls() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.userCalls)
}

// AuthTests counts auth.test calls.
func (s *Server) AuthTests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.authCalls
}

// Wait blocks until cond holds (checked after every call the fake
// records) or timeout passes; it reports whether cond held.
func (s *Server) Wait(timeout time.Duration, cond func() bool) bool {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		ch := s.changed
		s.mu.Unlock()
		if cond() {
			return true
		}
		select {
		case <-ch:
		case <-deadline.C:
			return cond()
		}
	}
}

// notifyLocked wakes Wait; call with mu held.
func (s *Server) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

func (s *Server) channelIDLocked(name string) string {
	name = strings.TrimPrefix(name, "#")
	if id, ok := s.channels[name]; ok {
		return id
	}
	id := fmt.Sprintf("C%08d", len(s.channels)+1)
	s.channels[name] = id
	return id
}

// resolveChannelLocked maps what a caller passes as channel to an ID:
// user IDs open a DM, IDs stay, names get a stable ID.
func (s *Server) resolveChannelLocked(ch string) string {
	switch {
	case ch == "":
		return ""
	case strings.HasPrefix(ch, "U") || strings.HasPrefix(ch, "W"):
		return "D" + ch[1:]
	case isID(ch):
		return ch
	}
	return s.channelIDLocked(ch)
}

func isID(s string) bool {
	if len(s) < 3 || !strings.ContainsRune("CGD", rune(s[0])) {
		return false
	}
	for _, r := range s {
		if (r < 'A' || r > 'Z') && (r < '0' || r > '9') {
			return false
		}
	}
	return true
}

func (s *Server) nextTSLocked() string {
	s.seq++
	return fmt.Sprintf("%d.%06d", time.Now().Unix(), s.seq)
}

type apiError struct {
	status     int
	code       string
	retryAfter int
}

// args reads a Web API call's arguments from a form or a JSON body and
// the token from the form or the Authorization header.
func args(r *http.Request) (url.Values, map[string]json.RawMessage, string, error) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 4<<20))
	if err != nil {
		return nil, nil, "", err
	}
	token := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		var m map[string]json.RawMessage
		if len(body) > 0 {
			if err := json.Unmarshal(body, &m); err != nil {
				return nil, nil, "", err
			}
		}
		return url.Values{}, m, token, nil
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, nil, "", err
	}
	if t := form.Get("token"); t != "" {
		token = t
	}
	return form, nil, token, nil
}

func (s *Server) api(w http.ResponseWriter, r *http.Request) {
	method := r.PathValue("method")
	form, js, token, err := args(r)
	if err != nil {
		writeJSON(w, http.StatusOK, map[string]any{"ok": false, "error": "invalid_form_data"})
		return
	}
	want := s.token
	if method == "apps.connections.open" {
		want = s.appToken
	}
	if token == "" {
		writeJSON(w, http.StatusOK, map[string]any{"ok": false, "error": "not_authed"})
		return
	}
	if token != want {
		s.mu.Lock()
		s.badAuth++
		s.mu.Unlock()
		writeJSON(w, http.StatusOK, map[string]any{"ok": false, "error": "invalid_auth"})
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	call := method + " " + fmt.Sprint(form)
	for k, v := range js {
		call += " " + k + "=" + string(v)
	}
	s.calls = append(s.calls, call)
	if code := s.methodFails[method]; code != "" {
		if st, ok := strings.CutPrefix(code, "http_"); ok {
			n, _ := strconv.Atoi(st)
			w.WriteHeader(n)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"ok": false, "error": code})
		return
	}
	var resp map[string]any
	var aerr *apiError
	switch method {
	case "chat.postMessage":
		resp, aerr = s.postMessageLocked(form)
	case "chat.update":
		resp, aerr = s.updateLocked(form)
	case "chat.postEphemeral":
		resp, aerr = s.ephemeralLocked(form)
	case "views.open":
		resp, aerr = s.viewsOpenLocked(js)
	case "users.info":
		resp, aerr = s.usersInfoLocked(form)
	case "usergroups.users.list":
		s.groupCalls++
		members, ok := s.usergroups[form.Get("usergroup")]
		if !ok {
			aerr = &apiError{code: "no_such_subteam"}
			break
		}
		resp = map[string]any{"users": slices.Clone(members)}
	case "auth.test":
		s.authCalls++
		resp = map[string]any{"team_id": s.teamID, "user_id": DefaultBotUser, "team": "Signoff", "user": "signoff", "bot_id": "B0SIGNOFF"}
	case "apps.connections.open":
		resp = map[string]any{"url": "ws" + strings.TrimPrefix(s.srv.URL, "http") + "/socket"}
	default:
		aerr = &apiError{code: "unknown_method"}
	}
	s.notifyLocked()
	if aerr != nil {
		if aerr.status == http.StatusTooManyRequests {
			w.Header().Set("Retry-After", strconv.Itoa(aerr.retryAfter))
			writeJSON(w, http.StatusTooManyRequests, map[string]any{"ok": false, "error": "ratelimited"})
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"ok": false, "error": aerr.code})
		return
	}
	resp["ok"] = true
	writeJSON(w, http.StatusOK, resp)
}

// checkChannelLocked applies FailChannel and the rate limit.
func (s *Server) checkChannelLocked(requested, id string) *apiError {
	if requested == "" {
		return &apiError{code: "channel_not_found"}
	}
	for _, k := range []string{requested, strings.TrimPrefix(requested, "#"), "#" + strings.TrimPrefix(requested, "#"), id} {
		if code := s.failures[k]; code != "" {
			return &apiError{code: code}
		}
	}
	if s.limitNext > 0 {
		s.limitNext--
		s.rateLimited++
		return &apiError{status: http.StatusTooManyRequests, retryAfter: 1}
	}
	if s.limit > 0 {
		now := time.Now()
		win := s.windows[id]
		if win == nil || now.Sub(win.start) >= time.Second {
			win = &window{start: now}
			s.windows[id] = win
		}
		if win.n >= s.limit {
			s.rateLimited++
			return &apiError{status: http.StatusTooManyRequests, retryAfter: 1}
		}
		win.n++
	}
	return nil
}

func (s *Server) postMessageLocked(form url.Values) (map[string]any, *apiError) {
	requested := form.Get("channel")
	id := s.resolveChannelLocked(requested)
	if err := s.checkChannelLocked(requested, id); err != nil {
		return nil, err
	}
	if form.Get("text") == "" && form.Get("blocks") == "" {
		return nil, &apiError{code: "no_text"}
	}
	if thread := form.Get("thread_ts"); thread != "" {
		if _, ok := s.current[id+":"+thread]; !ok {
			return nil, &apiError{code: "thread_not_found"}
		}
	}
	m := Message{
		Channel: id, Requested: requested, TS: s.nextTSLocked(), ThreadTS: form.Get("thread_ts"),
		Text: form.Get("text"), Blocks: json.RawMessage(form.Get("blocks")),
		UnfurlLinks: form.Get("unfurl_links"), UnfurlMedia: form.Get("unfurl_media"),
	}
	s.messages = append(s.messages, m)
	s.current[id+":"+m.TS] = m
	return map[string]any{"channel": id, "ts": m.TS, "message": map[string]any{"type": "message", "text": m.Text, "ts": m.TS, "bot_id": "B0SIGNOFF"}}, nil
}

func (s *Server) updateLocked(form url.Values) (map[string]any, *apiError) {
	ch, ts := form.Get("channel"), form.Get("ts")
	if err := s.checkChannelLocked(ch, ch); err != nil {
		return nil, err
	}
	m, ok := s.current[ch+":"+ts]
	if !ok {
		return nil, &apiError{code: "message_not_found"}
	}
	u := Update{Channel: ch, TS: ts, Text: form.Get("text"), Blocks: json.RawMessage(form.Get("blocks"))}
	s.updates = append(s.updates, u)
	m.Text, m.Blocks = u.Text, u.Blocks
	s.current[ch+":"+ts] = m
	return map[string]any{"channel": ch, "ts": ts, "text": u.Text}, nil
}

func (s *Server) ephemeralLocked(form url.Values) (map[string]any, *apiError) {
	ch, user := form.Get("channel"), form.Get("user")
	id := s.resolveChannelLocked(ch)
	if err := s.checkChannelLocked(ch, id); err != nil {
		return nil, err
	}
	if user == "" {
		return nil, &apiError{code: "user_not_found"}
	}
	s.ephemerals = append(s.ephemerals, Ephemeral{Channel: id, User: user, Text: form.Get("text"), Blocks: json.RawMessage(form.Get("blocks"))})
	return map[string]any{"message_ts": s.nextTSLocked()}, nil
}

func (s *Server) viewsOpenLocked(js map[string]json.RawMessage) (map[string]any, *apiError) {
	var trigger string
	_ = json.Unmarshal(js["trigger_id"], &trigger)
	if trigger == "" {
		return nil, &apiError{code: "invalid_trigger_id"}
	}
	var v slack.ModalViewRequest
	if err := json.Unmarshal(js["view"], &v); err != nil {
		return nil, &apiError{code: "invalid_arguments"}
	}
	s.seq++
	id := fmt.Sprintf("V%08d", s.seq)
	s.views = append(s.views, View{ID: id, TriggerID: trigger, View: v, Raw: slices.Clone(js["view"])})
	return map[string]any{"view": map[string]any{"id": id, "type": "modal", "callback_id": v.CallbackID, "private_metadata": v.PrivateMetadata, "team_id": s.teamID}}, nil
}

func (s *Server) usersInfoLocked(form url.Values) (map[string]any, *apiError) {
	id := form.Get("user")
	s.userCalls = append(s.userCalls, id)
	u, ok := s.users[id]
	if !ok {
		return nil, &apiError{code: "user_not_found"}
	}
	return map[string]any{"user": u}, nil
}

func (s *Server) response(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		http.Error(w, "read", http.StatusBadRequest)
		return
	}
	var m slack.WebhookMessage
	if err := json.Unmarshal(body, &m); err != nil {
		http.Error(w, "invalid_payload", http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	s.responses = append(s.responses, Response{Path: r.URL.Path, Message: m, Raw: body})
	s.notifyLocked()
	s.mu.Unlock()
	_, _ = w.Write([]byte("ok"))
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// Channels lists the channel names the fake has given IDs, sorted.
func (s *Server) Channels() map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.channels)
}
