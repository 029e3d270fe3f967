package devserver

import (
	"bytes"
	"crypto/md5" // #nosec G501 -- a manifest checksum in the schema log, as Temporal's own tool writes
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"path"
	"slices"
	"strconv"
	"strings"

	"go.temporal.io/server/common/log"
	"go.temporal.io/server/common/metrics"
	"go.temporal.io/server/common/persistence"
	sqlpersistence "go.temporal.io/server/common/persistence/sql"
	"go.temporal.io/server/common/persistence/sql/sqlplugin"
	_ "go.temporal.io/server/common/persistence/sql/sqlplugin/postgresql" // registers postgres12 and postgres12_pgx
	"go.temporal.io/server/common/resolver"
	temporalschema "go.temporal.io/server/schema"
)

// store is one of Temporal's two databases and its embedded schema tree.
type store struct {
	kind      sqlplugin.DbKind
	database  string
	schemaDir string // versioned directories in temporalschema.Assets()
}

func (p PostgresOptions) stores() []store {
	return []store{
		{sqlplugin.DbKindMain, p.Database, "postgresql/v12/temporal/versioned"},
		{sqlplugin.DbKindVisibility, p.VisibilityDatabase, "postgresql/v12/visibility/versioned"},
	}
}

// MigratePostgres creates Temporal's databases when missing and brings their
// schemas to the versions this binary needs, from the schema files embedded
// in the Temporal server module. Running it again is a no-op. It is a step
// of its own (`signoff temporal migrate`), run before a new version starts,
// never implicitly at server start-up.
func MigratePostgres(p PostgresOptions, logger *slog.Logger) error {
	tlog := NewSlogLogger(logger, "warn")
	for _, st := range p.stores() {
		if err := createDatabase(p, st.database, tlog, logger); err != nil {
			return err
		}
		if err := migrateStore(p, st, tlog, logger); err != nil {
			return fmt.Errorf("migrate %s database %q: %w", st.kind, st.database, err)
		}
	}
	return nil
}

// CheckPostgresSchema fails unless both databases are at least at the
// versions this binary needs, and says how to fix it.
func CheckPostgresSchema(p PostgresOptions, tlog log.Logger) error {
	for _, st := range p.stores() {
		db, err := sqlpersistence.NewSQLAdminDB(st.kind, p.sqlConfig(st.database), resolver.NewNoopResolver(), tlog, metrics.NoopMetricsHandler)
		if err != nil {
			return fmt.Errorf("open %s database %q: %w", st.kind, st.database, err)
		}
		err = db.VerifyVersion()
		_ = db.Close()
		if err != nil {
			return fmt.Errorf("%s database %q at %s is missing or not migrated (run `signoff temporal migrate`): %w",
				st.kind, st.database, p.Address, err)
		}
	}
	return nil
}

// pgInsufficientPrivilege is the SQLSTATE of a refused CREATE DATABASE.
const pgInsufficientPrivilege = "42501"

func sqlState(err error) string {
	var e interface{ SQLState() string }
	if errors.As(err, &e) {
		return e.SQLState()
	}
	return ""
}

// createDatabase creates a database unless it exists. A role without
// CREATEDB cannot tell (PostgreSQL checks the privilege first): then the
// database is assumed to have been made by an administrator, and the schema
// step says so if not.
func createDatabase(p PostgresOptions, name string, tlog log.Logger, logger *slog.Logger) error {
	maint := p.MaintenanceDatabase
	if maint == "" {
		maint = "postgres"
	}
	db, err := sqlpersistence.NewSQLAdminDB(sqlplugin.DbKindUnknown, p.sqlConfig(maint), resolver.NewNoopResolver(), tlog, metrics.NoopMetricsHandler)
	if err != nil {
		return fmt.Errorf("open maintenance database %q: %w", maint, err)
	}
	defer func() { _ = db.Close() }()
	// CreateDatabase already treats "exists" as success.
	err = db.CreateDatabase(name)
	switch sqlState(err) {
	case "":
		if err != nil {
			return fmt.Errorf("create database %q on %s as %q (connection errors are logged above): %w", name, p.Address, p.User, err)
		}
	case pgInsufficientPrivilege:
		logger.Warn("role may not create databases; assuming the database exists", "database", name, "user", p.User)
	default:
		return fmt.Errorf("create database %q: %w", name, err)
	}
	return nil
}

// schemaVersion is a versioned directory's "major.minor".
type schemaVersion struct{ major, minor int }

func parseSchemaVersion(s string) (schemaVersion, error) {
	major, minor, ok := strings.Cut(strings.TrimPrefix(s, "v"), ".")
	a, errA := strconv.Atoi(major)
	b, errB := strconv.Atoi(minor)
	if !ok || errA != nil || errB != nil {
		return schemaVersion{}, fmt.Errorf("schema version %q: want major.minor", s)
	}
	return schemaVersion{a, b}, nil
}

func (v schemaVersion) String() string { return fmt.Sprintf("%d.%d", v.major, v.minor) }

func (v schemaVersion) compare(o schemaVersion) int {
	if v.major != o.major {
		return v.major - o.major
	}
	return v.minor - o.minor
}

// manifest is a versioned directory's manifest.json.
type manifest struct {
	CurrVersion          string
	MinCompatibleVersion string
	Description          string
	SchemaUpdateCqlFiles []string
}

// migrateStore applies every versioned directory above the database's
// version, up to the version this binary expects, recording each in
// schema_version and schema_update_history as temporal-sql-tool does, so
// either tool can take over later.
func migrateStore(p PostgresOptions, st store, tlog log.Logger, logger *slog.Logger) error {
	db, err := sqlpersistence.NewSQLAdminDB(st.kind, p.sqlConfig(st.database), resolver.NewNoopResolver(), tlog, metrics.NoopMetricsHandler)
	if err != nil {
		return fmt.Errorf("open: %w", err)
	}
	defer func() { _ = db.Close() }()
	if err := db.CreateSchemaVersionTables(); err != nil {
		return fmt.Errorf("create schema version tables (connection errors are logged above): %w", err)
	}
	current := schemaVersion{}
	cur, err := db.ReadSchemaVersion(st.database)
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return fmt.Errorf("read schema version: %w", err)
	default:
		if current, err = parseSchemaVersion(cur); err != nil {
			return err
		}
	}
	target, err := parseSchemaVersion(db.ExpectedVersion())
	if err != nil {
		return err
	}
	steps, err := schemaSteps(temporalschema.Assets(), st.schemaDir, current, target)
	if err != nil {
		return err
	}
	for _, v := range steps {
		if err := applyVersion(db, st, v, current); err != nil {
			return err
		}
		logger.Info("applied schema version", "database", st.database, "from", current.String(), "to", v.String())
		current = v
	}
	if current.compare(target) < 0 {
		return fmt.Errorf("embedded schema ends at %s, this binary needs %s", current, target)
	}
	if len(steps) == 0 {
		logger.Info("schema is current", "database", st.database, "version", current.String())
	}
	return db.VerifyVersion()
}

// schemaSteps lists the versions in (current, target], in order.
func schemaSteps(fsys fs.FS, dir string, current, target schemaVersion) ([]schemaVersion, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("embedded schema %s: %w", dir, err)
	}
	var steps []schemaVersion
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		v, err := parseSchemaVersion(e.Name())
		if err != nil {
			return nil, fmt.Errorf("embedded schema %s: %w", dir, err)
		}
		if v.compare(current) > 0 && v.compare(target) <= 0 {
			steps = append(steps, v)
		}
	}
	slices.SortFunc(steps, schemaVersion.compare)
	return steps, nil
}

// applyVersion runs one versioned directory. PostgreSQL could run DDL in a
// transaction, but some steps use CREATE INDEX CONCURRENTLY, which cannot;
// like temporal-sql-tool, statements run one by one and the version is
// recorded last. A step that fails half-way (say, the connection drops)
// must be finished by hand before migrate runs again; take a backup first.
func applyVersion(db sqlplugin.AdminDB, st store, v, from schemaVersion) error {
	fsys := temporalschema.Assets()
	vdir := path.Join(st.schemaDir, "v"+v.String())
	raw, err := fs.ReadFile(fsys, path.Join(vdir, "manifest.json"))
	if err != nil {
		return fmt.Errorf("schema %s: %w", vdir, err)
	}
	var m manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return fmt.Errorf("schema %s manifest: %w", vdir, err)
	}
	if mv, err := parseSchemaVersion(m.CurrVersion); err != nil || mv != v {
		return fmt.Errorf("schema %s manifest: CurrVersion %q does not match the directory", vdir, m.CurrVersion)
	}
	var readers []io.Reader
	for _, f := range m.SchemaUpdateCqlFiles {
		b, err := fs.ReadFile(fsys, path.Join(vdir, f))
		if err != nil {
			return fmt.Errorf("schema %s: %w", vdir, err)
		}
		readers = append(readers, bytes.NewReader(b))
	}
	stmts, err := persistence.LoadAndSplitQueryFromReaders(readers)
	if err != nil {
		return fmt.Errorf("schema %s: %w", vdir, err)
	}
	for _, s := range stmts {
		if err := db.Exec(s); err != nil {
			return fmt.Errorf("schema %s: %w\nstatement: %s", vdir, err, s)
		}
	}
	if err := db.UpdateSchemaVersion(st.database, m.CurrVersion, m.MinCompatibleVersion); err != nil {
		return fmt.Errorf("record schema version %s: %w", m.CurrVersion, err)
	}
	sum := md5.Sum(raw) // #nosec G401
	if err := db.WriteSchemaUpdateLog(from.String(), m.CurrVersion, hex.EncodeToString(sum[:]), m.Description); err != nil {
		return fmt.Errorf("record schema update log %s: %w", m.CurrVersion, err)
	}
	return nil
}
