package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"slices"
	"strings"

	"github.com/promote-ml/promote/promote"
)

// NewReadOnly returns a store that reads through read and never writes:
// what an audit verification needs, which must be able to run with no
// more than the right to read the database, and must leave it as it was.
// It migrates nothing. The migrations the database has recorded must be
// exactly d.Migrations, read in a read-only transaction; otherwise it
// returns a *SchemaError, and the database is unchanged. Update fails; the
// store owns read, as New's store owns its pools.
func NewReadOnly(ctx context.Context, d Dialect, read *sql.DB) (*DB, error) {
	db := &DB{write: read, read: read, dialect: d, readOnly: true}
	known, err := MigrationNames(d.Migrations)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open %s store: %w", d.Name, err)
	}
	applied, err := db.appliedMigrations(ctx)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("read the %s schema's migrations: %w", d.Name, db.unavailable(ctx, err))
	}
	if !slices.Equal(applied, known) {
		db.Close()
		return nil, &SchemaError{Applied: applied, Known: known}
	}
	return db, nil
}

// MigrationNames returns the names of the migrations in m, in the order
// they apply.
func MigrationNames(m fs.FS) ([]string, error) {
	if m == nil {
		return nil, fmt.Errorf("no migrations")
	}
	names, err := fs.Glob(m, "*.sql")
	if err != nil {
		return nil, err
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("no migrations")
	}
	slices.Sort(names)
	return names, nil
}

// appliedMigrations returns, in name order, the migrations the database
// has recorded in schema_migrations, in one read-only transaction; none
// when it has no such table (a database Promote has never opened). The
// table is looked for in the dialect's catalog first: querying a table
// that is not there fails, and on PostgreSQL aborts the transaction.
func (db *DB) appliedMigrations(ctx context.Context) ([]string, error) {
	opts := db.dialect.ViewOptions
	opts.ReadOnly = true
	stx, err := db.read.BeginTx(ctx, &opts)
	if err != nil {
		return nil, err
	}
	defer stx.Rollback()
	rows, err := stx.QueryContext(ctx, db.dialect.Catalog)
	if err != nil {
		return nil, fmt.Errorf("list the tables: %w", err)
	}
	found := false
	for rows.Next() {
		var table, column, typ string
		var generated bool
		if err := rows.Scan(&table, &column, &typ, &generated); err != nil {
			rows.Close()
			return nil, fmt.Errorf("list the tables: %w", err)
		}
		found = found || table == "schema_migrations"
	}
	if err := rows.Close(); err != nil {
		return nil, fmt.Errorf("list the tables: %w", err)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list the tables: %w", err)
	}
	if !found {
		return nil, nil
	}
	rows, err = stx.QueryContext(ctx, "SELECT name FROM schema_migrations ORDER BY name")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return nil, err
		}
		names = append(names, name)
	}
	return names, rows.Err()
}

// SchemaError is NewReadOnly's refusal of a database whose recorded
// migrations are not this binary's: an older store, which this binary
// would have to migrate first, a newer one, whose schema this binary's
// queries may not match, or one Promote has never opened (no migrations).
type SchemaError struct {
	// Applied are the migrations the database has recorded, in name
	// order; none for a database without Promote's schema.
	Applied []string
	// Known are this binary's migrations, in name order.
	Known []string
}

// Missing returns, in order, this binary's migrations that the database
// has not recorded: it is older.
func (e *SchemaError) Missing() []string { return without(e.Known, e.Applied) }

// Unknown returns, in order, the migrations the database has recorded
// that this binary does not have: a newer Promote migrated it.
func (e *SchemaError) Unknown() []string { return without(e.Applied, e.Known) }

func (e *SchemaError) Error() string {
	at := "no migration (it has no Promote schema)"
	if len(e.Applied) > 0 {
		at = "migration " + e.Applied[len(e.Applied)-1]
	}
	msg := fmt.Sprintf("the store is at %s; this promote knows up to %s", at, e.Known[len(e.Known)-1])
	if m := e.Missing(); len(m) > 0 && len(e.Applied) > 0 {
		msg += fmt.Sprintf(", and the store has not applied %s", names(m))
	}
	if u := e.Unknown(); len(u) > 0 {
		msg += fmt.Sprintf(", and the store has %s, which this promote does not know", names(u))
	}
	return msg
}

// names lists migration names for a message: every one when there are
// few, else the first and the last, and how many.
func names(n []string) string {
	if len(n) <= 4 {
		return strings.Join(n, ", ")
	}
	return fmt.Sprintf("%s to %s (%d migrations)", n[0], n[len(n)-1], len(n))
}

// without returns, in order, the names of a that are not in b.
func without(a, b []string) []string {
	var out []string
	for _, n := range a {
		if !slices.Contains(b, n) {
			out = append(out, n)
		}
	}
	return out
}

// errReadOnly is Update's error on a store that NewReadOnly opened.
func (db *DB) errReadOnly() error {
	return promote.Errorf(promote.Internal, "the %s store is open read-only: nothing can be written through it", db.dialect.Name)
}
