package leasestore

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	querypb "go.temporal.io/api/query/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/mocks"
	"go.temporal.io/sdk/temporal"

	"github.com/stretchr/testify/mock"

	"github.com/signoff/signoff/auth/proof"
	"github.com/signoff/signoff/grantlease"
	"github.com/signoff/signoff/workflows"
)

const resource = "fake:alice"

var t0 = time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)

// TestMemoryHoldOnAStaleLookIsBusy: the in-memory store judges a look
// taken before a revoke ended as the lease workflow does.
func TestMemoryHoldOnAStaleLookIsBusy(t *testing.T) {
	ctx := context.Background()
	m := &Memory{Now: func() time.Time { return t0 }}
	if _, err := m.HoldSeen(ctx, resource, "a", t0.Add(time.Hour), false, 0); err != nil {
		t.Fatal(err)
	}
	seen, _ := m.Generation(ctx, resource) // b reads, looks: present (a's)
	m.Release(ctx, resource, "a")
	m.Released(ctx, resource, "a")
	if gen, _ := m.Generation(ctx, resource); gen == seen {
		t.Fatalf("generation did not move: %d", gen)
	}
	if _, err := m.HoldSeen(ctx, resource, "b", t0.Add(time.Hour), true, seen); !errors.Is(err, grantlease.ErrBusy) {
		t.Fatalf("want busy, got %v", err)
	}
	gen, _ := m.Generation(ctx, resource)
	if v, err := m.HoldSeen(ctx, resource, "b", t0.Add(time.Hour), false, gen); err != nil || v.Outside {
		t.Fatalf("b looks again: %+v %v", v, err)
	}
}

func queried(t *testing.T, c *mocks.Client, resp *client.QueryWorkflowWithOptionsResponse, err error) {
	t.Helper()
	c.On("QueryWorkflowWithOptions", mock.Anything, mock.MatchedBy(func(r *client.QueryWorkflowWithOptionsRequest) bool {
		return r.WorkflowID == workflows.LeaseWorkflowID(resource) && r.QueryType == workflows.QueryLease &&
			r.QueryRejectCondition == enumspb.QUERY_REJECT_CONDITION_NOT_OPEN
	})).Return(resp, err).Once()
}

// TestTemporalGeneration: read from the running lease; a lease not running
// (never started, or ended) has generation 0, as the run the next change
// starts.
func TestTemporalGeneration(t *testing.T) {
	ctx := context.Background()
	c := &mocks.Client{}
	store := NewTemporal(c, "q", proof.Generate())

	val := &mocks.Value{}
	val.On("Get", mock.Anything).Run(func(args mock.Arguments) {
		*args.Get(0).(*grantlease.State) = grantlease.State{Resource: resource, Gen: 7}
	}).Return(nil)
	queried(t, c, &client.QueryWorkflowWithOptionsResponse{QueryResult: val}, nil)
	if gen, err := store.Generation(ctx, resource); err != nil || gen != 7 {
		t.Errorf("running lease: %d %v", gen, err)
	}
	queried(t, c, nil, serviceerror.NewNotFound("no such workflow"))
	if gen, err := store.Generation(ctx, resource); err != nil || gen != 0 {
		t.Errorf("lease never started: %d %v", gen, err)
	}
	queried(t, c, &client.QueryWorkflowWithOptionsResponse{QueryRejected: &querypb.QueryRejected{Status: enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED}}, nil)
	if gen, err := store.Generation(ctx, resource); err != nil || gen != 0 {
		t.Errorf("lease ended: %d %v", gen, err)
	}
	queried(t, c, nil, serviceerror.NewUnavailable("down"))
	if _, err := store.Generation(ctx, resource); err == nil {
		t.Error("an unreachable Temporal must fail the read, not answer 0")
	}
	c.AssertExpectations(t)
}

// TestTemporalHoldSeenIsANewChangePerGeneration: Temporal answers a
// repeated update ID with its first outcome, a busy refusal too; a retry
// that read a newer generation must not be handed it.
func TestTemporalHoldSeenIsANewChangePerGeneration(t *testing.T) {
	ctx := context.Background()
	c := &mocks.Client{}
	store := NewTemporal(c, "q", proof.Generate())
	c.On("NewWithStartWorkflowOperation", mock.Anything, mock.Anything, mock.Anything).Return(nil)
	var ids []string
	var seen []*uint64
	outcomes := []error{temporal.NewApplicationError("busy", workflows.ErrTypeLeaseBusy), nil}
	c.On("UpdateWithStartWorkflow", mock.Anything, mock.Anything).Return(func(_ context.Context, o client.UpdateWithStartWorkflowOptions) (client.WorkflowUpdateHandle, error) {
		ids = append(ids, o.UpdateOptions.UpdateID)
		seen = append(seen, o.UpdateOptions.Args[0].(workflows.LeaseChange).SeenGen)
		h := &mocks.WorkflowUpdateHandle{}
		h.On("Get", mock.Anything, mock.Anything).Return(outcomes[len(ids)-1])
		return h, nil
	})
	if _, err := store.HoldSeen(ctx, resource, "b", t0, true, 3); !errors.Is(err, grantlease.ErrBusy) {
		t.Fatalf("busy answer: %v", err)
	}
	if _, err := store.HoldSeen(ctx, resource, "b", t0, false, 4); err != nil {
		t.Fatal(err)
	}
	if len(ids) != 2 || ids[0] == ids[1] || !strings.HasPrefix(ids[0], "b/hold/") {
		t.Errorf("update IDs %q: want one per generation", ids)
	}
	if len(seen) != 2 || seen[0] == nil || *seen[0] != 3 || seen[1] == nil || *seen[1] != 4 {
		t.Errorf("seen generations sent: %v", seen)
	}
}
