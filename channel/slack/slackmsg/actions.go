// Package slackmsg is what the Slack notifier (worker) and the Slack
// callbacks (gateway) must agree on: the action IDs of rendered controls, the
// Block Kit rendering itself, and how Web API errors are classified and rate
// limits waited out. It holds no secret and keeps no state.
package slackmsg

import (
	"encoding/json"
	"errors"
	"regexp"
	"strconv"
	"strings"
)

// Verb is what a control asks for. Action IDs read
// "signoff:<verb>:<approval id>[:<n>]": only the approval ID and a verb,
// nothing secret; option values travel in the control's value.
type Verb string

const (
	// VerbApprove and VerbReject decide at once.
	VerbApprove Verb = "approve"
	VerbReject  Verb = "reject"
	// VerbApproveComment and VerbRejectComment open a modal asking for the
	// comment the policy requires.
	VerbApproveComment Verb = "approve_comment"
	VerbRejectComment  Verb = "reject_comment"
	// VerbOption is a button of a "button" input; its value is the option's.
	VerbOption Verb = "option"
	// VerbSelect is a static_select; the selected option is the choice.
	VerbSelect Verb = "select"
	// VerbMulti is a multi_static_select: changing it decides nothing.
	VerbMulti Verb = "multi"
	// VerbSubmit submits the multiselect, read from the message's state.
	VerbSubmit Verb = "submit"
	// VerbRespond opens the text modal of a "text" input.
	VerbRespond Verb = "respond"
	// VerbRevoke is "Revoke now" on a granted approval's message: it asks
	// for the access to end early and decides nothing.
	VerbRevoke Verb = "revoke"
)

// Modal is the view callback ID and its input's IDs.
const (
	ModalCallbackID = "signoff:decide"
	ModalBlockID    = "signoff:input"
	ModalActionID   = "signoff:text"
)

const actionPrefix = "signoff:"

var approvalID = regexp.MustCompile(`^[a-z2-7]{26}$`)

// Action is a parsed action ID.
type Action struct {
	Verb       Verb
	ApprovalID string
	// Index tells apart controls of the same verb (option buttons).
	Index int
}

// ID renders the action ID.
func (a Action) ID() string {
	id := actionPrefix + string(a.Verb) + ":" + a.ApprovalID
	if a.Verb == VerbOption {
		id += ":" + strconv.Itoa(a.Index)
	}
	return id
}

// Opens reports whether the control opens a modal instead of deciding.
func (a Action) Opens() bool {
	return a.Verb == VerbApproveComment || a.Verb == VerbRejectComment || a.Verb == VerbRespond
}

// ErrNotOurs marks an action ID Signoff did not render.
var ErrNotOurs = errors.New("not a Signoff action")

// ParseAction reads an action ID rendered by ID. Anything else, including
// IDs with a malformed approval ID, is ErrNotOurs.
func ParseAction(id string) (Action, error) {
	rest, ok := strings.CutPrefix(id, actionPrefix)
	if !ok || len(id) > 255 {
		return Action{}, ErrNotOurs
	}
	parts := strings.Split(rest, ":")
	if len(parts) < 2 || len(parts) > 3 || !approvalID.MatchString(parts[1]) {
		return Action{}, ErrNotOurs
	}
	a := Action{Verb: Verb(parts[0]), ApprovalID: parts[1]}
	switch a.Verb {
	case VerbApprove, VerbReject, VerbApproveComment, VerbRejectComment, VerbSelect, VerbMulti, VerbSubmit, VerbRespond, VerbRevoke:
		if len(parts) != 2 {
			return Action{}, ErrNotOurs
		}
	case VerbOption:
		if len(parts) != 3 {
			return Action{}, ErrNotOurs
		}
		n, err := strconv.Atoi(parts[2])
		if err != nil || n < 0 || n > 99 || strconv.Itoa(n) != parts[2] {
			return Action{}, ErrNotOurs
		}
		a.Index = n
	default:
		return Action{}, ErrNotOurs
	}
	return a, nil
}

// BlockRevision reads the request revision from a block ID rendered by
// this package ("signoff:<kind>:<part>:<id>:r<n>"): a control in an
// outdated prompt must not decide on an amended request.
func BlockRevision(blockID string) (int, bool) {
	parts := strings.Split(blockID, ":")
	if len(parts) != 5 || parts[0] != "signoff" || !strings.HasPrefix(parts[4], "r") {
		return 0, false
	}
	n, err := strconv.Atoi(parts[4][1:])
	if err != nil || n < 0 || strconv.Itoa(n) != parts[4][1:] {
		return 0, false
	}
	return n, true
}

// ValidApprovalID reports whether id looks like an approval ID.
func ValidApprovalID(id string) bool { return approvalID.MatchString(id) }

// ModalMetadata is the modal's private_metadata: which approval, which
// decision and where the click came from. Nothing secret: Slack hands it
// back verbatim on view_submission.
type ModalMetadata struct {
	ApprovalID string `json:"a"`
	Verb       Verb   `json:"v"`
	// Channel and MessageTS are where the opening click was made; the
	// submission is checked against them like a click.
	Channel   string `json:"c,omitempty"`
	MessageTS string `json:"t,omitempty"`
	// Revision is the request revision the clicked prompt showed.
	Revision int `json:"r"`
}

// Encode renders the metadata for private_metadata.
func (m ModalMetadata) Encode() string {
	b, _ := json.Marshal(m)
	return string(b)
}

// ParseModalMetadata reads private_metadata written by Encode.
func ParseModalMetadata(s string) (ModalMetadata, error) {
	var m ModalMetadata
	if len(s) > 3000 {
		return m, errors.New("private_metadata too long")
	}
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		return m, errors.New("private_metadata is not Signoff's")
	}
	if !approvalID.MatchString(m.ApprovalID) {
		return m, errors.New("private_metadata has no valid approval ID")
	}
	switch m.Verb {
	case VerbApproveComment, VerbRejectComment, VerbRespond:
	default:
		return m, errors.New("private_metadata has an unknown verb")
	}
	return m, nil
}
