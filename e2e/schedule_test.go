package e2e

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signoff/signoff/internal/testenv"
	pb "github.com/signoff/signoff/proto/signoff/v1"
)

// TestScheduledGrant: alice asks for the role for twenty seconds, starting
// two minutes from now; bob approves at once. Until the start nothing is
// granted (her login cannot read) and the approval says when it starts;
// at the start the role is granted, and it is revoked twenty seconds
// after the start, not after the approval. A second scheduled grant,
// cancelled before its start, grants nothing.
func TestScheduledGrant(t *testing.T) {
	t.Parallel()
	g := newRoleGrants(t)
	start := time.Now().Add(2 * time.Minute).UTC().Truncate(time.Second)
	create := func(title string) *pb.Approval {
		t.Helper()
		code, body := g.s.Do(http.MethodPost, "/v1/approvals", "dev-alice", `{"title":"`+title+`","environment":"database",
			"duration":"20s","start_time":"`+start.Format(time.RFC3339)+`",
			"action":{"type":"postgres_role","params":{"target":"orders","role":"`+g.role+`","user":"`+g.login+`"}}}`)
		require.Equal(t, http.StatusOK, code, string(body))
		a := decodeApproval(t, body)
		assert.True(t, a.GetStartTime().AsTime().Equal(start), "start_time %s", a.GetStartTime().AsTime())
		g.approve(t, a)
		return a
	}

	// Refused before anyone is asked: in the past, too far ahead, or not a grant.
	for _, body := range []string{
		`{"title":"x","environment":"database","duration":"20s","start_time":"2020-01-01T00:00:00Z",
			"action":{"type":"postgres_role","params":{"target":"orders","role":"` + g.role + `","user":"` + g.login + `"}}}`,
		`{"title":"x","environment":"database","duration":"20s","start_time":"` + time.Now().Add(8*24*time.Hour).UTC().Format(time.RFC3339) + `",
			"action":{"type":"postgres_role","params":{"target":"orders","role":"` + g.role + `","user":"` + g.login + `"}}}`,
		`{"title":"x","environment":"database","start_time":"` + start.Format(time.RFC3339) + `"}`,
	} {
		code, resp := g.s.Do(http.MethodPost, "/v1/approvals", "dev-alice", body)
		assert.Equal(t, http.StatusBadRequest, code, string(resp))
	}

	a := create("Saturday maintenance")
	cancelled := create("Not needed after all")
	scheduled := g.waitStatus(t, a.GetId(), pb.Status_STATUS_APPROVED)
	assert.True(t, scheduled.GetGrant().GetStartTime().AsTime().Equal(start), "grant.start_time")
	assert.True(t, scheduled.GetGrant().GetRevokeTime().AsTime().Equal(start.Add(20*time.Second)), "revoke at start + duration")
	assert.False(t, g.canRead(t), "nothing is granted before the start")

	g.waitStatus(t, cancelled.GetId(), pb.Status_STATUS_APPROVED)
	code, body := g.s.Do(http.MethodPost, "/v1/approvals/"+cancelled.GetId()+":cancel", "dev-alice", `{"reason":"not needed"}`)
	require.Equal(t, http.StatusOK, code, string(body))
	g.waitStatus(t, cancelled.GetId(), pb.Status_STATUS_CANCELLED)

	var granted *pb.Approval
	testenv.Eventually(t, 3*time.Minute, "granted at the start", func() bool {
		granted = g.get(t, a.GetId())
		return granted.GetStatus() == pb.Status_STATUS_GRANTED
	})
	assert.False(t, granted.GetGrant().GetGrantTime().AsTime().Before(start), "granted before its start")
	assert.True(t, g.canRead(t), "alice's login reads while granted")
	done := g.waitStatus(t, a.GetId(), pb.Status_STATUS_REVOKED)
	assert.False(t, done.GetGrant().GetRevokedTime().AsTime().Before(start.Add(20*time.Second)), "revoked before start + duration")
	assert.False(t, g.canRead(t), "refused once revoked")

	never := g.get(t, cancelled.GetId())
	assert.Equal(t, pb.Status_STATUS_CANCELLED, never.GetStatus())
	assert.Nil(t, never.GetGrant().GetGrantTime(), "the cancelled one granted nothing")
}

// TestApproverShortensGrant: alice asks for the role for two hours; carol
// approving for three is refused (400) and recorded; bob approves it for
// thirty minutes, so the grant's revoke time is thirty minutes after the
// approval and his decision says so.
func TestApproverShortensGrant(t *testing.T) {
	t.Parallel()
	g := newRoleGrants(t)
	code, body := g.s.Do(http.MethodPost, "/v1/approvals", "dev-alice", `{"title":"Read orders","environment":"database",
		"duration":"2h","action":{"type":"postgres_role","params":{"target":"orders","role":"`+g.role+`","user":"`+g.login+`"}}}`)
	require.Equal(t, http.StatusOK, code, string(body))
	a := decodeApproval(t, body)
	code, body = g.s.Do(http.MethodPost, "/v1/approvals/"+a.GetId()+":decide", "dev-carol",
		`{"decision":"DECISION_APPROVE","duration":"3h","request_hash":"`+a.GetRequestHash()+`"}`)
	require.Equal(t, http.StatusBadRequest, code, string(body))
	code, body = g.s.Do(http.MethodPost, "/v1/approvals/"+a.GetId()+":decide", "dev-bob",
		`{"decision":"DECISION_APPROVE","duration":"30m","request_hash":"`+a.GetRequestHash()+`"}`)
	require.Equal(t, http.StatusOK, code, string(body))

	granted := g.waitStatus(t, a.GetId(), pb.Status_STATUS_GRANTED)
	approvedAt := granted.GetCloseTime().AsTime()
	assert.True(t, granted.GetGrant().GetRevokeTime().AsTime().Equal(approvedAt.Add(30*time.Minute)),
		"revoke at %s, approved %s", granted.GetGrant().GetRevokeTime().AsTime(), approvedAt)
	var bobs, carols *pb.DecisionAttempt
	for _, at := range granted.GetDecisions() {
		switch at.GetUser() {
		case "bob":
			bobs = at
		case "carol":
			carols = at
		}
	}
	require.NotNil(t, bobs)
	assert.Equal(t, "30m", bobs.GetDuration())
	require.NotNil(t, carols, "the refused approval is recorded")
	assert.Equal(t, "invalid_duration", carols.GetRefusalCode())

	code, body = g.s.Do(http.MethodPost, "/v1/approvals/"+a.GetId()+":revoke", "dev-alice", `{"reason":"done"}`)
	require.Equal(t, http.StatusOK, code, string(body))
	g.waitStatus(t, a.GetId(), pb.Status_STATUS_REVOKED)
}
