// Package leasestore changes the grant leases (grantlease): in one lease
// workflow per resource on Temporal (Temporal), or in memory for tests
// (Memory). The worker's grant and revoke activities use it; every change
// is stamped with the proof keys and checked by the workflow.
package leasestore

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/signoff/signoff/grantlease"
	"github.com/signoff/signoff/proof"
	"github.com/signoff/signoff/workflows"
)

// Store is what a grant does with its resource's lease.
type Store interface {
	// Hold records approval as holding resource until until; present says
	// whether the access was in place just before. grantlease.ErrBusy
	// while another grant's revoke runs.
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

// Hold implements Store.
func (t *Temporal) Hold(ctx context.Context, resource, approval string, until time.Time, present bool) (grantlease.View, error) {
	var v grantlease.View
	c := workflows.LeaseChange{Resource: resource, Approval: approval, Until: until, Present: present, Op: workflows.UpdateLeaseHold}
	// The update ID makes a retried hold one change; an extension (a new
	// end) is another.
	err := t.change(ctx, c, approval+"/hold/"+until.UTC().Format(time.RFC3339), &v)
	return v, err
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

// Hold implements Store.
func (m *Memory) Hold(_ context.Context, resource, approval string, until time.Time, present bool) (grantlease.View, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.lease(resource).Hold(approval, until, present, m.now())
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
