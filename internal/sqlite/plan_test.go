package sqlite_test

import (
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/promote-ml/promote/internal/sqlite"
	"github.com/promote-ml/promote/internal/storetest"
)

// TestIndexedLists checks the plans SQLite makes for the lists that
// controllers and the pipeline page read at every turn: each reads its
// index, not the whole table.
func TestIndexedLists(t *testing.T) {
	dir := t.TempDir()
	store := open(t, dir)
	raw, err := sql.Open("sqlite", "file:"+filepath.Join(dir, sqlite.FileName))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	storetest.RunIndexedLists(t, store.ListQuery, func(t *testing.T, query string, args ...any) string {
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
	})
}
