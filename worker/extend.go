package worker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/signoff/signoff/activities"
	"github.com/signoff/signoff/approval"
	"github.com/signoff/signoff/auth/proof"
	"github.com/signoff/signoff/store/approvalstore"
	"github.com/signoff/signoff/workflows"
)

// grantExtender sends approved extensions to their grants through the
// approvals port, stamped with the worker's proof keys.
type grantExtender struct {
	approvals approvalstore.Approvals
	proofs    *proof.Keyring
}

// ExtendGrant implements activities.GrantExtender. A refusal (the grant
// ended first) or a grant that is gone is final; anything else is
// retried.
func (g grantExtender) ExtendGrant(ctx context.Context, grant string, req workflows.ExtendGrantRequest) (*approval.State, error) {
	req = workflows.Stamp(g.proofs, grant, req, time.Now())
	st, err := g.approvals.ExtendGrant(ctx, grant, req)
	var ref approval.Refusal
	switch {
	case errors.As(err, &ref):
		return nil, fmt.Errorf("%w: %s", activities.ErrExtensionRefused, ref.Message)
	case errors.Is(err, approvalstore.ErrClosed), errors.Is(err, approvalstore.ErrNotFound):
		return nil, fmt.Errorf("%w: approval %s is closed", activities.ErrExtensionRefused, grant)
	case err != nil:
		return nil, err
	}
	return st, nil
}
