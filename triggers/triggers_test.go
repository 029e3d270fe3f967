package triggers

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/signoff/signoff/config"
	"github.com/signoff/signoff/config/rowtemplate"
	"github.com/signoff/signoff/intake"
	"github.com/signoff/signoff/policy"
)

func TestRequestIDAndBucket(t *testing.T) {
	require.Equal(t, "trigger/keys/-/AKIA1", RequestID("keys", "AKIA1", 0))
	require.Equal(t, "trigger/keys/7/AKIA1", RequestID("keys", "AKIA1", 7))
	// A key that looks like a bucket segment cannot collide with one.
	require.NotEqual(t, RequestID("keys", "7/AKIA1", 0), RequestID("keys", "AKIA1", 7))

	day := 24 * time.Hour
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	require.Zero(t, Bucket(t0, 0))
	require.Equal(t, Bucket(t0, day), Bucket(t0.Add(11*time.Hour), day))
	require.Equal(t, Bucket(t0, day)+1, Bucket(t0.Add(12*time.Hour), day))
	require.Equal(t, "signoff-trigger:signoff:keys", ScheduleID("signoff", "keys"))
}

func sqliteDB(t *testing.T, stmts ...string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "findings.db")
	db, err := sql.Open("sqlite", path)
	require.NoError(t, err)
	defer db.Close()
	for _, s := range stmts {
		_, err := db.Exec(s)
		require.NoError(t, err, s)
	}
	return path
}

func sqliteTrigger(path, query string) config.Trigger {
	return config.Trigger{Name: "keys", Database: "sqlite:" + path, SQL: query, PrimaryKey: "id",
		Timeout: policy.Duration(time.Minute), MaxRows: 10}
}

func TestQuerySQLite(t *testing.T) {
	path := sqliteDB(t,
		`create table k (id text, owner text, n integer, b blob)`,
		`insert into k values ('a', 'x', 1, x'6869'), ('b', null, 2, null), ('c', 'z', 3, null)`)
	tr := sqliteTrigger(path, `select id, owner, n, b from k order by id`)
	dsn, _, err := tr.DSN(nil)
	require.NoError(t, err)

	res, err := query(context.Background(), tr, dsn, 10)
	require.NoError(t, err)
	require.Equal(t, []string{"id", "owner", "n", "b"}, res.columns)
	require.Len(t, res.rows, 3)
	require.Equal(t, map[string]any{"id": "a", "owner": "x", "n": int64(1), "b": "hi"}, res.rows[0])
	require.Equal(t, "", res.rows[1]["owner"], "NULL reads as empty text")

	// One row past the limit is read, so the caller can tell.
	res, err = query(context.Background(), tr, dsn, 1)
	require.NoError(t, err)
	require.Len(t, res.rows, 2)

	// The file is opened read-only: a trigger cannot write.
	tr.SQL = `delete from k returning id`
	_, err = query(context.Background(), tr, dsn, 10)
	err = classify(err)
	requireAppErr(t, err, ErrTypeQuery, "readonly")
}

func TestQueryErrorsAreClassified(t *testing.T) {
	path := sqliteDB(t, `create table k (id text)`)
	tr := sqliteTrigger(path, `selec id from k`)
	dsn, _, _ := tr.DSN(nil)
	_, err := query(context.Background(), tr, dsn, 10)
	requireAppErr(t, classify(fmt.Errorf("trigger keys: %w", err)), ErrTypeQuery, "trigger keys: query: sql logic error: near \"selec\": syntax error")

	tr.SQL = `select id from nope`
	_, err = query(context.Background(), tr, dsn, 10)
	requireAppErr(t, classify(err), ErrTypeQuery, "no such table")

	// A missing file may appear (a mount, a sync): retried.
	tr = sqliteTrigger(filepath.Join(t.TempDir(), "absent.db"), `select 1 as id`)
	dsn, _, _ = tr.DSN(nil)
	_, err = query(context.Background(), tr, dsn, 10)
	err = classify(err)
	require.Error(t, err)
	var app *temporal.ApplicationError
	require.False(t, errors.As(err, &app), "a missing file is retryable: %v", err)
}

func requireAppErr(t *testing.T, err error, typ, contains string) {
	t.Helper()
	var app *temporal.ApplicationError
	require.True(t, errors.As(err, &app), "want an application error, got %v", err)
	require.Equal(t, typ, app.Type())
	require.True(t, app.NonRetryable())
	require.Contains(t, strings.ToLower(app.Error()), contains)
}

func TestCheckColumns(t *testing.T) {
	list, err := Compile([]config.Trigger{{Name: "keys", PrimaryKey: "access_key_id",
		Approval: rowTemplate("{{.user_name}} {{.create_date}}")}})
	require.NoError(t, err)
	tr := list["keys"]
	require.NoError(t, tr.checkColumns([]string{"access_key_id", "user_name", "create_date", "extra"}))
	err = tr.checkColumns([]string{"user", "create_date"})
	require.EqualError(t, err, "trigger keys: the query does not return column(s) access_key_id, user_name "+
		"that primary_key or the approval template use (it returns: user, create_date)")
}

// RunTrigger refuses, without retry, what only a config change can fix.
func TestRunTriggerConfigErrors(t *testing.T) {
	cfg, err := config.Parse([]byte("users: [{ name: alice }]\n"))
	require.NoError(t, err)
	list, err := Compile([]config.Trigger{
		{Name: "ghost", Requester: "nobody", Approval: rowTemplate("x")},
		{Name: "nopw", Requester: "alice", Database: "postgres://u:${NOT_SET_ANYWHERE}@127.0.0.1/db", Approval: rowTemplate("x")},
	})
	require.NoError(t, err)
	a := &Activities{Triggers: list, Starter: &intake.Starter{Live: config.NewLive(cfg, nil)}, Logger: slog.Default(),
		LookupEnv: func(string) (string, bool) { return "", false }}
	_, err = a.RunTrigger(context.Background(), ActivityInput{Trigger: "gone"})
	requireAppErr(t, err, ErrTypeConfig, `trigger "gone" is not configured`)
	_, err = a.RunTrigger(context.Background(), ActivityInput{Trigger: "ghost"})
	requireAppErr(t, err, ErrTypeConfig, `requester "nobody" is not a configured user`)
	_, err = a.RunTrigger(context.Background(), ActivityInput{Trigger: "nopw"})
	requireAppErr(t, err, ErrTypeConfig, "not set: not_set_anywhere")
	require.NotContains(t, err.Error(), "postgres://", "the URL stays out of errors")
}

func rowTemplate(title string) rowtemplate.Template {
	return rowtemplate.Template{Title: title, Environment: "aws"}
}

func activityOptions() activity.RegisterOptions { return activity.RegisterOptions{Name: ActivityName} }

func TestRunWorkflow(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	env.SetStartTime(start)
	a := &Activities{}
	env.RegisterActivityWithOptions(a.RunTrigger, activityOptions())
	want := RunResult{Trigger: "keys", Rows: 1, Started: []KeyApproval{{Key: "k", ApprovalID: "id"}}}
	env.OnActivity(ActivityName, mock.Anything, ActivityInput{Trigger: "keys", Time: start}).Return(want, nil).Once()
	env.ExecuteWorkflow(RunWorkflow, RunInput{Trigger: "keys"})
	require.NoError(t, env.GetWorkflowError())
	var got RunResult
	require.NoError(t, env.GetWorkflowResult(&got))
	require.Equal(t, want.Started, got.Started)

	// A refused query fails the run at once: no retry can fix the SQL.
	env = s.NewTestWorkflowEnvironment()
	env.RegisterActivityWithOptions(a.RunTrigger, activityOptions())
	env.OnActivity(ActivityName, mock.Anything, mock.Anything).
		Return(RunResult{}, temporal.NewNonRetryableApplicationError("syntax error", ErrTypeQuery, nil)).Once()
	env.ExecuteWorkflow(RunWorkflow, RunInput{Trigger: "keys"})
	require.ErrorContains(t, env.GetWorkflowError(), "syntax error")
	env.AssertExpectations(t)

	// Connection trouble is retried.
	env = s.NewTestWorkflowEnvironment()
	env.RegisterActivityWithOptions(a.RunTrigger, activityOptions())
	env.OnActivity(ActivityName, mock.Anything, mock.Anything).Return(RunResult{}, errors.New("connection refused")).Once()
	env.OnActivity(ActivityName, mock.Anything, mock.Anything).Return(want, nil).Once()
	env.ExecuteWorkflow(RunWorkflow, RunInput{Trigger: "keys"})
	require.NoError(t, env.GetWorkflowError())
	env.AssertExpectations(t)
}

// A password that shows in a driver's error is blanked before the message
// reaches history, and the error keeps its class.
func TestQueryErrorsAreRedacted(t *testing.T) {
	pg := &pgconn.PgError{Code: "42501", Message: "permission denied for user with password s3cr3t/pw"}
	tr := config.Trigger{Database: "postgres://u:${PW}@h/db"}
	lookup := func(string) (string, bool) { return "s3cr3t/pw", true }
	err := classify(redact(fmt.Errorf("trigger keys: query: %w", pg), secrets(tr, lookup)))
	requireAppErr(t, err, ErrTypeQuery, "password [redacted]")
	require.NotContains(t, err.Error(), "s3cr3t")

	plain := errors.New("dial postgres://u:s3cr3t%2Fpw@h/db: refused")
	require.EqualError(t, redact(plain, secrets(tr, lookup)), "dial postgres://u:[redacted]@h/db: refused")
}
