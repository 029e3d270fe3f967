package approvalstore

import (
	"slices"
	"testing"

	"go.temporal.io/sdk/temporal"

	"github.com/signoff/signoff/approval"
	"github.com/signoff/signoff/workflows"
)

// Lists are scoped with the Approvers attribute: it names everyone who may
// decide any stage of the policy snapshot.
func TestSearchAttributesNameEveryApprover(t *testing.T) {
	in := workflows.Input{Requester: "alice", Request: approval.Request{Environment: "production"}}
	in.Policy = approval.Policy{Stages: []approval.Stage{
		{Name: "team", Approvers: []string{"carol", "bob"}, RequiredApprovals: 1},
		{Name: "security", Approvers: []string{"erin", "bob"}, RequiredApprovals: 1},
	}}
	sa := temporal.NewSearchAttributes(searchAttributes(in)...)
	if got, ok := sa.GetKeywordList(workflows.AttrApprovers); !ok || !slices.Equal(got, []string{"bob", "carol", "erin"}) {
		t.Errorf("Approvers = %v, %v", got, ok)
	}
	if got, _ := sa.GetKeyword(workflows.AttrRequester); got != "alice" {
		t.Errorf("Requester = %q", got)
	}
	if _, ok := workflows.SearchAttributes[workflows.AttrApprovers.GetName()]; !ok {
		t.Error("Approvers is not registered with the namespace")
	}
	// Nobody to name: no empty list is sent.
	in.Policy = approval.Policy{}
	sa = temporal.NewSearchAttributes(searchAttributes(in)...)
	if sa.ContainsKey(workflows.AttrApprovers) {
		t.Error("empty Approvers set")
	}
}
