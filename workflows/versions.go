package workflows

// Version branches: every old path ApprovalWorkflow keeps so that the
// approvals started on older code replay, and what in Temporal visibility
// shows that an approval cannot need it. docs/versions.md is the policy;
// `signoff approvals versions` counts the approvals that may still need
// each branch; versions_test.go checks that every workflow.GetVersion
// change is listed and names the recorded histories that take each old
// side.

import (
	"strconv"

	"go.temporal.io/sdk/workflow"

	"github.com/signoff/signoff/approval"
)

// Kinds of version branch.
const (
	// BranchChange is a workflow.GetVersion change: the old side is
	// workflow.DefaultVersion, taken on replay by a history that passed
	// the call before the change was deployed.
	BranchChange = "GetVersion"
	// BranchInput is Input.Version, chosen by intake at start.
	BranchInput = "Input.Version"
	// BranchRules is the judge's rules (approval.RulesLegacy, ...), from
	// Input.Rules; RulesLegacy may move to RulesProven (changeProvenDecisions).
	BranchRules = "Rules"
)

// Branch is one old path of ApprovalWorkflow.
type Branch struct {
	Kind string
	// Name is the change ID, or the old value of Input.Version or Rules
	// (Value) as shown.
	Name  string
	Value int
	// Since is the commit that made this path the old one.
	Since string
	// Old is what an approval on the old side does.
	Old string
	// Clears are TemporalChangeVersion values (ChangeVersion) any one of
	// which shows that an approval does not need the old side: it began on
	// code where every start takes the new side, or it recorded the new
	// side itself. The SDK upserts the attribute whenever it records a
	// version marker, and only then: approvals without it may need every
	// branch.
	Clears []string
	// ClearedFrom is the Input.Version from which an approval cannot take
	// the old side: approvals started there record AttrVersion (since
	// Version3) instead of markers. 0: no version clears it.
	ClearedFrom int
	// AfterOutcome: the old side is reached only after the approval's
	// outcome (the grant period), so a pending approval does not need it.
	AfterOutcome bool
	// EndsRun: taking the old side ends the run without completing it,
	// so no running approval needs it; a closed one still does while it
	// is kept, since reading an approval that did not complete replays it.
	EndsRun bool
}

// newSide reports whether an approval takes the new side of change:
// approvals started at Version3 or later always do, without recording a
// marker; older ones ask workflow.GetVersion as they always did, so their
// histories replay (a new run of theirs gets the new side too).
func newSide(ctx workflow.Context, in Input, change string) bool {
	if in.Version >= Version3 {
		return true
	}
	return workflow.GetVersion(ctx, change, workflow.DefaultVersion, 1) == 1
}

// ChangeVersion is the TemporalChangeVersion value the SDK records for
// version v of change id.
func ChangeVersion(id string, v int) string { return id + "-" + strconv.Itoa(v) }

// Branches are ApprovalWorkflow's old paths, newest first.
//
// Every start since changeProvenStart is stamped by intake, which since
// the same commit sets Version1 and approval.RulesDelegation: an open
// approval that recorded proven-start-1 runs neither Version 0 nor the
// older rules. Every start since changeFirstRun records first-run-1, and
// runs on code with all of these branches' new sides.
var Branches = []Branch{
	{Kind: BranchInput, Name: "3", Value: Version3, ClearedFrom: Version4, Since: "27cafd3",
		Old: "the start is checked by two local activities (its stamp, then the other runs under its ID) and every " +
			"later message's stamp by one more: a marker in history each (ActivityVerifyProof, ActivityEarlierRuns)"},
	{Kind: BranchInput, Name: "1", Value: Version1, ClearedFrom: Version2, Since: "ada1769",
		Old: "AwaitedBy is neither set at start nor kept: the inbox reads the state of each candidate approval " +
			"to know who is awaited (no marker tells these approvals apart: count them by start time)"},
	{Kind: BranchChange, Name: changeFirstRun, ClearedFrom: Version3, Since: "4dae5b9",
		Old: "messages are handled before the start is checked; no check that the run is the approval's only one; " +
			"a grant cancelled in Temporal is not waited for",
		Clears: []string{ChangeVersion(changeFirstRun, 1)}},
	{Kind: BranchChange, Name: changeCancelRevokes, ClearedFrom: Version3, Since: "2b6bea8",
		Old:    "a cancellation in Temporal during a grant ends the run cancelled; the access stays",
		Clears: []string{ChangeVersion(changeFirstRun, 1), ChangeVersion(changeCancelRevokes, 1)}, AfterOutcome: true, EndsRun: true},
	{Kind: BranchChange, Name: changeGrantPeriod, ClearedFrom: Version3, Since: "b7b54e9",
		Old: "the grant is one timer (holdGrantV0): no ending notice, no extension; a failing revoke sleeps and retries " +
			"without RevokeFailing or an admin's take-over",
		Clears: []string{ChangeVersion(changeFirstRun, 1), ChangeVersion(changeGrantPeriod, 1)}, AfterOutcome: true},
	{Kind: BranchChange, Name: changeProvenStart, ClearedFrom: Version3, Since: "ad82652",
		Old:    "the start's stamp is not checked",
		Clears: []string{ChangeVersion(changeFirstRun, 1), ChangeVersion(changeProvenStart, 1)}},
	{Kind: BranchRules, Name: "1 (RulesProven)", Value: approval.RulesProven, ClearedFrom: Version3, Since: "d47c1c7",
		Old:    "no delegates: nobody decides in an approver's place, added delegations are ignored",
		Clears: []string{ChangeVersion(changeFirstRun, 1), ChangeVersion(changeProvenStart, 1)}},
	{Kind: BranchInput, Name: "0", Value: 0, ClearedFrom: Version1, Since: "91f8f72",
		Old: "notification rounds run inside the state loop, every notifier and action as an activity, " +
			"the start's search attributes upserted again",
		Clears: []string{ChangeVersion(changeFirstRun, 1), ChangeVersion(changeProvenStart, 1)}},
	{Kind: BranchChange, Name: changeApproversAttribute, ClearedFrom: Version3, Since: "b32a3af",
		Old:    "escalation adds approvers without updating the Approvers search attribute",
		Clears: []string{ChangeVersion(changeFirstRun, 1), ChangeVersion(changeProvenStart, 1), ChangeVersion(changeApproversAttribute, 1)}},
	{Kind: BranchChange, Name: changeProvenDecisions, ClearedFrom: Version3, Since: "b32a3af",
		Old:    "an approval begun under RulesLegacy stays there (Rules 0)",
		Clears: []string{ChangeVersion(changeFirstRun, 1), ChangeVersion(changeProvenStart, 1), ChangeVersion(changeProvenDecisions, 1)}},
	{Kind: BranchRules, Name: "0 (RulesLegacy)", Value: approval.RulesLegacy, ClearedFrom: Version3, Since: "b32a3af",
		Old: "the user named is believed; a Slack click is checked against its place and Rego, other channels " +
			"carry the gateway's verdict (receiveLegacy)",
		Clears: []string{ChangeVersion(changeFirstRun, 1), ChangeVersion(changeProvenStart, 1), ChangeVersion(changeProvenDecisions, 1)}},
}
