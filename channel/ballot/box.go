package ballot

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/signoff/signoff/approval"
	"github.com/signoff/signoff/auth/proof"
	"github.com/signoff/signoff/policy"
	"github.com/signoff/signoff/store/approvalstore"
	"github.com/signoff/signoff/store/peoplestore"
	"github.com/signoff/signoff/workflows"
)

// Deliverer is what a Box needs of the approvals port.
type Deliverer interface {
	Decide(ctx context.Context, id string, req workflows.DecisionRequest) (*workflows.DecideResult, error)
	Click(ctx context.Context, id string, req workflows.DecisionRequest) error
}

// Box takes ballots from every channel.
type Box struct {
	Approvals Deliverer
	// Proofs stamps each decision; nil sends it unstamped, which the
	// workflow records as unproven.
	Proofs *proof.Keyring
	// People has the delegations in force; nil: nobody stands in.
	People peoplestore.Store
	// Memberships are the outside groups people are in now, for policies
	// that recheck them; nil without a source.
	Memberships func(ctx context.Context, users ...string) map[string][]string
	Now         func() time.Time
	Logger      *slog.Logger
}

func (x *Box) now() time.Time {
	if x.Now == nil {
		return time.Now()
	}
	return x.Now()
}

func (x *Box) logger() *slog.Logger {
	if x.Logger == nil {
		return slog.Default()
	}
	return x.Logger
}

// StandsIn are the people with a delegation to user in force now; none
// when they cannot be read (logged): a decision is then the person's own,
// which the workflow judges as such.
func (x *Box) StandsIn(ctx context.Context, user string) []string {
	out, err := peoplestore.StandsInFor(ctx, x.People, user, x.now())
	if err != nil {
		x.logger().WarnContext(ctx, "delegations unreadable", "user", user, "err", err)
	}
	return out
}

// Request is the stamped decision request a ballot makes: for a person the
// channel tied it to, with the delegations and group memberships in force.
func (x *Box) Request(ctx context.Context, b Ballot) workflows.DecisionRequest {
	req := workflows.DecisionRequest{
		AttemptID: b.AttemptID, User: b.User(), Decision: b.Decision, Comment: b.Comment, Values: b.Values,
		Channel: b.Channel, SeenHash: b.SeenHash, IdentifiedBy: b.IdentifiedBy, Refusal: b.Refusal,
		OnBehalfOf: b.OnBehalfOf, Place: b.Place, Duration: b.Duration,
	}
	if b.Person != nil && b.Refusal == "" {
		d := policy.DeciderOf(b.Person)
		if b.Decider != nil {
			d = *b.Decider
		}
		req.Person = &d
		req.StandsInFor = x.StandsIn(ctx, b.Person.Name)
		if x.Memberships != nil {
			req.Memberships = x.Memberships(ctx, append([]string{b.Person.Name}, req.StandsInFor...)...)
		}
	}
	return workflows.Stamp(x.Proofs, b.ApprovalID, req, x.now())
}

// Cast delivers a ballot and waits for the workflow's judgement.
func (x *Box) Cast(ctx context.Context, b Ballot) Verdict {
	if err := Check(b); err != nil {
		return Verdict{Outcome: Invalid, Err: err}
	}
	req := x.Request(ctx, b)
	res, err := x.Approvals.Decide(ctx, b.ApprovalID, req)
	v := VerdictOf(res, err)
	v.Request = req
	return v
}

// Post delivers a ballot durably without waiting for its judgement (a
// Slack click, which must be acknowledged within 3 s): recorded in
// history when it returns nil. Transient failures are retried until ctx
// ends.
func (x *Box) Post(ctx context.Context, b Ballot) (workflows.DecisionRequest, Verdict) {
	if err := Check(b); err != nil {
		return workflows.DecisionRequest{}, Verdict{Outcome: Invalid, Err: err}
	}
	req := x.Request(ctx, b)
	wait := 200 * time.Millisecond
	for {
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := x.Approvals.Click(sctx, b.ApprovalID, req)
		cancel()
		// None is worth retrying: the approval is over, or was never, or
		// the sender's budget is spent.
		if err == nil || errors.Is(err, approvalstore.ErrClosed) || errors.Is(err, approvalstore.ErrNotFound) || errors.Is(err, approvalstore.ErrTooMany) {
			v := VerdictOf(nil, err)
			if err == nil {
				v.Outcome = Delivered
			}
			v.Request = req
			return req, v
		}
		x.logger().WarnContext(ctx, "decision delivery failed: retrying", "approval_id", b.ApprovalID, "error", err)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return req, Verdict{Outcome: Failed, Err: errors.Join(ctx.Err(), err), Request: req}
		case <-t.C:
		}
		wait = min(wait*2, 5*time.Second)
	}
}

// Outcome is what became of a ballot.
type Outcome int

const (
	// Accepted: the decision counts (Verdict.Attempt, Verdict.Approval).
	Accepted Outcome = iota
	// Delivered: a posted ballot is in history, not judged yet.
	Delivered
	// Refused: the workflow recorded it and it does not count (Verdict.Refusal).
	Refused
	// Closed: the approval is no longer pending.
	Closed
	// NotFound: no such approval.
	NotFound
	// TooMany: the sender's budget on this approval is spent (Verdict.RetryAfter).
	TooMany
	// Unavailable: no worker answered in time; it may still be applied.
	Unavailable
	// Invalid: out of bounds, nothing was sent (Verdict.Err is *OutOfBounds).
	Invalid
	// Failed: anything else (Verdict.Err).
	Failed
)

// Verdict is a ballot's outcome, for the channel to render.
type Verdict struct {
	Outcome    Outcome
	Attempt    approval.Attempt
	Approval   *approval.State
	Refusal    approval.Refusal
	RetryAfter time.Duration
	// Err is the port's error, for channels that answer in its terms.
	Err error
	// Request is what was sent.
	Request workflows.DecisionRequest
}

// VerdictOf maps the approvals port's answer to a verdict.
func VerdictOf(res *workflows.DecideResult, err error) Verdict {
	var ref approval.Refusal
	var tooMany *approvalstore.TooMany
	switch {
	case err == nil && res != nil:
		return Verdict{Outcome: Accepted, Attempt: res.Attempt, Approval: res.Approval}
	case err == nil:
		return Verdict{Outcome: Accepted}
	case errors.As(err, &tooMany):
		return Verdict{Outcome: TooMany, RetryAfter: tooMany.RetryAfter, Err: err}
	case errors.As(err, &ref):
		return Verdict{Outcome: Refused, Refusal: ref, Err: err}
	case errors.Is(err, approvalstore.ErrClosed):
		return Verdict{Outcome: Closed, Refusal: approval.Refusal{Code: approval.CodeNotPending, Message: approval.RefusedNotPending}, Err: err}
	case errors.Is(err, approvalstore.ErrNotFound):
		return Verdict{Outcome: NotFound, Err: err}
	case errors.Is(err, approvalstore.ErrUnavailable), errors.Is(err, context.DeadlineExceeded):
		return Verdict{Outcome: Unavailable, Err: err}
	}
	return Verdict{Outcome: Failed, Err: err}
}
