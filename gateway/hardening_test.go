package gateway

import (
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/signoff/signoff/approval"
	pb "github.com/signoff/signoff/proto/signoff/v1"
)

// Someone with no part in an approval learns nothing of it by writing: a
// finished approval, or a malformed decision on a pending one, answers them
// as an unknown ID does.
func TestStrangersCannotProbeByWriting(t *testing.T) {
	ts := newServiceFixture(t)
	a := ts.create(t, "alice", deployRequest(""))
	noHash := approve(a)
	noHash.RequestHash = ""
	_, onExisting := ts.decide(t, "walt", noHash)
	noHash.Id = strings.Repeat("a", 26)
	_, onUnknown := ts.decide(t, "walt", noHash)
	if status.Convert(onExisting).Proto().String() != status.Convert(onUnknown).Proto().String() {
		t.Errorf("a decision without request_hash: %v on an approval, %v on an unknown ID", onExisting, onUnknown)
	}
	wantNotFound(t, "stranger's decision without request_hash", onExisting)
	noHash.Id = a.GetId()
	_, err := ts.decide(t, "bob", noHash)
	wantCode(t, "an approver's decision without request_hash", err, codes.InvalidArgument, "request_hash is required")
	if _, err := ts.CancelApproval(ts.as(t, "alice"), &pb.CancelApprovalRequest{Id: a.GetId()}); err != nil {
		t.Fatal(err)
	}
	_, err = ts.decide(t, "walt", approve(a))
	wantNotFound(t, "stranger decides a finished approval", err)
	_, err = ts.CancelApproval(ts.as(t, "walt"), &pb.CancelApprovalRequest{Id: a.GetId()})
	wantNotFound(t, "stranger cancels a finished approval", err)
	_, err = ts.BypassApproval(ts.as(t, "walt"), &pb.BypassApprovalRequest{Id: a.GetId(), Reason: "x"})
	wantNotFound(t, "stranger bypasses a finished approval", err)
	// Those who may read it hear why.
	_, err = ts.decide(t, "bob", approve(a))
	wantCode(t, "approver decides a finished approval", err, codes.FailedPrecondition, approval.RefusedNotPending)
}

// The policy an amendment must stay under is the requester's, whoever asks:
// an approver who tries is told they are not the requester.
func TestAmendByApproverIsNotTheRequester(t *testing.T) {
	ts := newServiceFixture(t)
	a := ts.create(t, "alice", deployRequest(""))
	_, err := ts.AmendApproval(ts.as(t, "bob"), &pb.AmendApprovalRequest{Id: a.GetId(), Title: "x"})
	wantCode(t, "amend by an approver", err, codes.PermissionDenied, approval.ErrNotRequester.Error())
}

func TestListRefusesForeignPageTokens(t *testing.T) {
	ts, _ := readFixture(t)
	_, err := ts.ListApprovals(ts.as(t, "dana"), &pb.ListApprovalsRequest{PageToken: "eHl6"}) // base64("xyz")
	wantCode(t, "valid base64, not a token", err, codes.InvalidArgument, "malformed page_token")
}

// A request_id names one decision: reused for another one it is refused,
// and a retry of the decision that closed the approval gets its answer.
func TestDecisionRequestIDs(t *testing.T) {
	ts := newServiceFixture(t)
	a := ts.create(t, "alice", deployRequest(""))
	r := approve(a)
	r.RequestId = "k"
	if _, err := ts.decide(t, "bob", r); err != nil {
		t.Fatal(err)
	}
	other := approve(a)
	other.RequestId, other.Decision, other.Comment = "k", pb.Decision_DECISION_REJECT, "changed my mind"
	_, err := ts.decide(t, "bob", other)
	wantCode(t, "same request_id, other decision", err, codes.AlreadyExists, "")

	closing := approve(a)
	closing.RequestId = "c"
	first, err := ts.decide(t, "carol", closing)
	if err != nil || first.GetApproval().GetStatus() != pb.Status_STATUS_APPROVED {
		t.Fatalf("closing decision: %v, %v", first.GetApproval().GetStatus(), err)
	}
	again, err := ts.decide(t, "carol", closing)
	if err != nil || again.GetAttempt().GetTime().AsTime() != first.GetAttempt().GetTime().AsTime() {
		t.Errorf("retry of the closing decision: %v, %v", again.GetAttempt(), err)
	}
	// A refused attempt keeps its answer under its request_id too: a
	// corrected decision is a new request_id.
	b := ts.create(t, "alice", deployRequest(""))
	stale := approve(b)
	stale.RequestId, stale.RequestHash = "s", strings.Repeat("0", 64)
	_, err = ts.decide(t, "bob", stale)
	wantCode(t, "stale content", err, codes.FailedPrecondition, approval.RefusedContentChanged)
	stale.RequestHash = b.GetRequestHash()
	_, err = ts.decide(t, "bob", stale)
	wantCode(t, "the same request_id again", err, codes.FailedPrecondition, approval.RefusedContentChanged)
	stale.RequestId = "s2"
	if _, err := ts.decide(t, "bob", stale); err != nil {
		t.Errorf("a corrected decision under a new request_id: %v", err)
	}
}
