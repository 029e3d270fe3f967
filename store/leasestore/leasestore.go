// Package leasestore changes the grant leases (grantlease): in one lease
// workflow per resource on Temporal (Temporal), or in memory for tests
// (Memory). The worker's grant and revoke activities use it; every change
// is stamped with the proof keys and checked by the workflow.
package leasestore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/signoff/signoff/auth/proof"
	"github.com/signoff/signoff/grantlease"
	"github.com/signoff/signoff/workflows"
)

// Store is what a grant does with its resource's lease.
type Store interface {
	// Generation reads resource's lease generation (grantlease.State.Gen),
	// which moves whenever a holder leaves. A grant reads it before it
	// looks at the access and passes it to HoldSeen.
	Generation(ctx context.Context, resource string) (uint64, error)
	// HoldSeen records approval as holding resource until until; present
	// says whether the access was in place when the grant looked, after it
	// read seenGen. grantlease.ErrBusy while another grant's revoke runs,
	// or when the lease is empty, present is true and a holder left since
	// seenGen (the access seen may have been that grant's): look again.
	HoldSeen(ctx context.Context, resource, approval string, until time.Time, present bool, seenGen uint64) (grantlease.View, error)
	// Hold is HoldSeen without the generation check, for a holder that
	// holds already (an extension moves its end).
	Hold(ctx context.Context, resource, approval string, until time.Time, present bool) (grantlease.View, error)
	// Release starts approval's release; the view says whether its revoke
	// must leave the access.
	Release(ctx context.Context, resource, approval string) (grantlease.View, error)
	// Released ends approval's hold once its revoke is done.
	Released(ctx context.Context, resource, approval string) error
}

// Temporal keeps each resource's lease in a lease workflow, started by the
// first change.
type Temporal struct {
	client    client.Client
	taskQueue string
	proofs    *proof.Keyring
	now       func() time.Time
}

// NewTemporal returns the store; proofs stamp the changes.
func NewTemporal(c client.Client, taskQueue string, proofs *proof.Keyring) *Temporal {
	return &Temporal{client: c, taskQueue: taskQueue, proofs: proofs, now: time.Now}
}

// Generation implements Store: it asks the running lease. With none (never
// started, or ended idle) the next change starts one at generation 0.
func (t *Temporal) Generation(ctx context.Context, resource string) (uint64, error) {
	res, err := t.client.QueryWorkflowWithOptions(ctx, &client.QueryWorkflowWithOptionsRequest{
		WorkflowID: workflows.LeaseWorkflowID(resource), QueryType: workflows.QueryLease,
		QueryRejectCondition: enumspb.QUERY_REJECT_CONDITION_NOT_OPEN,
	})
	var notFound *serviceerror.NotFound
	switch {
	case errors.As(err, &notFound):
		return 0, nil
	case err != nil:
		return 0, fmt.Errorf("grant lease of %s: generation: %w", resource, err)
	case res.QueryRejected != nil:
		return 0, nil
	}
	var st grantlease.State
	if err := res.QueryResult.Get(&st); err != nil {
		return 0, fmt.Errorf("grant lease of %s: generation: %w", resource, err)
	}
	return st.Gen, nil
}

// HoldSeen implements Store.
func (t *Temporal) HoldSeen(ctx context.Context, resource, approval string, until time.Time, present bool, seenGen uint64) (grantlease.View, error) {
	var v grantlease.View
	c := workflows.LeaseChange{Resource: resource, Approval: approval, Until: until, Present: present, SeenGen: &seenGen, Op: workflows.UpdateLeaseHold}
	// The update ID makes a retried hold one change, and Temporal answers
	// a repeated ID with the first outcome, a refusal too: a retry that
	// read a newer generation is another change, so it is not handed the
	// busy answer its stale look earned.
	err := t.change(ctx, c, holdID(approval, until)+"/gen/"+strconv.FormatUint(seenGen, 10), &v)
	return v, err
}

// Hold implements Store.
func (t *Temporal) Hold(ctx context.Context, resource, approval string, until time.Time, present bool) (grantlease.View, error) {
	var v grantlease.View
	c := workflows.LeaseChange{Resource: resource, Approval: approval, Until: until, Present: present, Op: workflows.UpdateLeaseHold}
	err := t.change(ctx, c, holdID(approval, until), &v)
	return v, err
}

// holdID names a hold so a retried one is one change; an extension (a new
// end) is another.
func holdID(approval string, until time.Time) string {
	return approval + "/hold/" + until.UTC().Format(time.RFC3339)
}

// Release implements Store.
func (t *Temporal) Release(ctx context.Context, resource, approval string) (grantlease.View, error) {
	var v grantlease.View
	c := workflows.LeaseChange{Resource: resource, Approval: approval, Op: workflows.UpdateLeaseRelease}
	err := t.change(ctx, c, approval+"/release", &v)
	return v, err
}

// Released implements Store.
func (t *Temporal) Released(ctx context.Context, resource, approval string) error {
	var done bool
	c := workflows.LeaseChange{Resource: resource, Approval: approval, Op: workflows.UpdateLeaseReleased}
	return t.change(ctx, c, approval+"/released", &done)
}

// change sends one stamped update, starting the lease if none runs.
func (t *Temporal) change(ctx context.Context, c workflows.LeaseChange, updateID string, out any) error {
	c = workflows.Stamp(t.proofs, workflows.LeaseSubject(c.Resource), c, t.now())
	op := t.client.NewWithStartWorkflowOperation(client.StartWorkflowOptions{
		ID: workflows.LeaseWorkflowID(c.Resource), TaskQueue: t.taskQueue,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		StaticSummary:            "Signoff: grants holding " + c.Resource,
	}, workflows.LeaseWorkflowName, workflows.LeaseStart{State: grantlease.State{Resource: c.Resource}})
	h, err := t.client.UpdateWithStartWorkflow(ctx, client.UpdateWithStartWorkflowOptions{
		StartWorkflowOperation: op,
		UpdateOptions: client.UpdateWorkflowOptions{
			UpdateID: updateID, UpdateName: c.Op, Args: []any{c}, WaitForStage: client.WorkflowUpdateStageCompleted,
		},
	})
	if err == nil {
		err = h.Get(ctx, out)
	}
	var app *temporal.ApplicationError
	if errors.As(err, &app) && app.Type() == workflows.ErrTypeLeaseBusy {
		return grantlease.ErrBusy
	}
	if err != nil {
		return fmt.Errorf("grant lease %s of %s: %w", c.Op, c.Resource, err)
	}
	return nil
}

// Memory keeps the leases in memory, judged by the same rules.
type Memory struct {
	mu     sync.Mutex
	leases map[string]*grantlease.State
	Now    func() time.Time
}

func (m *Memory) lease(resource string) *grantlease.State {
	if m.leases == nil {
		m.leases = map[string]*grantlease.State{}
	}
	if m.leases[resource] == nil {
		m.leases[resource] = &grantlease.State{Resource: resource}
	}
	return m.leases[resource]
}

func (m *Memory) now() time.Time {
	if m.Now != nil {
		return m.Now()
	}
	return time.Now()
}

// Generation implements Store.
func (m *Memory) Generation(_ context.Context, resource string) (uint64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.lease(resource).Gen, nil
}

// HoldSeen implements Store.
func (m *Memory) HoldSeen(_ context.Context, resource, approval string, until time.Time, present bool, seenGen uint64) (grantlease.View, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.lease(resource).Hold(approval, until, present, seenGen, m.now())
}

// Hold implements Store.
func (m *Memory) Hold(_ context.Context, resource, approval string, until time.Time, present bool) (grantlease.View, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	l := m.lease(resource)
	return l.Hold(approval, until, present, l.Gen, m.now())
}

// Release implements Store.
func (m *Memory) Release(_ context.Context, resource, approval string) (grantlease.View, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.lease(resource).Release(approval, m.now()), nil
}

// Released implements Store.
func (m *Memory) Released(_ context.Context, resource, approval string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.lease(resource).Released(approval)
	return nil
}
