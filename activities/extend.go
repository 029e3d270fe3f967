package activities

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/signoff/signoff/approval"
	"github.com/signoff/signoff/workflows"
)

// GrantExtender sends an approved extension to the grant it extends (the
// worker stamps it: only the worker acts on an approved extension).
type GrantExtender interface {
	ExtendGrant(ctx context.Context, grant string, req workflows.ExtendGrantRequest) (*approval.State, error)
}

// ErrExtensionRefused: the grant had ended (or was being revoked) when
// the extension was approved; nothing changed.
var ErrExtensionRefused = errors.New("extension refused by the grant")

// extend runs an approved extension: the grant's revoke time moves to the
// extension's approval time plus its duration, then the grant's lease
// holds the access that long.
func (a *Activities) extend(ctx context.Context, st *approval.State) (string, error) {
	if a.Extender == nil {
		return "", temporal.NewNonRetryableApplicationError("this worker cannot extend grants", "ActionFailed", nil)
	}
	to := st.ClosedAt.Add(st.GrantDuration())
	grant, err := a.Extender.ExtendGrant(ctx, st.Request.Extends, workflows.ExtendGrantRequest{Extension: st.ID, To: to})
	if errors.Is(err, ErrExtensionRefused) {
		return "", temporal.NewNonRetryableApplicationError(err.Error(), "ActionFailed", nil)
	}
	if err != nil {
		return "", fmt.Errorf("extend grant %s: %w", st.Request.Extends, err)
	}
	if resource := a.Actions.Resource(st.Request.Action); a.Leases != nil && resource != "" {
		if _, err := a.Leases.Hold(ctx, resource, grant.ID, to, true); err != nil {
			return "", fmt.Errorf("hold %s until %s: %w", resource, to.UTC().Format(time.RFC3339), err)
		}
	}
	return fmt.Sprintf("extended the grant of approval %s until %s", grant.ID, to.UTC().Format(time.RFC3339)), nil
}
