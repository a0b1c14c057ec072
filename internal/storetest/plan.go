package storetest

import (
	"strings"
	"testing"
)

// indexedLists are lists that run on every tick of a controller or every
// view of a page, written as the SQL store's listPage writes them (newest
// first by the sequence key, a page after a cursor read in ascending
// order), and the index that must serve each: one that holds only the rows
// listed, in the cursor's order, so that the list costs what it returns,
// not what the store has ever held.
var indexedLists = []struct {
	name, query, index string
	args               []any
}{
	// The rollout controller's tick (registry.PendingRollouts), and the
	// API's state filter.
	{"promotions in a state", "SELECT n FROM promotions WHERE state IN (?) ORDER BY n DESC LIMIT ?",
		"promotions_state", []any{"committed", 1000}},
	{"promotions in a state, the page after a cursor", "SELECT n FROM promotions WHERE state IN (?) AND n > ? ORDER BY n ASC LIMIT ?",
		"promotions_state", []any{"awaiting_approval", 100, 100}},
	// A model's promotions in a state: through the model's rows in that
	// state, not through every promotion in that state.
	{"a model's promotions in a state", "SELECT n FROM promotions WHERE model = ? AND state IN (?) ORDER BY n DESC LIMIT ?",
		"promotions_model_state", []any{"fraud", "succeeded", 100}},
	{"a model's promotions in a state, the page before a cursor", "SELECT n FROM promotions WHERE model = ? AND state IN (?) AND n < ? ORDER BY n DESC LIMIT ?",
		"promotions_model_state", []any{"fraud", "succeeded", 1000, 100}},
	// The web UI's pipeline page, and promote promotions list --active.
	{"active promotions", "SELECT n FROM promotions WHERE active ORDER BY n DESC LIMIT ?",
		"promotions_active_by_seq", []any{1000}},
	// The rollout controller's tick (registry.ActiveRollouts), the
	// pipeline page and the API's active filter.
	{"active rollouts", "SELECT n FROM rollouts WHERE active ORDER BY n DESC LIMIT ?",
		"rollouts_active_by_seq", []any{1000}},
	// The pipeline page and the holds list.
	{"active holds", "SELECT id FROM holds WHERE cleared_at IS NULL ORDER BY id DESC LIMIT ?",
		"holds_active_by_seq", []any{1000}},
}

// RunIndexedLists checks that the lists the controllers and the pipeline
// page read at every turn are read through their indexes. explain returns
// the database's plan of a query with ? placeholders, as text; the
// database is to prefer an index to a scan wherever it can (PostgreSQL
// plans a tiny table with a sequential scan otherwise).
func RunIndexedLists(t *testing.T, explain func(t *testing.T, query string, args ...any) string) {
	for _, l := range indexedLists {
		t.Run(l.name, func(t *testing.T) {
			plan := explain(t, l.query, l.args...)
			if !strings.Contains(plan, l.index) {
				t.Errorf("plan of %q does not use index %s:\n%s", l.query, l.index, plan)
			}
		})
	}
}
