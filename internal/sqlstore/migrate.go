package sqlstore

import (
	"context"
	"fmt"
	"io/fs"
	"sort"
	"strings"
	"time"
)

// migrate applies the dialect's migrations that the database has not
// recorded yet, in name order, each recorded in schema_migrations, all in
// one transaction: a database is either migrated completely or left as it
// was. Reopening a migrated database applies nothing. A database that has
// recorded a migration this binary does not have was migrated by a newer
// Promote: it is refused, unchanged, since this binary's queries may no
// longer match its schema, or may leave the newer columns stale.
func (db *DB) migrate(ctx context.Context) error {
	if db.dialect.Migrations == nil {
		return fmt.Errorf("no migrations")
	}
	names, err := fs.Glob(db.dialect.Migrations, "*.sql")
	if err != nil {
		return err
	}
	sort.Strings(names)
	if len(names) == 0 {
		return fmt.Errorf("no migrations")
	}

	stx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer stx.Rollback()
	if db.dialect.MigrationLock != "" {
		if _, err := stx.ExecContext(ctx, db.dialect.MigrationLock); err != nil {
			return fmt.Errorf("lock: %w", err)
		}
	}
	if _, err := stx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		name       TEXT PRIMARY KEY,
		applied_at BIGINT NOT NULL
	)`); err != nil {
		return err
	}
	applied := map[string]bool{}
	rows, err := stx.QueryContext(ctx, "SELECT name FROM schema_migrations")
	if err != nil {
		return err
	}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			rows.Close()
			return err
		}
		applied[name] = true
	}
	if err := rows.Close(); err != nil {
		return err
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if unknown := newer(applied, names); len(unknown) > 0 {
		return fmt.Errorf("the database has migration %s, which this binary does not have: "+
			"a newer Promote has migrated it; run that version or a later one, "+
			"or restore the backup taken before the upgrade (docs/operations.md, Upgrades)",
			strings.Join(unknown, ", "))
	}
	var done, pending []string
	for _, name := range names {
		if applied[name] {
			done = append(done, name)
		} else {
			pending = append(pending, name)
		}
	}
	if len(pending) > 0 && db.dialect.MayMigrate != nil {
		if err := db.dialect.MayMigrate(done, pending); err != nil {
			return err
		}
	}
	for _, name := range pending {
		script, err := fs.ReadFile(db.dialect.Migrations, name)
		if err != nil {
			return err
		}
		if _, err := stx.ExecContext(ctx, string(script)); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		if _, err := stx.ExecContext(ctx, db.rebind("INSERT INTO schema_migrations (name, applied_at) VALUES (?, ?)"),
			name, time.Now().UnixNano()); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	return stx.Commit()
}

// newer returns, sorted, the applied migrations that are not among names.
func newer(applied map[string]bool, names []string) []string {
	known := make(map[string]bool, len(names))
	for _, n := range names {
		known[n] = true
	}
	var unknown []string
	for n := range applied {
		if !known[n] {
			unknown = append(unknown, n)
		}
	}
	sort.Strings(unknown)
	return unknown
}
