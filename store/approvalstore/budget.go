package approvalstore

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/signoff/signoff/approval"
	"github.com/signoff/signoff/workflows"
)

// ErrTooMany: the person sent this approval more messages than their budget
// allows; TooMany says when to try again.
var ErrTooMany = errors.New("too many attempts on this approval: wait and try again")

// TooMany is ErrTooMany with the wait.
type TooMany struct{ RetryAfter time.Duration }

func (e *TooMany) Error() string {
	return fmt.Sprintf("%s (in %s)", ErrTooMany, e.RetryAfter.Round(time.Second))
}
func (e *TooMany) Is(target error) bool { return target == ErrTooMany }

// Seconds is RetryAfter in whole seconds, rounded up, at least one: what a
// Retry-After header says.
func (e *TooMany) Seconds() int { return max(int(math.Ceil(e.RetryAfter.Seconds())), 1) }

// Budget limits what each person may send one approval before anything
// reaches Temporal: every decision, click, cancel, break-glass, revoke and
// amendment costs one token from the bucket of (approval, person).
// The workflow's own admission keeps refusals out of history past a cap;
// this keeps any one person, approver or not, from costing a workflow task
// per message without end (Slack clicks are signals, which validators do
// not see). Messages the gateway and worker send for themselves (extend,
// add delegate) are not counted.
type Budget struct {
	Approvals
	burst int
	every time.Duration
	now   func() time.Time

	mu      sync.Mutex
	buckets map[budgetKey]*budgetBucket
	swept   time.Time
}

type budgetKey struct{ approval, user string }

type budgetBucket struct {
	lim  *rate.Limiter
	used time.Time
}

// Budget defaults: a person may send an approval 30 messages at once and
// one more every 2 s, far above what deciding takes (a click, a comment, a
// correction) and far below what wears a workflow down.
const (
	DefaultBudgetBurst = 30
	DefaultBudgetEvery = 2 * time.Second
	// budgetIdle forgets a bucket unused this long (it is full again by then).
	budgetIdle = 10 * time.Minute
)

// NewBudget wraps inner with a bucket of burst messages, refilled one every
// every, per approval and person.
func NewBudget(inner Approvals, burst int, every time.Duration) *Budget {
	return &Budget{Approvals: inner, burst: burst, every: every, now: time.Now, buckets: map[budgetKey]*budgetBucket{}}
}

// take spends one of user's tokens on approval id, or says how long to wait.
func (b *Budget) take(id, user string) error {
	now := b.now()
	b.mu.Lock()
	defer b.mu.Unlock()
	if now.Sub(b.swept) > budgetIdle {
		for k, v := range b.buckets {
			if now.Sub(v.used) > budgetIdle {
				delete(b.buckets, k)
			}
		}
		b.swept = now
	}
	k := budgetKey{id, user}
	bk := b.buckets[k]
	if bk == nil {
		bk = &budgetBucket{lim: rate.NewLimiter(rate.Every(b.every), b.burst)}
		b.buckets[k] = bk
	}
	bk.used = now
	r := bk.lim.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return &TooMany{RetryAfter: d}
	}
	return nil
}

func (b *Budget) Decide(ctx context.Context, id string, req workflows.DecisionRequest) (*workflows.DecideResult, error) {
	if err := b.take(id, req.User); err != nil {
		return nil, err
	}
	return b.Approvals.Decide(ctx, id, req)
}

func (b *Budget) Click(ctx context.Context, id string, req workflows.DecisionRequest) error {
	if err := b.take(id, req.User); err != nil {
		return err
	}
	return b.Approvals.Click(ctx, id, req)
}

func (b *Budget) Cancel(ctx context.Context, id string, req workflows.CancelRequest) (*approval.State, error) {
	if err := b.take(id, req.User); err != nil {
		return nil, err
	}
	return b.Approvals.Cancel(ctx, id, req)
}

func (b *Budget) Bypass(ctx context.Context, id string, req workflows.BypassRequest) (*approval.State, error) {
	if err := b.take(id, req.User); err != nil {
		return nil, err
	}
	return b.Approvals.Bypass(ctx, id, req)
}

func (b *Budget) Revoke(ctx context.Context, id string, req workflows.RevokeRequest) (*approval.State, error) {
	if err := b.take(id, req.User); err != nil {
		return nil, err
	}
	return b.Approvals.Revoke(ctx, id, req)
}

func (b *Budget) AcknowledgeRevoke(ctx context.Context, id string, req workflows.AcknowledgeRevokeRequest) (*approval.State, error) {
	if err := b.take(id, req.User); err != nil {
		return nil, err
	}
	return b.Approvals.AcknowledgeRevoke(ctx, id, req)
}

func (b *Budget) Amend(ctx context.Context, id string, req workflows.AmendRequest) (*approval.State, error) {
	if err := b.take(id, req.User); err != nil {
		return nil, err
	}
	return b.Approvals.Amend(ctx, id, req)
}
