package approval

import "slices"

// Refusals of where a decision was made (a Slack click).
const (
	RefusedNo2FA           = "two-factor authentication is required to decide"
	RefusedChannel         = "decisions are not allowed from this channel"
	RefusedNotPromptedHere = "decide in a channel where this approval was posted"
	RefusedOutdated        = "this prompt is outdated: the request was amended, decide on the latest prompt"
)

// SlackPlace is where a Slack click was made and what the gateway verified
// about the clicker; PlaceRefusal checks it against the approval.
type SlackPlace struct {
	// Channel is the Slack channel (or DM) ID of the clicked message.
	Channel string `json:"channel"`
	// Revision is the request revision the clicked prompt showed; -1 when
	// the prompt did not say.
	Revision int `json:"revision"`
	// Has2FA is what Slack said of the clicker's account.
	Has2FA bool `json:"has_2fa,omitempty"`
	// Require2FA and AllowedChannels are the gateway config's rules, on
	// top of the policy's.
	Require2FA      bool     `json:"require_2fa,omitempty"`
	AllowedChannels []string `json:"allowed_channels,omitempty"`
}

// PlaceRefusal says why user may not decide from p, or "": the prompt must
// show the request as it stands now, 2FA when config or policy asks, and
// the channel must be one the decision may come from.
func (s *State) PlaceRefusal(p SlackPlace, user string) string {
	if p.Revision >= 0 && p.Revision != s.Revision {
		return RefusedOutdated
	}
	if (p.Require2FA || s.Policy.Require2FA) && !p.Has2FA {
		return RefusedNo2FA
	}
	return s.channelRefusal(p.Channel, user, p.AllowedChannels)
}

// channelRefusal: a direct message Signoff sent this very approver is always
// fine; otherwise the channel must be in every allow-list (config, policy),
// and with no list, be one where this approval was posted.
func (s *State) channelRefusal(channel, user string, allowed []string) string {
	if channel == "" {
		return RefusedChannel
	}
	posted := false
	for _, m := range s.Messages {
		if m.Notifier != "slack" || m.Channel != channel {
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
	for _, list := range [][]string{allowed, s.Policy.AllowedChannels} {
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
