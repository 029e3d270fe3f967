package workflows

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/signoff/signoff/auth/proof"
	"github.com/signoff/signoff/grantlease"
)

// The lease workflow: one per granted resource while any grant holds it
// (grantlease), so overlapping grants revoke only at the last end. The
// worker's grant and revoke activities change it with stamped updates:
// with write access to Temporal alone nobody can add a holder that keeps
// access alive. It ends an hour after its last holder leaves.
const (
	LeaseWorkflowName = "GrantLeaseWorkflow"

	UpdateLeaseHold     = "hold"
	UpdateLeaseRelease  = "release"
	UpdateLeaseReleased = "released"
	// QueryLease returns the grantlease.State.
	QueryLease = "lease"

	ProofLeaseChange = "lease_change"
	ProofLeaseStart  = "lease_start"

	// ActivityStampLease stamps the state a lease continues as new with
	// (a local activity: only the worker holds the keys).
	ActivityStampLease = "StampLease"

	// ErrTypeLeaseBusy: another grant's revoke of the resource runs; the
	// caller tries again.
	ErrTypeLeaseBusy = "lease_busy"
)

// LeaseWorkflowID is the workflow ID of resource's lease: hashed, for a
// resource names people and may be long.
func LeaseWorkflowID(resource string) string {
	sum := sha256.Sum256([]byte(resource))
	return "signoff-lease-" + hex.EncodeToString(sum[:16])
}

// leaseIdle is how long a lease with no holder waits for the next before
// it ends.
const leaseIdle = time.Hour

// leaseChangeLimit continues the lease as new long before history limits.
const leaseChangeLimit = 500

// LeaseChange is one holder's change: Op is hold, release or released.
type LeaseChange struct {
	Resource string    `json:"resource"`
	Approval string    `json:"approval"`
	Until    time.Time `json:"until,omitzero"`
	// Present: the access was in place just before a hold.
	Present bool `json:"present,omitempty"`
	// SeenGen is the lease's generation (grantlease.State.Gen) the holder
	// read before it looked at the access. Nil (a hold that did not look:
	// an extension, or a worker older than the field) is not checked.
	SeenGen *uint64      `json:"seen_gen,omitempty"`
	Op      string       `json:"op"`
	Proof   *proof.Stamp `json:"proof,omitempty"`
}

// LeaseStart is the lease workflow's input: empty for a new lease, or the
// state it continues as new with, stamped (an unstamped state is dropped:
// it would let anyone start a lease with made-up holders).
type LeaseStart struct {
	State grantlease.State `json:"state"`
	Proof *proof.Stamp     `json:"proof,omitempty"`
}

func (c LeaseChange) proofKind() string   { return ProofLeaseChange + ":" + c.Op }
func (c LeaseChange) stamp() *proof.Stamp { return c.Proof }
func (c LeaseChange) withStamp(s *proof.Stamp) LeaseChange {
	c.Proof = s
	return c
}
func (LeaseStart) proofKind() string     { return ProofLeaseStart }
func (s LeaseStart) stamp() *proof.Stamp { return s.Proof }
func (s LeaseStart) withStamp(p *proof.Stamp) LeaseStart {
	s.Proof = p
	return s
}

// LeaseSubject is the "approval ID" a lease message's stamp covers.
func LeaseSubject(resource string) string { return "lease:" + resource }

// LeaseWorkflow keeps one resource's holders.
func LeaseWorkflow(ctx workflow.Context, start LeaseStart) error {
	st := start.State
	if !st.Empty() {
		if _, ref := verify(ctx, LeaseSubject(st.Resource), start); !ref.OK() {
			workflow.GetLogger(ctx).Warn("lease started with an unproven state: dropped", "reason", ref.Message)
			st = grantlease.State{Resource: st.Resource}
		}
	}
	if err := workflow.SetQueryHandler(ctx, QueryLease, func() (grantlease.State, error) { return st, nil }); err != nil {
		return fmt.Errorf("set query handler: %w", err)
	}
	changes := 0
	check := func(ctx workflow.Context, c LeaseChange, op string) error {
		if c.Op != op {
			return temporal.NewNonRetryableApplicationError("op does not match the update", "invalid_argument", nil)
		}
		if st.Resource == "" {
			st.Resource = c.Resource
		}
		if c.Resource != st.Resource {
			return temporal.NewNonRetryableApplicationError("change for another resource", "invalid_argument", nil)
		}
		if _, ref := verify(ctx, LeaseSubject(c.Resource), c); !ref.OK() {
			return temporal.NewNonRetryableApplicationError(ErrUnprovenChange.Error()+": "+ref.Message, "unproven", nil)
		}
		changes++
		return nil
	}
	handlers := []struct {
		name string
		fn   any
	}{
		{UpdateLeaseHold, func(ctx workflow.Context, c LeaseChange) (grantlease.View, error) {
			if err := check(ctx, c, UpdateLeaseHold); err != nil {
				return grantlease.View{}, err
			}
			seen := st.Gen // no generation sent: nothing to check, as before
			if c.SeenGen != nil {
				seen = *c.SeenGen
			}
			v, err := st.Hold(c.Approval, c.Until, c.Present, seen, workflow.Now(ctx))
			if errors.Is(err, grantlease.ErrBusy) {
				return v, temporal.NewApplicationError(err.Error(), ErrTypeLeaseBusy)
			}
			return v, err
		}},
		{UpdateLeaseRelease, func(ctx workflow.Context, c LeaseChange) (grantlease.View, error) {
			if err := check(ctx, c, UpdateLeaseRelease); err != nil {
				return grantlease.View{}, err
			}
			return st.Release(c.Approval, workflow.Now(ctx)), nil
		}},
		{UpdateLeaseReleased, func(ctx workflow.Context, c LeaseChange) (bool, error) {
			if err := check(ctx, c, UpdateLeaseReleased); err != nil {
				return false, err
			}
			st.Released(c.Approval)
			return true, nil
		}},
	}
	for _, h := range handlers {
		if err := workflow.SetUpdateHandler(ctx, h.name, h.fn); err != nil {
			return fmt.Errorf("set update handler %s: %w", h.name, err)
		}
	}
	for {
		seen := changes
		long := func() bool { return changes >= leaseChangeLimit || workflow.GetInfo(ctx).GetContinueAsNewSuggested() }
		if st.Empty() {
			// Idle: end unless a change comes within leaseIdle.
			moved, err := workflow.AwaitWithTimeout(ctx, leaseIdle, func() bool { return changes != seen || long() })
			if err != nil {
				return err
			}
			if !moved && st.Empty() && workflow.AllHandlersFinished(ctx) {
				return nil
			}
		} else if err := workflow.Await(ctx, func() bool { return st.Empty() || long() }); err != nil {
			return err
		}
		if long() {
			break
		}
	}
	// Finish the changes under way, then start over with the state alone,
	// stamped so the next run trusts it.
	if err := workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) }); err != nil {
		return err
	}
	lctx := workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
		StartToCloseTimeout: 10 * time.Second, RetryPolicy: &temporal.RetryPolicy{MaximumAttempts: 5}, Summary: "stamp lease state",
	})
	next := LeaseStart{State: st}
	if err := workflow.ExecuteLocalActivity(lctx, ActivityStampLease, next).Get(ctx, &next); err != nil {
		return fmt.Errorf("stamp lease state: %w", err)
	}
	return workflow.NewContinueAsNewError(ctx, LeaseWorkflowName, next)
}
