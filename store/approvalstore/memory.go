package approvalstore

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/signoff/signoff/approval"
	"github.com/signoff/signoff/auth/proof"
	"github.com/signoff/signoff/policy"
	"github.com/signoff/signoff/workflows"
)

// Memory implements Approvals in memory, for unit tests of the edges. It
// judges every message with the workflow's own rules (approval.State's
// judge, the proof check, the Rego verdict when given an evaluator); it has
// no timers, no notifications and no action: a granted approval simply
// stands granted.
type Memory struct {
	proofs *proof.Keyring
	now    func() time.Time
	// Rego evaluates a policy's Rego module; nil refuses every decision on
	// a policy that has one (deny by default).
	Rego func(ctx context.Context, module string, in policy.RegoInput) (policy.RegoVerdict, error)

	mu        sync.Mutex
	approvals map[string]*memoryEntry
	order     []string
}

type memoryEntry struct {
	st    *approval.State
	start time.Time
	// tracked: the approval keeps who is awaited (workflows.Version2).
	tracked bool
	// Click counts delivered clicks, for tests that wait for one.
	clicks int
}

// NewMemory returns an empty in-memory port that checks stamps with proofs
// (as the worker does) and reads the time from now (time.Now if nil).
func NewMemory(proofs *proof.Keyring, now func() time.Time) *Memory {
	if now == nil {
		now = time.Now
	}
	return &Memory{proofs: proofs, now: now, approvals: map[string]*memoryEntry{}}
}

var _ Approvals = (*Memory)(nil)

// Start records a new approval.
func (m *Memory) Start(_ context.Context, in workflows.Input) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if e, ok := m.approvals[in.ID]; ok {
		return &Exists{RequestHash: e.st.RequestHash}
	}
	st := approval.New(in.ID, in.Requester, in.Request, in.Policy, in.CreatedAt)
	st.Justification, st.Initiator, st.Rules = in.Justification, in.Initiator, in.Rules
	m.approvals[in.ID] = &memoryEntry{st: st, start: m.now(), tracked: in.Version >= workflows.Version2}
	m.order = append(m.order, in.ID)
	return nil
}

// Info says whether the approval is still pending.
func (m *Memory) Info(_ context.Context, id string) (Info, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.approvals[id]
	if !ok {
		return Info{}, ErrNotFound
	}
	return Info{Open: !e.st.Status.Final(), StartTime: e.start}, nil
}

// Get returns a copy of the approval.
func (m *Memory) Get(_ context.Context, id string) (*approval.State, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.approvals[id]
	if !ok {
		return nil, ErrNotFound
	}
	return clone(e.st), nil
}

// Decide judges the decision as the workflow does.
func (m *Memory) Decide(ctx context.Context, id string, req workflows.DecisionRequest) (*workflows.DecideResult, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, err := m.open(id)
	if err != nil {
		return nil, err
	}
	a := m.receive(ctx, e.st, req)
	if !a.Accepted {
		return nil, refusalOf(a.RefusalCode, a.RefusalReason)
	}
	return &workflows.DecideResult{Attempt: a, Approval: clone(e.st)}, nil
}

// Click judges the decision and answers nothing of it, as a signal.
func (m *Memory) Click(ctx context.Context, id string, req workflows.DecisionRequest) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, err := m.open(id)
	if err != nil {
		return err
	}
	m.receive(ctx, e.st, req)
	e.clicks++
	return nil
}

// Cancel applies a cancellation as the workflow does.
func (m *Memory) Cancel(_ context.Context, id string, req workflows.CancelRequest) (*approval.State, error) {
	return m.operate(id, func(st *approval.State, now time.Time) error {
		return st.Cancel(actor(m, id, req, req.User, req.Admin, now), req.Reason, now)
	})
}

// Bypass applies break-glass as the workflow does.
func (m *Memory) Bypass(_ context.Context, id string, req workflows.BypassRequest) (*approval.State, error) {
	return m.operate(id, func(st *approval.State, now time.Time) error {
		return st.Bypass(actor(m, id, req, req.User, false, now), req.Reason, now)
	})
}

// Revoke asks for the revoke as the workflow does (Memory runs no action:
// the grant's state only records the request).
func (m *Memory) Revoke(_ context.Context, id string, req workflows.RevokeRequest) (*approval.State, error) {
	return m.operate(id, func(st *approval.State, now time.Time) error {
		return st.RequestRevoke(actor(m, id, req, req.User, req.Admin, now), req.Reason, now)
	})
}

// ExtendGrant moves the revoke time as the workflow does.
func (m *Memory) ExtendGrant(_ context.Context, id string, req workflows.ExtendGrantRequest) (*approval.State, error) {
	return m.operate(id, func(st *approval.State, now time.Time) error {
		return st.Extend(actor(m, id, req, "signoff", false, now), req.Extension, req.To, now)
	})
}

// AcknowledgeRevoke records an admin taking a failing revoke over.
func (m *Memory) AcknowledgeRevoke(_ context.Context, id string, req workflows.AcknowledgeRevokeRequest) (*approval.State, error) {
	return m.operate(id, func(st *approval.State, now time.Time) error {
		return st.AcknowledgeRevokeFailure(actor(m, id, req, req.User, req.Admin, now), req.Reason, now)
	})
}

// AddDelegate adds a late delegate as the workflow does (Memory sends no
// prompt).
func (m *Memory) AddDelegate(_ context.Context, id string, req workflows.AddDelegateRequest) (bool, error) {
	var added bool
	_, err := m.operate(id, func(st *approval.State, now time.Time) error {
		var err error
		added, err = st.AddDelegate(actor(m, id, req, "signoff", false, now), req.From, req.To, now)
		return err
	})
	return added, err
}

// Amend applies an amendment as the workflow does.
func (m *Memory) Amend(_ context.Context, id string, req workflows.AmendRequest) (*approval.State, error) {
	return m.operate(id, func(st *approval.State, now time.Time) error {
		return st.Amend(actor(m, id, req, req.User, false, now), req.Request, now)
	})
}

// List pages through the approvals in the order they were started; the
// page token is the index of the next one.
func (m *Memory) List(_ context.Context, q Query) (Page, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	from := 0
	if len(q.PageToken) > 0 {
		n, err := strconv.Atoi(string(q.PageToken))
		if err != nil || n < 0 {
			return Page{}, ErrBadPageToken
		}
		from = n
	}
	size := q.PageSize
	if size <= 0 {
		size = 100
	}
	var page Page
	for i := from; i < len(m.order); i++ {
		e := m.approvals[m.order[i]]
		if !matches(e, q) {
			continue
		}
		if len(page.Approvals) == size {
			page.NextPageToken = []byte(strconv.Itoa(i))
			break
		}
		page.Approvals = append(page.Approvals, summaryOf(e))
	}
	return page, nil
}

// Record has no timers: Memory runs none.
func (m *Memory) Record(_ context.Context, id string) (Record, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.approvals[id]; !ok {
		return Record{}, ErrNotFound
	}
	return Record{RunID: "memory"}, nil
}

// CountGrants counts the approvals standing granted; a revoke is failing
// while it has failed and has not succeeded since (Memory runs none: its
// tests set the state).
func (m *Memory) CountGrants(_ context.Context, revokeFailing bool) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var n int64
	for _, e := range m.approvals {
		g := e.st.Grant
		if e.st.Status != approval.StatusGranted || g == nil {
			continue
		}
		if !revokeFailing || g.RevokeFailures > 0 && g.RevokedAt.IsZero() {
			n++
		}
	}
	return n, nil
}

// CountPending counts the approvals pending, created before startedBefore
// when it is not zero.
func (m *Memory) CountPending(_ context.Context, startedBefore time.Time) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var n int64
	for _, e := range m.approvals {
		if e.st.Status == approval.StatusPending && (startedBefore.IsZero() || e.st.CreatedAt.Before(startedBefore)) {
			n++
		}
	}
	return n, nil
}

// Clicks counts the clicks delivered to approval id.
func (m *Memory) Clicks(id string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	if e, ok := m.approvals[id]; ok {
		return e.clicks
	}
	return 0
}

// Posted records messages a notifier posted for approval id, as the
// workflow does with a delivery (their places are where decisions may come
// from).
func (m *Memory) Posted(id string, msgs ...approval.MessageRef) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if e, ok := m.approvals[id]; ok {
		e.st.Messages = append(e.st.Messages, msgs...)
	}
}

func (m *Memory) open(id string) (*memoryEntry, error) {
	e, ok := m.approvals[id]
	switch {
	case !ok:
		return nil, ErrNotFound
	case e.st.Status.Final() && e.st.Status != approval.StatusGranted:
		// A grant's workflow runs on until the revoke, taking revoke,
		// extension and take-over messages.
		return nil, ErrClosed
	}
	return e, nil
}

// receive is the workflow's receive without Temporal: redelivery, proof,
// judge, Rego, record.
func (m *Memory) receive(ctx context.Context, st *approval.State, req workflows.DecisionRequest) approval.Attempt {
	if prev, seen := st.Find(req.AttemptID); seen {
		return prev
	}
	now := m.now()
	a := workflows.AttemptOf(st, req)
	place, decider := req.Origin()
	var ref approval.Refusal
	a.Proof, ref = workflows.CheckStamp(m.proofs, st.ID, req, now)
	if !ref.OK() {
		a.ID = workflows.UnprovenAttemptPrefix + a.ID
		return st.Apply(a, ref, now)
	}
	a = st.ForWhom(a, req.StandsInFor, req.OnBehalfOf)
	ref = st.Judge(a, place, now)
	if ref.OK() && st.Policy.Rego != "" {
		var v policy.RegoVerdict
		err := errors.New("no Rego evaluator")
		if m.Rego != nil {
			checked := workflows.DecisionRequest{Decision: a.Decision, Comment: a.Comment, Values: a.Values, Channel: a.Channel, OnBehalfOf: a.OnBehalfOf}
			v, err = m.Rego(ctx, st.Policy.Rego, workflows.RegoInput(st, decider, checked))
		}
		var refusal string
		a.Verdict, refusal = workflows.RegoOutcome(v, err)
		if refusal != "" {
			ref = approval.Refusal{Code: approval.CodePolicyDenied, Message: refusal}
		}
	}
	return st.Apply(a, ref, now)
}

// operate runs one of the requester's or an admin's operations.
func (m *Memory) operate(id string, op func(st *approval.State, now time.Time) error) (*approval.State, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, err := m.open(id)
	if err != nil {
		return nil, err
	}
	if err := op(e.st, m.now()); err != nil {
		return nil, refusalOf(approval.CodeOf(err), err.Error())
	}
	return clone(e.st), nil
}

// actor is who asks for an operation: user and admin count only under a
// valid stamp.
func actor[M workflows.Provable[M]](m *Memory, id string, msg M, user string, admin bool, now time.Time) approval.Actor {
	who := approval.Actor{User: user}
	who.Proof, who.ProofRefusal = workflows.CheckStamp(m.proofs, id, msg, now)
	if who.Proof != "" {
		who.Admin = admin
	}
	return who
}

// refusalOf is the error a refused message gets, as from the workflow.
func refusalOf(code approval.Code, reason string) error {
	if code == "" {
		code = approval.CodeOfMessage(reason)
	}
	return approval.Refusal{Code: code, Message: reason}
}

func matches(e *memoryEntry, q Query) bool {
	st := e.st
	var awaited []string
	if e.tracked && (q.AwaitedBy != "" || q.Untracked) {
		awaited = workflows.Awaited(st)
	}
	switch {
	case q.Status != "" && st.Status != q.Status,
		q.Environment != "" && st.Request.Environment != q.Environment,
		q.Requester != "" && st.Requester != q.Requester,
		q.Open && st.Status.Final(),
		q.AwaitedBy != "" && !slices.Contains(awaited, q.AwaitedBy),
		q.Untracked && len(awaited) > 0:
		return false
	case q.ReadableBy != "":
		return st.Requester == q.ReadableBy || slices.Contains(st.Policy.AllApprovers(), q.ReadableBy)
	}
	return true
}

func summaryOf(e *memoryEntry) Summary {
	st := e.st
	return Summary{
		ID: st.ID, Status: st.Status, Environment: st.Request.Environment, Requester: st.Requester,
		Approvers: st.Policy.AllApprovers(), Title: st.Request.Title, Policy: st.Policy.Name,
		Deadline: st.Deadline, StartTime: e.start,
	}
}

// clone is a deep copy: callers must not reach into the stored state.
func clone(st *approval.State) *approval.State {
	b, err := json.Marshal(st)
	if err != nil {
		panic(fmt.Errorf("clone approval: %w", err))
	}
	var out approval.State
	d := json.NewDecoder(bytes.NewReader(b))
	if err := d.Decode(&out); err != nil {
		panic(fmt.Errorf("clone approval: %w", err))
	}
	return &out
}
