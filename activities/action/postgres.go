package action

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"

	"github.com/signoff/signoff/approval"
)

// PostgresRoleType grants a PostgreSQL role to a login for the approval's
// duration (GRANT role TO user), then revokes it.
const PostgresRoleType = "postgres_role"

// PostgresRole is the postgres_role action. Grant and revoke each look
// first (pg_auth_members), act only if needed, and read back after: a
// retry never acts twice, and success means the catalog says so.
type PostgresRole struct {
	// Targets are the configured databases: name → DSN variable and the
	// roles that may be granted there.
	Targets map[string]PostgresTarget
	// LookupEnv reads the DSN variables (the worker's environment).
	LookupEnv func(string) (string, bool)
}

// PostgresTarget is one configured database.
type PostgresTarget struct {
	URLEnv string
	Roles  []string
}

// identifier is a plain PostgreSQL name: no quoting games in role or user.
var identifier = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// Validate checks target, role and user before anyone is asked.
func (p *PostgresRole) Validate(a approval.Action) error {
	if a.URL != "" {
		return errors.New("postgres_role takes no url")
	}
	t, ok := p.Targets[a.Params["target"]]
	switch {
	case !ok:
		return fmt.Errorf("params.target %q is not a configured target (actions.postgres.targets)", a.Params["target"])
	case !slices.Contains(t.Roles, a.Params["role"]):
		return fmt.Errorf("params.role %q may not be granted on %s (allowed: %v)", a.Params["role"], a.Params["target"], t.Roles)
	case !identifier.MatchString(a.Params["user"]):
		return fmt.Errorf("params.user %q: want a PostgreSQL login name (lower case letters, digits, _)", a.Params["user"])
	}
	for k := range a.Params {
		if k != "target" && k != "role" && k != "user" {
			return fmt.Errorf("params.%s: unknown (target, role, user)", k)
		}
	}
	return nil
}

// Resource is the role membership: target, role and login.
func (p *PostgresRole) Resource(a approval.Action) string {
	return strings.Join([]string{PostgresRoleType, a.Params["target"], a.Params["role"], a.Params["user"]}, ":")
}

// Holds reads whether the login is a member of the role now.
func (p *PostgresRole) Holds(ctx context.Context, st *approval.State) (bool, error) {
	db, role, user, err := p.open(st)
	if err != nil {
		return false, err
	}
	defer db.Close()
	return isMember(ctx, db, role, user)
}

// Run grants the role.
func (p *PostgresRole) Run(ctx context.Context, st *approval.State) (string, error) {
	db, role, user, err := p.open(st)
	if err != nil {
		return "", err
	}
	defer db.Close()
	member, err := isMember(ctx, db, role, user)
	if err != nil {
		return "", err
	}
	if !member {
		if _, err := db.ExecContext(ctx, "GRANT "+pgx.Identifier{role}.Sanitize()+" TO "+pgx.Identifier{user}.Sanitize()); err != nil {
			return "", classify(fmt.Errorf("grant %s to %s: %w", role, user, err))
		}
	}
	if member, err = isMember(ctx, db, role, user); err != nil || !member {
		return "", fmt.Errorf("grant %s to %s: not a member when read back (%v)", role, user, err)
	}
	return fmt.Sprintf("granted role %s to %s on %s (verified: member)", role, user, st.Request.Action.Params["target"]), nil
}

// Revoke takes the role back.
func (p *PostgresRole) Revoke(ctx context.Context, st *approval.State) (string, error) {
	db, role, user, err := p.open(st)
	if err != nil {
		return "", err
	}
	defer db.Close()
	member, err := isMember(ctx, db, role, user)
	if err != nil {
		return "", err
	}
	if member {
		if _, err := db.ExecContext(ctx, "REVOKE "+pgx.Identifier{role}.Sanitize()+" FROM "+pgx.Identifier{user}.Sanitize()); err != nil {
			return "", fmt.Errorf("revoke %s from %s: %w", role, user, err)
		}
	}
	if member, err = isMember(ctx, db, role, user); err != nil || member {
		return "", fmt.Errorf("revoke %s from %s: still a member when read back (%v)", role, user, err)
	}
	return fmt.Sprintf("revoked role %s from %s on %s (verified: not a member)", role, user, st.Request.Action.Params["target"]), nil
}

// open connects to the action's target.
func (p *PostgresRole) open(st *approval.State) (*sql.DB, string, string, error) {
	a := st.Request.Action
	if err := p.Validate(a); err != nil {
		return nil, "", "", Permanent(err)
	}
	t := p.Targets[a.Params["target"]]
	dsn, ok := p.LookupEnv(t.URLEnv)
	if !ok || dsn == "" {
		return nil, "", "", fmt.Errorf("target %s: %s is not set on this worker", a.Params["target"], t.URLEnv)
	}
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return nil, "", "", fmt.Errorf("target %s: %w", a.Params["target"], err)
	}
	db.SetMaxOpenConns(1)
	db.SetConnMaxLifetime(time.Minute)
	return db, a.Params["role"], a.Params["user"], nil
}

// isMember reads the catalog: is user a direct member of role?
func isMember(ctx context.Context, db *sql.DB, role, user string) (bool, error) {
	var n int
	err := db.QueryRowContext(ctx, `SELECT count(*) FROM pg_auth_members m
		JOIN pg_roles r ON r.oid = m.roleid JOIN pg_roles u ON u.oid = m.member
		WHERE r.rolname = $1 AND u.rolname = $2`, role, user).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("read role membership: %w", err)
	}
	return n > 0, nil
}

// classify makes errors retrying cannot fix permanent: a role or login
// that does not exist, or no right to grant.
func classify(err error) error {
	msg := err.Error()
	if strings.Contains(msg, "SQLSTATE 42704") || strings.Contains(msg, "SQLSTATE 42501") {
		return Permanent(err)
	}
	return err
}
