package gateway

import (
	"context"
	"encoding/base64"
	"log/slog"
	"slices"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/signoff/signoff/auth/authn"
	"github.com/signoff/signoff/config/identity"
	pb "github.com/signoff/signoff/proto/signoff/v1"
	"github.com/signoff/signoff/store/approvalstore"
)

const readTestConfig = `dev_only: true
users:
  - {name: alice, token: t-alice}
  - {name: bob, token: t-bob}
  - {name: erin, token: t-erin}
  - {name: walt, token: t-walt}
  - {name: zed, token: t-zed}
  - {name: yuri, token: t-yuri}
  - {name: cody, token: t-cody, roles: [codec]}
  - {name: audrey, token: t-audrey, roles: [auditor]}
  - {name: dana, token: t-dana, admin: true}
policies:
  - name: production
    match: {environment: production}
    stages:
      - {name: team, approvers: {users: [bob]}, required_approvals: 1}
      - {name: security, approvers: {users: [erin]}, required_approvals: 1}
    deadline: 1h
  - name: default
    match: {environment: "*"}
    approvers: {users: [yuri]}
    required_approvals: 1
    deadline: 1h
`

// readApprovals are the fixture's approvals, in the order they were
// created (the order the list gives).
type readApprovals struct {
	staged string // alice's, production: bob then erin decide; pending
	other  string // zed's, staging: yuri decides; rejected
	third  string // alice's, sandbox: yuri decides; pending
}

func readFixture(t *testing.T) (*testService, readApprovals) {
	t.Helper()
	ts := newTestService(t, readTestConfig, knownActions)
	var ids readApprovals
	ids.staged = ts.create(t, "alice", &pb.CreateApprovalRequest{Title: "Deploy api", Environment: "production"}).GetId()
	other := ts.create(t, "zed", &pb.CreateApprovalRequest{Title: "Open the firewall", Environment: "staging"})
	ids.other = other.GetId()
	ids.third = ts.create(t, "alice", &pb.CreateApprovalRequest{Title: "Rotate keys", Environment: "sandbox"}).GetId()
	reject := approve(other)
	reject.Decision = pb.Decision_DECISION_REJECT
	if res, err := ts.decide(t, "yuri", reject); err != nil || res.GetApproval().GetStatus() != pb.Status_STATUS_REJECTED {
		t.Fatalf("yuri rejects: %v, %v", res, err)
	}
	return ts, ids
}

func asUser(t *testing.T, dir *identity.Directory, name string) context.Context {
	t.Helper()
	u, ok := dir.Lookup(name)
	if !ok {
		t.Fatalf("no user %s", name)
	}
	return authn.WithCaller(context.Background(), authn.Caller{User: u})
}

// TestGetApprovalIsScoped: only those who may read an approval get it;
// anyone else gets exactly what an unknown ID gets.
func TestGetApprovalIsScoped(t *testing.T) {
	ts, ids := readFixture(t)
	for name, mayRead := range map[string]bool{
		"walt":   false, // no part in it
		"cody":   false, // the codec role reads payloads, not approvals
		"zed":    false, // requester of another approval
		"yuri":   false, // approver of other approvals
		"alice":  true,  // requester
		"bob":    true,  // approver of the first stage
		"erin":   true,  // approver of a later stage
		"audrey": true,  // auditor
		"dana":   true,  // admin
	} {
		t.Run(name, func(t *testing.T) {
			ctx := ts.as(t, name)
			_, missing := ts.GetApproval(ctx, &pb.GetApprovalRequest{Id: unknownID})
			wantNotFound(t, "unknown approval", missing)
			got, err := ts.GetApproval(ctx, &pb.GetApprovalRequest{Id: ids.staged})
			if !mayRead {
				if got != nil || status.Code(err) != codes.NotFound || status.Convert(err).Message() != status.Convert(missing).Message() {
					t.Fatalf("got %v, %v; want exactly %v", got, err, missing)
				}
				return
			}
			if err != nil || got.GetId() != ids.staged || got.GetTitle() != "Deploy api" || got.GetRequester() != "alice" ||
				got.GetStatus() != pb.Status_STATUS_PENDING || len(got.GetStages()) != 2 || got.GetCurrentStage() != "team" {
				t.Fatalf("got %v, %v", got, err)
			}
		})
	}
	// A finished approval is scoped too.
	if _, err := ts.GetApproval(ts.as(t, "alice"), &pb.GetApprovalRequest{Id: ids.other}); status.Code(err) != codes.NotFound {
		t.Errorf("alice reads zed's finished approval: %v", err)
	}
	for _, name := range []string{"zed", "yuri", "audrey", "dana"} {
		got, err := ts.GetApproval(ts.as(t, name), &pb.GetApprovalRequest{Id: ids.other})
		if err != nil || got.GetStatus() != pb.Status_STATUS_REJECTED || len(got.GetDecisions()) != 1 {
			t.Errorf("%s reads zed's finished approval: %v, %v", name, got, err)
		}
	}
	for id, want := range map[string]codes.Code{"": codes.InvalidArgument, "AAAAAAAAAAAAAAAAAAAAAAAAAA": codes.InvalidArgument, "a1": codes.InvalidArgument} {
		_, err := ts.GetApproval(ts.as(t, "dana"), &pb.GetApprovalRequest{Id: id})
		wantCode(t, "id "+id, err, want, "")
	}
	_, err := ts.GetApproval(context.Background(), &pb.GetApprovalRequest{Id: ids.staged})
	wantCode(t, "no user", err, codes.Unauthenticated, "")
}

func listIDs(t *testing.T, ts *testService, user string, req *pb.ListApprovalsRequest) []string {
	t.Helper()
	resp, err := ts.ListApprovals(ts.as(t, user), req)
	if err != nil {
		t.Fatalf("%s lists %v: %v", user, req, err)
	}
	var got []string
	for _, a := range resp.GetApprovals() {
		got = append(got, a.GetId())
	}
	return got
}

// looseIndex lists everything whoever asks, as an index that is stale or
// matches more loosely than access.CanRead would.
type looseIndex struct{ *approvalstore.Memory }

func (l looseIndex) List(ctx context.Context, q approvalstore.Query) (approvalstore.Page, error) {
	q.ReadableBy = ""
	return l.Memory.List(ctx, q)
}

// TestListApprovalsIsScoped: an ordinary user lists only the approvals they
// requested or may decide; admins and auditors list everything. Every entry
// is checked again, so an index that returns more still shows a caller
// nothing they may not read.
func TestListApprovalsIsScoped(t *testing.T) {
	ts, ids := readFixture(t)
	loose := &testService{
		Service: NewService(ts.live, looseIndex{ts.port}, knownActions, ts.proofs, slog.New(slog.DiscardHandler)),
		port:    ts.port, dir: ts.dir,
	}
	all := []string{ids.staged, ids.other, ids.third}
	for _, c := range []struct {
		user string
		want []string
	}{
		{"walt", nil},
		{"cody", nil},
		{"alice", []string{ids.staged, ids.third}},
		{"bob", []string{ids.staged}},
		{"erin", []string{ids.staged}},
		{"zed", []string{ids.other}},
		{"yuri", []string{ids.other, ids.third}},
		{"audrey", all},
		{"dana", all},
	} {
		t.Run(c.user, func(t *testing.T) {
			if got := listIDs(t, ts, c.user, &pb.ListApprovalsRequest{}); !slices.Equal(got, c.want) {
				t.Errorf("listed %v, want %v", got, c.want)
			}
			if got := listIDs(t, loose, c.user, &pb.ListApprovalsRequest{}); !slices.Equal(got, c.want) {
				t.Errorf("from a loose index: listed %v, want %v", got, c.want)
			}
		})
	}
	// What an entry says.
	resp, err := ts.ListApprovals(ts.as(t, "zed"), &pb.ListApprovalsRequest{})
	if err != nil || len(resp.GetApprovals()) != 1 {
		t.Fatalf("zed's list: %v, %v", resp, err)
	}
	if e := resp.GetApprovals()[0]; e.GetTitle() != "Open the firewall" || e.GetStatus() != pb.Status_STATUS_REJECTED ||
		e.GetEnvironment() != "staging" || e.GetRequester() != "zed" || e.GetPolicyName() != "default" || e.GetCreateTime() == nil {
		t.Errorf("zed's entry: %v", e)
	}
	if resp.GetNextPageToken() != "" {
		t.Errorf("one page has a next page token %q", resp.GetNextPageToken())
	}
}

// TestListApprovalsFilters: filters narrow the list and still combine with
// the caller's scope.
func TestListApprovalsFilters(t *testing.T) {
	ts, ids := readFixture(t)
	for _, c := range []struct {
		name, user string
		req        *pb.ListApprovalsRequest
		want       []string
	}{
		{"requester and environment", "bob", &pb.ListApprovalsRequest{Requester: "alice", Environment: "production"}, []string{ids.staged}},
		{"requester bob may not read", "bob", &pb.ListApprovalsRequest{Requester: "zed"}, nil},
		{"environment bob may not read", "bob", &pb.ListApprovalsRequest{Environment: "staging"}, nil},
		{"pending", "yuri", &pb.ListApprovalsRequest{Status: pb.Status_STATUS_PENDING}, []string{ids.third}},
		{"rejected", "yuri", &pb.ListApprovalsRequest{Status: pb.Status_STATUS_REJECTED}, []string{ids.other}},
		{"environment", "yuri", &pb.ListApprovalsRequest{Environment: "staging"}, []string{ids.other}},
		{"status outside the scope", "alice", &pb.ListApprovalsRequest{Status: pb.Status_STATUS_REJECTED}, nil},
		{"nothing matches", "yuri", &pb.ListApprovalsRequest{Status: pb.Status_STATUS_APPROVED}, nil},
		{"admin by requester", "dana", &pb.ListApprovalsRequest{Requester: "alice"}, []string{ids.staged, ids.third}},
		{"admin by environment", "dana", &pb.ListApprovalsRequest{Environment: "staging"}, []string{ids.other}},
		{"auditor by status", "audrey", &pb.ListApprovalsRequest{Status: pb.Status_STATUS_PENDING}, []string{ids.staged, ids.third}},
		{"auditor, all filters", "audrey", &pb.ListApprovalsRequest{Status: pb.Status_STATUS_PENDING, Environment: "sandbox", Requester: "alice"}, []string{ids.third}},
		{"awaiting the first stage's approver", "bob", &pb.ListApprovalsRequest{AwaitingMe: true}, []string{ids.staged}},
		{"a later stage's approver is not awaited yet", "erin", &pb.ListApprovalsRequest{AwaitingMe: true}, nil},
		{"awaiting, decided ones left out", "yuri", &pb.ListApprovalsRequest{AwaitingMe: true}, []string{ids.third}},
		{"the requester is not awaited", "alice", &pb.ListApprovalsRequest{AwaitingMe: true}, nil},
		{"an admin is awaited only where asked", "dana", &pb.ListApprovalsRequest{AwaitingMe: true}, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := listIDs(t, ts, c.user, c.req); !slices.Equal(got, c.want) {
				t.Errorf("%s listed %v, want %v", c.user, got, c.want)
			}
		})
	}
}

func TestListApprovalsRefusesMalformedRequests(t *testing.T) {
	ts, _ := readFixture(t)
	for name, req := range map[string]*pb.ListApprovalsRequest{
		"environment with a space":  {Environment: "prod uction"},
		"environment with a quote":  {Environment: "prod' OR 1=1"},
		"requester with a comma":    {Requester: "a,b"},
		"requester with a dash":     {Requester: "-alice"},
		"unknown status":            {Status: pb.Status(99)},
		"negative page_size":        {PageSize: -1},
		"page_token not base64":     {PageToken: "not base64!"},
		"page_token padded base64":  {PageToken: "MQ=="},
		"negative page_size, admin": {PageSize: -5, Environment: "staging"},
	} {
		t.Run(name, func(t *testing.T) {
			resp, err := ts.ListApprovals(ts.as(t, "dana"), req)
			if resp != nil {
				t.Errorf("answered %v", resp)
			}
			wantCode(t, name, err, codes.InvalidArgument, "")
		})
	}
	_, err := ts.ListApprovals(context.Background(), &pb.ListApprovalsRequest{})
	wantCode(t, "no user", err, codes.Unauthenticated, "")
}

// TestListApprovalsPages: page_size bounds a page, page_token resumes
// where it stopped, and the last page has no token; paging keeps the scope.
func TestListApprovalsPages(t *testing.T) {
	ts, ids := readFixture(t)
	pages := func(user string, size int32) [][]string {
		t.Helper()
		var out [][]string
		token := ""
		for range 10 {
			resp, err := ts.ListApprovals(ts.as(t, user), &pb.ListApprovalsRequest{PageSize: size, PageToken: token})
			if err != nil {
				t.Fatalf("%s, page %d: %v", user, len(out)+1, err)
			}
			var page []string
			for _, a := range resp.GetApprovals() {
				page = append(page, a.GetId())
			}
			out = append(out, page)
			if token = resp.GetNextPageToken(); token == "" {
				return out
			}
			if _, err := base64.RawURLEncoding.DecodeString(token); err != nil {
				t.Fatalf("next_page_token %q: %v", token, err)
			}
		}
		t.Fatalf("%s: no last page", user)
		return nil
	}
	for _, c := range []struct {
		user string
		size int32
		want [][]string
	}{
		{"dana", 1, [][]string{{ids.staged}, {ids.other}, {ids.third}}},
		{"dana", 2, [][]string{{ids.staged, ids.other}, {ids.third}}},
		{"dana", 0, [][]string{{ids.staged, ids.other, ids.third}}},      // the default size
		{"dana", 100000, [][]string{{ids.staged, ids.other, ids.third}}}, // capped, not refused
		{"yuri", 1, [][]string{{ids.other}, {ids.third}}},                // scoped pages stay full
		{"walt", 1, [][]string{nil}},                                     // nothing to read
	} {
		got := pages(c.user, c.size)
		if !slices.EqualFunc(got, c.want, slices.Equal) {
			t.Errorf("%s, page_size %d: pages %v, want %v", c.user, c.size, got, c.want)
		}
	}
}
