package web

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/signoff/signoff/approval"
	"github.com/signoff/signoff/approval/evidence"
	"github.com/signoff/signoff/channel/wording"
)

// summary is what every page says about the request.
type summary struct {
	Title, Description, Requester, Environment, Resource string
	Fields                                               []field
	Policy                                               string
	// Eligible says which outside groups made whom an approver.
	Eligible []field
	// Access is the grant's duration and times, for grant actions.
	Access                []field
	Status, StatusClass   string
	Progress              string
	Deadline, DeadlineISO string
	Justification         string
	// Action is what runs once granted: approvers decide on it.
	Action approval.ActionView
	// Secret is a secret change's redacted diff: keys, operations,
	// fingerprints and lengths, never a value.
	Secret *secretView
}

type field struct{ Key, Value string }

func summarize(st *approval.State) *summary {
	s := &summary{
		Title: st.Request.Title, Description: st.Request.Description, Requester: st.Requester,
		Environment: st.Request.Environment, Resource: st.Request.Resource,
		Policy: st.Policy.Name, Status: string(st.Status), StatusClass: statusClass(st.Status),
		Progress: wording.ProgressInFull(st, wording.Plain), Deadline: formatTime(st.Deadline), DeadlineISO: st.Deadline.UTC().Format(time.RFC3339),
		Justification: st.Justification, Action: st.Request.Action.View(), Secret: secretViewOf(st.Request.Secret),
	}
	if st.Policy.Version != "" {
		s.Policy += " (" + shortVersion(st.Policy.Version) + ")"
	}
	keys := make([]string, 0, len(st.Request.Fields))
	for k := range st.Request.Fields {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	// The diff in words is left out where the table shows it.
	diff := secretFieldsOf(st)
	for _, k := range keys {
		if v, ok := diff[k]; ok && v == st.Request.Fields[k] {
			continue
		}
		s.Fields = append(s.Fields, field{Key: k, Value: st.Request.Fields[k]})
	}
	if st.Request.Duration > 0 {
		s.Access = append(s.Access, field{Key: "Access for", Value: st.Request.Duration.String()})
	}
	if g := st.Grant; g != nil {
		s.Access = append(s.Access, field{Key: "Revoked at", Value: formatTime(g.RevokeAt) + " (planned)"})
		if !g.GrantedAt.IsZero() {
			s.Access = append(s.Access, field{Key: "Granted", Value: formatTime(g.GrantedAt)})
		}
		for _, e := range g.Extensions {
			s.Access = append(s.Access, field{Key: "Extended", Value: fmt.Sprintf("at %s by approval %s: until %s (was %s)",
				formatTime(e.At), e.Approval, formatTime(e.To), formatTime(e.From))})
		}
		if !g.RevokedAt.IsZero() {
			s.Access = append(s.Access, field{Key: "Revoked", Value: formatTime(g.RevokedAt) + ": " + g.RevokeOutput})
		}
	}
	groups := slices.Sorted(maps.Keys(st.Policy.OutsideGroups))
	for _, g := range groups {
		members := strings.Join(st.Policy.OutsideGroups[g], ", ")
		if members == "" {
			members = "no configured users"
		}
		name := g
		if id, ok := strings.CutPrefix(g, "slack:"); ok {
			name = "Slack user group " + id
		}
		s.Eligible = append(s.Eligible, field{Key: name, Value: members + " (at creation)"})
	}
	return s
}

func shortVersion(v string) string {
	if len(v) > 19 {
		return v[:19]
	}
	return v
}

func statusClass(s approval.Status) string {
	switch {
	case s == approval.StatusPending:
		return "wait"
	case s.Granted():
		return "ok"
	}
	return "bad"
}

// entryView is one line of the timeline.
type entryView struct {
	Type, Label, Class string
	When, ISO          string
	Actor, Channel     string
	Detail, Comment    string
	IdentifiedBy       string
}

var labels = map[string]string{
	"requested":                  "Requested",
	"notification":               "Notified",
	"notification_failed":        "Notification failed",
	"decision":                   "Decision",
	"timer_fired":                "Timer fired",
	"reminder":                   "Reminder",
	"escalation":                 "Escalated",
	"break_glass":                "Break-glass",
	"break_glass_refused":        "Break-glass refused",
	"action":                     "Action",
	"outcome":                    "Outcome",
	"stage_approved":             "Stage approved",
	"cancelled":                  "Cancelled",
	"cancel_refused":             "Cancellation refused",
	"amended":                    "Amended",
	"amend_refused":              "Amendment refused",
	"expired":                    "Expired",
	"deadline_rejected":          "Rejected at the deadline",
	"start_refused":              "Start refused",
	"granted":                    "Access granted",
	"revoke_requested":           "Revoke asked for",
	"revoke_refused":             "Revoke refused",
	"revoke_failed":              "Revoke failed (tried again)",
	"revoked":                    "Access revoked",
	"extended":                   "Access extended",
	"extend_refused":             "Extension refused",
	"grant_ending":               "Grantee told the access ends soon",
	"revoke_acknowledged":        "Failing revoke taken over",
	"revoke_acknowledge_refused": "Take-over of the revoke refused",
}

func timelineView(entries []evidence.Entry) []entryView {
	out := make([]entryView, 0, len(entries))
	for _, e := range entries {
		v := entryView{
			Type: e.Type, Label: labels[e.Type], When: formatTime(e.Time), ISO: e.Time.UTC().Format(time.RFC3339Nano),
			Actor: e.Actor, Channel: e.Channel, Detail: e.Detail, IdentifiedBy: e.IdentifiedBy,
		}
		if v.Label == "" {
			v.Label = strings.ReplaceAll(e.Type, "_", " ")
		}
		switch e.Type {
		case "decision":
			if e.Attempt != nil {
				v.Comment = e.Attempt.Comment
				v.Class = "ok"
				if !e.Attempt.Accepted || e.Attempt.Voided {
					v.Class = "bad"
				}
			}
		case "notification_failed", "break_glass", "break_glass_refused", "cancel_refused", "amend_refused", "revoke_refused", "revoke_failed",
			"extend_refused", "revoke_acknowledge_refused":
			v.Class = "bad"
		case "escalation", "reminder", "timer_fired", "grant_ending", "revoke_acknowledged":
			v.Class = "warn"
		case "extended":
			v.Class = "ok"
		case "action":
			v.Class = "ok"
			if e.Action != nil && !e.Action.Success {
				v.Class = "bad"
			}
		}
		out = append(out, v)
	}
	return out
}
