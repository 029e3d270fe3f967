package gateway

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/signoff/signoff/approval"
	"github.com/signoff/signoff/auth/proof"
	"github.com/signoff/signoff/config"
	"github.com/signoff/signoff/config/identity"
	"github.com/signoff/signoff/intake"
	pb "github.com/signoff/signoff/proto/signoff/v1"
	"github.com/signoff/signoff/store/approvalstore"
)

// actionCheck is an intake.ActionValidator from a function.
type actionCheck func(approval.Action) error

func (f actionCheck) Validate(a approval.Action) error { return f(a) }

// knownActions accepts the noop and webhook actions and refuses the rest,
// as the worker's registry would.
var knownActions = actionCheck(func(a approval.Action) error {
	if a.Type != "noop" && a.Type != "webhook" {
		return fmt.Errorf("unknown action type %q", a.Type)
	}
	return nil
})

// testService is the API on the in-memory port, which judges every message
// with the workflow's rules; the service and the port share the proof keys,
// as the gateway and the worker do.
type testService struct {
	*Service
	port *approvalstore.Memory
	dir  *identity.Directory
}

func newTestService(t *testing.T, yaml string, actions intake.ActionValidator) *testService {
	t.Helper()
	cfg, err := config.Parse([]byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	keys := proof.Generate()
	port := approvalstore.NewMemory(keys, nil)
	s := NewService(config.NewLive(cfg, nil), port, actions, keys, slog.New(slog.DiscardHandler))
	return &testService{Service: s, port: port, dir: cfg.Directory}
}

// as is a context with the named user authenticated.
func (ts *testService) as(t *testing.T, name string) context.Context {
	t.Helper()
	return asUser(t, ts.dir, name)
}

// create creates an approval as user and fails the test if it is refused.
func (ts *testService) create(t *testing.T, user string, req *pb.CreateApprovalRequest) *pb.Approval {
	t.Helper()
	a, err := ts.CreateApproval(ts.as(t, user), req)
	if err != nil {
		t.Fatalf("%s creates %q: %v", user, req.GetTitle(), err)
	}
	return a
}

func (ts *testService) decide(t *testing.T, user string, req *pb.DecideApprovalRequest) (*pb.DecideApprovalResponse, error) {
	t.Helper()
	return ts.DecideApproval(ts.as(t, user), req)
}

func (ts *testService) get(t *testing.T, id string) *pb.Approval {
	t.Helper()
	a, err := ts.GetApproval(ts.as(t, "dana"), &pb.GetApprovalRequest{Id: id})
	if err != nil {
		t.Fatalf("read %s: %v", id, err)
	}
	return a
}

// approve is user's approval of a as read, without request_id.
func approve(a *pb.Approval) *pb.DecideApprovalRequest {
	return &pb.DecideApprovalRequest{Id: a.GetId(), Decision: pb.Decision_DECISION_APPROVE, RequestHash: a.GetRequestHash()}
}

// wantCode fails unless err has code want and, when msg is not empty, a
// message containing msg.
func wantCode(t *testing.T, what string, err error, want codes.Code, msg string) {
	t.Helper()
	if got := status.Code(err); got != want {
		t.Errorf("%s: code %v (%v), want %v", what, got, err, want)
		return
	}
	if msg != "" && !strings.Contains(status.Convert(err).Message(), msg) {
		t.Errorf("%s: message %q, want it to contain %q", what, status.Convert(err).Message(), msg)
	}
}

// wantNotFound fails unless err is exactly what an unknown approval gets,
// so a stranger cannot tell an approval exists.
func wantNotFound(t *testing.T, what string, err error) {
	t.Helper()
	if status.Code(err) != codes.NotFound || status.Convert(err).Message() != status.Convert(errNotFound).Message() {
		t.Errorf("%s: %v, want exactly %v", what, err, errNotFound)
	}
}

// unknownID is well-formed and names no approval.
const unknownID = "cccccccccccccccccccccccccc"

// bob and carol (platform) approve production, two of them; bob alone
// approves staging, where the requester may break glass; walt has no part
// in anything; audrey audits; dana is admin.
const serviceTestConfig = `dev_only: true
users:
  - {name: alice, token: t-alice}
  - {name: bob, token: t-bob, groups: [platform]}
  - {name: carol, token: t-carol, groups: [platform]}
  - {name: walt, token: t-walt}
  - {name: audrey, token: t-audrey, roles: [auditor]}
  - {name: dana, token: t-dana, admin: true}
policies:
  - name: production
    match: {environment: production}
    approvers: {groups: [platform]}
    required_approvals: 2
    deadline: 24h
  - name: production-webhooks
    match: {environment: production, action: webhook}
    approvers: {users: [dana]}
    required_approvals: 1
    deadline: 1h
  - name: staging
    match: {environment: staging}
    approvers: {users: [bob]}
    required_approvals: 1
    enforcement: soft
    deadline: 1h
  - name: audited
    match: {environment: audited}
    approvers: {users: [bob]}
    required_approvals: 1
    require_justification: true
    deadline: 1h
  - name: alone
    match: {environment: alone}
    approvers: {users: [alice]}
    required_approvals: 1
    deadline: 1h
`

func newServiceFixture(t *testing.T) *testService {
	t.Helper()
	return newTestService(t, serviceTestConfig, knownActions)
}

func deployRequest(requestID string) *pb.CreateApprovalRequest {
	return &pb.CreateApprovalRequest{
		RequestId: requestID, Title: "Deploy api v42", Description: "canary first",
		Environment: "production", Resource: "api", Fields: map[string]string{"version": "v42"},
	}
}

func TestCreateApproval(t *testing.T) {
	ts := newServiceFixture(t)
	a := ts.create(t, "alice", deployRequest(""))
	switch {
	case !idPattern.MatchString(a.GetId()):
		t.Errorf("id %q", a.GetId())
	case a.GetStatus() != pb.Status_STATUS_PENDING:
		t.Errorf("status %v", a.GetStatus())
	case a.GetRequester() != "alice" || a.GetPolicyName() != "production" || a.GetTitle() != "Deploy api v42":
		t.Errorf("requester %q, policy %q, title %q", a.GetRequester(), a.GetPolicyName(), a.GetTitle())
	case !slices.Equal(a.GetApprovers(), []string{"bob", "carol"}) || a.GetRequiredApprovals() != 2:
		t.Errorf("approvers %v, %d required; want the policy's bob and carol, 2", a.GetApprovers(), a.GetRequiredApprovals())
	case !hashPattern.MatchString(a.GetRequestHash()):
		t.Errorf("request_hash %q", a.GetRequestHash())
	case a.GetAction().GetType() != "noop" || a.GetFields()["version"] != "v42":
		t.Errorf("action %v, fields %v", a.GetAction(), a.GetFields())
	}
	// The port has it, as created.
	if got := ts.get(t, a.GetId()); got.GetRequestHash() != a.GetRequestHash() || got.GetStatus() != pb.Status_STATUS_PENDING {
		t.Errorf("stored %v", got)
	}
	// Without request_id, every call is a new approval.
	if b := ts.create(t, "alice", deployRequest("")); b.GetId() == a.GetId() {
		t.Error("two creates without request_id gave one approval")
	}
	// No caller.
	_, err := ts.CreateApproval(context.Background(), deployRequest(""))
	wantCode(t, "no user", err, codes.Unauthenticated, "")
}

func TestCreateApprovalIsIdempotent(t *testing.T) {
	ts := newServiceFixture(t)
	first := ts.create(t, "alice", deployRequest("deploy-42"))
	again := ts.create(t, "alice", deployRequest("deploy-42"))
	if again.GetId() != first.GetId() || again.GetRequestHash() != first.GetRequestHash() || again.GetStatus() != pb.Status_STATUS_PENDING {
		t.Errorf("retry gave %s (%s), first %s (%s)", again.GetId(), again.GetRequestHash(), first.GetId(), first.GetRequestHash())
	}
	page, err := ts.port.List(context.Background(), approvalstore.Query{})
	if err != nil || len(page.Approvals) != 1 {
		t.Fatalf("the port holds %d approvals (%v), want 1", len(page.Approvals), err)
	}
	// The same request_id for other content is a conflict.
	other := deployRequest("deploy-42")
	other.Title = "Deploy api v43"
	_, err = ts.CreateApproval(ts.as(t, "alice"), other)
	wantCode(t, "same request_id, other content", err, codes.AlreadyExists, "")
	// Another requester's request_id is theirs.
	if b := ts.create(t, "walt", deployRequest("deploy-42")); b.GetId() == first.GetId() || b.GetRequester() != "walt" {
		t.Errorf("walt's request under alice's request_id: %s by %s", b.GetId(), b.GetRequester())
	}
}

func TestCreateApprovalRefuses(t *testing.T) {
	ts := newServiceFixture(t)
	with := func(f func(r *pb.CreateApprovalRequest)) *pb.CreateApprovalRequest {
		r := deployRequest("")
		f(r)
		return r
	}
	for _, c := range []struct {
		name string
		req  *pb.CreateApprovalRequest
		want codes.Code
		msg  string
	}{
		{"no title", with(func(r *pb.CreateApprovalRequest) { r.Title = "" }), codes.InvalidArgument, "title is required"},
		{"blank title", with(func(r *pb.CreateApprovalRequest) { r.Title = "  " }), codes.InvalidArgument, "title is required"},
		{"long title", with(func(r *pb.CreateApprovalRequest) { r.Title = strings.Repeat("x", maxTitle+1) }), codes.InvalidArgument, "title"},
		{"no environment", with(func(r *pb.CreateApprovalRequest) { r.Environment = "" }), codes.InvalidArgument, "environment"},
		{"malformed environment", with(func(r *pb.CreateApprovalRequest) { r.Environment = "prod uction" }), codes.InvalidArgument, "environment"},
		{"environment with a leading dash", with(func(r *pb.CreateApprovalRequest) { r.Environment = "-production" }), codes.InvalidArgument, "environment"},
		{"bad input type", with(func(r *pb.CreateApprovalRequest) { r.Input = &pb.Input{Type: "slider"} }), codes.InvalidArgument, "input.type"},
		{"long request_id", with(func(r *pb.CreateApprovalRequest) { r.RequestId = strings.Repeat("r", maxRequestID+1) }), codes.InvalidArgument, "request_id"},
		{"action refused by the validator", with(func(r *pb.CreateApprovalRequest) { r.Action = &pb.Action{Type: "shell"} }), codes.InvalidArgument, `unknown action type "shell"`},
		{"no policy matches", with(func(r *pb.CreateApprovalRequest) { r.Environment = "sandbox" }), codes.PermissionDenied, "no policy matches"},
		{"nobody but the requester could approve", with(func(r *pb.CreateApprovalRequest) { r.Environment = "alone" }), codes.PermissionDenied, "cannot be satisfied"},
		{"justification required", with(func(r *pb.CreateApprovalRequest) { r.Environment = "audited" }), codes.InvalidArgument, "justification"},
	} {
		t.Run(c.name, func(t *testing.T) {
			a, err := ts.CreateApproval(ts.as(t, "alice"), c.req)
			if a != nil {
				t.Errorf("created %v", a)
			}
			wantCode(t, c.name, err, c.want, c.msg)
		})
	}
	page, _ := ts.port.List(context.Background(), approvalstore.Query{})
	if len(page.Approvals) != 0 {
		t.Errorf("refused requests started %d approvals", len(page.Approvals))
	}
	// With the justification the policy asks for, it goes through.
	r := with(func(r *pb.CreateApprovalRequest) { r.Environment, r.Justification = "audited", "quarterly audit" })
	if a := ts.create(t, "alice", r); a.GetPolicyName() != "audited" || a.GetJustification() != "quarterly audit" {
		t.Errorf("justified request: policy %q, justification %q", a.GetPolicyName(), a.GetJustification())
	}
}

// TestCreateApprovalActionValidator: whatever the validator refuses is
// refused before any policy is asked.
func TestCreateApprovalActionValidator(t *testing.T) {
	var seen []approval.Action
	ts := newTestService(t, serviceTestConfig, actionCheck(func(a approval.Action) error {
		seen = append(seen, a)
		if a.URL != "https://deploy.example/hook" {
			return fmt.Errorf("webhook URL %q is not allowed", a.URL)
		}
		return nil
	}))
	req := deployRequest("")
	req.Action = &pb.Action{Type: "webhook", Url: "https://evil.example/", Params: map[string]string{"a": "b"}}
	_, err := ts.CreateApproval(ts.as(t, "alice"), req)
	wantCode(t, "refused action", err, codes.InvalidArgument, `webhook URL "https://evil.example/" is not allowed`)
	if len(seen) != 1 || seen[0].Type != "webhook" || seen[0].Params["a"] != "b" {
		t.Errorf("validator saw %+v", seen)
	}
	req.Action.Url = "https://deploy.example/hook"
	if a := ts.create(t, "alice", req); a.GetPolicyName() != "production-webhooks" || a.GetAction().GetUrl() != req.Action.Url {
		t.Errorf("allowed action: policy %q, action %v", a.GetPolicyName(), a.GetAction())
	}
}

func TestDecideApproval(t *testing.T) {
	ts := newServiceFixture(t)
	a := ts.create(t, "alice", deployRequest(""))
	with := func(f func(r *pb.DecideApprovalRequest)) *pb.DecideApprovalRequest {
		r := approve(a)
		f(r)
		return r
	}
	// Refused while pending; none of them counts.
	for _, c := range []struct {
		name, user string
		req        *pb.DecideApprovalRequest
		want       codes.Code
		msg        string
	}{
		{"no request_hash", "bob", with(func(r *pb.DecideApprovalRequest) { r.RequestHash = "" }), codes.InvalidArgument, "request_hash is required"},
		{"malformed request_hash", "bob", with(func(r *pb.DecideApprovalRequest) { r.RequestHash = "abc" }), codes.InvalidArgument, "request_hash is required"},
		{"upper-case request_hash", "bob", with(func(r *pb.DecideApprovalRequest) { r.RequestHash = strings.ToUpper(a.GetRequestHash()) }), codes.InvalidArgument, "request_hash"},
		{"hash of other content", "bob", with(func(r *pb.DecideApprovalRequest) { r.RequestHash = strings.Repeat("0", 64) }), codes.FailedPrecondition, approval.RefusedContentChanged},
		{"no decision", "bob", with(func(r *pb.DecideApprovalRequest) { r.Decision = pb.Decision_DECISION_UNSPECIFIED }), codes.InvalidArgument, "decision"},
		{"long comment", "bob", with(func(r *pb.DecideApprovalRequest) { r.Comment = strings.Repeat("c", maxComment+1) }), codes.InvalidArgument, "comment"},
		{"no id", "bob", with(func(r *pb.DecideApprovalRequest) { r.Id = "" }), codes.InvalidArgument, "id is required"},
		{"malformed id", "bob", with(func(r *pb.DecideApprovalRequest) { r.Id = "../etc" }), codes.InvalidArgument, "malformed approval id"},
		{"unknown id", "bob", with(func(r *pb.DecideApprovalRequest) { r.Id = unknownID }), codes.NotFound, ""},
		{"self-approval", "alice", approve(a), codes.PermissionDenied, approval.RefusedSelfApproval},
		{"self-rejection", "alice", with(func(r *pb.DecideApprovalRequest) { r.Decision = pb.Decision_DECISION_REJECT }), codes.PermissionDenied, approval.RefusedSelfApproval},
		// An auditor may read it, so is told why.
		{"auditor", "audrey", approve(a), codes.PermissionDenied, approval.RefusedNotApprover},
	} {
		t.Run(c.name, func(t *testing.T) {
			res, err := ts.decide(t, c.user, c.req)
			if res != nil {
				t.Errorf("answered %v", res)
			}
			wantCode(t, c.name, err, c.want, c.msg)
		})
	}
	// A stranger is told what an unknown ID gets.
	_, err := ts.decide(t, "walt", approve(a))
	wantNotFound(t, "stranger", err)
	if got := ts.get(t, a.GetId()); got.GetStatus() != pb.Status_STATUS_PENDING || len(got.GetApprovedBy()) != 0 || countAccepted(got) != 0 {
		t.Fatalf("after refusals: %v, approved by %v, %d accepted", got.GetStatus(), got.GetApprovedBy(), countAccepted(got))
	}

	// bob's approval counts; a retry under the same request_id counts once.
	first := with(func(r *pb.DecideApprovalRequest) { r.RequestId, r.Comment = "bob-1", "lgtm" })
	res, err := ts.decide(t, "bob", first)
	if err != nil {
		t.Fatal(err)
	}
	if at := res.GetAttempt(); !at.GetAccepted() || at.GetUser() != "bob" || at.GetDecision() != pb.Decision_DECISION_APPROVE ||
		at.GetChannel() != "api" || at.GetComment() != "lgtm" || at.GetProof() == "" {
		t.Errorf("bob's attempt %v", at)
	}
	if st := res.GetApproval(); st.GetStatus() != pb.Status_STATUS_PENDING || !slices.Equal(st.GetApprovedBy(), []string{"bob"}) ||
		!slices.Equal(st.GetPendingApprovers(), []string{"carol"}) {
		t.Errorf("after bob: %v, approved by %v, pending %v", st.GetStatus(), st.GetApprovedBy(), st.GetPendingApprovers())
	}
	before := len(ts.get(t, a.GetId()).GetDecisions())
	retry, err := ts.decide(t, "bob", first)
	if err != nil {
		t.Fatalf("retry: %v", err)
	}
	if !proto.Equal(retry.GetAttempt(), res.GetAttempt()) {
		t.Errorf("retry answered attempt %v, want the first %v", retry.GetAttempt(), res.GetAttempt())
	}
	if got := ts.get(t, a.GetId()); len(got.GetDecisions()) != before || countAccepted(got) != 1 || got.GetStatus() != pb.Status_STATUS_PENDING {
		t.Errorf("after the retry: %d attempts (was %d), %d accepted, %v", len(got.GetDecisions()), before, countAccepted(got), got.GetStatus())
	}
	// A second decision under another request_id is refused.
	_, err = ts.decide(t, "bob", with(func(r *pb.DecideApprovalRequest) { r.RequestId = "bob-2" }))
	wantCode(t, "bob again", err, codes.FailedPrecondition, approval.RefusedAlreadyDecided)

	// carol's completes the quorum.
	res, err = ts.decide(t, "carol", approve(a))
	if err != nil {
		t.Fatal(err)
	}
	if st := res.GetApproval(); st.GetStatus() != pb.Status_STATUS_APPROVED || !slices.Equal(st.GetApprovedBy(), []string{"bob", "carol"}) {
		t.Errorf("after carol: %v, approved by %v", st.GetStatus(), st.GetApprovedBy())
	}
	if got := ts.get(t, a.GetId()); got.GetStatus() != pb.Status_STATUS_APPROVED || got.GetCloseTime() == nil {
		t.Errorf("stored: %v closed %v", got.GetStatus(), got.GetCloseTime())
	}
	// Finished: nothing more is decided.
	_, err = ts.decide(t, "carol", with(func(r *pb.DecideApprovalRequest) { r.Decision = pb.Decision_DECISION_REJECT }))
	wantCode(t, "decision on a finished approval", err, codes.FailedPrecondition, approval.RefusedNotPending)
	if got := ts.get(t, a.GetId()); got.GetStatus() != pb.Status_STATUS_APPROVED {
		t.Errorf("a late rejection moved it to %v", got.GetStatus())
	}
}

// TestDecideApprovalRejects: one rejection rejects (rejections_required
// defaults to 1).
func TestDecideApprovalRejects(t *testing.T) {
	ts := newServiceFixture(t)
	a := ts.create(t, "alice", deployRequest(""))
	req := approve(a)
	req.Decision, req.Comment = pb.Decision_DECISION_REJECT, "not on a Friday"
	res, err := ts.decide(t, "carol", req)
	if err != nil {
		t.Fatal(err)
	}
	if res.GetApproval().GetStatus() != pb.Status_STATUS_REJECTED || res.GetAttempt().GetDecision() != pb.Decision_DECISION_REJECT {
		t.Errorf("after carol's rejection: %v, %v", res.GetApproval().GetStatus(), res.GetAttempt())
	}
	_, err = ts.decide(t, "bob", approve(a))
	wantCode(t, "approval of a rejected approval", err, codes.FailedPrecondition, approval.RefusedNotPending)
}

func countAccepted(a *pb.Approval) int {
	n := 0
	for _, d := range a.GetDecisions() {
		if d.GetAccepted() && !d.GetVoided() {
			n++
		}
	}
	return n
}

func TestCancelApproval(t *testing.T) {
	ts := newServiceFixture(t)
	for _, c := range []struct {
		user string
		want codes.Code
	}{
		{"alice", codes.OK},                // requester
		{"dana", codes.OK},                 // admin
		{"bob", codes.PermissionDenied},    // approver: may read it, may not cancel it
		{"audrey", codes.PermissionDenied}, // auditor: likewise
		{"walt", codes.NotFound},           // stranger: as if it did not exist
	} {
		t.Run(c.user, func(t *testing.T) {
			a := ts.create(t, "alice", deployRequest(""))
			got, err := ts.CancelApproval(ts.as(t, c.user), &pb.CancelApprovalRequest{Id: a.GetId(), Reason: "not needed"})
			switch c.want {
			case codes.OK:
				if err != nil || got.GetStatus() != pb.Status_STATUS_CANCELLED || got.GetCancelledBy() != c.user || got.GetCancelReason() != "not needed" {
					t.Fatalf("got %v (by %q, %q), %v", got.GetStatus(), got.GetCancelledBy(), got.GetCancelReason(), err)
				}
				// Cancelled is final.
				_, err = ts.CancelApproval(ts.as(t, c.user), &pb.CancelApprovalRequest{Id: a.GetId()})
				wantCode(t, "cancel again", err, codes.FailedPrecondition, approval.RefusedNotPending)
				_, err = ts.decide(t, "bob", approve(a))
				wantCode(t, "decide a cancelled approval", err, codes.FailedPrecondition, approval.RefusedNotPending)
			case codes.NotFound:
				wantNotFound(t, "stranger's cancel", err)
			default:
				wantCode(t, c.user+"'s cancel", err, c.want, "only the requester or an admin may cancel")
			}
			if c.want != codes.OK {
				if st := ts.get(t, a.GetId()); st.GetStatus() != pb.Status_STATUS_PENDING {
					t.Errorf("a refused cancel left it %v", st.GetStatus())
				}
			}
		})
	}
	_, err := ts.CancelApproval(ts.as(t, "alice"), &pb.CancelApprovalRequest{Id: unknownID})
	wantNotFound(t, "unknown approval", err)
	_, err = ts.CancelApproval(ts.as(t, "alice"), &pb.CancelApprovalRequest{Id: "nope"})
	wantCode(t, "malformed id", err, codes.InvalidArgument, "")
}

func TestBypassApproval(t *testing.T) {
	ts := newServiceFixture(t)
	staging := func() *pb.Approval {
		r := deployRequest("")
		r.Environment = "staging"
		return ts.create(t, "alice", r)
	}
	bypass := func(user, id, reason string) (*pb.Approval, error) {
		return ts.BypassApproval(ts.as(t, user), &pb.BypassApprovalRequest{Id: id, Reason: reason})
	}

	// Hard policy (the default): no break-glass, even for the requester.
	hard := ts.create(t, "alice", deployRequest(""))
	_, err := bypass("alice", hard.GetId(), "prod is down")
	wantCode(t, "break-glass on a hard policy", err, codes.PermissionDenied, approval.ErrHardEnforcement.Error())
	if st := ts.get(t, hard.GetId()); st.GetStatus() != pb.Status_STATUS_PENDING {
		t.Errorf("hard policy bypassed: %v", st.GetStatus())
	}

	soft := staging()
	_, err = bypass("alice", soft.GetId(), "")
	wantCode(t, "break-glass without a reason", err, codes.InvalidArgument, approval.ErrReasonRequired.Error())
	_, err = bypass("bob", soft.GetId(), "I approve anyway")
	wantCode(t, "break-glass by an approver", err, codes.PermissionDenied, approval.ErrNotRequester.Error())
	_, err = bypass("dana", soft.GetId(), "admin override")
	wantCode(t, "break-glass by an admin", err, codes.PermissionDenied, approval.ErrNotRequester.Error())
	_, err = bypass("walt", soft.GetId(), "why not")
	wantNotFound(t, "break-glass by a stranger", err)
	if st := ts.get(t, soft.GetId()); st.GetStatus() != pb.Status_STATUS_PENDING {
		t.Fatalf("refused break-glass left it %v", st.GetStatus())
	}

	got, err := bypass("alice", soft.GetId(), "staging is down and bob is away")
	if err != nil || got.GetStatus() != pb.Status_STATUS_BYPASSED || got.GetBypassedBy() != "alice" || got.GetBypassReason() != "staging is down and bob is away" {
		t.Fatalf("break-glass: %v by %q (%q), %v", got.GetStatus(), got.GetBypassedBy(), got.GetBypassReason(), err)
	}
	_, err = bypass("alice", soft.GetId(), "again")
	wantCode(t, "break-glass twice", err, codes.FailedPrecondition, approval.RefusedNotPending)
	_, err = bypass("alice", unknownID, "x")
	wantNotFound(t, "unknown approval", err)
}

func TestAmendApproval(t *testing.T) {
	ts := newServiceFixture(t)
	a := ts.create(t, "alice", deployRequest(""))
	// bob approves what he read.
	if _, err := ts.decide(t, "bob", approve(a)); err != nil {
		t.Fatal(err)
	}
	amend := func(user string, f func(r *pb.AmendApprovalRequest)) (*pb.Approval, error) {
		r := &pb.AmendApprovalRequest{Id: a.GetId(), Title: "Deploy api v43", Resource: "api", Fields: map[string]string{"version": "v43"}}
		if f != nil {
			f(r)
		}
		return ts.AmendApproval(ts.as(t, user), r)
	}
	// Those who may read it are told why. (Not bob: AmendApproval resolves
	// the policy with the caller as requester before the workflow judges
	// who asks, and with bob as requester production is unreachable, so he
	// is told the amendment falls under another policy.)
	_, err := amend("audrey", nil)
	wantCode(t, "amend by an auditor", err, codes.PermissionDenied, approval.ErrNotRequester.Error())
	_, err = amend("dana", nil)
	wantCode(t, "amend by an admin", err, codes.PermissionDenied, approval.ErrNotRequester.Error())
	_, err = amend("walt", nil)
	wantNotFound(t, "amend by a stranger", err)
	_, err = amend("alice", func(r *pb.AmendApprovalRequest) { r.Title = "" })
	wantCode(t, "amend without a title", err, codes.InvalidArgument, "title is required")
	_, err = amend("alice", func(r *pb.AmendApprovalRequest) { r.Action = &pb.Action{Type: "shell"} })
	wantCode(t, "amend to a refused action", err, codes.InvalidArgument, "unknown action type")
	_, err = amend("alice", func(r *pb.AmendApprovalRequest) {
		r.Action = &pb.Action{Type: "webhook", Url: "https://deploy.example/"}
	})
	wantCode(t, "amend under another policy", err, codes.FailedPrecondition, "another policy")
	_, err = amend("alice", func(r *pb.AmendApprovalRequest) { r.Id = unknownID })
	wantNotFound(t, "amend of an unknown approval", err)
	if st := ts.get(t, a.GetId()); st.GetRequestHash() != a.GetRequestHash() || st.GetRevision() != 0 {
		t.Fatalf("refused amendments changed it: %s rev %d", st.GetRequestHash(), st.GetRevision())
	}

	amended, err := amend("alice", nil)
	if err != nil {
		t.Fatal(err)
	}
	if amended.GetRequestHash() == a.GetRequestHash() || !hashPattern.MatchString(amended.GetRequestHash()) ||
		amended.GetTitle() != "Deploy api v43" || amended.GetRevision() != 1 || amended.GetStatus() != pb.Status_STATUS_PENDING ||
		amended.GetEnvironment() != "production" {
		t.Fatalf("amended: %s (was %s), %q rev %d %v in %q", amended.GetRequestHash(), a.GetRequestHash(),
			amended.GetTitle(), amended.GetRevision(), amended.GetStatus(), amended.GetEnvironment())
	}
	// bob's earlier approval was of other content: it no longer counts.
	if len(amended.GetApprovedBy()) != 0 || countAccepted(amended) != 0 {
		t.Errorf("after the amendment: approved by %v, %d counting", amended.GetApprovedBy(), countAccepted(amended))
	}
	// A decision on what was read before the amendment is refused.
	_, err = ts.decide(t, "carol", approve(a))
	wantCode(t, "decision on the old content", err, codes.FailedPrecondition, approval.RefusedContentChanged)
	// On the new content, both must approve again.
	for _, user := range []string{"bob", "carol"} {
		res, err := ts.decide(t, user, approve(amended))
		if err != nil {
			t.Fatalf("%s on the new content: %v", user, err)
		}
		want := pb.Status_STATUS_PENDING
		if user == "carol" {
			want = pb.Status_STATUS_APPROVED
		}
		if res.GetApproval().GetStatus() != want {
			t.Errorf("after %s: %v, want %v", user, res.GetApproval().GetStatus(), want)
		}
	}
	_, err = amend("alice", nil)
	wantCode(t, "amend a finished approval", err, codes.FailedPrecondition, approval.RefusedNotPending)
}
