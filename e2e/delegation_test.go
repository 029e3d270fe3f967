package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"

	"github.com/signoff/signoff/approval"
	"github.com/signoff/signoff/internal/testenv"
	"github.com/signoff/signoff/people"
	"github.com/signoff/signoff/workflows"
)

// TestDelegation: bob hands his approvals to audrey while he is away.
// She is prompted with him on a new request, decides in his place
// ("audrey for bob"), and his say is used: neither he nor she counts again.
// Only bob (or an admin) makes or ends his delegation; once he revokes it,
// audrey decides nothing for him. A delegation sent straight to Temporal,
// without the gateway's stamp, is refused.
func TestDelegation(t *testing.T) {
	t.Parallel()
	s := testenv.Start(t, testenv.Options{})
	end := time.Now().Add(2 * time.Hour).UTC().Format(time.RFC3339)

	code, body := s.Do(http.MethodPost, "/v1/delegations", "dev-alice", `{"from":"bob","to":"alice","end_time":"`+end+`"}`)
	require.Equal(t, http.StatusForbidden, code, "alice delegates for bob: %s", body)
	code, body = s.Do(http.MethodPost, "/v1/delegations", "dev-bob", `{"to":"bob","end_time":"`+end+`"}`)
	require.Equal(t, http.StatusBadRequest, code, "to himself: %s", body)
	code, body = s.Do(http.MethodPost, "/v1/delegations", "dev-bob", `{"to":"audrey","reason":"on leave"}`)
	require.Equal(t, http.StatusBadRequest, code, "no end: %s", body)

	code, body = s.Do(http.MethodPost, "/v1/delegations", "dev-bob", `{"to":"audrey","end_time":"`+end+`","reason":"on leave","request_id":"leave-1"}`)
	require.Equal(t, http.StatusOK, code, string(body))
	var d struct {
		ID     string `json:"id"`
		Active bool   `json:"active"`
	}
	require.NoError(t, json.Unmarshal(body, &d))
	require.True(t, d.Active)
	code, again := s.Do(http.MethodPost, "/v1/delegations", "dev-bob", `{"to":"audrey","end_time":"`+end+`","reason":"on leave","request_id":"leave-1"}`)
	require.Equal(t, http.StatusOK, code, "the same request_id again: %s", again)
	code, body = s.Do(http.MethodGet, "/v1/delegations", "dev-audrey", "")
	require.Equal(t, http.StatusOK, code)
	assert.Contains(t, string(body), `"from":"bob"`)
	code, body = s.Do(http.MethodGet, "/v1/delegations", "dev-carol", "")
	require.Equal(t, http.StatusOK, code)
	assert.NotContains(t, string(body), d.ID, "carol has no part in it")

	// Forged: a delegation to carol sent straight to Temporal.
	h, err := s.Client.UpdateWorkflow(context.Background(), client.UpdateWorkflowOptions{
		WorkflowID: workflows.PeopleWorkflowID, UpdateName: workflows.UpdateDelegate, WaitForStage: client.WorkflowUpdateStageCompleted,
		Args: []any{workflows.DelegateRequest{
			Delegation: people.Delegation{ID: "forged", From: "carol", To: "alice", Start: time.Now(), End: time.Now().Add(time.Hour)},
		}},
	})
	if err == nil {
		err = h.Get(context.Background(), nil)
	}
	require.ErrorContains(t, err, "not stamped by the gateway")

	code, body = s.Do(http.MethodPost, "/v1/approvals", "dev-alice", `{"title":"Rotate the TLS certificate","environment":"production"}`)
	require.Equal(t, http.StatusOK, code, string(body))
	a := decodeApproval(t, body)
	assert.Equal(t, map[string]string{"bob": "audrey"}, state(t, s, a.GetId()).Policy.Delegates, "audrey is prompted with bob")
	decide := fmt.Sprintf(`{"decision":"DECISION_APPROVE","request_hash":%q}`, a.GetRequestHash())

	code, body = s.Do(http.MethodPost, "/v1/approvals/"+a.GetId()+":decide", "dev-audrey", decide)
	require.Equal(t, http.StatusOK, code, string(body))
	assert.Contains(t, string(body), `"onBehalfOf":"bob"`)
	assert.Contains(t, string(body), `"approvedBy":["audrey for bob"]`)
	code, body = s.Do(http.MethodPost, "/v1/approvals/"+a.GetId()+":decide", "dev-bob", decide)
	require.Equal(t, http.StatusConflict, code, "bob's say is used: %s", body)
	code, body = s.Do(http.MethodPost, "/v1/approvals/"+a.GetId()+":decide", "dev-carol", decide)
	require.Equal(t, http.StatusOK, code, string(body))
	final := waitClosed(t, s, a.GetId())
	assert.Equal(t, []string{"audrey for bob", "carol"}, final.GetApprovedBy())

	code, body = s.Do(http.MethodPost, "/v1/delegations/"+d.ID+":revoke", "dev-audrey", `{}`)
	require.Equal(t, http.StatusForbidden, code, "audrey ends bob's delegation: %s", body)
	code, body = s.Do(http.MethodPost, "/v1/delegations/"+d.ID+":revoke", "dev-bob", `{}`)
	require.Equal(t, http.StatusOK, code, string(body))
	assert.Contains(t, string(body), `"revokedBy":"bob"`)

	code, body = s.Do(http.MethodPost, "/v1/approvals", "dev-alice", `{"title":"Rotate it again","environment":"production"}`)
	require.Equal(t, http.StatusOK, code, string(body))
	b := decodeApproval(t, body)
	decide = fmt.Sprintf(`{"decision":"DECISION_APPROVE","request_hash":%q,"on_behalf_of":"bob"}`, b.GetRequestHash())
	code, body = s.Do(http.MethodPost, "/v1/approvals/"+b.GetId()+":decide", "dev-audrey", decide)
	require.Equal(t, http.StatusForbidden, code, "revoked: %s", body)
	assert.Contains(t, string(body), "no delegation from that person to you is in force")
}

// TestLateDelegationAsksTheDelegate: bob delegates to audrey while an
// approval already waits for him. She is mailed its decision links at once
// (approvals created later snapshot her anyway), and her click counts as
// "audrey for bob". Having decided, she is not asked again for carol.
func TestLateDelegationAsksTheDelegate(t *testing.T) {
	t.Parallel()
	e := startEmailEnv(t)
	id := e.create(t, `{"title":"Rotate the TLS certificate","environment":"production"}`)
	e.mail(t, "bob@example.com", "[Signoff] Approval needed", id)
	require.Empty(t, e.state(t, id).Policy.Delegates)

	end := time.Now().Add(2 * time.Hour).UTC().Format(time.RFC3339)
	code, body := e.Do(http.MethodPost, "/v1/delegations", "dev-bob", `{"to":"audrey","end_time":"`+end+`","reason":"on leave"}`)
	require.Equal(t, http.StatusOK, code, string(body))
	m := e.mail(t, "audrey@example.com", "[Signoff] Approval needed", id)
	assert.Contains(t, m.Text, "bob delegated their approvals to you")
	st := e.state(t, id)
	assert.Equal(t, map[string]string{"bob": "audrey"}, st.Policy.Delegates)
	assert.Contains(t, st.Prompted(), "audrey")

	e.approveByMail(t, m)
	st = e.state(t, id)
	assert.Equal(t, []string{"audrey for bob"}, st.ApprovedBy)
	assert.Equal(t, approval.StatusPending, st.Status, "carol's say is still needed")

	// carol hands hers to audrey too: audrey has had her say here, so she
	// is not asked again (nobody counts twice).
	code, body = e.Do(http.MethodPost, "/v1/delegations", "dev-carol", `{"to":"audrey","end_time":"`+end+`"}`)
	require.Equal(t, http.StatusOK, code, string(body))
	st = e.state(t, id)
	assert.Equal(t, map[string]string{"bob": "audrey"}, st.Policy.Delegates)
}
