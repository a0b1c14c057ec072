package storetest

import (
	"fmt"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/promote-ml/promote/promote"
)

// Walk pages through a listing that pages by sequence cursor, newest
// first (the audit log, versions, promotions, rollouts, holds), with list,
// which reads the page before a cursor or just after one, from after to
// the end: back from the newest when after is 0, following each page's
// last seq as the next page's before; otherwise forth, following each
// page's first seq as the next page's after. It checks that every page
// holds at most limit items (when above 0) newest first, seq falling, and
// returns every item in the listing's order, newest first, for the caller
// to compare with every item it expects once. what names the listing in
// failures.
func Walk[T any](t testing.TB, what string, after int64, limit int, seq func(T) int64, list func(before, after int64) ([]T, error)) []T {
	t.Helper()
	forth := after > 0
	var before int64
	var got []T
	for pages := 0; ; pages++ {
		if pages > 100_000 {
			t.Fatalf("%s: more than %d pages; the cursor does not move", what, pages)
		}
		page, err := list(before, after)
		if err != nil {
			t.Fatalf("%s before %d, after %d = %v", what, before, after, err)
		}
		if limit > 0 && len(page) > limit {
			t.Fatalf("%s before %d, after %d = %d items, want at most %d", what, before, after, len(page), limit)
		}
		if len(page) == 0 {
			return got
		}
		for i := 1; i < len(page); i++ {
			if seq(page[i]) >= seq(page[i-1]) {
				t.Fatalf("%s before %d, after %d: item %d has seq %d, not below the one before it, %d: not newest first",
					what, before, after, i, seq(page[i]), seq(page[i-1]))
			}
		}
		if forth {
			// Each page is listed newest first: the pages come in reverse.
			if seq(page[len(page)-1]) <= after {
				t.Fatalf("%s after %d lists seq %d: not after the cursor", what, after, seq(page[len(page)-1]))
			}
			got = append(append([]T(nil), page...), got...)
			after = seq(page[0])
		} else {
			if before > 0 && seq(page[0]) >= before {
				t.Fatalf("%s before %d lists seq %d: not before the cursor", what, before, seq(page[0]))
			}
			got = append(got, page...)
			before = seq(page[len(page)-1])
		}
	}
}

// pageSizes are the page sizes the walks take: one at a time, a size that
// divides no count, the default and the most.
var pageSizes = []int{1, 7, promote.DefaultLimit, 1000}

// walkBothWays walks a listing of want (its keys, newest first, as key
// makes them) back from the newest and forth from its oldest by every
// page size, and fails the test on a gap, a repeat or a row out of order.
func walkBothWays[T any](t *testing.T, name string, want []T, key func(T) string, seq func(T) int64, list func(before, after int64, limit int) ([]T, error)) {
	t.Helper()
	if len(want) < 2 {
		t.Fatalf("%s: %d rows match, too few to walk", name, len(want))
	}
	oldest := seq(want[len(want)-1])
	for _, size := range pageSizes {
		t.Run(fmt.Sprintf("%s back by %d", name, size), func(t *testing.T) {
			got := Walk(t, name, 0, size, seq, func(before, after int64) ([]T, error) { return list(before, after, size) })
			if diff := cmp.Diff(keys(want, key), keys(got, key)); diff != "" {
				t.Errorf("%s paged back by %d (-want +got):\n%s", name, size, diff)
			}
		})
		t.Run(fmt.Sprintf("%s forth by %d", name, size), func(t *testing.T) {
			got := Walk(t, name, oldest, size, seq, func(before, after int64) ([]T, error) { return list(before, after, size) })
			if diff := cmp.Diff(keys(want[:len(want)-1], key), keys(got, key)); diff != "" {
				t.Errorf("%s paged forth by %d from the oldest (-want +got):\n%s", name, size, diff)
			}
		})
	}
}

// pagedRows is how many promotions, rollouts and holds testListPages
// stores: more than the largest page.
const pagedRows = 1200

// slowClock reports whether the i-th row of testListPages is stored with
// an earlier time than the one before it, as a replica with a slow clock
// would store it: the listings' order is the store's, as the cursors' is,
// so no page skips or repeats such a row.
func slowClock(i int) bool { return i%97 == 0 }

// stamp is the time of the i-th row of testListPages.
func stamp(i int) int {
	if slowClock(i) {
		return -i
	}
	return i
}

// testListPages stores 1,200 promotions, a rollout of each and 1,200
// holds, over two models and three environments in every state, and walks
// their listings back and forth a page at a time, unfiltered and with
// their filters combined: every row that matches once, newest (the last
// stored) first.
func testListPages(t *testing.T, s promote.Store) {
	seed(t, s)
	envs := []string{"dev", "staging", "prod"}
	ended := []promote.State{promote.StateSucceeded, promote.StateFailed, promote.StateRolledBack, promote.StateCancelled, promote.StateBlocked}
	rolloutStates := []promote.RolloutState{promote.RolloutRunning, promote.RolloutSucceeded, promote.RolloutRolledBack, promote.RolloutPaused}
	var proms []promote.Promotion
	var rollouts []promote.Rollout
	var holds []promote.Hold
	update(t, s, func(tx promote.Tx) error {
		for i := range pagedRows {
			m, v := "fraud", "1.0"
			if i%2 == 1 {
				m = "churn"
			} else if i%4 == 2 {
				v = "1.1"
			}
			env := envs[(i/2)%len(envs)]
			p := promotion(fmt.Sprintf("p%04d", i), m, v, env, stamp(i))
			// The first six hold each model's and environment's one
			// active slot; the others have ended.
			if i >= 6 {
				p.State = ended[i%len(ended)]
			}
			if _, err := tx.CreatePromotion(p); err != nil {
				return err
			}
			proms = append(proms, p)
			// Stored in another order than their promotions, so that a
			// rollout's seq is not its promotion's.
			r := rollout(fmt.Sprintf("p%04d", pagedRows-1-i), "", "", "", stamp(i))
			rollouts = append(rollouts, r)
			h, err := tx.AddHold(promote.Hold{Model: m, Version: v, Environment: env, Reason: fmt.Sprint(i), SetBy: "ops", SetAt: at(stamp(i))})
			if err != nil {
				return err
			}
			holds = append(holds, h)
		}
		for i := range rollouts {
			p := proms[pagedRows-1-i]
			r := &rollouts[i]
			r.Model, r.Version, r.Environment, r.State = p.Model, p.Version, p.Environment, rolloutStates[i%len(rolloutStates)]
			if err := tx.SaveRollout(*r); err != nil {
				return err
			}
		}
		for i := range holds {
			if i%4 == 0 {
				cleared, err := tx.ClearHold(holds[i].ID, "dave", "reviewed", at(pagedRows+i))
				if err != nil {
					return err
				}
				holds[i] = cleared
			}
		}
		return nil
	})

	listPromotions := func(f promote.PromotionFilter) func(before, after int64, limit int) ([]promote.Promotion, error) {
		return func(before, after int64, limit int) (ps []promote.Promotion, err error) {
			f.BeforeSeq, f.AfterSeq, f.Limit = before, after, limit
			err = s.View(t.Context(), func(tx promote.Tx) error { ps, err = tx.Promotions(f); return err })
			return ps, err
		}
	}
	listRollouts := func(f promote.RolloutFilter) func(before, after int64, limit int) ([]promote.Rollout, error) {
		return func(before, after int64, limit int) (rs []promote.Rollout, err error) {
			f.BeforeSeq, f.AfterSeq, f.Limit = before, after, limit
			err = s.View(t.Context(), func(tx promote.Tx) error { rs, err = tx.Rollouts(f); return err })
			return rs, err
		}
	}
	listHolds := func(f promote.HoldFilter) func(before, after int64, limit int) ([]promote.Hold, error) {
		return func(before, after int64, limit int) (hs []promote.Hold, err error) {
			f.BeforeSeq, f.AfterSeq, f.Limit = before, after, limit
			err = s.View(t.Context(), func(tx promote.Tx) error { hs, err = tx.Holds(f); return err })
			return hs, err
		}
	}
	promotionSeq := func(p promote.Promotion) int64 { return p.Seq }
	rolloutSeq := func(r promote.Rollout) int64 { return r.Seq }
	holdSeq := func(h promote.Hold) int64 { return h.ID }
	// Every row, with its seq, by the largest pages.
	allProms := Walk(t, "Promotions", 0, 1000, promotionSeq, func(before, after int64) ([]promote.Promotion, error) {
		return listPromotions(promote.PromotionFilter{})(before, after, 1000)
	})
	allRollouts := Walk(t, "Rollouts", 0, 1000, rolloutSeq, func(before, after int64) ([]promote.Rollout, error) {
		return listRollouts(promote.RolloutFilter{})(before, after, 1000)
	})
	allHolds := Walk(t, "Holds", 0, 1000, holdSeq, func(before, after int64) ([]promote.Hold, error) {
		return listHolds(promote.HoldFilter{IncludeCleared: true})(before, after, 1000)
	})
	// Newest first is the order stored, whatever the rows' times.
	promotionID := func(p promote.Promotion) string { return p.ID }
	rolloutID := func(r promote.Rollout) string { return r.PromotionID }
	holdReason := func(h promote.Hold) string { return h.Reason }
	for _, c := range []struct {
		name      string
		want, got []string
	}{
		{"Promotions", keys(proms, promotionID), keys(allProms, promotionID)},
		{"Rollouts", keys(rollouts, rolloutID), keys(allRollouts, rolloutID)},
		{"Holds", keys(holds, holdReason), keys(allHolds, holdReason)},
	} {
		slices.Reverse(c.want)
		if diff := cmp.Diff(c.want, c.got); diff != "" {
			t.Fatalf("%s, every page (-want +got):\n%s", c.name, diff)
		}
	}

	walkCases(t, "Promotions", allProms, promotionID, promotionSeq, listPromotions, []pageCase[promote.PromotionFilter, promote.Promotion]{
		{"all", promote.PromotionFilter{}, func(promote.Promotion) bool { return true }},
		{"model, environment and states", promote.PromotionFilter{Model: "fraud", Environment: "staging",
			States: []promote.State{promote.StateSucceeded, promote.StateRolledBack, promote.StateRequested}},
			func(p promote.Promotion) bool {
				return p.Model == "fraud" && p.Environment == "staging" &&
					(p.State == promote.StateSucceeded || p.State == promote.StateRolledBack || p.State == promote.StateRequested)
			}},
		{"version and environment", promote.PromotionFilter{Model: "fraud", Version: "1.1", Environment: "prod"},
			func(p promote.Promotion) bool {
				return p.Model == "fraud" && p.Version == "1.1" && p.Environment == "prod"
			}},
		{"active of a model", promote.PromotionFilter{Model: "churn", ActiveOnly: true},
			func(p promote.Promotion) bool { return p.Model == "churn" && p.State.Active() }},
	})

	walkCases(t, "Rollouts", allRollouts, rolloutID, rolloutSeq, listRollouts, []pageCase[promote.RolloutFilter, promote.Rollout]{
		{"all", promote.RolloutFilter{}, func(promote.Rollout) bool { return true }},
		{"active of a model in an environment", promote.RolloutFilter{Model: "churn", Environment: "prod", ActiveOnly: true},
			func(r promote.Rollout) bool { return r.Model == "churn" && r.Environment == "prod" && r.State.Active() }},
		{"a version", promote.RolloutFilter{Model: "fraud", Version: "1.1"},
			func(r promote.Rollout) bool { return r.Model == "fraud" && r.Version == "1.1" }},
		{"a version in an environment", promote.RolloutFilter{Model: "fraud", Version: "1.1", Environment: "prod"},
			func(r promote.Rollout) bool {
				return r.Model == "fraud" && r.Version == "1.1" && r.Environment == "prod"
			}},
	})

	walkCases(t, "Holds", allHolds, holdReason, holdSeq, listHolds, []pageCase[promote.HoldFilter, promote.Hold]{
		{"all", promote.HoldFilter{IncludeCleared: true}, func(promote.Hold) bool { return true }},
		{"active", promote.HoldFilter{}, func(h promote.Hold) bool { return h.Active() }},
		{"active of a model in an environment", promote.HoldFilter{Model: "fraud", Environment: "dev"},
			func(h promote.Hold) bool { return h.Model == "fraud" && h.Environment == "dev" && h.Active() }},
		{"a version in an environment", promote.HoldFilter{Model: "fraud", Version: "1.1", Environment: "prod", IncludeCleared: true},
			func(h promote.Hold) bool { return h.Model == "fraud" && h.Version == "1.1" && h.Environment == "prod" }},
	})
}

// pageCase is a filter of a listing that pages by sequence cursor (F)
// and which of its rows (T) it selects.
type pageCase[F, T any] struct {
	name  string
	f     F
	match func(T) bool
}

// walkCases walks, with walkBothWays, the listing that list makes of each
// case's filter, and wants the rows of all (every row, newest first) that
// the case matches.
func walkCases[F, T any](t *testing.T, name string, all []T, key func(T) string, seq func(T) int64,
	list func(F) func(before, after int64, limit int) ([]T, error), cases []pageCase[F, T]) {
	t.Helper()
	for _, c := range cases {
		var want []T
		for _, it := range all {
			if c.match(it) {
				want = append(want, it)
			}
		}
		walkBothWays(t, name+" "+c.name, want, key, seq, list(c.f))
	}
}

// keys returns the key of each of items, in order.
func keys[T any](items []T, key func(T) string) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = key(it)
	}
	return out
}
