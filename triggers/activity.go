package triggers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/signoff/signoff/approval"
	"github.com/signoff/signoff/auth/proof"
	"github.com/signoff/signoff/config"
	"github.com/signoff/signoff/config/identity"
	"github.com/signoff/signoff/config/rowtemplate"
	"github.com/signoff/signoff/intake"
	"github.com/signoff/signoff/store/approvalstore"
	"github.com/signoff/signoff/workflows"
)

// Trigger is a configured trigger with its templates compiled.
type Trigger struct {
	config.Trigger
	tmpl *rowtemplate.Compiled
}

// Compile compiles every configured trigger.
func Compile(list []config.Trigger) (map[string]*Trigger, error) {
	out := make(map[string]*Trigger, len(list))
	for _, t := range list {
		c, err := rowtemplate.Compile(t.Approval, config.TriggerReservedFields...)
		if err != nil {
			return nil, fmt.Errorf("trigger %s: approval: %w", t.Name, err)
		}
		out[t.Name] = &Trigger{Trigger: t, tmpl: c}
	}
	return out, nil
}

// Activities run triggers; register the struct with the worker.
type Activities struct {
	Triggers map[string]*Trigger
	// Starter starts approvals (the same rules as the gateway's).
	Starter *intake.Starter
	// Approvals reads and cancels the trigger's approvals.
	Approvals approvalstore.Approvals
	Logger    *slog.Logger
	// Proofs stamps the cancellations a trigger makes (as its requester).
	Proofs *proof.Keyring
	// LookupEnv resolves ${NAME} in database URLs: the environment the
	// composition root read at start. nil resolves nothing (every
	// reference is missing).
	LookupEnv func(string) (string, bool)
}

// RunTrigger queries the trigger's database and starts one approval per row
// that has none (in this window). Row problems are listed in the result;
// a query the database refuses fails the activity.
func (a *Activities) RunTrigger(ctx context.Context, in ActivityInput) (RunResult, error) {
	t, ok := a.Triggers[in.Trigger]
	if !ok {
		return RunResult{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("trigger %q is not configured on this worker", in.Trigger), ErrTypeConfig, nil)
	}
	log := a.Logger.With("trigger", t.Name)
	user, ok := a.Starter.Live.Get().Directory.Lookup(t.Requester)
	if !ok {
		return RunResult{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("trigger %s: requester %q is not a configured user", t.Name, t.Requester), ErrTypeConfig, nil)
	}
	stop := heartbeat(ctx)
	defer stop()

	lookup := a.LookupEnv
	if lookup == nil {
		lookup = func(string) (string, bool) { return "", false }
	}
	dsn, missing, err := t.DSN(lookup)
	if err != nil || len(missing) > 0 {
		if err == nil {
			err = fmt.Errorf("environment variables not set: %s", strings.Join(missing, ", "))
		}
		return RunResult{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("trigger %s: database: %v", t.Name, err), ErrTypeConfig, nil)
	}
	q, err := query(ctx, t.Trigger, dsn, t.MaxRows)
	if err != nil {
		// Drivers keep passwords out of their errors; make sure, for the
		// message lands in workflow history.
		err = redact(fmt.Errorf("trigger %s: %w", t.Name, err), secrets(t.Trigger, lookup))
		log.WarnContext(ctx, "trigger query failed", "err", err)
		return RunResult{}, classify(err)
	}
	if err := t.checkColumns(q.columns); err != nil {
		log.WarnContext(ctx, "trigger query result does not fit the trigger", "err", err)
		return RunResult{}, temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeQuery, nil)
	}

	res := RunResult{Trigger: t.Name, Time: in.Time, Rows: len(q.rows), Columns: q.columns}
	rows, truncated := q.rows, len(q.rows) > t.MaxRows
	if truncated {
		rows = rows[:t.MaxRows]
		res.Errors = append(res.Errors, KeyError{Error: fmt.Sprintf(
			"the query returned more than max_rows (%d) rows; the rest wait for a later run", t.MaxRows)})
	}
	r := run{a: a, t: t, user: user, at: in.Time, res: &res, known: map[string]bool{}}
	present := map[string]bool{}
	for i, row := range rows {
		key := rowtemplate.Key(row[t.PrimaryKey])
		switch {
		case key == "":
			res.Errors = append(res.Errors, KeyError{Error: fmt.Sprintf("row %d: %s is empty", i+1, t.PrimaryKey)})
		case present[key]:
			res.Errors = append(res.Errors, KeyError{Key: key, Error: "primary key repeated in the result"})
		default:
			present[key] = true
			if err := r.startOne(ctx, key, row); err != nil {
				return RunResult{}, err
			}
		}
	}
	// Past max_rows the keys are unknown: cancel nothing on their account.
	if t.OnDisappear == config.OnDisappearCancel && !truncated {
		if err := r.cancelGone(ctx, present); err != nil {
			return RunResult{}, err
		}
	}
	log.InfoContext(ctx, "trigger ran", "summary", res.Summary())
	return res, nil
}

// checkColumns reports, all at once, the columns the templates and
// primary_key need that the query does not return.
func (t *Trigger) checkColumns(cols []string) error {
	need := append([]string{t.PrimaryKey}, t.tmpl.Columns()...)
	var missing []string
	for _, c := range need {
		if !slices.Contains(cols, c) && !slices.Contains(missing, c) {
			missing = append(missing, c)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	return fmt.Errorf("trigger %s: the query does not return column(s) %s that primary_key or the approval template use (it returns: %s)",
		t.Name, strings.Join(missing, ", "), strings.Join(cols, ", "))
}

// run is one execution's state.
type run struct {
	a    *Activities
	t    *Trigger
	user *identity.User
	at   time.Time
	res  *RunResult
	// known are the approval IDs seen for present keys.
	known map[string]bool
}

// startOne gives key an approval unless it has a pending one, or a closed
// one in this window (or in the previous bucket and younger than the
// window). Errors that a retry may fix (Temporal unreachable) are returned;
// a row's own problems are listed.
func (r *run) startOne(ctx context.Context, key string, row map[string]any) error {
	bucket := Bucket(r.at, r.t.Window.Std())
	rid := RequestID(r.t.Name, key, bucket)
	id := intake.ApprovalID(r.user.Name, rid)
	if found, err := r.classify(ctx, key, id, time.Time{}); found || err != nil {
		return err
	}
	if bucket != 0 {
		prev := intake.ApprovalID(r.user.Name, RequestID(r.t.Name, key, bucket-1))
		if found, err := r.classify(ctx, key, prev, r.at.Add(-r.t.Window.Std())); found || err != nil {
			return err
		}
	}
	req, justification, err := r.t.tmpl.Render(row, map[string]string{FieldTrigger: r.t.Name, FieldKey: key})
	if err != nil {
		r.res.Errors = append(r.res.Errors, KeyError{Key: key, Error: err.Error()})
		return nil
	}
	out, err := r.a.Starter.Start(ctx, intake.Request{
		Requester: r.user, RequestID: rid, Request: req, Justification: justification,
	})
	switch {
	case errors.Is(err, intake.ErrConflict):
		// Another run started this key's approval with other content
		// (a column changed in between): that approval stands.
		_, err := r.classify(ctx, key, id, time.Time{})
		return err
	case errors.Is(err, intake.ErrInvalid), errors.Is(err, intake.ErrDenied):
		r.res.Errors = append(r.res.Errors, KeyError{Key: key, Error: err.Error()})
		return nil
	case err != nil:
		return fmt.Errorf("trigger %s: key %s: %w", r.t.Name, key, err)
	case out.Existing:
		_, err := r.classify(ctx, key, id, time.Time{})
		return err
	}
	r.known[id] = true
	r.res.Started = append(r.res.Started, KeyApproval{Key: key, ApprovalID: id})
	return nil
}

// classify looks approval id up and files key under pending when it is
// still pending, or under closed when it finished and was created after
// since (any time when since is zero). found says whether it was filed.
func (r *run) classify(ctx context.Context, key, id string, since time.Time) (found bool, err error) {
	info, err := r.a.Approvals.Info(ctx, id)
	switch {
	case errors.Is(err, approvalstore.ErrNotFound):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("trigger %s: key %s: describe approval: %w", r.t.Name, key, err)
	}
	ka := KeyApproval{Key: key, ApprovalID: id}
	switch {
	case info.Open:
		r.res.Pending = append(r.res.Pending, ka)
	case since.IsZero() || info.StartTime.After(since):
		r.res.Closed = append(r.res.Closed, ka)
	default:
		return false, nil
	}
	r.known[id] = true
	return true, nil
}

// cancelGone cancels this trigger's pending approvals whose key the query
// no longer returns, as the trigger's requester. The requester's pending
// approvals come from the list (the index); each one not already matched
// to a present key is read to see whether it is this trigger's.
func (r *run) cancelGone(ctx context.Context, present map[string]bool) error {
	q := approvalstore.Query{Requester: r.user.Name, Status: approval.StatusPending, Open: true, PageSize: 200}
	for {
		page, err := r.a.Approvals.List(ctx, q)
		if err != nil {
			return fmt.Errorf("trigger %s: list pending approvals: %w", r.t.Name, err)
		}
		for _, s := range page.Approvals {
			if r.known[s.ID] {
				continue
			}
			if err := r.cancelIfGone(ctx, s.ID, present); err != nil {
				return err
			}
		}
		if q.PageToken = page.NextPageToken; len(q.PageToken) == 0 {
			return nil
		}
	}
}

// cancelIfGone cancels approval id if it is this trigger's, still pending,
// and its key is not present.
func (r *run) cancelIfGone(ctx context.Context, id string, present map[string]bool) error {
	st, err := r.a.Approvals.Get(ctx, id)
	switch {
	case errors.Is(err, approvalstore.ErrNotFound), errors.Is(err, approvalstore.ErrClosed):
		return nil
	case err != nil:
		return fmt.Errorf("trigger %s: read approval %s: %w", r.t.Name, id, err)
	}
	key := st.Request.Fields[FieldKey]
	if st.Request.Fields[FieldTrigger] != r.t.Name || present[key] || st.Status != approval.StatusPending {
		return nil
	}
	_, err = r.a.Approvals.Cancel(ctx, id, workflows.Stamp(r.a.Proofs, id, workflows.CancelRequest{
		AttemptID: "trigger-cancel:" + id, User: r.user.Name,
		Reason: fmt.Sprintf("trigger %s: %s is no longer returned by the query", r.t.Name, key),
	}, time.Now()))
	var refusal approval.Refusal
	switch {
	case errors.Is(err, approvalstore.ErrNotFound), errors.Is(err, approvalstore.ErrClosed):
		return nil // finished in the meantime
	case errors.As(err, &refusal):
		// The workflow refused (decided in the meantime): nothing to undo.
		r.res.Errors = append(r.res.Errors, KeyError{Key: key, Error: "cancel refused: " + refusal.Error()})
		return nil
	case err != nil:
		return fmt.Errorf("trigger %s: cancel approval %s: %w", r.t.Name, id, err)
	}
	r.res.Cancelled = append(r.res.Cancelled, KeyApproval{Key: key, ApprovalID: id})
	return nil
}

// secrets are the values the database URL takes from the environment, as
// given and as written into the URL.
func secrets(t config.Trigger, lookup func(string) (string, bool)) []string {
	var out []string
	for _, name := range t.EnvRefs() {
		if v, ok := lookup(name); ok && len(v) >= 4 {
			out = append(out, v, config.EscapeURLValue(v))
		}
	}
	return out
}

// redacted is an error whose message has secrets blanked; the chain stays
// for errors.As (classify reads the driver's error code).
type redacted struct {
	msg string
	err error
}

func (r *redacted) Error() string { return r.msg }
func (r *redacted) Unwrap() error { return r.err }

func redact(err error, secrets []string) error {
	msg := err.Error()
	for _, s := range secrets {
		msg = strings.ReplaceAll(msg, s, "[redacted]")
	}
	if msg == err.Error() {
		return err
	}
	return &redacted{msg: msg, err: err}
}

// heartbeat reports liveness while the activity runs (the query blocks),
// so a worker lost mid-run is noticed within the heartbeat timeout.
func heartbeat(ctx context.Context) (stop func()) {
	if !activity.IsActivity(ctx) {
		return func() {}
	}
	ctx, cancel := context.WithCancel(ctx)
	go func() {
		t := time.NewTicker(20 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				activity.RecordHeartbeat(ctx)
			}
		}
	}()
	return cancel
}
