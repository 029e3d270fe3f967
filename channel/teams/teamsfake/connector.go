package teamsfake

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/signoff/signoff/channel/teams/teamsmsg"
)

// maxActivityBytes is the Bot Connector's request size limit; past it the
// call is refused with 413 MessageSizeTooBig ("The request content length
// exceeded limit of 262144 bytes").
const maxActivityBytes = 262144

// connectorHandler serves one Bot Connector route, with s.mu held; it
// may set c.Activity.
type connectorHandler func(r *http.Request, c *Call) (status int, body any)

// errorResponse is the Bot Connector's ErrorResponse.
func errorResponse(code, format string, args ...any) any {
	return map[string]any{"error": map[string]string{"code": code, "message": fmt.Sprintf(format, args...)}}
}

// connector wraps a Bot Connector route: throttling, then the token
// check, then the route; every call is recorded.
func (s *Server) connector(h connectorHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, maxActivityBytes+1))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		c := Call{
			Method: r.Method, Path: r.URL.EscapedPath(),
			ConversationID: r.PathValue("conversationId"), ActivityID: r.PathValue("activityId"),
			Body: body,
		}
		var status int
		var out any
		s.mu.Lock()
		switch {
		case s.limitNext > 0:
			s.limitNext--
			w.Header().Set("Retry-After", "1")
			status, out = http.StatusTooManyRequests, errorResponse("TooManyRequests", "The bot is sending too many requests; retry after 1 second.")
		case !s.tokenValidLocked(r.Header.Get("Authorization")):
			status, out = http.StatusUnauthorized, errorResponse("Unauthorized", "Authorization has been denied for this request.")
		case len(body) > maxActivityBytes:
			status, out = http.StatusRequestEntityTooLarge, errorResponse("MessageSizeTooBig", "The request content length exceeded limit of %d bytes.", maxActivityBytes)
		default:
			status, out = h(r, &c)
		}
		c.Status = status
		s.calls = append(s.calls, c)
		s.notifyLocked()
		s.mu.Unlock()
		s.log.Debug("teamsfake: Bot Connector call", "method", c.Method, "path", c.Path, "status", status)
		writeJSON(w, status, out)
	}
}

// createConversation opens (or finds) the personal chat of the bot and
// one user, as Teams does: the same user always gets the same
// conversation.
func (s *Server) createConversation(_ *http.Request, c *Call) (int, any) {
	var p teamsmsg.ConversationParameters
	if err := json.Unmarshal(c.Body, &p); err != nil {
		return http.StatusBadRequest, errorResponse("BadSyntax", "Invalid conversation parameters: %v", err)
	}
	if p.IsGroup {
		return http.StatusBadRequest, errorResponse("BadArgument", "A bot cannot create a group conversation.")
	}
	if len(p.Members) != 1 {
		return http.StatusBadRequest, errorResponse("BadArgument", "A personal conversation needs exactly one member, got %d.", len(p.Members))
	}
	tenants := []string{p.TenantID}
	if p.ChannelData != nil && p.ChannelData.Tenant != nil {
		tenants = append(tenants, p.ChannelData.Tenant.ID)
	}
	named := false
	for _, t := range tenants {
		if t == "" {
			continue
		}
		if t != s.tenantID {
			return http.StatusForbidden, errorResponse("BadArgument", "Tenant %s is not the bot's tenant.", t)
		}
		named = true
	}
	if !named {
		return http.StatusBadRequest, errorResponse("BadArgument", "A tenant ID is required to create a conversation in Teams.")
	}
	if p.Bot != nil && p.Bot.ID != "" && p.Bot.ID != s.BotID() && p.Bot.ID != s.appID {
		return http.StatusBadRequest, errorResponse("BadArgument", "The bot %s is not the caller.", p.Bot.ID)
	}
	m := p.Members[0]
	u, ok := s.userLocked(m.ID)
	if !ok {
		u, ok = s.userLocked(m.AADObjectID)
	}
	if !ok {
		return http.StatusForbidden, errorResponse("BadArgument", "Failed to decrypt pairwise id: member %s is unknown.", m.ID)
	}
	return http.StatusCreated, teamsmsg.ConversationResourceResponse{ID: s.personalLocked(u.TeamsID)}
}

// personalLocked returns the personal chat of the bot and a user, making
// it known first.
func (s *Server) personalLocked(teamsID string) string {
	if id, ok := s.personal[teamsID]; ok {
		return id
	}
	// Stable per bot and user, shaped as Teams' ("a:1" and base64url).
	sum := sha256.Sum256([]byte(s.appID + "\x00" + teamsID))
	id := "a:1" + base64.RawURLEncoding.EncodeToString(sum[:])
	s.personal[teamsID] = id
	s.conversations[id] = &conversation{kind: "personal", member: teamsID}
	return id
}

// sendActivity posts an activity to a conversation (or, with an activity
// ID in the path, replies to that activity).
func (s *Server) sendActivity(r *http.Request, c *Call) (int, any) {
	if _, ok := s.conversations[baseConversation(c.ConversationID)]; !ok {
		return http.StatusNotFound, errorResponse("ConversationNotFound", "Conversation not found.")
	}
	a, status, out := decodeActivity(c)
	if a == nil {
		return status, out
	}
	if c.ActivityID != "" && a.ReplyToID == "" {
		a.ReplyToID = c.ActivityID
	}
	id := s.nextActivityIDLocked()
	a.ID = id
	s.byActivity[activityKey(c.ConversationID, id)] = len(s.messages)
	s.messages = append(s.messages, Message{ConversationID: c.ConversationID, ActivityID: id, Activity: *a})
	return http.StatusCreated, teamsmsg.ResourceResponse{ID: id}
}

// updateActivity replaces an activity the bot posted.
func (s *Server) updateActivity(r *http.Request, c *Call) (int, any) {
	if _, ok := s.conversations[baseConversation(c.ConversationID)]; !ok {
		return http.StatusNotFound, errorResponse("ConversationNotFound", "Conversation not found.")
	}
	i, ok := s.byActivity[activityKey(c.ConversationID, c.ActivityID)]
	if !ok {
		return http.StatusNotFound, errorResponse("ActivityNotFound", "Activity %s not found in the conversation.", c.ActivityID)
	}
	a, status, out := decodeActivity(c)
	if a == nil {
		return status, out
	}
	a.ID = c.ActivityID
	s.messages[i].Activity = *a
	s.messages[i].Updates++
	return http.StatusOK, teamsmsg.ResourceResponse{ID: c.ActivityID}
}

// decodeActivity reads the call's activity; on failure it returns nil and
// the answer.
func decodeActivity(c *Call) (*teamsmsg.Activity, int, any) {
	var a teamsmsg.Activity
	if err := json.Unmarshal(c.Body, &a); err != nil {
		return nil, http.StatusBadRequest, errorResponse("BadSyntax", "Invalid activity: %v", err)
	}
	recorded := a
	c.Activity = &recorded
	if a.Type == "" {
		return nil, http.StatusBadRequest, errorResponse("BadArgument", "The activity has no type.")
	}
	return &a, 0, nil
}

// getMember answers one member of a conversation, with their Entra
// identity: anyone known in a channel, only its user in a personal chat.
func (s *Server) getMember(r *http.Request, c *Call) (int, any) {
	conv, ok := s.conversations[baseConversation(c.ConversationID)]
	if !ok {
		return http.StatusNotFound, errorResponse("ConversationNotFound", "Conversation not found.")
	}
	u, ok := s.userLocked(r.PathValue("memberId"))
	if !ok || (conv.kind == "personal" && conv.member != u.TeamsID) {
		return http.StatusNotFound, errorResponse("MemberNotFound", "The member was not found in the conversation.")
	}
	role := u.Role
	if role == "" {
		role = "user"
	}
	return http.StatusOK, teamsmsg.TeamsChannelAccount{
		ID: u.TeamsID, Name: u.Name, AADObjectID: u.AADObjectID,
		Email: u.Email, UserPrincipalName: u.UPN, TenantID: s.tenantID, UserRole: role,
	}
}

// notFound answers the Bot Connector routes the fake does not serve.
func (s *Server) notFound(r *http.Request, _ *Call) (int, any) {
	return http.StatusNotFound, errorResponse("NotFound", "No route for %s %s.", r.Method, strconv.Quote(r.URL.EscapedPath()))
}
