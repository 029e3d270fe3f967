// Package teamsmsg is what the Microsoft Teams notifier and the gateway's
// Teams endpoint share: the Bot Framework activity shapes, a Bot Connector
// client and the Adaptive Cards Signoff sends. Inbound activities' Bot
// Framework JWTs are verified by channel/teams/botauth.
package teamsmsg

import "encoding/json"

// Activity types and names Signoff sends or handles.
const (
	TypeMessage = "message"
	TypeInvoke  = "invoke"
	// NameAdaptiveCardAction is the invoke a click on an Action.Execute
	// (or a card refresh) sends.
	NameAdaptiveCardAction = "adaptiveCard/action"
	// ChannelTeams is the channel ID of Microsoft Teams.
	ChannelTeams = "msteams"
)

// Content types of attachments and invoke responses.
const (
	ContentTypeAdaptiveCard = "application/vnd.microsoft.card.adaptive"
	ContentTypeMessage      = "application/vnd.microsoft.activity.message"
	ContentTypeError        = "application/vnd.microsoft.error"
)

// Activity is a Bot Framework activity, the fields Signoff reads or
// writes.
type Activity struct {
	Type         string               `json:"type"`
	ID           string               `json:"id,omitempty"`
	Timestamp    string               `json:"timestamp,omitempty"`
	ServiceURL   string               `json:"serviceUrl,omitempty"`
	ChannelID    string               `json:"channelId,omitempty"`
	From         *ChannelAccount      `json:"from,omitempty"`
	Conversation *ConversationAccount `json:"conversation,omitempty"`
	Recipient    *ChannelAccount      `json:"recipient,omitempty"`
	Text         string               `json:"text,omitempty"`
	TextFormat   string               `json:"textFormat,omitempty"`
	Summary      string               `json:"summary,omitempty"`
	Name         string               `json:"name,omitempty"`
	Value        json.RawMessage      `json:"value,omitempty"`
	Attachments  []Attachment         `json:"attachments,omitempty"`
	ChannelData  *ChannelData         `json:"channelData,omitempty"`
	ReplyToID    string               `json:"replyToId,omitempty"`
}

// ChannelAccount is a user or bot. In Teams, ID is the user's Teams ID
// ("29:…") and AADObjectID their Entra (Azure AD) object ID.
type ChannelAccount struct {
	ID          string `json:"id"`
	Name        string `json:"name,omitempty"`
	AADObjectID string `json:"aadObjectId,omitempty"`
	Role        string `json:"role,omitempty"`
}

// ConversationAccount is a conversation: a personal chat, a group chat or
// a channel.
type ConversationAccount struct {
	ID               string `json:"id"`
	ConversationType string `json:"conversationType,omitempty"`
	TenantID         string `json:"tenantId,omitempty"`
	IsGroup          bool   `json:"isGroup,omitempty"`
}

// ChannelData is Teams' part of an activity.
type ChannelData struct {
	Tenant *TenantInfo `json:"tenant,omitempty"`
}

// TenantInfo names the Entra tenant.
type TenantInfo struct {
	ID string `json:"id"`
}

// TenantID is the activity's tenant, from channelData or the
// conversation.
func (a *Activity) TenantID() string {
	if a.ChannelData != nil && a.ChannelData.Tenant != nil && a.ChannelData.Tenant.ID != "" {
		return a.ChannelData.Tenant.ID
	}
	if a.Conversation != nil {
		return a.Conversation.TenantID
	}
	return ""
}

// Attachment carries a card.
type Attachment struct {
	ContentType string `json:"contentType"`
	Content     any    `json:"content"`
}

// TeamsChannelAccount is a member as the Bot Connector's members API
// returns it in Teams: with the Entra object ID, email and UPN.
type TeamsChannelAccount struct {
	ID                string `json:"id"`
	Name              string `json:"name,omitempty"`
	AADObjectID       string `json:"aadObjectId,omitempty"`
	Email             string `json:"email,omitempty"`
	UserPrincipalName string `json:"userPrincipalName,omitempty"`
	TenantID          string `json:"tenantId,omitempty"`
	// UserRole is "user", "guest" or "anonymous".
	UserRole string `json:"userRole,omitempty"`
}

// ConversationParameters create a conversation (a personal chat with one
// member, for a direct message).
type ConversationParameters struct {
	IsGroup     bool             `json:"isGroup"`
	Bot         *ChannelAccount  `json:"bot,omitempty"`
	Members     []ChannelAccount `json:"members,omitempty"`
	TenantID    string           `json:"tenantId,omitempty"`
	ChannelData *ChannelData     `json:"channelData,omitempty"`
}

// ConversationResourceResponse answers a created conversation.
type ConversationResourceResponse struct {
	ID         string `json:"id"`
	ActivityID string `json:"activityId,omitempty"`
	ServiceURL string `json:"serviceUrl,omitempty"`
}

// ResourceResponse answers a sent or updated activity.
type ResourceResponse struct {
	ID string `json:"id"`
}

// ActionInvokeValue is the value of an adaptiveCard/action invoke: the
// Action.Execute clicked (or the card's refresh action) and the card's
// inputs merged into its data.
type ActionInvokeValue struct {
	Action  ExecuteAction `json:"action"`
	Trigger string        `json:"trigger,omitempty"` // "manual" or "automatic" (refresh)
}

// ExecuteAction is an Action.Execute as the invoke carries it.
type ExecuteAction struct {
	Type string          `json:"type"`
	ID   string          `json:"id,omitempty"`
	Verb string          `json:"verb"`
	Data json.RawMessage `json:"data,omitempty"`
}

// InvokeResponse is the body of the HTTP answer to an adaptiveCard/action
// invoke: a card that replaces the clicker's, or a message.
type InvokeResponse struct {
	StatusCode int    `json:"statusCode"`
	Type       string `json:"type"`
	Value      any    `json:"value"`
}

// ErrorValue is the value of an error InvokeResponse.
type ErrorValue struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}
