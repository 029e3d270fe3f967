package approval

import "slices"

// Refusals of where a decision was made (a click on a prompt).
const (
	RefusedNo2FA           = "two-factor authentication is required to decide"
	RefusedChannel         = "decisions are not allowed from this channel"
	RefusedNotPromptedHere = "decide in a channel where this approval was posted"
	RefusedOutdated        = "this prompt is outdated: the request was amended, decide on the latest prompt"
)

// NotifierSlack names Slack's prompts; a Place that names no notifier is
// Slack's (clicks stamped before places named their notifier).
const NotifierSlack = "slack"

// Place is where a decision was made on a prompt Signoff posted (a Slack
// message, a Teams card) and what the gateway verified about the person
// there; PlaceRefusal checks it against the approval. Decisions made
// elsewhere (the API, an email link, the browser) have no place: they are
// bound to the content by the request hash the person saw.
type Place struct {
	// Channel is the conversation of the prompt: a Slack channel or DM
	// ID, a Teams conversation ID.
	Channel string `json:"channel"`
	// Revision is the request revision the prompt showed; -1 when the
	// prompt did not say. Only Slack binds a click by revision: other
	// notifiers' prompts carry the request hash (Attempt.SeenHash).
	Revision int `json:"revision"`
	// Has2FA is what Slack said of the clicker's account.
	Has2FA bool `json:"has_2fa,omitempty"`
	// Require2FA and AllowedChannels are the gateway config's Slack rules,
	// on top of the policy's.
	Require2FA      bool     `json:"require_2fa,omitempty"`
	AllowedChannels []string `json:"allowed_channels,omitempty"`
	// Notifier is the notifier whose prompt was used ("" is Slack).
	Notifier string `json:"notifier,omitempty"`
}

// Of is the notifier the place belongs to.
func (p Place) Of() string {
	if p.Notifier == "" {
		return NotifierSlack
	}
	return p.Notifier
}

// BindsRevision reports whether the prompt binds the decision to the
// request by its revision (Slack) rather than by the hash the person saw.
func (p Place) BindsRevision() bool { return p.Of() == NotifierSlack }

// PlaceRefusal says why user may not decide from p, or "": a Slack prompt
// must show the request as it stands now, with 2FA when config or policy
// asks, from a channel the decision may come from; every prompt must be
// one Signoff posted in that conversation.
func (s *State) PlaceRefusal(p Place, user string) string {
	if !p.BindsRevision() {
		return s.conversationRefusal(p.Of(), p.Channel, user, nil)
	}
	if p.Revision >= 0 && p.Revision != s.Revision {
		return RefusedOutdated
	}
	if (p.Require2FA || s.Policy.Require2FA) && !p.Has2FA {
		return RefusedNo2FA
	}
	return s.conversationRefusal(NotifierSlack, p.Channel, user, [][]string{p.AllowedChannels, s.Policy.AllowedChannels})
}

// conversationRefusal: a direct message Signoff sent this very approver is
// always fine; otherwise the conversation must be in every allow-list
// (config, policy: Slack's), and with no list, be one where this approval
// was posted.
func (s *State) conversationRefusal(notifier, channel, user string, allowLists [][]string) string {
	if channel == "" {
		return RefusedChannel
	}
	posted := false
	for _, m := range s.Messages {
		if m.Notifier != notifier || m.Channel != channel {
			continue
		}
		if m.User != "" && m.User == user {
			return ""
		}
		if m.User == "" {
			posted = true
		}
	}
	lists := 0
	for _, list := range allowLists {
		if len(list) == 0 {
			continue
		}
		lists++
		if !slices.Contains(list, channel) {
			return RefusedChannel
		}
	}
	if lists == 0 && !posted {
		return RefusedNotPromptedHere
	}
	return ""
}
