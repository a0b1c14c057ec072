package sqlite_test

import (
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/promote-ml/promote/internal/sqlite"
	"github.com/promote-ml/promote/internal/sqlstore"
	"github.com/promote-ml/promote/internal/storetest"
)

// TestIndexedLists checks the plans SQLite makes for the lists that
// controllers and the pipeline page read at every turn: each reads its
// index, not the whole table.
func TestIndexedLists(t *testing.T) {
	store, raw := openExplained(t)
	storetest.RunIndexedLists(t, store.ListQuery, func(t *testing.T, query string, args ...any) string {
		return explain(t, raw, query, args...)
	})
}

// openExplained opens a store and a plain connection to its database,
// for EXPLAIN.
func openExplained(t *testing.T) (*sqlstore.DB, *sql.DB) {
	dir := t.TempDir()
	store := open(t, dir)
	raw, err := sql.Open("sqlite", "file:"+filepath.Join(dir, sqlite.FileName))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	return store, raw
}

// explain returns SQLite's plan of query, a line a step.
func explain(t *testing.T, raw *sql.DB, query string, args ...any) string {
	t.Helper()
	rows, err := raw.QueryContext(t.Context(), "EXPLAIN QUERY PLAN "+query, args...)
	if err != nil {
		t.Fatalf("EXPLAIN QUERY PLAN %s: %v", query, err)
	}
	defer rows.Close()
	var plan strings.Builder
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintln(&plan, detail)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return plan.String()
}

// TestLiveChangesSeekNext checks that the change after each live change is
// sought in live_history_newest past the change's (set_at, n), rather
// than found by reading the alias's history from its start.
func TestLiveChangesSeekNext(t *testing.T) {
	store, raw := openExplained(t)
	q, args, err := store.ListQuery(storetest.LiveChangesOfVersion)
	if err != nil {
		t.Fatal(err)
	}
	plan := explain(t, raw, q, args...)
	const seek = "live_history_newest (model=? AND environment=? AND set_at>?)"
	if !strings.Contains(plan, seek) {
		t.Errorf("plan of %q does not seek %s:\n%s", q, seek, plan)
	}
}
