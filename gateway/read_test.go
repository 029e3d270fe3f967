package gateway

import (
	"context"
	"encoding/json"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/signoff/signoff/approval"
	"github.com/signoff/signoff/codec"
	"github.com/signoff/signoff/config"
	"github.com/signoff/signoff/identity"
	pb "github.com/signoff/signoff/proto/signoff/v1"
	"github.com/signoff/signoff/workflows"
)

// readFakeTemporal answers the reads of GetApproval and ListApprovals from
// fixed states. Its list ignores the query and returns everything, as a
// store matching more loosely than CanRead would: what the caller sees
// then depends on the gateway's own check.
type readFakeTemporal struct {
	client.Client
	states  map[string]*approval.State // by workflow ID
	running map[string]bool
	// approvers is the Approvers search attribute per workflow ID.
	approvers map[string][]string

	mu      sync.Mutex
	queries []string
}

func (f *readFakeTemporal) DescribeWorkflowExecution(_ context.Context, wid, _ string) (*workflowservice.DescribeWorkflowExecutionResponse, error) {
	if _, ok := f.states[wid]; !ok {
		return nil, serviceerror.NewNotFound("workflow not found for ID: " + wid)
	}
	st := enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED
	if f.running[wid] {
		st = enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING
	}
	return &workflowservice.DescribeWorkflowExecutionResponse{WorkflowExecutionInfo: &workflowpb.WorkflowExecutionInfo{
		Execution: &commonpb.WorkflowExecution{WorkflowId: wid, RunId: "run-" + wid}, Status: st,
	}}, nil
}

func (f *readFakeTemporal) GetWorkflow(_ context.Context, wid, _ string) client.WorkflowRun {
	return fakeRun{st: f.states[wid]}
}

func (f *readFakeTemporal) QueryWorkflow(_ context.Context, wid, _, _ string, _ ...any) (converter.EncodedValue, error) {
	return fakeValue{st: f.states[wid]}, nil
}

func (f *readFakeTemporal) ListWorkflow(_ context.Context, req *workflowservice.ListWorkflowExecutionsRequest) (*workflowservice.ListWorkflowExecutionsResponse, error) {
	f.mu.Lock()
	f.queries = append(f.queries, req.GetQuery())
	f.mu.Unlock()
	dc := converter.GetDefaultDataConverter()
	payload := func(v any) *commonpb.Payload {
		p, err := dc.ToPayload(v)
		if err != nil {
			panic(err)
		}
		return p
	}
	var ids []string
	for wid := range f.states {
		ids = append(ids, wid)
	}
	slices.Sort(ids)
	resp := &workflowservice.ListWorkflowExecutionsResponse{}
	for _, wid := range ids {
		st := f.states[wid]
		fields := map[string]*commonpb.Payload{
			workflows.AttrStatus.GetName():      payload(string(st.Status)),
			workflows.AttrRequester.GetName():   payload(st.Requester),
			workflows.AttrEnvironment.GetName(): payload(st.Request.Environment),
		}
		if a := f.approvers[wid]; a != nil {
			fields[workflows.AttrApprovers.GetName()] = payload(a)
		}
		resp.Executions = append(resp.Executions, &workflowpb.WorkflowExecutionInfo{
			Execution:        &commonpb.WorkflowExecution{WorkflowId: wid, RunId: "run-" + wid},
			SearchAttributes: &commonpb.SearchAttributes{IndexedFields: fields},
			Memo:             &commonpb.Memo{Fields: map[string]*commonpb.Payload{workflows.MemoTitle: payload(st.Request.Title)}},
		})
	}
	return resp, nil
}

func (f *readFakeTemporal) lastQuery() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.queries[len(f.queries)-1]
}

type fakeRun struct {
	client.WorkflowRun
	st *approval.State
}

func (r fakeRun) Get(_ context.Context, out any) error { return roundTrip(r.st, out) }

type fakeValue struct{ st *approval.State }

func (v fakeValue) HasValue() bool    { return true }
func (v fakeValue) Get(out any) error { return roundTrip(v.st, out) }

func roundTrip(in, out any) error {
	b, err := json.Marshal(in)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, out)
}

// Approval IDs of the fixtures.
const (
	readStaged = "aaaaaaaaaaaaaaaaaaaaaaaaaa" // alice's; bob then erin decide; xavier added by escalation
	readOther  = "bbbbbbbbbbbbbbbbbbbbbbbbbb" // zed's; yuri decides
	readNone   = "cccccccccccccccccccccccccc" // no such approval
)

const readTestConfig = `dev_only: true
users:
  - {name: alice, token: t-alice}
  - {name: bob, token: t-bob}
  - {name: erin, token: t-erin}
  - {name: xavier, token: t-xavier}
  - {name: walt, token: t-walt}
  - {name: cody, token: t-cody, roles: [codec]}
  - {name: audrey, token: t-audrey, roles: [auditor]}
  - {name: dana, token: t-dana, admin: true}
  - {name: "josé", token: t-jose}
`

func readFixture(t *testing.T) (*Service, *readFakeTemporal, *identity.Directory) {
	t.Helper()
	t.Setenv(codec.EnvKeys, "")
	cfg, err := config.Parse([]byte(readTestConfig))
	if err != nil {
		t.Fatal(err)
	}
	created := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	staged := approval.New(readStaged, "alice", approval.Request{Title: "Deploy api", Environment: "production"},
		approval.Policy{Name: "production", Stages: []approval.Stage{
			{Name: "team", Approvers: []string{"bob"}, RequiredApprovals: 1},
			{Name: "security", Approvers: []string{"erin"}, RequiredApprovals: 1},
		}, Deadline: time.Hour}, created)
	staged.ExtraApprovers = []string{"xavier"}
	other := approval.New(readOther, "zed", approval.Request{Title: "Open the firewall", Environment: "staging"},
		approval.Policy{Name: "default", Approvers: []string{"yuri"}, RequiredApprovals: 1, Deadline: time.Hour}, created)
	other.Status = approval.StatusRejected
	fake := &readFakeTemporal{
		states: map[string]*approval.State{
			workflows.ApprovalWorkflowID(readStaged): staged,
			workflows.ApprovalWorkflowID(readOther):  other,
		},
		running: map[string]bool{workflows.ApprovalWorkflowID(readStaged): true},
		// As upserted once escalation added xavier.
		approvers: map[string][]string{
			workflows.ApprovalWorkflowID(readStaged): {"bob", "erin", "xavier"},
			workflows.ApprovalWorkflowID(readOther):  {"yuri"},
		},
	}
	// Only what the reads use: no actions, no intake, no proofs.
	s := &Service{live: config.NewLive(cfg, ""), temporal: fake, logger: slog.New(slog.DiscardHandler),
		timeout: 5 * time.Second, now: time.Now}
	return s, fake, cfg.Directory
}

func asUser(t *testing.T, dir *identity.Directory, name string) context.Context {
	t.Helper()
	u, ok := dir.Lookup(name)
	if !ok {
		t.Fatalf("no user %s", name)
	}
	return context.WithValue(context.Background(), userKey{}, u)
}

// TestGetApprovalIsScoped: only those who may read an approval get it;
// anyone else gets exactly what an unknown ID gets.
func TestGetApprovalIsScoped(t *testing.T) {
	s, _, dir := readFixture(t)
	for name, mayRead := range map[string]bool{
		"walt":   false, // no part in it
		"cody":   false, // the codec role reads payloads, not approvals
		"alice":  true,  // requester
		"bob":    true,  // approver of the first stage
		"erin":   true,  // approver of a later stage
		"xavier": true,  // added by escalation
		"audrey": true,  // auditor
		"dana":   true,  // admin
	} {
		t.Run(name, func(t *testing.T) {
			ctx := asUser(t, dir, name)
			_, missing := s.GetApproval(ctx, &pb.GetApprovalRequest{Id: readNone})
			if status.Code(missing) != codes.NotFound {
				t.Fatalf("unknown approval: %v", missing)
			}
			got, err := s.GetApproval(ctx, &pb.GetApprovalRequest{Id: readStaged})
			if !mayRead {
				if got != nil || status.Code(err) != codes.NotFound || status.Convert(err).Message() != status.Convert(missing).Message() {
					t.Fatalf("got %v, %v; want exactly %v", got, err, missing)
				}
				return
			}
			if err != nil || got.GetId() != readStaged || got.GetTitle() != "Deploy api" {
				t.Fatalf("got %v, %v", got, err)
			}
		})
	}
	// A finished approval (read from the workflow's result) is scoped too.
	if _, err := s.GetApproval(asUser(t, dir, "alice"), &pb.GetApprovalRequest{Id: readOther}); status.Code(err) != codes.NotFound {
		t.Errorf("alice reads zed's finished approval: %v", err)
	}
	if got, err := s.GetApproval(asUser(t, dir, "audrey"), &pb.GetApprovalRequest{Id: readOther}); err != nil || got.GetStatus() != pb.Status_STATUS_REJECTED {
		t.Errorf("the auditor reads zed's finished approval: %v, %v", got, err)
	}
}

// TestListApprovalsIsScoped: the visibility query asks only for what the
// caller requested or may decide, and every entry is checked again, so a
// store that returns more still shows nothing to a stranger.
func TestListApprovalsIsScoped(t *testing.T) {
	s, fake, dir := readFixture(t)
	for _, c := range []struct {
		user   string
		want   []string
		scoped bool
	}{
		{"walt", nil, true},
		{"cody", nil, true},
		{"alice", []string{readStaged}, true},
		{"bob", []string{readStaged}, true},
		{"erin", []string{readStaged}, true},
		{"xavier", []string{readStaged}, true},
		{"audrey", []string{readStaged, readOther}, false},
		{"dana", []string{readStaged, readOther}, false},
		// A name the query cannot quote safely is left out of it; the
		// per-entry check still applies.
		{"josé", nil, false},
	} {
		t.Run(c.user, func(t *testing.T) {
			resp, err := s.ListApprovals(asUser(t, dir, c.user), &pb.ListApprovalsRequest{})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, a := range resp.GetApprovals() {
				got = append(got, a.GetId())
			}
			if !slices.Equal(got, c.want) {
				t.Errorf("listed %v, want %v", got, c.want)
			}
			q := fake.lastQuery()
			scope := "(Requester = '" + c.user + "' OR Approvers = '" + c.user + "')"
			if c.scoped != strings.Contains(q, scope) {
				t.Errorf("query %q: scoped %v, want %v", q, !c.scoped, c.scoped)
			}
			if !c.scoped && strings.Contains(q, "Approvers") {
				t.Errorf("query %q is scoped", q)
			}
		})
	}
	// Filters still combine with the scope.
	if _, err := s.ListApprovals(asUser(t, dir, "bob"), &pb.ListApprovalsRequest{Requester: "alice", Environment: "production"}); err != nil {
		t.Fatal(err)
	}
	want := "WorkflowType = 'ApprovalWorkflow' AND (Requester = 'bob' OR Approvers = 'bob') AND Environment = 'production' AND Requester = 'alice'"
	if q := fake.lastQuery(); q != want {
		t.Errorf("query %q, want %q", q, want)
	}
}

func TestReadScopeQuoting(t *testing.T) {
	for name, ok := range map[string]bool{
		"bob": true, "svc.deploy-bot": true, "team/ops:ci": true,
		"josé": false, `back\slash`: false, "a,b": false, "-dash": false, "": false,
	} {
		scope, got := readScope(&identity.User{Name: name})
		if got != ok || (ok && !strings.Contains(scope, "'"+name+"'")) {
			t.Errorf("%q: %q, %v", name, scope, got)
		}
	}
	if _, ok := readScope(&identity.User{Name: "root", Admin: true}); ok {
		t.Error("an admin's list is scoped")
	}
}
