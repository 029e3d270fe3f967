package callbacks

import (
	"context"
	"strings"

	"github.com/signoff/signoff/channel/teams/teamsmsg"
	"github.com/signoff/signoff/config/identity"
)

// person is who clicked, as far as Teams and the config say.
type person struct {
	user    *identity.User
	via     string
	refusal string
}

// name is the configured user, or the Teams account for the audit trail
// of a refused click.
func (p person) name(a *teamsmsg.Activity) string {
	if p.user != nil {
		return p.user.Name
	}
	if a.From != nil && a.From.AADObjectID != "" {
		return "teams:" + a.From.AADObjectID
	}
	if a.From != nil {
		return "teams:" + a.From.ID
	}
	return "teams:unknown"
}

func (p person) identifiedBy(a *teamsmsg.Activity) string {
	via := p.via
	if via == "" {
		via = "not tied to a configured user"
	}
	id := ""
	if a.From != nil {
		id = a.From.ID
	}
	return "teams user " + id + " (" + via + ")"
}

// resolve ties the clicker to a configured person: by the Entra object ID
// Teams gives (teams_id), else by the email or user principal name the Bot
// Connector's members API gives for them in this tenant. Nothing in the
// activity's body names a person by itself: it is Teams' word, trusted
// because its token was verified.
func (h *Handler) resolve(ctx context.Context, a *teamsmsg.Activity) person {
	if a.From == nil || a.From.ID == "" || a.Conversation == nil {
		return person{refusal: RefusedUnknownUser}
	}
	dir := h.o.Directory()
	if oid := a.From.AADObjectID; oid != "" {
		if u, ok := dir.ByTeamsID(oid); ok {
			return person{user: u, via: "Entra object ID " + oid}
		}
	}
	if h.o.Connector == nil {
		return person{refusal: RefusedUnknownUser}
	}
	// A channel reply's conversation ID carries ";messageid=…"; members
	// belong to the conversation itself.
	conv, _, _ := strings.Cut(a.Conversation.ID, ";")
	m, err := h.o.Connector.GetMember(ctx, a.ServiceURL, conv, a.From.ID)
	if err != nil {
		h.logger.WarnContext(ctx, "teams member unreadable", "teams_user", a.From.ID, "error", err)
		return person{refusal: RefusedUnverifiable}
	}
	cfg := h.o.Config()
	switch {
	case m.TenantID != "" && m.TenantID != cfg.TenantID:
		return person{refusal: RefusedUnknownUser}
	case a.From.AADObjectID != "" && m.AADObjectID != "" && !strings.EqualFold(a.From.AADObjectID, m.AADObjectID):
		return person{refusal: RefusedMismatch}
	case m.UserRole != "" && m.UserRole != "user":
		// A guest's email is whatever their home tenant says: only a
		// teams_id, configured on purpose, ties a guest to a person.
		return person{refusal: RefusedGuest}
	}
	for _, email := range []string{m.Email, m.UserPrincipalName} {
		if email == "" {
			continue
		}
		u, ok := dir.ByEmail(email)
		if !ok {
			continue
		}
		// A user with a teams_id is that account and no other.
		if u.TeamsID != "" && !strings.EqualFold(u.TeamsID, m.AADObjectID) {
			return person{refusal: RefusedMismatch}
		}
		return person{user: u, via: "email " + email + " from the Bot Connector"}
	}
	return person{refusal: RefusedUnknownUser}
}
