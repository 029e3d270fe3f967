package workflows

// What Temporal shows of an approval: the search attributes lists and
// counts read, and the UI's current details.

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/signoff/signoff/approval"
)

func upsertStatus(ctx workflow.Context, st *approval.State, version int) error {
	attrs := []temporal.SearchAttributeUpdate{
		AttrStatus.ValueSet(string(st.Status)),
		AttrRequester.ValueSet(st.Requester),
		AttrEnvironment.ValueSet(st.Request.Environment),
	}
	if version >= Version2 && st.Status.Final() {
		// Nobody is awaited any more: cleared with the status, in one
		// upsert.
		attrs = append(attrs, AttrAwaitedBy.ValueUnset())
	}
	err := workflow.UpsertTypedSearchAttributes(ctx, attrs...)
	if err != nil {
		return fmt.Errorf("upsert search attributes: %w", err)
	}
	return nil
}

// changeApproversAttribute keeps the Approvers search attribute current when
// escalation adds people; approvals started before it replay without.
const changeApproversAttribute = "approvers-attribute"

func upsertApprovers(ctx workflow.Context, in Input, st *approval.State) error {
	if !newSide(ctx, in, changeApproversAttribute) {
		return nil
	}
	people := append(st.Policy.AllApprovers(), st.ExtraApprovers...)
	slices.Sort(people)
	return workflow.UpsertTypedSearchAttributes(ctx, AttrApprovers.ValueSet(slices.Compact(people)))
}

// MaxAwaitedBytes bounds AttrAwaitedBy: Temporal refuses a search
// attribute value over 2 KB by default, and an upsert it refuses fails the
// workflow task. Past it, the approval keeps nobody and inboxes read its
// state instead (approvalstore.Query.Untracked).
const MaxAwaitedBytes = 1500

// Awaited are who may decide st now, as AttrAwaitedBy holds them: the
// people awaited and the delegates the policy snapshot names for them,
// sorted; none once it is decided, or when they are too many to keep
// (MaxAwaitedBytes).
func Awaited(st *approval.State) []string {
	if st.Status != approval.StatusPending {
		return nil
	}
	out := st.Prompted()
	slices.Sort(out)
	out = slices.Compact(out)
	size := 2 // the JSON list Temporal stores: ["a","b"]
	for _, p := range out {
		size += len(p) + 3
	}
	if size > MaxAwaitedBytes {
		return nil
	}
	return out
}

// AwaitedAtStart is Awaited of the approval in starts, as the workflow
// builds its state: what intake sets AttrAwaitedBy to at start (Version2).
//
//workflowcheck:ignore
func AwaitedAtStart(in Input) []string {
	st := approval.New(in.ID, in.Requester, in.Request, in.Policy, in.CreatedAt)
	st.Initiator, st.Rules = in.Initiator, in.Rules
	return Awaited(st)
}

// syncAwaited upserts AttrAwaitedBy when who is awaited changed (Version2).
// A decided approval is left to the closing upsertStatus, which clears it
// in the same command.
func (r *approvalRun) syncAwaited(ctx workflow.Context) error {
	if r.in.Version < Version2 || r.st.Status.Final() {
		return nil
	}
	now := Awaited(r.st)
	if slices.Equal(now, r.awaited) {
		return nil
	}
	r.awaited = now
	if len(now) == 0 {
		return workflow.UpsertTypedSearchAttributes(ctx, AttrAwaitedBy.ValueUnset())
	}
	return workflow.UpsertTypedSearchAttributes(ctx, AttrAwaitedBy.ValueSet(now))
}

// setDetails keeps the Temporal UI's "current details" readable. fmt only
// formats strings and ints here, which is deterministic.
//
//workflowcheck:ignore
func setDetails(ctx workflow.Context, st *approval.State) {
	var b strings.Builder
	fmt.Fprintf(&b, "**%s** — %s\n\n", st.Status, st.Request.Title)
	approved, required := st.Progress()
	stages := st.Policy.StageList()
	if len(stages) > 1 {
		fmt.Fprintf(&b, "Stage %d of %d (%s): ", st.Stage+1, len(stages), st.CurrentStage().Name)
	}
	fmt.Fprintf(&b, "%d of %d approvals (policy `%s`)", approved, required, st.Policy.Name)
	if len(st.ApprovedBy) > 0 {
		fmt.Fprintf(&b, ", approved by %s", strings.Join(st.ApprovedBy, ", "))
	}
	if st.Status == approval.StatusPending {
		fmt.Fprintf(&b, "\n\nWaiting for: %s; deadline %s", strings.Join(st.Pending(), ", "), st.Deadline.UTC().Format(time.RFC3339))
	}
	if st.Status == approval.StatusBypassed {
		fmt.Fprintf(&b, "\n\n**Break-glass** by %s: %s", st.BypassedBy, st.BypassReason)
	}
	if st.ActionResult != nil {
		fmt.Fprintf(&b, "\n\nAction: %s", actionSummary(st.ActionResult))
	}
	workflow.SetCurrentDetails(ctx, b.String())
}
