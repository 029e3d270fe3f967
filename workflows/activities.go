package workflows

import (
	"github.com/signoff/signoff/approval"
	"github.com/signoff/signoff/auth/proof"
	"github.com/signoff/signoff/policy"
)

// Activity names: the workflow calls its activities by these names and the
// worker registers its implementations under them, so the workflow (and
// everyone who imports its names) links none of the outside systems the
// activities talk to.
const (
	// ActivityNotify sends one notification (NotifyInput → approval.Delivery).
	ActivityNotify = "Notify"
	// ActivityRunAction runs a granted approval's action (ActionInput →
	// approval.ActionResult).
	ActivityRunAction = "RunAction"
	// ActivityVerifyProof checks a gateway stamp, as a local activity
	// (ProofInput → proof.Verdict).
	ActivityVerifyProof = "VerifyProof"
	// ActivityEarlierRuns lists the other runs under an approval's
	// workflow ID, as a local activity: a legitimate approval has one run.
	ActivityEarlierRuns = "EarlierRuns"
	// ActivityAdmit checks a Version4 start, as a local activity
	// (AdmitInput → Admission): its stamp, its siblings under its ID, and
	// the worker's public keys to check later messages with.
	ActivityAdmit = "Admit"
	// ActivityCheckRego evaluates a policy's Rego module, as a local
	// activity (RegoCheck → policy.RegoVerdict).
	ActivityCheckRego = "CheckRego"
)

// Versions of the workflow's behaviour (Input.Version). Approvals started
// before versions existed (0) await each notification round inside their
// state loop, run every notification and action as an activity, and upsert
// the search attributes they started with, as their histories recorded.
const (
	// Version1:
	//   - notification rounds run in order on a queue of their own, so a
	//     notifier that is down (Slack, a mail relay) delays no decision,
	//     timer, quorum, action or close; its rounds catch up when it is
	//     back;
	//   - the log notifier and the no-op action, which reach nothing outside
	//     the worker, run as local activities (no task round trip, one
	//     history event instead of three);
	//   - the search attributes set at start are not upserted again.
	Version1 = 1
	// Version2: AwaitedBy (who may decide now) is set at start and kept
	// current, so "waiting for me" is one visibility query.
	Version2 = 2
	// Version3: the approval takes the new side of every workflow.GetVersion
	// change without asking, so it records no version marker, and none of
	// the TemporalChangeVersion upserts the SDK adds to each (two history
	// events per change, each indexed by visibility); intake sets
	// AttrVersion at start instead, which `signoff approvals versions`
	// counts by.
	Version3 = 3
	// Version4: the start is checked in one local activity (its stamp, its
	// siblings, and the worker's public keys), and every later message's
	// signature in workflow code: no marker per decision (admit.go).
	Version4 = 4
	// Version5: a grant may start later (Request.StartAt, schedule.go).
	// No older path changes: the number stops a worker that does not know
	// StartAt (it refuses versions above its own) from granting a
	// scheduled request at once.
	Version5 = 5
	// VersionLatest is what new approvals run.
	VersionLatest = Version5
)

// LocalNotifier and LocalAction reach nothing outside the worker: from
// Version1 they run as local activities.
const (
	LocalNotifier = "log"
	LocalAction   = "noop"
)

// NoticeKind is what a notification is for.
type NoticeKind string

// Notification kinds.
const (
	NoticePrompt     NoticeKind = "prompt"
	NoticeReminder   NoticeKind = "reminder"
	NoticeEscalation NoticeKind = "escalation"
	NoticeBreakGlass NoticeKind = "break_glass"
	NoticeOutcome    NoticeKind = "outcome"
	// NoticeRevokeFailed tells people, security included, that granted
	// access could not be revoked yet (it is tried again).
	NoticeRevokeFailed NoticeKind = "revoke_failed"
	// NoticeGrantEnding tells the grantee their access ends soon (and how
	// to ask for more).
	NoticeGrantEnding NoticeKind = "grant_ending"
	// NoticeDelegated asks a delegate added after the approval was created
	// (NotifyInput.Delegate) to decide in their approver's place.
	NoticeDelegated NoticeKind = "delegated"
)

// NotifyInput asks one notifier to send one kind of message.
type NotifyInput struct {
	Notifier string         `json:"notifier"`
	Kind     NoticeKind     `json:"kind"`
	Approval approval.State `json:"approval"`
	// Escalation is the level being applied, for NoticeEscalation.
	Escalation *approval.Escalation `json:"escalation,omitempty"`
	// Delegate is who is asked, for NoticeDelegated.
	Delegate string `json:"delegate,omitempty"`
}

// ActionInput runs the action of a granted approval.
type ActionInput struct {
	Approval approval.State `json:"approval"`
	// Phase is empty to run the action (grant access, for grant types),
	// PhaseRevoke to revoke what it granted.
	Phase string `json:"phase,omitempty"`
}

// PhaseRevoke asks a grant action to revoke; PhaseExtend runs an approved
// extension (Request.Extends): the grant's revoke time moves, nothing is
// granted again.
// PhaseDiscard drops what the action kept for a run that will not happen
// (a secret change's staged values).
const (
	PhaseRevoke  = "revoke"
	PhaseExtend  = "extend"
	PhaseDiscard = "discard"
)

// ProofInput is a message's canonical bytes and the stamp it carried.
type ProofInput struct {
	Subject []byte      `json:"subject"`
	Stamp   proof.Stamp `json:"stamp"`
	// WantKeys asks for the ring's public keys with the verdict.
	WantKeys bool `json:"want_keys,omitempty"`
}

// RegoCheck is a policy's Rego module and the decision to check.
type RegoCheck struct {
	Module string           `json:"module"`
	Input  policy.RegoInput `json:"input"`
}

// RunsInput names a run whose siblings under its workflow ID are asked for.
type RunsInput struct {
	WorkflowID string `json:"workflow_id"`
	RunID      string `json:"run_id"`
}
