package approvalstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/signoff/signoff/approval"
	"github.com/signoff/signoff/auth/proof"
	"github.com/signoff/signoff/people"
	"github.com/signoff/signoff/workflows"
)

// maxAnnounced bounds how many open approvals one delegation is announced
// to; a person awaited by more has their delegate find the rest in the
// inbox, where delegated approvals are listed anyway.
const maxAnnounced = 500

// AnnounceDelegation tells each open approval that awaits d.From that d.To
// now stands in for them, so the delegate is asked there too, as for
// approvals created after the delegation. A delegation not in force at now
// (it starts later) is not announced: approvals created once it is in
// force snapshot it. It answers how many approvals took the delegate. One
// approval failing does not stop the others; the failures are joined.
func AnnounceDelegation(ctx context.Context, a Approvals, proofs *proof.Keyring, d people.Delegation, now time.Time) (int, error) {
	if !d.Active(now) {
		return 0, nil
	}
	q := Query{Status: approval.StatusPending, ReadableBy: d.From, Open: true, PageSize: 100}
	added, seen := 0, 0
	var errs []error
	for {
		page, err := a.List(ctx, q)
		if err != nil {
			return added, errors.Join(append(errs, fmt.Errorf("list the approvals awaiting %s: %w", d.From, err))...)
		}
		for _, s := range page.Approvals {
			if !slices.Contains(s.Approvers, d.From) || s.Requester == d.To {
				continue // from only asked for it, or to did
			}
			req := workflows.Stamp(proofs, s.ID, workflows.AddDelegateRequest{
				AttemptID: "delegation:" + d.ID, From: d.From, To: d.To,
			}, now)
			ok, err := a.AddDelegate(ctx, s.ID, req)
			switch {
			case errors.Is(err, ErrClosed):
				// Closed since it was listed: nobody to ask there.
			case err != nil:
				errs = append(errs, fmt.Errorf("approval %s: %w", s.ID, err))
			case ok:
				added++
			}
			if seen++; seen >= maxAnnounced {
				return added, errors.Join(errs...)
			}
		}
		if len(page.NextPageToken) == 0 {
			return added, errors.Join(errs...)
		}
		q.PageToken = page.NextPageToken
	}
}
