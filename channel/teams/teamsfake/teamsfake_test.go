package teamsfake_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/signoff/signoff/channel/teams/botauth"
	"github.com/signoff/signoff/channel/teams/teamsfake"
	"github.com/signoff/signoff/channel/teams/teamsmsg"
)

var ada = teamsfake.User{
	TeamsID: "29:1AdaLovelaceXyZ", AADObjectID: "0b9c2c55-3f7e-4b1a-9d0e-5a1f3c7d2e10",
	Name: "Ada Lovelace", Email: "ada@example.com", UPN: "ada@example.onmicrosoft.com",
}

func newFake(t *testing.T) *teamsfake.Server {
	t.Helper()
	f := teamsfake.New(teamsfake.Options{})
	t.Cleanup(f.Close)
	f.AddUser(ada)
	return f
}

func ccConfig(f *teamsfake.Server) clientcredentials.Config {
	return clientcredentials.Config{
		ClientID: f.AppID(), ClientSecret: f.AppPassword(), TokenURL: f.TokenURL(),
		Scopes: []string{teamsfake.BotFrameworkScope},
	}
}

func token(t *testing.T, f *teamsfake.Server) string {
	t.Helper()
	cc := ccConfig(f)
	tok, err := cc.Token(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return tok.AccessToken
}

func TestTokenEndpoint(t *testing.T) {
	f := newFake(t)
	ctx := context.Background()
	for _, style := range []oauth2.AuthStyle{oauth2.AuthStyleInParams, oauth2.AuthStyleInHeader, oauth2.AuthStyleAutoDetect} {
		cc := ccConfig(f)
		cc.AuthStyle = style
		tok, err := cc.Token(ctx)
		if err != nil {
			t.Fatalf("auth style %d: %v", style, err)
		}
		if tok.AccessToken == "" || tok.TokenType != "Bearer" || time.Until(tok.Expiry) < 50*time.Minute {
			t.Errorf("auth style %d: token %+v", style, tok)
		}
	}
	if n := f.TokensIssued(); n != 3 {
		t.Errorf("TokensIssued = %d, want 3", n)
	}

	refused := func(edit func(*clientcredentials.Config), status int, code string) {
		t.Helper()
		cc := ccConfig(f)
		cc.AuthStyle = oauth2.AuthStyleInParams
		edit(&cc)
		_, err := cc.Token(ctx)
		var re *oauth2.RetrieveError
		if !errors.As(err, &re) || re.Response.StatusCode != status || re.ErrorCode != code {
			t.Errorf("Token = %v, want HTTP %d %s", err, status, code)
		}
	}
	refused(func(c *clientcredentials.Config) { c.ClientSecret = "wrong" }, http.StatusUnauthorized, "invalid_client")
	refused(func(c *clientcredentials.Config) { c.ClientID = "another-app" }, http.StatusUnauthorized, "invalid_client")
	refused(func(c *clientcredentials.Config) { c.Scopes = []string{"https://graph.microsoft.com/.default"} }, http.StatusBadRequest, "invalid_scope")
	refused(func(c *clientcredentials.Config) { c.TokenURL = strings.Replace(c.TokenURL, f.TenantID(), "common", 1) }, http.StatusBadRequest, "invalid_request")

	resp, err := http.PostForm(f.TokenURL(), url.Values{
		"grant_type": {"password"}, "client_id": {f.AppID()}, "client_secret": {f.AppPassword()},
		"scope": {teamsfake.BotFrameworkScope},
	})
	if err != nil {
		t.Fatal(err)
	}
	var e struct{ Error string }
	_ = json.NewDecoder(resp.Body).Decode(&e)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || e.Error != "unsupported_grant_type" {
		t.Errorf("password grant: HTTP %d %q", resp.StatusCode, e.Error)
	}
	if n := f.TokensIssued(); n != 3 {
		t.Errorf("TokensIssued = %d after refusals, want 3", n)
	}
}

// connector calls the Bot Connector over plain net/http.
type connector struct {
	t     *testing.T
	f     *teamsfake.Server
	token string
}

// call sends body (JSON-encoded unless nil) to path under the service
// URL; path segments are given unescaped and escaped here.
func (c connector) call(method string, body any, segments ...string) (int, http.Header, []byte) {
	c.t.Helper()
	u := strings.TrimSuffix(c.f.ServiceURL(), "/")
	for _, s := range segments {
		u += "/" + url.PathEscape(s)
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			c.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, b
}

func errorCode(t *testing.T, b []byte) string {
	t.Helper()
	var e struct {
		Error struct{ Code, Message string }
	}
	if err := json.Unmarshal(b, &e); err != nil || e.Error.Message == "" {
		t.Errorf("not a Bot Connector ErrorResponse: %s", b)
	}
	return e.Error.Code
}

func decode[T any](t *testing.T, b []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	return v
}

func TestBotConnector(t *testing.T) {
	f := newFake(t)
	anon := connector{t: t, f: f}
	bot := connector{t: t, f: f, token: token(t, f)}

	params := teamsmsg.ConversationParameters{
		Bot: &teamsmsg.ChannelAccount{ID: f.BotID()}, Members: []teamsmsg.ChannelAccount{{ID: ada.TeamsID}},
		TenantID: f.TenantID(),
	}
	if st, _, b := anon.call(http.MethodPost, params, "v3", "conversations"); st != http.StatusUnauthorized || errorCode(t, b) != "Unauthorized" {
		t.Fatalf("without a token: HTTP %d %s", st, b)
	}
	if st, _, b := (connector{t: t, f: f, token: "made-up"}).call(http.MethodPost, params, "v3", "conversations"); st != http.StatusUnauthorized {
		t.Fatalf("with a token never issued: HTTP %d %s", st, b)
	}

	// A personal chat, found again by either ID.
	st, _, b := bot.call(http.MethodPost, params, "v3", "conversations")
	if st != http.StatusCreated {
		t.Fatalf("create conversation: HTTP %d %s", st, b)
	}
	conv := decode[teamsmsg.ConversationResourceResponse](t, b).ID
	if !strings.HasPrefix(conv, "a:") {
		t.Errorf("conversation ID %q, want a:…", conv)
	}
	byAAD := teamsmsg.ConversationParameters{
		Members:     []teamsmsg.ChannelAccount{{ID: ada.AADObjectID}},
		ChannelData: &teamsmsg.ChannelData{Tenant: &teamsmsg.TenantInfo{ID: f.TenantID()}},
	}
	if st, _, b := bot.call(http.MethodPost, byAAD, "v3", "conversations"); st != http.StatusCreated || decode[teamsmsg.ConversationResourceResponse](t, b).ID != conv {
		t.Errorf("again by Entra object ID: HTTP %d %s, want %s", st, b, conv)
	}
	unknown := params
	unknown.Members = []teamsmsg.ChannelAccount{{ID: "29:nobody"}}
	if st, _, b := bot.call(http.MethodPost, unknown, "v3", "conversations"); st != http.StatusForbidden || errorCode(t, b) != "BadArgument" {
		t.Errorf("unknown member: HTTP %d %s", st, b)
	}
	otherTenant := params
	otherTenant.TenantID = "another-tenant"
	if st, _, b := bot.call(http.MethodPost, otherTenant, "v3", "conversations"); st/100 != 4 {
		t.Errorf("other tenant: HTTP %d %s", st, b)
	}

	// Post, then update.
	st, _, b = bot.call(http.MethodPost, teamsmsg.Activity{Type: teamsmsg.TypeMessage, Text: "approve?"}, "v3", "conversations", conv, "activities")
	if st != http.StatusCreated {
		t.Fatalf("send: HTTP %d %s", st, b)
	}
	id := decode[teamsmsg.ResourceResponse](t, b).ID
	st, _, b = bot.call(http.MethodPut, teamsmsg.Activity{Type: teamsmsg.TypeMessage, Text: "approved"}, "v3", "conversations", conv, "activities", id)
	if st != http.StatusOK || decode[teamsmsg.ResourceResponse](t, b).ID != id {
		t.Fatalf("update: HTTP %d %s", st, b)
	}
	if st, _, b := bot.call(http.MethodPut, teamsmsg.Activity{Type: teamsmsg.TypeMessage}, "v3", "conversations", conv, "activities", "404"); st != http.StatusNotFound {
		t.Errorf("update of an unknown activity: HTTP %d %s", st, b)
	}
	if st, _, b := bot.call(http.MethodPost, teamsmsg.Activity{Type: teamsmsg.TypeMessage}, "v3", "conversations", "a:unknown", "activities"); st != http.StatusNotFound || errorCode(t, b) != "ConversationNotFound" {
		t.Errorf("unknown conversation: HTTP %d %s", st, b)
	}

	// A channel thread: ':' '@' ';' '=' in the path segment.
	f.AddChannel("19:abc@thread.tacv2")
	thread := "19:abc@thread.tacv2;messageid=1700000000001"
	if st, _, b := bot.call(http.MethodPost, teamsmsg.Activity{Type: teamsmsg.TypeMessage, Text: "in thread"}, "v3", "conversations", thread, "activities"); st != http.StatusCreated {
		t.Errorf("channel thread: HTTP %d %s", st, b)
	}

	// Unescaped, as some clients send it.
	req, err := http.NewRequest(http.MethodPost, f.ServiceURL()+"v3/conversations/"+thread+"/activities", strings.NewReader(`{"type":"message","text":"raw"}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+bot.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Errorf("channel thread, unescaped: HTTP %d", resp.StatusCode)
	}

	msgs := f.Messages()
	if len(msgs) != 3 {
		t.Fatalf("Messages = %+v, want 2", msgs)
	}
	if m := msgs[0]; m.ConversationID != conv || m.ActivityID != id || m.Activity.Text != "approved" || m.Updates != 1 || m.Activity.ID != id {
		t.Errorf("updated message = %+v", m)
	}
	if m := msgs[1]; m.ConversationID != thread || m.Activity.Text != "in thread" {
		t.Errorf("thread message = %+v", m)
	}
	if m := msgs[2]; m.ConversationID != thread || m.Activity.Text != "raw" {
		t.Errorf("unescaped thread message = %+v", m)
	}

	// Members.
	for _, member := range []string{ada.TeamsID, ada.AADObjectID} {
		st, _, b := bot.call(http.MethodGet, nil, "v3", "conversations", conv, "members", member)
		if st != http.StatusOK {
			t.Fatalf("get member %s: HTTP %d %s", member, st, b)
		}
		want := teamsmsg.TeamsChannelAccount{
			ID: ada.TeamsID, Name: ada.Name, AADObjectID: ada.AADObjectID, Email: ada.Email,
			UserPrincipalName: ada.UPN, TenantID: f.TenantID(), UserRole: "user",
		}
		if got := decode[teamsmsg.TeamsChannelAccount](t, b); got != want {
			t.Errorf("member = %+v, want %+v", got, want)
		}
	}
	if st, _, b := bot.call(http.MethodGet, nil, "v3", "conversations", conv, "members", "29:nobody"); st != http.StatusNotFound || errorCode(t, b) != "MemberNotFound" {
		t.Errorf("unknown member: HTTP %d %s", st, b)
	}

	// Throttling.
	f.RateLimitNext(2)
	for i := range 3 {
		st, h, b := bot.call(http.MethodPost, teamsmsg.Activity{Type: teamsmsg.TypeMessage}, "v3", "conversations", conv, "activities")
		switch {
		case i < 2 && (st != http.StatusTooManyRequests || h.Get("Retry-After") != "1"):
			t.Errorf("call %d: HTTP %d Retry-After %q, want 429", i, st, h.Get("Retry-After"))
		case i == 2 && st != http.StatusCreated:
			t.Errorf("after throttling: HTTP %d %s", st, b)
		}
	}

	// Recording: the path as sent, the IDs unescaped.
	var found bool
	for _, c := range f.Calls() {
		if c.ConversationID == thread && c.Activity != nil && c.Activity.Text == "in thread" {
			found = true
			if c.Activity == nil || c.Activity.Text != "in thread" || c.Status != http.StatusCreated || !strings.Contains(c.Path, "%3Bmessageid") {
				t.Errorf("thread call = %+v", c)
			}
		}
	}
	if !found {
		t.Error("the thread post was not recorded")
	}
	if calls := f.Calls(); calls[0].Status != http.StatusUnauthorized || calls[0].Method != http.MethodPost {
		t.Errorf("first call = %+v", calls[0])
	}

	// Tokens that have expired are refused.
	f.ExpireTokens()
	if st, _, _ := bot.call(http.MethodGet, nil, "v3", "conversations", conv, "members", ada.TeamsID); st != http.StatusUnauthorized {
		t.Errorf("expired token: HTTP %d", st)
	}
}

func TestWaitMessages(t *testing.T) {
	f := newFake(t)
	f.AddChannel("19:ops@thread.tacv2")
	bot := connector{t: t, f: f, token: token(t, f)}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 3 {
			// Not bot.call: t.Fatal must not run outside the test's goroutine.
			req, _ := http.NewRequest(http.MethodPost, f.ServiceURL()+"v3/conversations/"+url.PathEscape("19:ops@thread.tacv2")+"/activities",
				strings.NewReader(`{"type":"message","text":"hi"}`))
			req.Header.Set("Authorization", "Bearer "+bot.token)
			if resp, err := http.DefaultClient.Do(req); err == nil {
				resp.Body.Close()
			}
		}
	}()
	msgs, err := f.WaitMessages(ctx, 3)
	if err != nil || len(msgs) < 3 {
		t.Fatalf("WaitMessages = %d messages, %v", len(msgs), err)
	}
	<-done

	short, cancelShort := context.WithCancel(context.Background())
	cancelShort()
	if _, err := f.WaitMessages(short, 4); !errors.Is(err, context.Canceled) {
		t.Errorf("WaitMessages with a cancelled context = %v", err)
	}
}

// botEndpoint is the bot's messaging endpoint, verifying activities with
// botauth as the gateway does.
type botEndpoint struct {
	srv      *httptest.Server
	skew     time.Duration // added to the verifier's clock
	mu       sync.Mutex
	received []teamsmsg.Activity
}

func newBotEndpoint(t *testing.T, f *teamsfake.Server) *botEndpoint {
	t.Helper()
	b := &botEndpoint{}
	v, err := botauth.New(botauth.Options{
		AppID: f.AppID(), OpenIDMetadataURL: f.OpenIDMetadataURL(),
		Now:    func() time.Time { b.mu.Lock(); defer b.mu.Unlock(); return time.Now().Add(b.skew) },
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	b.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var a teamsmsg.Activity
		if err := json.NewDecoder(r.Body).Decode(&a); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if _, err := v.Verify(r.Context(), r.Header.Get("Authorization"), a.ChannelID, a.ServiceURL); err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		b.mu.Lock()
		b.received = append(b.received, a)
		b.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(teamsmsg.InvokeResponse{
			StatusCode: 200, Type: teamsmsg.ContentTypeMessage, Value: "ok",
		})
	}))
	t.Cleanup(b.srv.Close)
	return b
}

func (b *botEndpoint) last() teamsmsg.Activity {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.received[len(b.received)-1]
}

func TestInvokeVerifiesWithTeamsauth(t *testing.T) {
	f := newFake(t)
	bot := newBotEndpoint(t, f)
	ctx := context.Background()
	value := teamsmsg.ActionInvokeValue{
		Action:  teamsmsg.ExecuteAction{Type: "Action.Execute", Verb: "approve", Data: json.RawMessage(`{"request":"r-1"}`)},
		Trigger: "manual",
	}
	const conv = "a:1personalchat"

	st, body, err := f.Invoke(ctx, bot.srv.URL, ada, conv, value, teamsfake.WithReplyToID("1700000000042"))
	if err != nil || st != http.StatusOK {
		t.Fatalf("Invoke = HTTP %d %s, %v", st, body, err)
	}
	if ir := decode[teamsmsg.InvokeResponse](t, body); ir.StatusCode != 200 {
		t.Errorf("answer = %+v", ir)
	}
	a := bot.last()
	if a.Type != "invoke" || a.Name != "adaptiveCard/action" || a.ChannelID != "msteams" || a.ServiceURL != f.ServiceURL() ||
		!strings.HasPrefix(a.ID, "f:") || a.ReplyToID != "1700000000042" || a.Timestamp == "" {
		t.Errorf("activity = %+v", a)
	}
	if a.From == nil || *a.From != (teamsmsg.ChannelAccount{ID: ada.TeamsID, Name: ada.Name, AADObjectID: ada.AADObjectID}) {
		t.Errorf("from = %+v", a.From)
	}
	if a.Recipient == nil || a.Recipient.ID != "28:"+f.AppID() {
		t.Errorf("recipient = %+v", a.Recipient)
	}
	if c := a.Conversation; c == nil || c.ID != conv || c.ConversationType != "personal" || c.TenantID != f.TenantID() || c.IsGroup {
		t.Errorf("conversation = %+v", c)
	}
	if a.TenantID() != f.TenantID() || a.ChannelData == nil || a.ChannelData.Tenant == nil {
		t.Errorf("channelData = %+v", a.ChannelData)
	}
	if got := decode[teamsmsg.ActionInvokeValue](t, a.Value); got.Action.Verb != "approve" || string(got.Action.Data) != `{"request":"r-1"}` {
		t.Errorf("value = %s", a.Value)
	}

	// The invoke made its conversation known to the Bot Connector.
	bc := connector{t: t, f: f, token: token(t, f)}
	if st, _, b := bc.call(http.MethodGet, nil, "v3", "conversations", conv, "members", ada.TeamsID); st != http.StatusOK {
		t.Errorf("member of the invoke's conversation: HTTP %d %s", st, b)
	}

	// Another tenant and another service URL are the bot's business,
	// not the token's: they verify.
	for _, opt := range []teamsfake.InvokeOption{
		teamsfake.WithTenant("another-tenant"),
		teamsfake.WithServiceURL("https://smba.trafficmanager.net/emea/"),
		teamsfake.WithActivityID("f:chosen"),
	} {
		if st, body, err := f.Invoke(ctx, bot.srv.URL, ada, "19:ops@thread.tacv2", value, opt); err != nil || st != http.StatusOK {
			t.Errorf("Invoke = HTTP %d %s, %v", st, body, err)
		}
	}
	if c := bot.last().Conversation; c.ConversationType != "channel" || !c.IsGroup {
		t.Errorf("channel conversation = %+v", c)
	}
	if id := bot.last().ID; id != "f:chosen" {
		t.Errorf("activity ID = %q", id)
	}

	// Each refusal for its own reason (botauth's, in the 401 body).
	for _, tt := range []struct {
		name, reason string
		opt          teamsfake.InvokeOption
	}{
		{"unendorsed key", "not endorsed", teamsfake.WithUnendorsedKey()},
		{"foreign key", "invalid signature", teamsfake.WithForeignKey()},
		{"alg none", "algorithm not allowed", teamsfake.WithAlgNone()},
		{"no auth", "no bearer token", teamsfake.WithoutAuth()},
		{"unknown kid", "unknown signing key", teamsfake.WithKeyID("not-listed")},
		{"wrong audience", "audience", teamsfake.WithClaims(func(c jwt.MapClaims) { c["aud"] = "another-bot" })},
		{"wrong issuer", "issuer", teamsfake.WithClaims(func(c jwt.MapClaims) { c["iss"] = "https://login.microsoftonline.com/x/v2.0" })},
		{"expired", "expired", teamsfake.WithClaims(func(c jwt.MapClaims) { c["exp"] = time.Now().Add(-time.Hour).Unix() })},
		{"serviceurl", "serviceurl", teamsfake.WithClaims(func(c jwt.MapClaims) { c["serviceurl"] = "https://evil.example/" })},
	} {
		st, body, err := f.Invoke(ctx, bot.srv.URL, ada, conv, value, tt.opt)
		if err != nil || st != http.StatusUnauthorized || !strings.Contains(string(body), tt.reason) {
			t.Errorf("%s: HTTP %d %s, %v; want 401 %q", tt.name, st, body, err, tt.reason)
		}
	}

	// Key rotation: once the verifier may refetch (5 min on its clock),
	// the new key is found.
	fetches := f.KeyFetches()
	kid := f.RotateKey()
	if kid == "" || f.KeyID() != kid {
		t.Fatalf("RotateKey = %q, KeyID = %q", kid, f.KeyID())
	}
	bot.mu.Lock()
	bot.skew = 6 * time.Minute
	bot.mu.Unlock()
	if st, body, err := f.Invoke(ctx, bot.srv.URL, ada, conv, value); err != nil || st != http.StatusOK {
		t.Errorf("after rotation: HTTP %d %s, %v", st, body, err)
	}
	if got := f.KeyFetches(); got != fetches+1 {
		t.Errorf("KeyFetches = %d, want %d", got, fetches+1)
	}

	// Other activities, signed the same way.
	st, body, err = f.Post(ctx, bot.srv.URL, teamsmsg.Activity{
		Type: teamsmsg.TypeMessage, Text: "hello",
		From:         &teamsmsg.ChannelAccount{ID: ada.TeamsID, AADObjectID: ada.AADObjectID},
		Conversation: &teamsmsg.ConversationAccount{ID: conv},
	})
	if err != nil || st != http.StatusOK {
		t.Fatalf("Post = HTTP %d %s, %v", st, body, err)
	}
	if a := bot.last(); a.Type != "message" || a.Text != "hello" || a.ChannelID != "msteams" || a.Conversation.TenantID != f.TenantID() {
		t.Errorf("posted activity = %+v", a)
	}
}
