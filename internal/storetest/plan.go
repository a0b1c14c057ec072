package storetest

import (
	"strings"
	"testing"

	"github.com/promote-ml/promote/promote"
)

// indexedLists are lists that run on every tick of a controller or every
// view of a page, as the filters that select them, and the index that must
// serve each: one that holds only the rows listed, in the cursor's order,
// so that the list costs what it returns, not what the store has ever held.
var indexedLists = []struct {
	name   string
	filter any
	index  string
}{
	// The rollout controller's tick (registry.PendingRollouts), and the
	// API's state filter.
	{"promotions in a state", promote.PromotionFilter{States: []promote.State{promote.StateCommitted}, Limit: 1000},
		"promotions_state"},
	{"promotions in a state, the page after a cursor",
		promote.PromotionFilter{States: []promote.State{promote.StateAwaitingApproval}, AfterSeq: 100, Limit: 100},
		"promotions_state"},
	// A model's promotions in a state: through the model's rows in that
	// state, not through every promotion in that state.
	{"a model's promotions in a state",
		promote.PromotionFilter{Model: "fraud", States: []promote.State{promote.StateSucceeded}, Limit: 100},
		"promotions_model_state"},
	{"a model's promotions in a state, the page before a cursor",
		promote.PromotionFilter{Model: "fraud", States: []promote.State{promote.StateSucceeded}, BeforeSeq: 1000, Limit: 100},
		"promotions_model_state"},
	// The web UI's pipeline page, and promote promotions list --active.
	{"active promotions", promote.PromotionFilter{ActiveOnly: true, Limit: 1000}, "promotions_active_by_seq"},
	// The rollout controller's tick (registry.ActiveRollouts), the
	// pipeline page and the API's active filter.
	{"active rollouts", promote.RolloutFilter{ActiveOnly: true, Limit: 1000}, "rollouts_active_by_seq"},
	// The pipeline page and the holds list.
	{"active holds", promote.HoldFilter{Limit: 1000}, "holds_active_by_seq"},
	// A version's records (promote audit list --model M --version V, the
	// web UI's version page): through the model's rows, or the version's.
	{"a version's audit events", promote.AuditFilter{Model: "fraud", Version: "v3", Limit: 100}, "audit_events_version"},
	{"a version's audit events, the page before a cursor",
		promote.AuditFilter{Model: "fraud", Version: "v3", BeforeSeq: 1000, Limit: 100}, "audit_events_version"},
	{"a version's promotions", promote.PromotionFilter{Model: "fraud", Version: "v3", Limit: 100}, "promotions_by_seq"},
	{"a version's holds", promote.HoldFilter{Model: "fraud", Version: "v3", IncludeCleared: true, Limit: 100}, "holds_by_seq"},
	{"a version's rollouts", promote.RolloutFilter{Model: "fraud", Version: "v3", Limit: 100}, "rollouts_by_seq"},
	// A model's live changes in an environment by what they did (the
	// registry's decisions, the promotion and version pages): through the
	// alias's rows of that version, rollback or promotion, not through
	// its whole history.
	{"the changes that made a version live", promote.LiveFilter{Model: "fraud", Environment: "prod", Version: "v3", Limit: 21},
		"live_history_version"},
	{"a version's committed changes", promote.LiveFilter{Model: "fraud", Environment: "prod", Version: "v3", Committed: true, Limit: 1},
		"live_history_version"},
	{"the rollbacks of a version", promote.LiveFilter{Model: "fraud", Environment: "prod", RollbackOf: "v3", Limit: 1},
		"live_history_rollback_of"},
	{"the rollbacks of a version after a promotion's change",
		promote.LiveFilter{Model: "fraud", Environment: "prod", RollbackOf: "v3", After: "p-1", Limit: 21}, "live_history_rollback_of"},
	{"the change a promotion made", promote.LiveFilter{Model: "fraud", Environment: "prod", PromotionID: "p-1", Limit: 1},
		"live_history_promotion"},
	// promote history, a page at a time.
	{"the history, the page before a change", promote.LiveFilter{Model: "fraud", Environment: "prod", BeforeSeq: 1000, Limit: 100},
		"live_history_newest"},
	{"the history, the page after a change", promote.LiveFilter{Model: "fraud", Environment: "prod", AfterSeq: 1000, Limit: 100},
		"live_history_newest"},
}

// LiveChangesOfVersion selects the changes that made a version live in an
// environment, as the web UI's version page reads them: a database's
// tests check that the next change of each is sought in the index, not
// found by a filter over the alias's whole history.
var LiveChangesOfVersion = promote.LiveFilter{Model: "fraud", Environment: "prod", Version: "v3", Limit: 11}

// refusedLists are filters that no index can serve because they select
// nothing definite: a version without its model, which would list the
// records of every model's version of that name. The store refuses them
// before reading anything.
var refusedLists = []struct {
	name   string
	filter any
}{
	{"promotions of a version without its model", promote.PromotionFilter{Version: "v3"}},
	{"promotions of a version in an environment without its model", promote.PromotionFilter{Version: "v3", Environment: "prod"}},
	{"holds of a version without its model", promote.HoldFilter{Version: "v3", IncludeCleared: true}},
	{"rollouts of a version without its model", promote.RolloutFilter{Version: "v3"}},
	{"audit events of a version without its model", promote.AuditFilter{Version: "v3"}},
	{"audit events of a version and an action without its model", promote.AuditFilter{Version: "v3", Action: promote.ActionHoldSet}},
}

// RunIndexedLists checks that the lists the controllers and the pipeline
// page read at every turn are read through their indexes, and that a
// list no index serves, a version's without its model, is refused. query
// returns the query, in the database's placeholders, and the arguments
// with which the store lists what a filter selects ((*sqlstore.DB).
// ListQuery); explain returns the database's plan of such a query, as
// text. The database is to prefer an index to a scan wherever it can
// (PostgreSQL plans a tiny table with a sequential scan otherwise).
func RunIndexedLists(t *testing.T, query func(filter any) (string, []any, error),
	explain func(t *testing.T, query string, args ...any) string) {
	for _, l := range refusedLists {
		t.Run(l.name, func(t *testing.T) {
			q, _, err := query(l.filter)
			if promote.ErrorCode(err) != promote.Invalid || !strings.Contains(err.Error(), "model") {
				t.Errorf("query of %+v = %q, %v; want it refused as Invalid, naming the model it needs", l.filter, q, err)
			}
		})
	}
	for _, l := range indexedLists {
		t.Run(l.name, func(t *testing.T) {
			q, args, err := query(l.filter)
			if err != nil {
				t.Fatalf("query of %+v: %v", l.filter, err)
			}
			plan := explain(t, q, args...)
			if !strings.Contains(plan, l.index) {
				t.Errorf("plan of %q does not use index %s:\n%s", q, l.index, plan)
			}
		})
	}
}
