// Package wording is what Signoff says about an approval on every channel:
// its progress ("stage 1 of 2 (security): 1 of 2 approvals"), who decided
// ("carol for bob and dana") and how it ended ("Approved by … at …"). Each
// channel passes a Format with its own escaping, mentions and dates, so the
// words are written once and the markup stays the channel's.
package wording

import (
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/signoff/signoff/approval"
)

// Format is how a channel writes words about an approval.
type Format struct {
	// Text escapes text people wrote (titles, comments, stage names).
	Text func(string) string
	// Person writes a configured person (a Slack mention, a plain name);
	// nil writes Text(name).
	Person func(name string) string
	// Time writes an instant.
	Time func(time.Time) string
	// Strong emphasises a word ("*Approved*" in Slack mrkdwn); nil leaves it.
	Strong func(string) string
	// Chosen writes the options a decider chose ("(*Yes*)"); nil leaves
	// them out.
	Chosen func(st *approval.State, a approval.Attempt) string
	// Limit bounds each comment or reason quoted; 0 quotes it whole.
	Limit int
}

// Plain is the Format of plain text (logs, email subjects, tests).
var Plain = Format{Text: func(s string) string { return s }, Time: func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") }}

func (f Format) text(s string) string {
	if f.Limit > 0 && utf8.RuneCountInString(s) > f.Limit {
		s = string([]rune(s)[:f.Limit]) + "…"
	}
	if f.Text == nil {
		return s
	}
	return f.Text(s)
}

func (f Format) person(name string) string {
	if f.Person != nil {
		return f.Person(name)
	}
	if f.Text == nil {
		return name
	}
	return f.Text(name)
}

func (f Format) strong(s string) string {
	if f.Strong == nil {
		return s
	}
	return f.Strong(s)
}

// Progress reads "1 of 2 approvals", with the stage when there are several.
func Progress(st *approval.State, f Format) string {
	approved, required := st.Progress()
	p := fmt.Sprintf("%d of %d approvals", approved, required)
	if stages := st.Policy.StageList(); len(stages) > 1 {
		p = fmt.Sprintf("stage %d of %d (%s): %s", min(st.Stage, len(stages)-1)+1, len(stages), f.text(st.CurrentStage().Name), p)
	}
	return p
}

// ProgressInFull is Progress with who is awaited while pending and who
// approved so far.
func ProgressInFull(st *approval.State, f Format) string {
	s := Progress(st, f)
	if pending := st.Pending(); len(pending) > 0 {
		s += "; waiting for " + strings.Join(people(pending, f), ", ")
	}
	if len(st.ApprovedBy) > 0 {
		s += "; approved by " + strings.Join(people(st.ApprovedBy, f), ", ")
	}
	return s
}

func people(names []string, f Format) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = f.person(n)
	}
	return out
}

// Deciders lists who decided d, once each ("carol for bob and dana"), with
// the options they chose when the Format writes them; "" when nobody did.
func Deciders(st *approval.State, d approval.Decision, f Format) string {
	var who []string
	for _, a := range st.Counting(d) {
		s := f.person(a.User)
		if a.OnBehalfOf != "" {
			s += " for " + f.person(a.OnBehalfOf)
		}
		if a.Duration > 0 {
			// Approved for less time than asked.
			s += " (" + approval.ShortDuration(a.Duration) + " only)"
		}
		if f.Chosen != nil {
			if labels := f.Chosen(st, a); labels != "" {
				s += " (" + labels + ")"
			}
		}
		if !slices.Contains(who, s) {
			who = append(who, s)
		}
	}
	return approval.JoinAnd(who)
}

// Icons of how approvals end.
var Icons = map[approval.Status]string{
	approval.StatusApproved:  "✅",
	approval.StatusRejected:  "❌",
	approval.StatusExpired:   "⌛",
	approval.StatusCancelled: "🚫",
	approval.StatusBypassed:  "⚠️",
	approval.StatusGranted:   "🔓",
	approval.StatusRevoked:   "🔒",
}

// Outcome says how a finished approval ended, e.g. "✅ Approved by bob and
// carol at …" or "❌ Rejected by dana at …: not during the freeze". It is
// "" for granted and revoked access, whose lines each channel writes with
// its own detail, and for a pending approval.
func Outcome(st *approval.State, f Format) string {
	icon := Icons[st.Status]
	at := ""
	if !st.ClosedAt.IsZero() && f.Time != nil {
		at = " at " + f.Time(st.ClosedAt)
	}
	switch st.Status {
	case approval.StatusApproved:
		return fmt.Sprintf("%s %s by %s%s", icon, f.strong("Approved"), orNobody(Deciders(st, approval.DecisionApprove, f)), at)
	case approval.StatusRejected:
		who := Deciders(st, approval.DecisionReject, f)
		if who == "" {
			return fmt.Sprintf("%s %s: the deadline passed%s", icon, f.strong("Rejected"), at)
		}
		line := fmt.Sprintf("%s %s by %s%s", icon, f.strong("Rejected"), who, at)
		var reasons []string
		for _, a := range st.Counting(approval.DecisionReject) {
			if a.Comment != "" {
				reasons = append(reasons, f.text(a.Comment))
			}
		}
		if len(reasons) > 0 {
			line += ": " + strings.Join(reasons, "; ")
		}
		return line
	case approval.StatusExpired:
		return fmt.Sprintf("%s %s: no decision before the deadline%s", icon, f.strong("Expired"), at)
	case approval.StatusCancelled:
		line := fmt.Sprintf("%s %s by %s%s", icon, f.strong("Cancelled"), f.person(st.CancelledBy), at)
		if st.CancelReason != "" {
			line += ": " + f.text(st.CancelReason)
		}
		return line
	case approval.StatusBypassed:
		return fmt.Sprintf("%s %s by %s%s: %s", icon, f.strong("Bypassed (break-glass)"), f.person(st.BypassedBy), at, f.text(st.BypassReason))
	}
	return ""
}

func orNobody(who string) string {
	if who == "" {
		return "nobody (break-glass or policy)"
	}
	return who
}

// Verb is what a person did with decision d: "approved" or "rejected".
func Verb(d approval.Decision) string {
	if d == approval.DecisionReject {
		return "rejected"
	}
	return "approved"
}

// Sentence makes a message a sentence: a capital first letter and a full
// stop.
func Sentence(msg string) string {
	msg = strings.TrimSpace(msg)
	if msg == "" {
		return msg
	}
	r, n := utf8.DecodeRuneInString(msg)
	msg = string(unicode.ToUpper(r)) + msg[n:]
	if !strings.HasSuffix(msg, ".") {
		msg += "."
	}
	return msg
}

// DecidersOrNobody is Deciders, or who approved when nobody did.
func DecidersOrNobody(st *approval.State, d approval.Decision, f Format) string {
	return orNobody(Deciders(st, d, f))
}

// TooMany tells a person their messages on one approval are over budget
// (approvalstore.Budget): nothing was counted, and when to try again.
func TooMany(retryAfter time.Duration) string {
	return fmt.Sprintf("Not counted: too many attempts on this approval. Try again in %s.", max(retryAfter.Round(time.Second), time.Second))
}

// StageApprovers says who approves each stage: "2 of alice, bob; then 1
// of carol".
func StageApprovers(stages []approval.Stage) string {
	parts := make([]string, len(stages))
	for i, st := range stages {
		parts[i] = fmt.Sprintf("%d of %s", st.RequiredApprovals, strings.Join(st.Approvers, ", "))
	}
	return strings.Join(parts, "; then ")
}
