package triggers

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/signoff/signoff/approval"
	"github.com/signoff/signoff/auth/proof"
	"github.com/signoff/signoff/config"
	"github.com/signoff/signoff/config/identity"
	"github.com/signoff/signoff/intake"
	"github.com/signoff/signoff/store/approvalstore"
	"github.com/signoff/signoff/workflows"
)

// startTriggered starts, on m, a pending approval requested by requester
// that trigger started for key.
func startTriggered(t *testing.T, m *approvalstore.Memory, id, requester, trigger, key string) {
	t.Helper()
	require.NoError(t, m.Start(context.Background(), workflows.Input{
		ID: id, Requester: requester, CreatedAt: time.Now().UTC(), Rules: approval.RulesProven,
		Request: approval.Request{Title: trigger + " " + key, Environment: "aws",
			Fields: map[string]string{FieldTrigger: trigger, FieldKey: key}},
		Policy: approval.Policy{Name: "any", Approvers: []string{"bob"}, RequiredApprovals: 1, Deadline: time.Hour},
	}))
}

func status(t *testing.T, m *approvalstore.Memory, id string) approval.Status {
	t.Helper()
	st, err := m.Get(context.Background(), id)
	require.NoError(t, err)
	return st.Status
}

// cancelGone cancels, as the trigger's requester, exactly this trigger's
// pending approvals whose key is gone.
func TestCancelGone(t *testing.T) {
	ring := proof.Generate()
	m := approvalstore.NewMemory(ring, nil)
	startTriggered(t, m, "gone", "alice", "keys", "k1")
	startTriggered(t, m, "present", "alice", "keys", "k2")
	startTriggered(t, m, "known", "alice", "keys", "k3")
	startTriggered(t, m, "other-trigger", "alice", "other", "k1")
	startTriggered(t, m, "other-requester", "bob", "keys", "k4")
	startTriggered(t, m, "decided", "alice", "keys", "k5")
	_, err := m.Cancel(context.Background(), "decided", workflows.Stamp(ring, "decided",
		workflows.CancelRequest{AttemptID: "x", User: "alice"}, time.Now()))
	require.NoError(t, err)

	a := &Activities{Approvals: m, Proofs: ring}
	res := RunResult{}
	r := run{a: a, t: &Trigger{Trigger: config.Trigger{Name: "keys"}}, user: &identity.User{Name: "alice"},
		res: &res, known: map[string]bool{"known": true}}
	require.NoError(t, r.cancelGone(context.Background(), map[string]bool{"k2": true}))

	require.Equal(t, []KeyApproval{{Key: "k1", ApprovalID: "gone"}}, res.Cancelled)
	require.Empty(t, res.Errors)
	st, err := m.Get(context.Background(), "gone")
	require.NoError(t, err)
	require.Equal(t, approval.StatusCancelled, st.Status)
	require.Equal(t, "alice", st.CancelledBy)
	require.Equal(t, "trigger keys: k1 is no longer returned by the query", st.CancelReason)
	for _, id := range []string{"present", "known", "other-trigger", "other-requester"} {
		require.Equal(t, approval.StatusPending, status(t, m, id), id)
	}

	// A repeated run finds nothing more to cancel.
	res = RunResult{}
	require.NoError(t, r.cancelGone(context.Background(), map[string]bool{"k2": true}))
	require.Empty(t, res.Cancelled)
}

// A cancellation the workflow refuses (here: unstamped, so unproven) is
// listed, not retried, and the approval stands.
func TestCancelGoneRefused(t *testing.T) {
	m := approvalstore.NewMemory(proof.Generate(), nil)
	startTriggered(t, m, "gone", "alice", "keys", "k1")
	res := RunResult{}
	r := run{a: &Activities{Approvals: m}, t: &Trigger{Trigger: config.Trigger{Name: "keys"}},
		user: &identity.User{Name: "alice"}, res: &res, known: map[string]bool{}}
	require.NoError(t, r.cancelGone(context.Background(), nil))
	require.Empty(t, res.Cancelled)
	require.Len(t, res.Errors, 1)
	require.Equal(t, "k1", res.Errors[0].Key)
	require.Equal(t, "cancel refused: "+approval.RefusedUnproven, res.Errors[0].Error)
	require.Equal(t, approval.StatusPending, status(t, m, "gone"))
}

// cancelGone reads every page of the list.
func TestCancelGonePages(t *testing.T) {
	ring := proof.Generate()
	m := approvalstore.NewMemory(ring, nil)
	for i := range 205 {
		startTriggered(t, m, fmt.Sprintf("a%03d", i), "alice", "keys", fmt.Sprintf("k%03d", i))
	}
	res := RunResult{}
	r := run{a: &Activities{Approvals: m, Proofs: ring}, t: &Trigger{Trigger: config.Trigger{Name: "keys"}},
		user: &identity.User{Name: "alice"}, res: &res, known: map[string]bool{}}
	require.NoError(t, r.cancelGone(context.Background(), map[string]bool{"k000": true}))
	require.Len(t, res.Cancelled, 204)
	require.Equal(t, approval.StatusCancelled, status(t, m, "a204"))
	require.Equal(t, approval.StatusPending, status(t, m, "a000"))
}

type anyAction struct{}

func (anyAction) Validate(approval.Action) error { return nil }

// Runs of a SQLite trigger on the in-memory port: one approval per row,
// none twice, and with on_disappear: cancel a pending approval whose row
// is gone is cancelled (and not asked again).
func TestRunTriggerOnMemory(t *testing.T) {
	path := sqliteDB(t, `create table k (id text)`, `insert into k values ('a'), ('b')`)
	cfg, err := config.Parse(fmt.Appendf(nil, `
users:
  - { name: alice }
  - { name: bob }
policies:
  - { name: any, match: { environment: "*" }, approvers: { users: [bob] }, required_approvals: 1, deadline: 1h }
triggers:
  - name: keys
    schedule: "@hourly"
    database: sqlite:%s
    sql: select id from k order by id
    primary_key: id
    requester: alice
    on_disappear: cancel
    approval:
      title: Key {{.id}}
      environment: aws
`, path))
	require.NoError(t, err)
	list, err := Compile(cfg.Triggers)
	require.NoError(t, err)
	ring := proof.Generate()
	m := approvalstore.NewMemory(ring, nil)
	a := &Activities{
		Triggers: list, Approvals: m, Proofs: ring, Logger: slog.Default(),
		Starter: &intake.Starter{Live: config.NewLive(cfg, nil), Approvals: m, Actions: anyAction{}},
	}
	ctx := context.Background()
	in := ActivityInput{Trigger: "keys", Time: time.Now()}
	idOf := func(key string) string { return intake.ApprovalID("alice", RequestID("keys", key, 0)) }

	res, err := a.RunTrigger(ctx, in)
	require.NoError(t, err)
	require.Equal(t, []KeyApproval{{Key: "a", ApprovalID: idOf("a")}, {Key: "b", ApprovalID: idOf("b")}}, res.Started)
	require.Empty(t, res.Errors)

	res, err = a.RunTrigger(ctx, in)
	require.NoError(t, err)
	require.Empty(t, res.Started)
	require.Equal(t, []KeyApproval{{Key: "a", ApprovalID: idOf("a")}, {Key: "b", ApprovalID: idOf("b")}}, res.Pending)

	db, err := sql.Open("sqlite", path)
	require.NoError(t, err)
	_, err = db.Exec(`delete from k where id = 'b'`)
	require.NoError(t, err)
	require.NoError(t, db.Close())

	res, err = a.RunTrigger(ctx, in)
	require.NoError(t, err)
	require.Equal(t, []KeyApproval{{Key: "a", ApprovalID: idOf("a")}}, res.Pending)
	require.Equal(t, []KeyApproval{{Key: "b", ApprovalID: idOf("b")}}, res.Cancelled)
	require.Empty(t, res.Errors)
	require.Equal(t, approval.StatusCancelled, status(t, m, idOf("b")))
	require.Equal(t, approval.StatusPending, status(t, m, idOf("a")))

	// The row comes back: its approval (no window) is closed, not asked again.
	db, err = sql.Open("sqlite", path)
	require.NoError(t, err)
	_, err = db.Exec(`insert into k values ('b')`)
	require.NoError(t, err)
	require.NoError(t, db.Close())
	res, err = a.RunTrigger(ctx, in)
	require.NoError(t, err)
	require.Empty(t, res.Started)
	require.Equal(t, []KeyApproval{{Key: "b", ApprovalID: idOf("b")}}, res.Closed)
	require.Empty(t, res.Cancelled)
}
