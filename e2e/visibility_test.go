package e2e

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/api/workflowservice/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// TestVisibilityHasRoomForAnApprovalService: the embedded Temporal serves a
// burst of visibility requests without throttling them. Every approval's
// start lists the runs under its ID, and people's lists and inboxes are
// visibility queries too: at Temporal's default (10 a second per
// namespace) a burst of list requests held every new approval back.
func TestVisibilityHasRoomForAnApprovalService(t *testing.T) {
	t.Parallel()
	s := devStack(t)
	// Straight to the frontend: the SDK's client would retry a throttled
	// request and hide it.
	conn, err := grpc.NewClient(s.Config.Temporal.Address, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer conn.Close()
	svc := workflowservice.NewWorkflowServiceClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	const burst = 60
	var wg sync.WaitGroup
	errs := make(chan error, burst)
	for range burst {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := svc.ListWorkflowExecutions(ctx, &workflowservice.ListWorkflowExecutionsRequest{
				Namespace: s.Config.Temporal.Namespace, PageSize: 5,
				Query: "WorkflowId = 'approval-none' AND RunId != 'none'",
			})
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	throttled := 0
	for err := range errs {
		if status.Code(err) == codes.ResourceExhausted {
			throttled++
			continue
		}
		require.NoError(t, err)
	}
	require.Zero(t, throttled, "visibility requests throttled in a burst of %d", burst)
}
