package triggers

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx": PostgreSQL, Steampipe
	"go.temporal.io/sdk/temporal"
	"modernc.org/sqlite"

	"github.com/signoff/signoff/config"
	"github.com/signoff/signoff/config/rowtemplate"
)

// result is a query's answer: its columns and rows, each a column → value
// map ready for templates.
type result struct {
	columns []string
	rows    []map[string]any
}

// query runs t's SQL read-only and reads at most limit+1 rows (one more
// than allowed, to tell that there were too many).
func query(ctx context.Context, t config.Trigger, dsn string, limit int) (result, error) {
	ctx, cancel := context.WithTimeout(ctx, t.Timeout.Std())
	defer cancel()
	db, err := sql.Open(t.Driver(), dsn)
	if err != nil {
		return result{}, fmt.Errorf("open database: %w", err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	var rows *sql.Rows
	if t.Driver() == "pgx" {
		// A read-only transaction: a trigger's SQL can look, not touch.
		tx, err := db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
		if err != nil {
			return result{}, fmt.Errorf("connect: %w", err)
		}
		defer func() { _ = tx.Rollback() }()
		rows, err = tx.QueryContext(ctx, t.SQL)
		if err != nil {
			return result{}, fmt.Errorf("query: %w", err)
		}
	} else {
		// SQLite files are opened with mode=ro.
		rows, err = db.QueryContext(ctx, t.SQL)
		if err != nil {
			return result{}, fmt.Errorf("query: %w", err)
		}
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return result{}, fmt.Errorf("columns: %w", err)
	}
	out := result{columns: cols}
	for rows.Next() && len(out.rows) <= limit {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return result{}, fmt.Errorf("read row: %w", err)
		}
		row := make(map[string]any, len(cols))
		for i, c := range cols {
			row[c] = rowtemplate.Value(vals[i])
		}
		out.rows = append(out.rows, row)
	}
	if err := rows.Err(); err != nil {
		return result{}, fmt.Errorf("read rows: %w", err)
	}
	return out, nil
}

// classify marks errors a retry cannot fix (the SQL itself is wrong, or
// not allowed) as non-retryable; connection trouble stays retryable. It
// must see the final message: an application error wrapped in another
// error would be retried as a plain one.
func classify(err error) error {
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		// Class 42: syntax error or access rule violation (unknown table or
		// column, permission denied); 3F: unknown schema; 25006: a write in
		// the read-only transaction.
		if strings.HasPrefix(pg.Code, "42") || strings.HasPrefix(pg.Code, "3F") || pg.Code == "25006" {
			return temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeQuery, nil)
		}
		return err
	}
	var lite *sqlite.Error
	if errors.As(err, &lite) {
		// SQLITE_ERROR (1) is "SQL logic error": syntax, unknown table or
		// column. SQLITE_READONLY (8): a write on the read-only file.
		if c := lite.Code() & 0xff; c == 1 || c == 8 {
			return temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeQuery, nil)
		}
	}
	return err
}
