package teamsfake

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"

	"github.com/signoff/signoff/channel/teams/teamsmsg"
)

// botFrameworkIssuer is the iss of the channel service's tokens. It is
// spelt out here rather than taken from botauth so that the fake and
// the verifier check each other.
const botFrameworkIssuer = "https://api.botframework.com"

// maxAnswerBytes bounds what is read of the bot's answer.
const maxAnswerBytes = 1 << 20

// signingKey is one key of the channel service.
type signingKey struct {
	kid          string
	priv         *rsa.PrivateKey
	endorsements []string
}

// newSigningKey makes an RSA-2048 key endorsed for channels; its kid is
// its JWK thumbprint.
func newSigningKey(endorsements ...string) *signingKey {
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(fmt.Sprintf("teamsfake: generating a key: %v", err)) // crypto/rand does not fail
	}
	tp, err := (&jose.JSONWebKey{Key: &priv.PublicKey}).Thumbprint(crypto.SHA256)
	if err != nil {
		panic(fmt.Sprintf("teamsfake: key thumbprint: %v", err))
	}
	return &signingKey{kid: base64.RawURLEncoding.EncodeToString(tp), priv: priv, endorsements: endorsements}
}

// RotateKey publishes a new signing key, endorsed for msteams, and signs
// with it from then on; the previous keys stay listed. It returns the new
// key's ID.
func (s *Server) RotateKey() string {
	k := newSigningKey(teamsmsg.ChannelTeams) // slow: not under the lock
	s.mu.Lock()
	defer s.mu.Unlock()
	s.listed = append(s.listed, k)
	s.current = k
	return k.kid
}

// KeyID is the ID of the key activities are signed with.
func (s *Server) KeyID() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.current.kid
}

// openIDMetadata serves the Bot Framework's OpenID metadata.
func (s *Server) openIDMetadata(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                botFrameworkIssuer,
		"authorization_endpoint":                "https://invalid.botframework.com",
		"jwks_uri":                              s.srv.URL + "/v1/keys",
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"token_endpoint_auth_methods_supported": []string{"private_key_jwt"},
	})
}

// jwks serves the channel service's public keys, each with the Bot
// Framework's "endorsements": the channels it may sign for.
func (s *Server) jwks(w http.ResponseWriter, _ *http.Request) {
	s.mu.Lock()
	s.keyFetches++
	listed := append([]*signingKey(nil), s.listed...)
	s.mu.Unlock()
	keys := make([]map[string]any, 0, len(listed))
	for _, k := range listed {
		raw, err := (&jose.JSONWebKey{Key: &k.priv.PublicKey, KeyID: k.kid, Use: "sig"}).MarshalJSON()
		var m map[string]any
		if err == nil {
			err = json.Unmarshal(raw, &m)
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		m["endorsements"] = k.endorsements
		keys = append(keys, m)
	}
	writeJSON(w, http.StatusOK, map[string]any{"keys": keys})
}

// InvokeOption changes an activity Invoke or Post sends, or its token.
type InvokeOption func(*sendConfig)

type sendConfig struct {
	activityID string
	tenantID   string
	serviceURL string
	replyToID  string
	keyID      string
	claims     []func(jwt.MapClaims)
	key        keyChoice
	algNone    bool
	noAuth     bool
}

type keyChoice int

const (
	keyCurrent keyChoice = iota
	keyUnendorsed
	keyForeign
)

// WithActivityID sets the activity's ID (default: a new one).
func WithActivityID(id string) InvokeOption { return func(c *sendConfig) { c.activityID = id } }

// WithTenant sets the activity's tenant (conversation.tenantId and
// channelData.tenant.id), e.g. another organisation's.
func WithTenant(id string) InvokeOption { return func(c *sendConfig) { c.tenantID = id } }

// WithServiceURL sets the activity's serviceUrl and the token's
// serviceurl claim (default ServiceURL()).
func WithServiceURL(u string) InvokeOption { return func(c *sendConfig) { c.serviceURL = u } }

// WithReplyToID sets the activity's replyToId: for a card click, the
// message holding the card.
func WithReplyToID(id string) InvokeOption { return func(c *sendConfig) { c.replyToID = id } }

// WithClaims edits the token's claims before it is signed (wrong aud or
// iss, expired, another serviceurl…).
func WithClaims(edit func(jwt.MapClaims)) InvokeOption {
	return func(c *sendConfig) { c.claims = append(c.claims, edit) }
}

// WithKeyID sets the token's kid header, whatever key signs it (e.g. one
// the JWKS does not list).
func WithKeyID(kid string) InvokeOption { return func(c *sendConfig) { c.keyID = kid } }

// WithUnendorsedKey signs with a key the JWKS lists but endorses only for
// the "webchat" channel.
func WithUnendorsedKey() InvokeOption { return func(c *sendConfig) { c.key = keyUnendorsed } }

// WithForeignKey signs with a key the JWKS does not list, under the
// current key's ID: a forgery, whose signature does not verify.
func WithForeignKey() InvokeOption { return func(c *sendConfig) { c.key = keyForeign } }

// WithAlgNone sends an unsigned token (alg "none").
func WithAlgNone() InvokeOption { return func(c *sendConfig) { c.algNone = true } }

// WithoutAuth sends no Authorization header.
func WithoutAuth() InvokeOption { return func(c *sendConfig) { c.noAuth = true } }

// Invoke sends endpoint (the bot's messaging endpoint) the invoke Teams
// sends when from clicks an Action.Execute of a card in conversation
// conversationID (an adaptiveCard/action carrying value), signed as the
// channel service signs it. It returns the bot's answer.
//
// A conversation the fake does not know yet becomes known: a personal
// chat of from for an "a:…" ID, a channel otherwise. So does from, as a
// user.
func (s *Server) Invoke(ctx context.Context, endpoint string, from User, conversationID string, value teamsmsg.ActionInvokeValue, opts ...InvokeOption) (status int, body []byte, err error) {
	v, err := json.Marshal(value)
	if err != nil {
		return 0, nil, fmt.Errorf("teamsfake: invoke value: %w", err)
	}
	a := teamsmsg.Activity{
		Type: teamsmsg.TypeInvoke, Name: teamsmsg.NameAdaptiveCardAction,
		From:         &teamsmsg.ChannelAccount{ID: from.TeamsID, Name: from.Name, AADObjectID: from.AADObjectID},
		Conversation: &teamsmsg.ConversationAccount{ID: conversationID},
		Value:        v,
	}
	return s.Post(ctx, endpoint, a, opts...)
}

// Post sends endpoint (the bot's messaging endpoint) activity a, signed
// as the channel service signs it, filling in what Teams always sets and
// a lacks: id, timestamp, channelId "msteams", serviceUrl, recipient (the
// bot), the conversation's type and tenant, channelData.tenant. It
// returns the bot's answer. Conversations and users become known as with
// Invoke.
func (s *Server) Post(ctx context.Context, endpoint string, a teamsmsg.Activity, opts ...InvokeOption) (status int, body []byte, err error) {
	var cfg sendConfig
	for _, o := range opts {
		o(&cfg)
	}
	s.fill(&a, &cfg)
	payload, err := json.Marshal(a)
	if err != nil {
		return 0, nil, fmt.Errorf("teamsfake: activity: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(payload))
	if err != nil {
		return 0, nil, fmt.Errorf("teamsfake: %w", err)
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("User-Agent", "Microsoft-SkypeBotApi (Microsoft-BotFramework 3.0)")
	if !cfg.noAuth {
		tok, err := s.sign(&cfg, a.ServiceURL)
		if err != nil {
			return 0, nil, err
		}
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("teamsfake: posting the %s activity: %w", a.Type, err)
	}
	defer resp.Body.Close()
	body, err = io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes))
	if err != nil {
		return resp.StatusCode, body, fmt.Errorf("teamsfake: reading the bot's answer: %w", err)
	}
	return resp.StatusCode, body, nil
}

// fill completes an activity as Teams sends it, and makes its
// conversation and sender known.
func (s *Server) fill(a *teamsmsg.Activity, cfg *sendConfig) {
	now := time.Now()
	switch {
	case cfg.activityID != "":
		a.ID = cfg.activityID
	case a.ID == "" && a.Type == teamsmsg.TypeInvoke:
		a.ID = "f:" + randomHex(16)
	case a.ID == "":
		a.ID = fmt.Sprint(now.UnixMilli())
	}
	if a.Timestamp == "" {
		a.Timestamp = now.UTC().Format("2006-01-02T15:04:05.000Z")
	}
	if a.ChannelID == "" {
		a.ChannelID = teamsmsg.ChannelTeams
	}
	if cfg.serviceURL != "" {
		a.ServiceURL = cfg.serviceURL
	} else if a.ServiceURL == "" {
		a.ServiceURL = s.ServiceURL()
	}
	if a.Recipient == nil {
		a.Recipient = &teamsmsg.ChannelAccount{ID: s.BotID()}
	}
	if cfg.replyToID != "" {
		a.ReplyToID = cfg.replyToID
	}
	tenant := s.tenantID
	if cfg.tenantID != "" {
		tenant = cfg.tenantID
	}
	if a.ChannelData == nil || cfg.tenantID != "" {
		a.ChannelData = &teamsmsg.ChannelData{Tenant: &teamsmsg.TenantInfo{ID: tenant}}
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	var from *User
	if a.From != nil && a.From.ID != "" {
		u, ok := s.userLocked(a.From.ID)
		if !ok {
			u = User{TeamsID: a.From.ID, AADObjectID: a.From.AADObjectID, Name: a.From.Name}
			s.addUserLocked(u)
		}
		from = &u
	}
	if c := a.Conversation; c != nil {
		if c.TenantID == "" || cfg.tenantID != "" {
			c.TenantID = tenant
		}
		if c.ConversationType == "" {
			c.ConversationType = s.conversationTypeLocked(c.ID, from)
			c.IsGroup = c.ConversationType != "personal"
		}
	}
}

// conversationTypeLocked tells a conversation's type, making it known
// when it is not: "a:…" is a personal chat (of from), "…@thread.v2" a
// group chat, anything else a channel.
func (s *Server) conversationTypeLocked(id string, from *User) string {
	if c, ok := s.conversations[baseConversation(id)]; ok {
		return c.kind
	}
	c := &conversation{kind: "channel"}
	switch {
	case strings.HasPrefix(id, "a:"):
		c.kind = "personal"
		if from != nil {
			c.member = from.TeamsID
			if _, ok := s.personal[from.TeamsID]; !ok {
				s.personal[from.TeamsID] = id
			}
		}
	case strings.HasSuffix(baseConversation(id), "@thread.v2"):
		c.kind = "groupChat"
	}
	s.conversations[baseConversation(id)] = c
	return c.kind
}

// sign makes the channel service's token for an activity of serviceURL.
func (s *Server) sign(cfg *sendConfig, serviceURL string) (string, error) {
	now := time.Now()
	claims := jwt.MapClaims{
		"iss": botFrameworkIssuer, "aud": s.appID, "serviceurl": serviceURL,
		"nbf": now.Add(-5 * time.Minute).Unix(), "exp": now.Add(time.Hour).Unix(), "iat": now.Unix(),
	}
	for _, edit := range cfg.claims {
		edit(claims)
	}
	key, kid := s.signingKey(cfg.key)
	if cfg.keyID != "" {
		kid = cfg.keyID
	}
	method, signWith := jwt.SigningMethod(jwt.SigningMethodRS256), any(key)
	if cfg.algNone {
		method, signWith = jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType
	}
	t := jwt.NewWithClaims(method, claims)
	t.Header["kid"] = kid
	tok, err := t.SignedString(signWith)
	if err != nil {
		return "", fmt.Errorf("teamsfake: signing the token: %w", err)
	}
	return tok, nil
}

// signingKey returns the private key to sign with and the kid to name.
func (s *Server) signingKey(choice keyChoice) (*rsa.PrivateKey, string) {
	s.mu.Lock()
	current, unendorsed, foreign := s.current, s.unendorsed, s.foreign
	s.mu.Unlock()
	switch choice {
	case keyUnendorsed:
		return unendorsed.priv, unendorsed.kid
	case keyForeign:
		if foreign == nil {
			foreign = newSigningKey() // slow: not under the lock
			s.mu.Lock()
			if s.foreign == nil {
				s.foreign = foreign
			}
			foreign = s.foreign
			s.mu.Unlock()
		}
		return foreign.priv, current.kid
	}
	return current.priv, current.kid
}
