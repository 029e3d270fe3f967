package web

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/signoff/signoff/approval"
	"github.com/signoff/signoff/auth/authn"
	"github.com/signoff/signoff/channel/email/linktoken"
	"github.com/signoff/signoff/config/identity"
	"github.com/signoff/signoff/store/approvalstore"
)

// readApprovals answers the reads of the audit page and the evidence
// export for one approval. A hand-made state, since approvalstore.Memory
// cannot add an approver by escalation.
type readApprovals struct {
	approvalstore.Approvals // nil: any other call panics
	st                      *approval.State
}

func (f readApprovals) Get(_ context.Context, id string) (*approval.State, error) {
	if id != f.st.ID {
		return nil, approvalstore.ErrNotFound
	}
	b, err := json.Marshal(f.st)
	if err != nil {
		return nil, err
	}
	var st approval.State
	return &st, json.Unmarshal(b, &st)
}

func (f readApprovals) Record(_ context.Context, id string) (approvalstore.Record, error) {
	if id != f.st.ID {
		return approvalstore.Record{}, approvalstore.ErrNotFound
	}
	return approvalstore.Record{RunID: "run-1"}, nil
}

const unknownID = "zzzzzzzzzzzzzzzzzzzzzzzzzz"

// readSetup serves alice's approval, pending or finished: bob decides,
// xavier was added by escalation, gus was only told about it.
func readSetup(t *testing.T, finished bool) (*http.ServeMux, *linktoken.Keys) {
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
	if finished {
		st.Decide(approval.Attempt{ID: "a1", User: "bob", Decision: approval.DecisionApprove}, now.Add(-time.Minute))
		if st.Status != approval.StatusApproved {
			t.Fatalf("status %s, want approved", st.Status)
		}
	}
	keys, err := linktoken.New(bytes.Repeat([]byte{3}, 32))
	if err != nil {
		t.Fatal(err)
	}
	h, err := New(Options{
		Keys: keys, Evidence: ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize)),
		Directory: func() *identity.Directory { return dir },
		Authn:     authn.Static(func() *identity.Directory { return dir }, slog.Default()), Approvals: readApprovals{st: st},
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
	for _, finished := range []bool{false, true} {
		mux, _ := readSetup(t, finished)
		for token, mayRead := range readers {
			rec := get(mux, "/v1/approvals/"+approvalID+"/evidence", token, nil)
			missing := get(mux, "/v1/approvals/"+unknownID+"/evidence", token, nil)
			if missing.Code != http.StatusNotFound {
				t.Fatalf("%s: unknown approval: %d %s", token, missing.Code, missing.Body)
			}
			if !mayRead {
				if rec.Code != http.StatusNotFound || rec.Body.String() != missing.Body.String() {
					t.Errorf("finished %v, %s: %d %s; want %s", finished, token, rec.Code, rec.Body, missing.Body)
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
				t.Errorf("finished %v, %s: %d %s", finished, token, rec.Code, rec.Body)
			}
		}
	}
}

// TestAuditPageIsScoped: an API token opens the audit page only for those
// who may read the approval; the others get the unknown approval's page.
// A session from an email link Signoff sent about this approval still
// opens it, for whoever the policy had told (gus, notify-only).
func TestAuditPageIsScoped(t *testing.T) {
	mux, keys := readSetup(t, false)
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
	session, err := keys.Sign(linktoken.Claims{Purpose: linktoken.PurposeSession, Approval: approvalID, User: "gus",
		Expires: now.Add(time.Hour).Unix(), ID: "escalation-l1"})
	if err != nil {
		t.Fatal(err)
	}
	rec := get(mux, "/approvals/"+approvalID, "", &http.Cookie{Name: sessionCookie, Value: session})
	if rec.Code != http.StatusOK || !bytes.Contains(rec.Body.Bytes(), []byte("gus")) {
		t.Errorf("gus's email link session: %d %s", rec.Code, rec.Body)
	}
}
