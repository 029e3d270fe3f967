// Package peoplestore reads and changes people.State: in the people
// workflow on Temporal (Temporal), or in memory for tests (Memory). The
// gateway stamps every change with its proof keys; the workflow refuses
// a change without a valid stamp.
package peoplestore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/signoff/signoff/auth/proof"
	"github.com/signoff/signoff/config/identity"
	"github.com/signoff/signoff/people"
	"github.com/signoff/signoff/policy"
	"github.com/signoff/signoff/workflows"
)

// Store is what the gateway does with people.State.
type Store interface {
	// State is the state as of at most a few seconds ago.
	State(ctx context.Context) (*people.State, error)
	// Observe records the groups a verified token gave user.
	Observe(ctx context.Context, user string, groups []string) error
	// Delegate adds d; an invalid one is refused with people.ErrInvalid.
	Delegate(ctx context.Context, d people.Delegation) (people.Delegation, error)
	// Revoke ends delegation id, as by (an admin may end anyone's).
	Revoke(ctx context.Context, id, by string, admin bool) (people.Delegation, error)
}

// ErrUnavailable means the people workflow did not answer (no worker).
var ErrUnavailable = errors.New("people directory unavailable")

// cacheTTL bounds how stale a read may be; every change made through this
// store clears it.
const cacheTTL = 2 * time.Second

// Temporal keeps the state in the people workflow, started on the first
// change.
type Temporal struct {
	client    client.Client
	taskQueue string
	proofs    *proof.Keyring
	now       func() time.Time

	mu      sync.Mutex
	cached  *people.State
	fetched time.Time
}

// NewTemporal returns the store; proofs stamp the changes.
func NewTemporal(c client.Client, taskQueue string, proofs *proof.Keyring) *Temporal {
	return &Temporal{client: c, taskQueue: taskQueue, proofs: proofs, now: time.Now}
}

// State queries the workflow; before its first change there is none, and
// the state is empty.
func (t *Temporal) State(ctx context.Context) (*people.State, error) {
	t.mu.Lock()
	if t.cached != nil && t.now().Sub(t.fetched) < cacheTTL {
		st := t.cached
		t.mu.Unlock()
		return st, nil
	}
	t.mu.Unlock()
	v, err := t.client.QueryWorkflow(ctx, workflows.PeopleWorkflowID, "", workflows.QueryPeople)
	var st people.State
	var notFound *serviceerror.NotFound
	switch {
	case errors.As(err, &notFound):
	case err != nil:
		return nil, fmt.Errorf("%w: query: %w", ErrUnavailable, err)
	default:
		if err := v.Get(&st); err != nil {
			return nil, fmt.Errorf("read people state: %w", err)
		}
	}
	t.mu.Lock()
	t.cached, t.fetched = &st, t.now()
	t.mu.Unlock()
	return &st, nil
}

func (t *Temporal) Observe(ctx context.Context, user string, groups []string) error {
	req := workflows.Stamp(t.proofs, workflows.PeopleSubject, workflows.ObserveGroupsRequest{User: user, Groups: groups}, t.now())
	var changed bool
	return t.change(ctx, workflows.UpdateObserveGroups, req, &changed)
}

func (t *Temporal) Delegate(ctx context.Context, d people.Delegation) (people.Delegation, error) {
	req := workflows.Stamp(t.proofs, workflows.PeopleSubject, workflows.DelegateRequest{Delegation: d}, t.now())
	var out people.Delegation
	err := t.change(ctx, workflows.UpdateDelegate, req, &out)
	return out, err
}

func (t *Temporal) Revoke(ctx context.Context, id, by string, admin bool) (people.Delegation, error) {
	req := workflows.Stamp(t.proofs, workflows.PeopleSubject, workflows.RevokeDelegationRequest{ID: id, By: by, Admin: admin}, t.now())
	var out people.Delegation
	err := t.change(ctx, workflows.UpdateRevokeDelegation, req, &out)
	return out, err
}

// change sends an update, starting the workflow if it is not running.
func (t *Temporal) change(ctx context.Context, name string, arg, out any) error {
	op := t.client.NewWithStartWorkflowOperation(client.StartWorkflowOptions{
		ID: workflows.PeopleWorkflowID, TaskQueue: t.taskQueue,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		StaticSummary:            "Signoff: people's identity-provider groups and delegations",
	}, workflows.PeopleWorkflowName, workflows.PeopleStart{})
	h, err := t.client.UpdateWithStartWorkflow(ctx, client.UpdateWithStartWorkflowOptions{
		StartWorkflowOperation: op,
		UpdateOptions: client.UpdateWorkflowOptions{
			UpdateName: name, Args: []any{arg}, WaitForStage: client.WorkflowUpdateStageCompleted,
		},
	})
	if err == nil {
		err = h.Get(ctx, out)
	}
	t.mu.Lock()
	t.cached = nil
	t.mu.Unlock()
	var app *temporal.ApplicationError
	if errors.As(err, &app) {
		switch app.Type() {
		case workflows.ErrTypeInvalidDelegation:
			return fmt.Errorf("%w: %s", people.ErrInvalid, strings.TrimPrefix(app.Message(), people.ErrInvalid.Error()+": "))
		case workflows.ErrTypeDelegationNotFound:
			return people.ErrNotFound
		case workflows.ErrTypeDelegationNotYours:
			return people.ErrNotYours
		}
	}
	if err != nil {
		return fmt.Errorf("%w: %s: %w", ErrUnavailable, name, err)
	}
	return nil
}

// Memory is a Store in memory, judged by the same rules.
type Memory struct {
	mu  sync.Mutex
	st  people.State
	Now func() time.Time
}

func (m *Memory) now() time.Time {
	if m.Now != nil {
		return m.Now()
	}
	return time.Now()
}

func (m *Memory) State(context.Context) (*people.State, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	st := people.State{Delegations: append([]people.Delegation(nil), m.st.Delegations...), Groups: map[string]people.Groups{}}
	for k, v := range m.st.Groups {
		st.Groups[k] = v
	}
	return &st, nil
}

func (m *Memory) Observe(_ context.Context, user string, groups []string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.st.Observe(user, groups, m.now())
	return nil
}

func (m *Memory) Delegate(_ context.Context, d people.Delegation) (people.Delegation, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.st.Delegate(d, m.now()); err != nil {
		return people.Delegation{}, err
	}
	out, _ := m.st.Find(d.ID)
	return out, nil
}

func (m *Memory) Revoke(_ context.Context, id, by string, admin bool) (people.Delegation, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.st.Revoke(id, by, admin, m.now())
}

// Groups reads identity-provider groups ("oidc:<name>") for policies: the
// configured users whose last verified token put them in the group.
type Groups struct{ Store Store }

func (g Groups) Members(ctx context.Context, group string) ([]string, error) {
	name, ok := strings.CutPrefix(group, policy.OIDCGroupPrefix)
	if !ok {
		return nil, fmt.Errorf("%q is not an identity-provider group", group)
	}
	st, err := g.Store.State(ctx)
	if err != nil {
		return nil, err
	}
	return st.Members(name), nil
}

// StandsInFor are the people who delegated to user, in force at now: the
// gateway puts them on each decision it stamps. Without a store, or when
// the state cannot be read, nobody (the decision is the person's own).
func StandsInFor(ctx context.Context, s Store, user string, now time.Time) ([]string, error) {
	if s == nil {
		return nil, nil
	}
	st, err := s.State(ctx)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, d := range st.StandsInFor(user, now) {
		out = append(out, d.From)
	}
	return out, nil
}

// ErrForbidden refuses a delegation for someone else by a non-admin.
var ErrForbidden = errors.New("only an admin delegates for someone else")

// Request is a delegation as someone asks for it (API, CLI, Slack, web).
type Request struct {
	// By asks; From defaults to them.
	By       *identity.User
	ID       string
	From, To string
	// Start zero means now.
	Start, End time.Time
	Reason     string
}

// Create checks r against the directory in force and adds it: From and
// To must be configured users, and only an admin names a From other than
// themselves. The window rules are people.State.Delegate's.
func Create(ctx context.Context, s Store, dir *identity.Directory, r Request, now time.Time) (people.Delegation, error) {
	from := r.From
	switch {
	case from == "":
		from = r.By.Name
	case from != r.By.Name && !r.By.Admin:
		return people.Delegation{}, ErrForbidden
	}
	if _, ok := dir.Lookup(from); !ok {
		return people.Delegation{}, fmt.Errorf("%w: %q is not a configured user", people.ErrInvalid, from)
	}
	if _, ok := dir.Lookup(r.To); !ok || r.To == "" {
		return people.Delegation{}, fmt.Errorf("%w: %q is not a configured user", people.ErrInvalid, r.To)
	}
	start := r.Start
	if start.IsZero() {
		start = now.UTC().Truncate(time.Second)
	}
	if r.End.IsZero() {
		return people.Delegation{}, fmt.Errorf("%w: an end is required: a delegation ends", people.ErrInvalid)
	}
	return s.Delegate(ctx, people.Delegation{
		ID: r.ID, From: from, To: r.To, Start: start.UTC(), End: r.End.UTC(),
		Reason: strings.TrimSpace(r.Reason), CreatedBy: r.By.Name,
	})
}
