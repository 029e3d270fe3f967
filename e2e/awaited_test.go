package e2e

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/signoff/signoff/internal/testenv"
	"github.com/signoff/signoff/store/approvalstore"
)

// TestWaitingForMeIsOneIndexQuery: an approval keeps who may decide it now
// in Temporal's index (AwaitedBy), on a real Temporal: set at start, each
// approver leaves it as they decide, and it is empty once decided, so an
// inbox asks one query per person and reads no approval's state.
func TestWaitingForMeIsOneIndexQuery(t *testing.T) {
	t.Parallel()
	s := devStack(t)
	port := approvalstore.NewTemporal(s.Client, nil, s.Config.Temporal.Namespace, s.Config.Temporal.TaskQueue)

	code, body := s.Do(http.MethodPost, "/v1/approvals", "dev-alice", `{"title":"Deploy api","environment":"production"}`)
	require.Equal(t, http.StatusOK, code, string(body))
	a := decodeApproval(t, body)
	awaits := func(person string) bool {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		page, err := port.List(ctx, approvalstore.Query{Open: true, AwaitedBy: person, PageSize: 50})
		require.NoError(t, err)
		return slices.ContainsFunc(page.Approvals, func(x approvalstore.Summary) bool { return x.ID == a.GetId() })
	}
	settles := func(person string, want bool) {
		t.Helper()
		testenv.Eventually(t, 30e9, fmt.Sprintf("AwaitedBy = %s to be %v", person, want), func() bool { return awaits(person) == want })
	}
	settles("bob", true)
	settles("carol", true)
	require.False(t, awaits("alice"), "the requester is not awaited")
	require.False(t, awaits("dana"), "an admin who is no approver is not awaited")

	decide := fmt.Sprintf(`{"decision":"DECISION_APPROVE","request_hash":%q}`, a.GetRequestHash())
	code, body = s.Do(http.MethodPost, "/v1/approvals/"+a.GetId()+":decide", "dev-bob", decide)
	require.Equal(t, http.StatusOK, code, string(body))
	settles("bob", false)
	require.True(t, awaits("carol"), "carol is still awaited")

	code, body = s.Do(http.MethodPost, "/v1/approvals/"+a.GetId()+":decide", "dev-carol", decide)
	require.Equal(t, http.StatusOK, code, string(body))
	settles("carol", false)
	// Decided: the closing status upsert cleared it, also for queries
	// that do not ask for open approvals only.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	page, err := port.List(ctx, approvalstore.Query{AwaitedBy: "carol", PageSize: 50})
	require.NoError(t, err)
	require.False(t, slices.ContainsFunc(page.Approvals, func(x approvalstore.Summary) bool { return x.ID == a.GetId() }),
		"a decided approval awaits nobody")
}
