package emailhttp

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/serviceerror"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"github.com/signoff/signoff/approval"
	"github.com/signoff/signoff/emailtoken"
	"github.com/signoff/signoff/identity"
	"github.com/signoff/signoff/workflows"
)

// readTemporal answers the reads of the audit page and the evidence
// export for one approval, open (state query) or finished (result).
type readTemporal struct {
	client.Client
	st      *approval.State
	running bool
}

func (f readTemporal) DescribeWorkflowExecution(_ context.Context, wid, _ string) (*workflowservice.DescribeWorkflowExecutionResponse, error) {
	if wid != workflows.ApprovalWorkflowID(f.st.ID) {
		return nil, serviceerror.NewNotFound("workflow not found for ID: " + wid)
	}
	st := enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED
	if f.running {
		st = enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING
	}
	return &workflowservice.DescribeWorkflowExecutionResponse{WorkflowExecutionInfo: &workflowpb.WorkflowExecutionInfo{
		Execution: &commonpb.WorkflowExecution{WorkflowId: wid, RunId: "run-1"}, Status: st,
	}}, nil
}

func (f readTemporal) GetWorkflow(context.Context, string, string) client.WorkflowRun {
	return stateRun{st: f.st}
}

func (f readTemporal) QueryWorkflow(context.Context, string, string, string, ...any) (converter.EncodedValue, error) {
	return stateValue{st: f.st}, nil
}

func (f readTemporal) GetWorkflowHistory(context.Context, string, string, bool, enumspb.HistoryEventFilterType) client.HistoryEventIterator {
	return noHistory{}
}

type stateRun struct {
	client.WorkflowRun
	st *approval.State
}

func (r stateRun) Get(_ context.Context, out any) error { return copyState(r.st, out) }

type stateValue struct{ st *approval.State }

func (v stateValue) HasValue() bool    { return true }
func (v stateValue) Get(out any) error { return copyState(v.st, out) }

func copyState(st *approval.State, out any) error {
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, out)
}

type noHistory struct{}

func (noHistory) HasNext() bool                          { return false }
func (noHistory) Next() (*historypb.HistoryEvent, error) { return nil, nil }

const unknownID = "zzzzzzzzzzzzzzzzzzzzzzzzzz"

// readSetup serves alice's approval: bob decides, dana was added by
// escalation, gus was only told about it.
func readSetup(t *testing.T, running bool) (*http.ServeMux, *emailtoken.Keys) {
	t.Helper()
	dir, err := identity.NewDirectory([]identity.User{
		{Name: "alice", Token: "t-alice"},
		{Name: "bob", Token: "t-bob"},
		{Name: "xavier", Token: "t-xavier"},
		{Name: "gus", Token: "t-gus"},
		{Name: "walt", Token: "t-walt"},
		{Name: "cody", Token: "t-cody", Roles: []string{identity.RoleCodec}},
		{Name: "audrey", Token: "t-audrey", Roles: []string{identity.RoleAuditor}},
		{Name: "dana", Token: "t-dana", Admin: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	st := approval.New(approvalID, "alice", approval.Request{Title: "Open the sandbox firewall", Environment: "sandbox",
		Action: approval.Action{Type: "noop"}},
		approval.Policy{Name: "escalating", Approvers: []string{"bob"}, RequiredApprovals: 1, Deadline: time.Hour,
			Escalations: []approval.Escalation{{After: time.Minute, Notify: approval.Targets{Users: []string{"gus"}},
				AddApprovers: []string{"xavier"}}}},
		now.Add(-10*time.Minute))
	st.ExtraApprovers = []string{"xavier"}
	keys, err := emailtoken.New(bytes.Repeat([]byte{3}, 32))
	if err != nil {
		t.Fatal(err)
	}
	h, err := New(Options{
		Keys: keys, Evidence: ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize)),
		Directory: func() *identity.Directory { return dir }, Temporal: readTemporal{st: st, running: running},
		PublicURL: "https://signoff.example.com", Now: func() time.Time { return now },
	})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	h.Mount(mux)
	return mux, keys
}

func get(mux *http.ServeMux, path, token string, cookie *http.Cookie) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodGet, path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if cookie != nil {
		req.AddCookie(cookie)
	}
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, req)
	return rec
}

// readers: who may read alice's approval through the API.
var readers = map[string]bool{
	"t-walt":   false, // no part in it
	"t-gus":    false, // only told by escalation: reads through his email link, not his token
	"t-cody":   false, // the codec role reads payloads, not approvals
	"t-alice":  true,  // requester
	"t-bob":    true,  // approver
	"t-xavier": true,  // added by escalation
	"t-audrey": true,  // auditor
	"t-dana":   true,  // admin
}

// TestEvidenceExportIsScoped: the evidence export goes to those who may
// read the approval; anyone else gets the unknown approval's 404, word for
// word.
func TestEvidenceExportIsScoped(t *testing.T) {
	for _, running := range []bool{true, false} {
		mux, _ := readSetup(t, running)
		for token, mayRead := range readers {
			rec := get(mux, "/v1/approvals/"+approvalID+"/evidence", token, nil)
			missing := get(mux, "/v1/approvals/"+unknownID+"/evidence", token, nil)
			if missing.Code != http.StatusNotFound {
				t.Fatalf("%s: unknown approval: %d %s", token, missing.Code, missing.Body)
			}
			if !mayRead {
				if rec.Code != http.StatusNotFound || rec.Body.String() != missing.Body.String() {
					t.Errorf("running %v, %s: %d %s; want %s", running, token, rec.Code, rec.Body, missing.Body)
				}
				continue
			}
			var doc struct {
				ExportedBy string `json:"exported_by"`
				Approval   struct {
					ID string `json:"id"`
				} `json:"approval"`
			}
			if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &doc) != nil || doc.Approval.ID != approvalID {
				t.Errorf("running %v, %s: %d %s", running, token, rec.Code, rec.Body)
			}
		}
	}
}

// TestAuditPageIsScoped: an API token opens the audit page only for those
// who may read the approval; the others get the unknown approval's page.
// A session from an email link Signoff sent about this approval still
// opens it, for whoever the policy had told (gus, notify-only).
func TestAuditPageIsScoped(t *testing.T) {
	mux, keys := readSetup(t, true)
	for token, mayRead := range readers {
		rec := get(mux, "/approvals/"+approvalID, token, nil)
		missing := get(mux, "/approvals/"+unknownID, token, nil)
		if missing.Code != http.StatusNotFound || resultOf(missing) != "not_found" {
			t.Fatalf("%s: unknown approval: %d %s", token, missing.Code, missing.Body)
		}
		switch {
		case !mayRead && (rec.Code != http.StatusNotFound || rec.Body.String() != missing.Body.String()):
			t.Errorf("%s: %d %s; want the unknown approval's page", token, rec.Code, rec.Body)
		case mayRead && rec.Code != http.StatusOK:
			t.Errorf("%s: %d %s", token, rec.Code, rec.Body)
		}
	}
	session, err := keys.Sign(emailtoken.Claims{Purpose: emailtoken.PurposeSession, Approval: approvalID, User: "gus",
		Expires: now.Add(time.Hour).Unix(), ID: "escalation-l1"})
	if err != nil {
		t.Fatal(err)
	}
	rec := get(mux, "/approvals/"+approvalID, "", &http.Cookie{Name: sessionCookie, Value: session})
	if rec.Code != http.StatusOK || !bytes.Contains(rec.Body.Bytes(), []byte("gus")) {
		t.Errorf("gus's email link session: %d %s", rec.Code, rec.Body)
	}
}
