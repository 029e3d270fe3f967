package slackmsg

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/slack-go/slack"
)

// Class is how a Web API failure should be handled.
type Class int

const (
	// Transient failures (5xx, network, Slack's internal_error) may succeed
	// on a retry.
	Transient Class = iota
	// Target failures concern one channel or user: other targets may
	// still work, retrying this one will not.
	Target
	// Fatal failures concern the app itself (token, scopes): nothing will
	// work until someone fixes the configuration.
	Fatal
)

// fatalCodes and targetCodes are Slack error codes that no retry fixes.
var fatalCodes = map[string]string{
	"not_authed":              "no bot token was sent: set SLACK_BOT_TOKEN",
	"invalid_auth":            "the bot token (SLACK_BOT_TOKEN) is invalid",
	"account_inactive":        "the bot token belongs to a deactivated user or app",
	"token_revoked":           "the bot token (SLACK_BOT_TOKEN) was revoked",
	"token_expired":           "the bot token (SLACK_BOT_TOKEN) expired",
	"no_permission":           "the app lacks permission for this call",
	"missing_scope":           "the Slack app lacks an OAuth scope",
	"not_allowed_token_type":  "SLACK_BOT_TOKEN must be a bot token (xoxb-)",
	"org_login_required":      "the workspace is migrating: retry later",
	"ekm_access_denied":       "administrators suspended the app's access (EKM)",
	"team_access_not_granted": "the app is not installed in this workspace",
	"access_denied":           "access to the resource was denied",
	"invalid_arguments":       "Slack refused the request's arguments",
	"invalid_blocks":          "Slack refused the message's blocks",
	"invalid_blocks_format":   "Slack refused the message's blocks",
	"method_deprecated":       "the Web API method is deprecated",
	"deprecated_endpoint":     "the Web API endpoint is deprecated",
	"invalid_charset":         "Slack refused the request's charset",
	"invalid_form_data":       "Slack refused the request's form data",
}

var targetCodes = map[string]string{
	"channel_not_found":                        "the channel does not exist, or it is private and the bot is not in it",
	"not_in_channel":                           "the bot is not in the channel: /invite it, or grant chat:write.public",
	"is_archived":                              "the channel is archived",
	"user_not_found":                           "no such Slack user",
	"user_not_visible":                         "the bot cannot see this user",
	"user_disabled":                            "the Slack user is deactivated",
	"cannot_dm_bot":                            "cannot send a direct message to a bot",
	"messages_tab_disabled":                    "the app's Messages tab is disabled: direct messages cannot be sent",
	"restricted_action":                        "the workspace does not let the bot post here",
	"restricted_action_read_only_channel":      "the channel is read-only",
	"restricted_action_thread_only_channel":    "the channel accepts thread replies only",
	"restricted_action_non_threadable_channel": "the channel does not allow threads",
	"team_not_found":                           "the channel belongs to another workspace",
	"msg_too_long":                             "the message is too long",
	"no_text":                                  "the message is empty",
	"message_not_found":                        "the message to update no longer exists",
	"cant_update_message":                      "the bot cannot update this message",
	"edit_window_closed":                       "the message can no longer be edited",
	"thread_not_found":                         "the thread no longer exists",
	"expired_trigger_id":                       "the click's trigger expired (3 s): click again",
	"invalid_trigger_id":                       "the click's trigger is invalid",
	"exchanged_trigger_id":                     "the click's trigger was already used",
	"view_too_large":                           "the modal is too large",
	"duplicate_external_id":                    "the modal already exists",
}

// Classify says how err from a slack-go call should be handled and gives
// a message for people (never containing a token).
func Classify(err error) (Class, string) {
	var rl *slack.RateLimitedError
	if errors.As(err, &rl) {
		return Transient, "rate limited by Slack"
	}
	var se slack.SlackErrorResponse
	if errors.As(err, &se) {
		if hint, ok := fatalCodes[se.Err]; ok {
			if se.Err == "missing_scope" && se.Needed != "" {
				hint += " (needed: " + se.Needed + ")"
			}
			return Fatal, se.Err + ": " + hint
		}
		if hint, ok := targetCodes[se.Err]; ok {
			return Target, se.Err + ": " + hint
		}
		return Transient, se.Err
	}
	var sc slack.StatusCodeError
	if errors.As(err, &sc) {
		switch {
		case sc.Code == 401 || sc.Code == 403:
			return Fatal, fmt.Sprintf("HTTP %d from the Slack API", sc.Code)
		case sc.Code == 404:
			return Fatal, "HTTP 404 from the Slack API: check SLACK_API_URL / api_url"
		case sc.Code >= 400 && sc.Code < 500 && sc.Code != 408:
			return Target, fmt.Sprintf("HTTP %d from the Slack API", sc.Code)
		}
		return Transient, fmt.Sprintf("HTTP %d from the Slack API", sc.Code)
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		// url.Error names the URL: the API URL holds no token (it is
		// sent in the body), but report only the operation and cause.
		return Transient, "cannot reach the Slack API: " + ue.Err.Error()
	}
	return Transient, err.Error()
}

// Redactor removes secrets from text that may reach logs, errors or
// messages.
type Redactor []string

// Redact replaces every known secret in s.
func (r Redactor) Redact(s string) string {
	for _, secret := range r {
		if len(secret) >= 8 {
			s = strings.ReplaceAll(s, secret, "[redacted]")
		}
	}
	return s
}

// Heartbeat is called while waiting, so a long Retry-After does not look
// like a stuck activity.
type Heartbeat func()

// Call runs fn, waiting out Slack's rate limits: on 429 it sleeps for
// Retry-After (at least a second) and tries again, until ctx ends. Other
// errors are returned as they are. Retries stop after maxRateLimited
// consecutive 429s, returning the last one.
func Call(ctx context.Context, hb Heartbeat, fn func(ctx context.Context) error) error {
	const maxRateLimited = 20
	for i := 0; ; i++ {
		err := fn(ctx)
		var rl *slack.RateLimitedError
		if !errors.As(err, &rl) || i+1 >= maxRateLimited {
			return err
		}
		wait := max(rl.RetryAfter, time.Second)
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < wait {
			// Not enough time left: let the caller retry later, after
			// Retry-After.
			return err
		}
		if err := sleep(ctx, wait, hb); err != nil {
			return err
		}
	}
}

// RetryAfter is how long Slack asked to wait, when err is a rate limit.
func RetryAfter(err error) (time.Duration, bool) {
	var rl *slack.RateLimitedError
	if errors.As(err, &rl) {
		return max(rl.RetryAfter, time.Second), true
	}
	return 0, false
}

func sleep(ctx context.Context, d time.Duration, hb Heartbeat) error {
	t := time.NewTimer(d)
	defer t.Stop()
	tick := time.NewTicker(5 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
			return nil
		case <-tick.C:
			if hb != nil {
				hb()
			}
		}
	}
}
