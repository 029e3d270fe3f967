package teamsmsg

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// ConnectorOptions build a Connector.
type ConnectorOptions struct {
	// AppID and AppPassword are the bot's Entra app registration's client
	// ID and secret; TokenURL is its tenant's token endpoint and Scope
	// what the token is for (the Bot Connector).
	AppID, AppPassword, TokenURL, Scope string
	// ServiceURL is the configured Bot Connector: every call must go to
	// its scheme and host, so the bot's token is never sent elsewhere.
	ServiceURL string
	// HTTPClient makes the calls and fetches tokens (default: 15 s
	// timeout).
	HTTPClient *http.Client
}

// Connector calls the Bot Connector REST API as the bot.
type Connector struct {
	hc      *http.Client
	service *url.URL
}

// NewConnector returns a Connector; it makes no call yet.
func NewConnector(o ConnectorOptions) (*Connector, error) {
	if o.AppID == "" || o.AppPassword == "" || o.TokenURL == "" {
		return nil, errors.New("teams connector: app ID, app password and token URL are required")
	}
	service, err := url.Parse(o.ServiceURL)
	if err != nil || service.Host == "" {
		return nil, fmt.Errorf("teams connector: service URL %q is not an absolute URL", o.ServiceURL)
	}
	base := o.HTTPClient
	if base == nil {
		base = &http.Client{Timeout: 15 * time.Second}
	}
	cc := clientcredentials.Config{
		ClientID: o.AppID, ClientSecret: o.AppPassword, TokenURL: o.TokenURL,
		Scopes: []string{o.Scope}, AuthStyle: oauth2.AuthStyleInParams,
	}
	// The token source lives as long as the connector: its context only
	// carries the HTTP client tokens are fetched with.
	hc := cc.Client(context.WithValue(context.Background(), oauth2.HTTPClient, base))
	hc.Timeout = base.Timeout
	return &Connector{hc: hc, service: service}, nil
}

// APIError is a Bot Connector (or token endpoint) refusal.
type APIError struct {
	Status     int
	Code       string
	Message    string
	RetryAfter time.Duration
}

func (e *APIError) Error() string {
	msg := fmt.Sprintf("HTTP %d", e.Status)
	if e.Code != "" {
		msg += " " + e.Code
	}
	if e.Message != "" {
		msg += ": " + e.Message
	}
	return msg
}

// Transient reports whether retrying later may succeed.
func (e *APIError) Transient() bool {
	return e.Status == http.StatusTooManyRequests || e.Status >= 500 || e.Status == 0
}

// CreateConversation opens (or finds) a personal chat with one member, for
// a direct message.
func (c *Connector) CreateConversation(ctx context.Context, serviceURL string, p ConversationParameters) (ConversationResourceResponse, error) {
	var out ConversationResourceResponse
	err := c.call(ctx, http.MethodPost, serviceURL, []string{"v3", "conversations"}, p, &out)
	return out, err
}

// SendActivity posts an activity to a conversation.
func (c *Connector) SendActivity(ctx context.Context, serviceURL, conversationID string, a Activity) (ResourceResponse, error) {
	var out ResourceResponse
	err := c.call(ctx, http.MethodPost, serviceURL, []string{"v3", "conversations", conversationID, "activities"}, a, &out)
	return out, err
}

// UpdateActivity replaces an activity the bot posted (its card).
func (c *Connector) UpdateActivity(ctx context.Context, serviceURL, conversationID, activityID string, a Activity) error {
	a.ID = activityID
	return c.call(ctx, http.MethodPut, serviceURL, []string{"v3", "conversations", conversationID, "activities", activityID}, a, nil)
}

// GetMember reads one member of a conversation, with their Entra object
// ID, email and user principal name.
func (c *Connector) GetMember(ctx context.Context, serviceURL, conversationID, memberID string) (TeamsChannelAccount, error) {
	var out TeamsChannelAccount
	err := c.call(ctx, http.MethodGet, serviceURL, []string{"v3", "conversations", conversationID, "members", memberID}, nil, &out)
	return out, err
}

// maxResponse bounds what is read of an answer.
const maxResponse = 1 << 20

func (c *Connector) call(ctx context.Context, method, serviceURL string, path []string, body, out any) error {
	u, err := c.endpoint(serviceURL, path)
	if err != nil {
		return err
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("teams %s %s: encoding: %w", method, path[len(path)-1], err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return fmt.Errorf("teams %s: %w", method, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json; charset=utf-8")
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.hc.Do(req)
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) {
			e := &APIError{Code: re.ErrorCode, Message: "the bot's token was refused: " + re.ErrorDescription}
			if re.Response != nil {
				e.Status = re.Response.StatusCode
			}
			// A refused secret is for a person to fix, not to retry.
			if e.Status == 0 || e.Status == http.StatusTooManyRequests || e.Status >= 500 {
				e.Status = http.StatusServiceUnavailable
			} else {
				e.Status = http.StatusUnauthorized
			}
			return e
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return &APIError{Message: err.Error()}
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if resp.StatusCode/100 != 2 {
		return apiError(resp, b)
	}
	if out == nil || len(bytes.TrimSpace(b)) == 0 {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("teams %s: unreadable answer: %w", method, err)
	}
	return nil
}

// endpoint joins serviceURL and the escaped path, refusing a service URL
// on another host than the configured one.
func (c *Connector) endpoint(serviceURL string, path []string) (string, error) {
	if serviceURL == "" {
		serviceURL = c.service.String()
	}
	s, err := url.Parse(serviceURL)
	if err != nil || !strings.EqualFold(s.Scheme, c.service.Scheme) || !strings.EqualFold(s.Host, c.service.Host) || s.User != nil {
		return "", fmt.Errorf("teams: service URL %q is not the configured Bot Connector", serviceURL)
	}
	base := strings.TrimRight(s.Scheme+"://"+s.Host+s.EscapedPath(), "/")
	for _, p := range path {
		base += "/" + url.PathEscape(p)
	}
	return base, nil
}

// apiError reads the Bot Connector's ErrorResponse.
func apiError(resp *http.Response, b []byte) error {
	e := &APIError{Status: resp.StatusCode}
	var er struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(b, &er) == nil {
		e.Code, e.Message = er.Error.Code, er.Error.Message
	}
	if len(e.Message) > 300 {
		e.Message = e.Message[:300] + "…"
	}
	if s := resp.Header.Get("Retry-After"); s != "" {
		if n, err := strconv.Atoi(s); err == nil && n >= 0 {
			e.RetryAfter = time.Duration(n) * time.Second
		}
	}
	return e
}
