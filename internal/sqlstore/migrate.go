package sqlstore

import (
	"context"
	"fmt"
	"io/fs"
	"sort"
	"time"
)

// migrate applies the dialect's migrations that the database has not
// recorded yet, in name order, each recorded in schema_migrations, all in
// one transaction: a database is either migrated completely or left as it
// was. Reopening a migrated database applies nothing.
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
	for _, name := range names {
		if applied[name] {
			continue
		}
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
