package workflows

// What Temporal shows of an approval: the search attributes lists and
// counts read, and the UI's current details.

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/signoff/signoff/approval"
)

func upsertStatus(ctx workflow.Context, st *approval.State) error {
	err := workflow.UpsertTypedSearchAttributes(ctx,
		AttrStatus.ValueSet(string(st.Status)),
		AttrRequester.ValueSet(st.Requester),
		AttrEnvironment.ValueSet(st.Request.Environment),
	)
	if err != nil {
		return fmt.Errorf("upsert search attributes: %w", err)
	}
	return nil
}

// changeApproversAttribute keeps the Approvers search attribute current when
// escalation adds people; approvals started before it replay without.
const changeApproversAttribute = "approvers-attribute"

func upsertApprovers(ctx workflow.Context, st *approval.State) error {
	if workflow.GetVersion(ctx, changeApproversAttribute, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		return nil
	}
	people := append(st.Policy.AllApprovers(), st.ExtraApprovers...)
	slices.Sort(people)
	return workflow.UpsertTypedSearchAttributes(ctx, AttrApprovers.ValueSet(slices.Compact(people)))
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
