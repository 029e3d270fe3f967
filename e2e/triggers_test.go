package e2e

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"modernc.org/sqlite"

	"github.com/signoff/signoff/config"
	"github.com/signoff/signoff/intake"
	"github.com/signoff/signoff/internal/testenv"
	pb "github.com/signoff/signoff/proto/signoff/v1"
	"github.com/signoff/signoff/triggers"
	"github.com/signoff/signoff/worker"
)

// Keys in the iam_access_keys table (Steampipe's aws_iam_access_key shape).
const (
	keyOld1     = "AKIAOLD0000000000001"
	keyOld2     = "AKIAOLD0000000000002"
	keyNew      = "AKIANEW0000000000003" // too young
	keyInactive = "AKIAOFF0000000000004" // already inactive
	keyLater5   = "AKIAOLD0000000000005"
	keyLater6   = "AKIAOLD0000000000006"
)

// findingsDB is the trigger's database as the test sees it.
type findingsDB struct {
	db     *sql.DB
	insert string // insert (access_key_id, user_name, status, create_date)
	delete string // delete by access_key_id
	// hold makes the trigger's queries wait, from now until release, and
	// says how many are waiting.
	hold func(t *testing.T) (waiting func() int, release func())
}

func (f findingsDB) add(t *testing.T, key, user, status string, age time.Duration) {
	t.Helper()
	created := time.Now().UTC().Add(-age).Truncate(time.Second)
	var v any = created
	if strings.Contains(f.insert, "?") {
		v = created.Format("2006-01-02 15:04:05") // SQLite: text, as datetime() writes it
	}
	_, err := f.db.Exec(f.insert, key, user, status, v)
	require.NoError(t, err)
}

func (f findingsDB) remove(t *testing.T, key string) {
	t.Helper()
	_, err := f.db.Exec(f.delete, key)
	require.NoError(t, err)
}

// exampleTrigger is docs/examples/triggers.yaml's trigger pointed at the
// test's database, requested by alice, its schedule paused so only the test
// starts runs.
func exampleTrigger(t *testing.T, name, database, query string) config.Trigger {
	t.Helper()
	ex, err := config.Load("../docs/examples/triggers.yaml")
	require.NoError(t, err)
	tr := ex.Triggers[0]
	tr.Name, tr.Database, tr.SQL, tr.Requester, tr.Paused = name, database, query, "alice", true
	return tr
}

// withTriggers adds triggers to the dev config.
func withTriggers(list ...config.Trigger) func(*config.Loaded) {
	return func(cfg *config.Loaded) { cfg.Triggers = list }
}

// runTrigger executes one TriggerRunWorkflow, as the schedule would.
func runTrigger(t *testing.T, s *testenv.Stack, name string) (triggers.RunResult, error) {
	t.Helper()
	res, _, err := runTriggerID(t, s, name)
	return res, err
}

// runTriggerID is runTrigger that also returns the run's workflow ID.
func runTriggerID(t *testing.T, s *testenv.Stack, name string) (triggers.RunResult, string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	run, err := s.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID: "test-trigger-run-" + name + "-" + intake.NewID(), TaskQueue: s.Config.Temporal.TaskQueue,
	}, triggers.WorkflowName, triggers.RunInput{Trigger: name})
	require.NoError(t, err)
	var res triggers.RunResult
	err = run.Get(ctx, &res)
	return res, run.GetID(), err
}

// requireNotRetried checks, in the failed run's history, that its activity
// ran once and Temporal did not retry it because the failure said not to.
func requireNotRetried(t *testing.T, s *testenv.Stack, workflowID string) {
	t.Helper()
	iter := s.Client.GetWorkflowHistory(context.Background(), workflowID, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	var started []*historypb.ActivityTaskStartedEventAttributes
	var failed []*historypb.ActivityTaskFailedEventAttributes
	for iter.HasNext() {
		e, err := iter.Next()
		require.NoError(t, err)
		if a := e.GetActivityTaskStartedEventAttributes(); a != nil {
			started = append(started, a)
		}
		if a := e.GetActivityTaskFailedEventAttributes(); a != nil {
			failed = append(failed, a)
		}
	}
	// A retry writes no event of its own: the started event carries the
	// attempt it started last.
	require.Len(t, started, 1)
	require.Equal(t, int32(1), started[0].GetAttempt(), "the query ran more than once: retried")
	require.Len(t, failed, 1)
	require.Equal(t, enumspb.RETRY_STATE_NON_RETRYABLE_FAILURE, failed[0].GetRetryState())
}

func mustRun(t *testing.T, s *testenv.Stack, name string) triggers.RunResult {
	t.Helper()
	res, err := runTrigger(t, s, name)
	require.NoError(t, err)
	require.Empty(t, res.Errors)
	return res
}

func keysOf(list []triggers.KeyApproval) []string {
	out := []string{}
	for _, k := range list {
		out = append(out, k.Key)
	}
	slices.Sort(out)
	return out
}

func approvalOf(t *testing.T, list []triggers.KeyApproval, key string) string {
	t.Helper()
	for _, k := range list {
		if k.Key == key {
			return k.ApprovalID
		}
	}
	t.Fatalf("no approval for %s in %+v", key, list)
	return ""
}

// waitListedPending waits until visibility lists id as alice's pending
// approval: cancellation on disappearance finds approvals there.
func waitListedPending(t *testing.T, api pb.ApprovalServiceClient, id string) {
	t.Helper()
	testenv.Eventually(t, 30*time.Second, "approval "+id+" to be listed as pending", func() bool {
		resp, err := api.ListApprovals(testenv.Ctx("dev-bob"), &pb.ListApprovalsRequest{
			Status: pb.Status_STATUS_PENDING, Requester: "alice", PageSize: 200,
		})
		require.NoError(t, err)
		return slices.ContainsFunc(resp.GetApprovals(), func(a *pb.Approval) bool { return a.GetId() == id })
	})
}

// exerciseTrigger is the scenario both databases go through: findings
// start approvals once, repeated and overlapping runs start none, decided
// keys stay decided, and a finding that disappears has its approval
// cancelled.
func exerciseTrigger(t *testing.T, s *testenv.Stack, f findingsDB, name string) (pending []triggers.KeyApproval) {
	api := s.GRPC()
	f.add(t, keyOld1, "alice-ci", "Active", 200*24*time.Hour)
	f.add(t, keyOld2, "bob-ci", "Active", 120*24*time.Hour)
	f.add(t, keyNew, "carol-ci", "Active", 10*24*time.Hour)
	f.add(t, keyInactive, "dave-ci", "Inactive", 300*24*time.Hour)

	first := mustRun(t, s, name)
	require.Equal(t, []string{keyOld1, keyOld2}, keysOf(first.Started), "one approval per old active key")
	require.Empty(t, first.Pending)
	require.Equal(t, 2, first.Rows)

	a, err := api.GetApproval(testenv.Ctx("dev-bob"), &pb.GetApprovalRequest{Id: approvalOf(t, first.Started, keyOld1)})
	require.NoError(t, err)
	require.Equal(t, "Deactivate access key "+keyOld1+" of alice-ci?", a.GetTitle())
	require.Equal(t, "alice", a.GetRequester())
	require.Equal(t, "aws", a.GetEnvironment())
	require.Equal(t, "iam/alice-ci/"+keyOld1, a.GetResource())
	require.Equal(t, "alice-ci", a.GetFields()["user"])
	require.Equal(t, name, a.GetFields()[triggers.FieldTrigger])
	require.Equal(t, keyOld1, a.GetFields()[triggers.FieldKey])
	require.Equal(t, time.Now().UTC().Add(-200*24*time.Hour).Format("2006-01-02"), a.GetFields()["created"])
	// The example's action, its params checked by the action at start.
	require.Equal(t, "aws_iam_deactivate_key", a.GetAction().GetType())
	require.Equal(t, map[string]string{"user_name": "alice-ci", "access_key_id": keyOld1}, a.GetAction().GetParams())
	require.Equal(t, []string{"deactivate", "keep"}, []string{a.GetInput().GetOptions()[0].GetValue(), a.GetInput().GetOptions()[1].GetValue()})
	require.Contains(t, a.GetDescription(), "over 90 days")

	t.Run("a repeated run starts nothing", func(t *testing.T) {
		again := mustRun(t, s, name)
		require.Empty(t, again.Started)
		require.Equal(t, []string{keyOld1, keyOld2}, keysOf(again.Pending))
		require.Equal(t, first.Started, again.Pending, "the same approvals")
	})

	t.Run("a new finding starts one more", func(t *testing.T) {
		f.add(t, keyLater5, "erin-ci", "Active", 91*24*time.Hour)
		res := mustRun(t, s, name)
		require.Equal(t, []string{keyLater5}, keysOf(res.Started))
		require.Equal(t, []string{keyOld1, keyOld2}, keysOf(res.Pending))
	})

	t.Run("overlapping runs start one approval", func(t *testing.T) {
		f.add(t, keyLater6, "frank-ci", "Active", 95*24*time.Hour)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		// Each run's query is held until both wait in theirs: the two runs
		// are under way at once, as a scheduled run and one started by hand
		// may be, whatever the worker's timing.
		waiting, release := f.hold(t)
		defer release()
		var runs []client.WorkflowRun
		for range 2 {
			run, err := s.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
				ID: "test-overlap-" + intake.NewID(), TaskQueue: s.Config.Temporal.TaskQueue,
			}, triggers.WorkflowName, triggers.RunInput{Trigger: name})
			require.NoError(t, err)
			runs = append(runs, run)
		}
		testenv.Eventually(t, time.Minute, "both runs to wait in their query", func() bool { return waiting() == 2 })
		release()
		var started, seen []string
		for _, run := range runs {
			var res triggers.RunResult
			require.NoError(t, run.Get(ctx, &res))
			require.Empty(t, res.Errors)
			started = append(started, keysOf(res.Started)...)
			seen = append(seen, keysOf(append(res.Started, res.Pending...))...)
		}
		require.Equal(t, []string{keyLater6}, started, "exactly one run started it")
		require.Equal(t, 2, strings.Count(strings.Join(seen, " "), keyLater6), "the other found it pending")
	})

	t.Run("a decided finding stays decided", func(t *testing.T) {
		_, err := api.DecideApproval(testenv.Ctx("dev-bob"), &pb.DecideApprovalRequest{
			Id: approvalOf(t, first.Started, keyOld1), Decision: pb.Decision_DECISION_REJECT,
			Values: []string{"keep"}, Comment: "keep it, it is rotated tonight",
			RequestHash: s.Seen("dev-bob", approvalOf(t, first.Started, keyOld1)),
		})
		require.NoError(t, err)
		res := mustRun(t, s, name)
		require.Empty(t, res.Started)
		require.Equal(t, []string{keyOld1}, keysOf(res.Closed))
		require.Equal(t, []string{keyOld2, keyLater5, keyLater6}, keysOf(res.Pending))
	})

	t.Run("a finding that disappears has its approval cancelled", func(t *testing.T) {
		gone := approvalOf(t, first.Started, keyOld2)
		waitListedPending(t, api, gone)
		f.remove(t, keyOld2)
		res := mustRun(t, s, name)
		require.Equal(t, []triggers.KeyApproval{{Key: keyOld2, ApprovalID: gone}}, res.Cancelled)
		require.Equal(t, []string{keyLater5, keyLater6}, keysOf(res.Pending))

		a, err := api.GetApproval(testenv.Ctx("dev-bob"), &pb.GetApprovalRequest{Id: gone})
		require.NoError(t, err)
		require.Equal(t, pb.Status_STATUS_CANCELLED, a.GetStatus())
		require.Equal(t, "alice", a.GetCancelledBy())
		require.Contains(t, a.GetCancelReason(), keyOld2+" is no longer returned by the query")

		// Cancelled once: the next run has nothing to cancel.
		res = mustRun(t, s, name)
		require.Empty(t, res.Cancelled)
		require.Empty(t, res.Started)
		pending = res.Pending
	})
	return pending
}

// TestTriggersSQLite runs the example trigger on SQLite through Temporal:
// the scenario above, the schedule, the window, and the errors a run
// reports.
func TestTriggersSQLite(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "findings.db")
	db, err := sql.Open("sqlite", path)
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	_, err = db.Exec(`create table iam_access_keys (access_key_id text primary key, user_name text, status text, create_date text)`)
	require.NoError(t, err)

	// The gate lets the test hold the query (findingsDB.hold).
	query := `select access_key_id, user_name, create_date from iam_access_keys
		where ` + sqliteGate.fn + `() and status = 'Active' and create_date < datetime('now', '-90 days')`
	keys := exampleTrigger(t, "iam-keys", "sqlite:"+path, query)
	broken := exampleTrigger(t, "broken-sql", "sqlite:"+path, "selec access_key_id from iam_access_keys")
	short := exampleTrigger(t, "missing-column", "sqlite:"+path, "select access_key_id, status from iam_access_keys")
	s := testenv.Start(t, testenv.Options{Mutate: withTriggers(keys, broken, short)})

	pending := exerciseTrigger(t, s, findingsDB{
		db:     db,
		insert: `insert into iam_access_keys values (?, ?, ?, ?)`,
		delete: `delete from iam_access_keys where access_key_id = ?`,
		hold:   sqliteGate.hold,
	}, "iam-keys")

	t.Run("the schedule exists, paused, and a triggered run does the same", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		h := s.Client.ScheduleClient().GetHandle(ctx, triggers.ScheduleID(s.Config.Temporal.TaskQueue, "iam-keys"))
		desc, err := h.Describe(ctx)
		require.NoError(t, err)
		require.True(t, desc.Schedule.State.Paused)
		require.Equal(t, []client.ScheduleIntervalSpec{{Every: time.Hour}}, desc.Schedule.Spec.Intervals)
		// Scheduled runs do not overlap; a run started by hand may.
		require.Equal(t, enumspb.SCHEDULE_OVERLAP_POLICY_SKIP, desc.Schedule.Policy.Overlap)
		act, ok := desc.Schedule.Action.(*client.ScheduleWorkflowAction)
		require.True(t, ok)
		require.Equal(t, triggers.WorkflowName, act.Workflow)
		require.Equal(t, s.Config.Temporal.TaskQueue, act.TaskQueue)

		require.NoError(t, h.Trigger(ctx, client.ScheduleTriggerOptions{}))
		var wfID string
		testenv.Eventually(t, 30*time.Second, "the triggered run to start", func() bool {
			d, err := h.Describe(ctx)
			require.NoError(t, err)
			if n := len(d.Info.RecentActions); n > 0 {
				wfID = d.Info.RecentActions[n-1].StartWorkflowResult.WorkflowID
			}
			return wfID != ""
		})
		var res triggers.RunResult
		require.NoError(t, s.Client.GetWorkflow(ctx, wfID, "").Get(ctx, &res))
		require.Empty(t, res.Started)
		require.Equal(t, keysOf(pending), keysOf(res.Pending))
	})

	t.Run("a worker restart updates schedules, keeps their pause, removes retired ones", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		sc := s.Client.ScheduleClient()
		// A schedule left by a trigger since removed from the config.
		retired := triggers.ScheduleID(s.Config.Temporal.TaskQueue, "retired")
		_, err := sc.Create(ctx, client.ScheduleOptions{
			ID: retired, Paused: true, Spec: client.ScheduleSpec{Intervals: []client.ScheduleIntervalSpec{{Every: time.Hour}}},
			Action: &client.ScheduleWorkflowAction{Workflow: triggers.WorkflowName, TaskQueue: s.Config.Temporal.TaskQueue,
				Args: []any{triggers.RunInput{Trigger: "retired"}}},
		})
		require.NoError(t, err)
		testenv.Eventually(t, 30*time.Second, "the retired schedule to be listed", func() bool {
			it, err := sc.List(ctx, client.ScheduleListOptions{})
			require.NoError(t, err)
			for it.HasNext() {
				e, err := it.Next()
				require.NoError(t, err)
				if e.ID == retired {
					return true
				}
			}
			return false
		})

		s.StopWorker()
		s.Config.Triggers[0].Schedule = config.TriggerSchedule{Cron: "*/15 * * * *"}
		s.StartWorker()
		desc, err := sc.GetHandle(ctx, triggers.ScheduleID(s.Config.Temporal.TaskQueue, "iam-keys")).Describe(ctx)
		require.NoError(t, err)
		require.True(t, desc.Schedule.State.Paused)
		require.Empty(t, desc.Schedule.Spec.Intervals)
		require.NotEmpty(t, desc.Schedule.Spec.Calendars, "the cron string, as Temporal stores it")
		_, err = sc.GetHandle(ctx, retired).Describe(ctx)
		var notFound *serviceerror.NotFound
		require.True(t, errors.As(err, &notFound), "the retired schedule is deleted: %v", err)
	})

	t.Run("a bad query fails the run at once, and says why", func(t *testing.T) {
		_, id, err := runTriggerID(t, s, "broken-sql")
		var app *temporal.ApplicationError
		require.True(t, errors.As(err, &app), "%v", err)
		require.Equal(t, triggers.ErrTypeQuery, app.Type())
		require.Contains(t, app.Error(), "syntax error")
		requireNotRetried(t, s, id)
		// The worker logs each failed query: it ran once.
		failures := 0
		for _, line := range strings.Split(s.Logs.String(), "\n") {
			if strings.Contains(line, "trigger query failed") && strings.Contains(line, "trigger=broken-sql") {
				failures++
			}
		}
		require.Equal(t, 1, failures, "the query's executions")
		require.NotContains(t, s.Logs.String(), "panic")
	})

	t.Run("columns the template needs are reported by name", func(t *testing.T) {
		_, err := runTrigger(t, s, "missing-column")
		var app *temporal.ApplicationError
		require.True(t, errors.As(err, &app), "%v", err)
		require.Contains(t, app.Error(), "does not return column(s) create_date, user_name")
		require.Contains(t, app.Error(), "it returns: access_key_id, status")
	})

	t.Run("the window: a decided finding is asked again once the decision is older", func(t *testing.T) {
		// The activity itself, with run times in the future: the window is
		// 30 days and the test cannot wait for it.
		compiled, err := triggers.Compile(s.Config.Triggers)
		require.NoError(t, err)
		actions, err := worker.NewActions(s.Config, s.Settings.Env.Lookup)
		require.NoError(t, err)
		acts := &triggers.Activities{
			Triggers: compiled, Approvals: s.Backend.Approvals, Logger: slog.Default(), LookupEnv: s.Settings.Env.Lookup,
			Starter: &intake.Starter{Live: s.Live, Approvals: s.Backend.Approvals, Actions: actions},
		}
		window := s.Config.Triggers[0].Window.Std()
		ctx := context.Background()

		res, err := acts.RunTrigger(ctx, triggers.ActivityInput{Trigger: "iam-keys", Time: time.Now().Add(window / 2)})
		require.NoError(t, err)
		require.Empty(t, res.Started, "half a window later: still decided")
		require.Equal(t, []string{keyOld1}, keysOf(res.Closed))

		res, err = acts.RunTrigger(ctx, triggers.ActivityInput{Trigger: "iam-keys", Time: time.Now().Add(window + time.Minute)})
		require.NoError(t, err)
		require.Equal(t, []string{keyOld1}, keysOf(res.Started), "a window later: asked again")
		require.Equal(t, keysOf(pending), keysOf(res.Pending), "pending ones are never asked twice")
		require.NotEqual(t, approvalOf(t, res.Started, keyOld1), intake.ApprovalID("alice", triggers.RequestID("iam-keys", keyOld1,
			triggers.Bucket(time.Now(), window))), "a new approval")
	})
}

// postgresURL is the server the PostgreSQL test uses.
func postgresURL() string {
	if u := os.Getenv("SIGNOFF_TEST_POSTGRES_URL"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
}

// TestTriggersPostgres runs the same scenario on a real PostgreSQL (the
// wire protocol Steampipe speaks). It skips when none is reachable, unless
// SIGNOFF_REQUIRE_POSTGRES=1 (CI).
func TestTriggersPostgres(t *testing.T) {
	raw := postgresURL()
	db := openPostgres(t)
	table := "iam_access_keys_" + intake.NewID()[:10]
	_, err := db.Exec(`create table ` + table + ` (access_key_id text primary key, user_name text not null,
		status text not null, create_date timestamptz not null)`)
	require.NoError(t, err)
	t.Cleanup(func() { _, _ = db.Exec(`drop table ` + table) })

	// The trigger's URL names its password through the environment, as a
	// config file must.
	u, err := url.Parse(raw)
	require.NoError(t, err)
	if pw, ok := u.User.Password(); ok {
		t.Setenv("SIGNOFF_TEST_TRIGGER_PGPASSWORD", pw)
		u.User = url.UserPassword(u.User.Username(), "PWREF")
	}
	database := strings.Replace(u.String(), "PWREF", "${SIGNOFF_TEST_TRIGGER_PGPASSWORD}", 1)

	query := `select access_key_id, user_name, create_date from ` + table + `
		where status = 'Active' and create_date < now() - interval '90 days'`
	keys := exampleTrigger(t, "iam-keys-pg", database, query)
	missing := exampleTrigger(t, "missing-table", database, "select access_key_id from no_such_table_"+intake.NewID()[:6])
	s := testenv.Start(t, testenv.Options{Mutate: withTriggers(keys, missing)})

	exerciseTrigger(t, s, findingsDB{
		db:     db,
		insert: `insert into ` + table + ` values ($1, $2, $3, $4)`,
		delete: `delete from ` + table + ` where access_key_id = $1`,
		hold:   func(t *testing.T) (func() int, func()) { return lockTable(t, db, table) },
	}, "iam-keys-pg")

	t.Run("an unknown table fails the run at once", func(t *testing.T) {
		_, id, err := runTriggerID(t, s, "missing-table")
		var app *temporal.ApplicationError
		require.True(t, errors.As(err, &app), "%v", err)
		require.Equal(t, triggers.ErrTypeQuery, app.Type())
		require.Contains(t, app.Error(), "42P01")
		requireNotRetried(t, s, id)
	})
}

// lockTable holds an exclusive lock on table until release: the trigger's
// reads wait for it, and PostgreSQL lists each waiting read in pg_locks.
func lockTable(t *testing.T, db *sql.DB, table string) (waiting func() int, release func()) {
	t.Helper()
	ctx := context.Background()
	tx, err := db.BeginTx(ctx, nil)
	require.NoError(t, err)
	_, err = tx.ExecContext(ctx, `lock table `+table+` in access exclusive mode`)
	require.NoError(t, err)
	var once sync.Once
	release = func() { once.Do(func() { require.NoError(t, tx.Rollback()) }) }
	t.Cleanup(release)
	waiting = func() int {
		var n int
		require.NoError(t, db.QueryRowContext(ctx,
			`select count(*) from pg_locks where relation = $1::regclass and not granted`, table).Scan(&n))
		return n
	}
	return waiting, release
}

// queryGate is an SQLite function a trigger's query calls: while the test
// holds it, each query that calls it waits (one call at a time per query).
type queryGate struct {
	fn   string
	mu   sync.Mutex
	open chan struct{} // nil when not held
	held int
}

// sqliteGate is registered with the driver once per process (init), for
// every connection the worker opens.
var sqliteGate = &queryGate{fn: "e2e_query_gate"}

// The driver's function registry is not safe against connections being
// opened meanwhile (the embedded Temporal opens SQLite too): register the
// gate before any test runs.
func init() {
	g := sqliteGate
	sqlite.MustRegisterScalarFunction(g.fn, 0, func(*sqlite.FunctionContext, []driver.Value) (driver.Value, error) {
		g.mu.Lock()
		open := g.open
		if open != nil {
			g.held++
		}
		g.mu.Unlock()
		if open != nil {
			<-open
		}
		return int64(1), nil
	})
}

func (g *queryGate) hold(t *testing.T) (waiting func() int, release func()) {
	t.Helper()
	g.mu.Lock()
	defer g.mu.Unlock()
	require.Nil(t, g.open, "the gate is held already")
	open := make(chan struct{})
	g.open, g.held = open, 0
	var once sync.Once
	release = func() {
		once.Do(func() {
			g.mu.Lock()
			g.open = nil
			g.mu.Unlock()
			close(open)
		})
	}
	t.Cleanup(release)
	waiting = func() int {
		g.mu.Lock()
		defer g.mu.Unlock()
		return g.held
	}
	return waiting, release
}
