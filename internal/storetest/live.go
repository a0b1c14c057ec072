package storetest

import (
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/promote-ml/promote/promote"
)

// testLiveChanges checks the changes LiveChanges selects, newest first
// (two changes at the same time in the order they were made), each with
// the change after it.
func testLiveChanges(t *testing.T, s promote.Store) {
	seed(t, s)
	prod := []promote.Live{
		{Model: "fraud", Environment: "prod", Version: "1.0", PromotionID: "p1", SetBy: "controller", SetAt: at(1), Reason: "promoted"},
		{Model: "fraud", Environment: "prod", Version: "1.1", PromotionID: "p3", SetBy: "controller", SetAt: at(3), Reason: "promoted"},
		{Model: "fraud", Environment: "prod", Version: "1.0", PromotionID: "rb1", SetBy: "bob", SetAt: at(4), Reason: "errors up", RollbackOf: "1.1"},
		{Model: "fraud", Environment: "prod", Version: "1.1", PromotionID: "p5", SetBy: "controller", SetAt: at(5), Reason: "promoted"},
		// At the same time as the one before, made after it.
		{Model: "fraud", Environment: "prod", Version: "1.0", PromotionID: "p6", SetBy: "controller", SetAt: at(5), Reason: "promoted"},
	}
	others := []promote.Live{
		{Model: "fraud", Environment: "staging", Version: "1.1", PromotionID: "p2", SetBy: "controller", SetAt: at(2), Reason: "promoted"},
		{Model: "churn", Environment: "prod", Version: "1.0", PromotionID: "p4", SetBy: "alice", SetAt: at(3), Reason: "promoted"},
	}
	update(t, s, func(tx promote.Tx) error {
		for _, l := range append(prod[:2:2], others...) {
			if err := tx.SetLive(l); err != nil {
				return err
			}
		}
		for _, l := range prod[2:] {
			if err := tx.SetLive(l); err != nil {
				return err
			}
		}
		return tx.SetLiveCommit("fraud", "prod", "p6", "c6")
	})
	prod[4].Commit = "c6"
	// The changes' numbers, by the promotion that made each: they grow
	// in the order the changes were made.
	seq := map[string]int64{}
	view(t, s, func(tx promote.Tx) error {
		for _, env := range []string{"prod", "staging"} {
			all, err := tx.LiveChanges(promote.LiveFilter{Model: "fraud", Environment: env})
			if err != nil {
				return err
			}
			for _, c := range all {
				seq[c.PromotionID] = c.Seq
			}
		}
		return nil
	})
	for i, l := range prod[1:] {
		if seq[l.PromotionID] <= seq[prod[i].PromotionID] {
			t.Errorf("the change of %s is numbered %d, not after that of %s, made before it (%d)", l.PromotionID, seq[l.PromotionID], prod[i].PromotionID, seq[prod[i].PromotionID])
		}
	}
	change := func(i int) promote.LiveChange {
		c := promote.LiveChange{Live: prod[i], Seq: seq[prod[i].PromotionID]}
		if i+1 < len(prod) {
			next := prod[i+1]
			c.Next = &next
		}
		return c
	}
	tests := []struct {
		name string
		f    promote.LiveFilter
		want []promote.LiveChange
	}{
		{"all", promote.LiveFilter{Model: "fraud", Environment: "prod"}, []promote.LiveChange{change(4), change(3), change(2), change(1), change(0)}},
		{"version", promote.LiveFilter{Model: "fraud", Environment: "prod", Version: "1.0"}, []promote.LiveChange{change(4), change(2), change(0)}},
		{"version, limit", promote.LiveFilter{Model: "fraud", Environment: "prod", Version: "1.1", Limit: 1}, []promote.LiveChange{change(3)}},
		{"promotion", promote.LiveFilter{Model: "fraud", Environment: "prod", PromotionID: "p3"}, []promote.LiveChange{change(1)}},
		{"rollbacks after a promotion", promote.LiveFilter{Model: "fraud", Environment: "prod", RollbackOf: "1.1", After: "p3"}, []promote.LiveChange{change(2)}},
		{"rollbacks after a later one", promote.LiveFilter{Model: "fraud", Environment: "prod", RollbackOf: "1.1", After: "p5"}, []promote.LiveChange{}},
		{"after a change at the same time", promote.LiveFilter{Model: "fraud", Environment: "prod", After: "p5"}, []promote.LiveChange{change(4)}},
		{"after a promotion that made none", promote.LiveFilter{Model: "fraud", Environment: "prod", After: "p2"}, []promote.LiveChange{}},
		{"committed", promote.LiveFilter{Model: "fraud", Environment: "prod", Committed: true}, []promote.LiveChange{change(4)}},
		{"a version's committed", promote.LiveFilter{Model: "fraud", Environment: "prod", Version: "1.1", Committed: true}, []promote.LiveChange{}},
		{"except a promotion", promote.LiveFilter{Model: "fraud", Environment: "prod", ExceptPromotionID: "p6", Limit: 2}, []promote.LiveChange{change(3), change(2)}},
		{"except versions", promote.LiveFilter{Model: "fraud", Environment: "prod", ExceptVersions: []string{"1.0"}}, []promote.LiveChange{change(3), change(1)}},
		{"except every version", promote.LiveFilter{Model: "fraud", Environment: "prod", ExceptVersions: []string{"1.1", "1.0"}}, []promote.LiveChange{}},
		{"before a change", promote.LiveFilter{Model: "fraud", Environment: "prod", BeforeSeq: seq["p5"]}, []promote.LiveChange{change(2), change(1), change(0)}},
		{"before a change, limit", promote.LiveFilter{Model: "fraud", Environment: "prod", BeforeSeq: seq["p5"], Limit: 2}, []promote.LiveChange{change(2), change(1)}},
		{"before one at the same time", promote.LiveFilter{Model: "fraud", Environment: "prod", BeforeSeq: seq["p6"], Limit: 1}, []promote.LiveChange{change(3)}},
		{"after a change", promote.LiveFilter{Model: "fraud", Environment: "prod", AfterSeq: seq["p3"]}, []promote.LiveChange{change(4), change(3), change(2)}},
		{"after a change, limit", promote.LiveFilter{Model: "fraud", Environment: "prod", AfterSeq: seq["p3"], Limit: 2}, []promote.LiveChange{change(3), change(2)}},
		{"after one at the same time", promote.LiveFilter{Model: "fraud", Environment: "prod", AfterSeq: seq["p5"]}, []promote.LiveChange{change(4)}},
		{"after the newest", promote.LiveFilter{Model: "fraud", Environment: "prod", AfterSeq: seq["p6"]}, []promote.LiveChange{}},
		{"between two", promote.LiveFilter{Model: "fraud", Environment: "prod", AfterSeq: seq["p1"], BeforeSeq: seq["p5"]}, []promote.LiveChange{change(2), change(1)}},
		{"other environment", promote.LiveFilter{Model: "fraud", Environment: "staging"}, []promote.LiveChange{{Live: others[0], Seq: seq["p2"]}}},
		{"none there", promote.LiveFilter{Model: "churn", Environment: "dev"}, []promote.LiveChange{}},
	}
	for _, tt := range tests {
		view(t, s, func(tx promote.Tx) error {
			got, err := tx.LiveChanges(tt.f)
			if err != nil {
				return err
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("%s: LiveChanges(%+v) mismatch (-want +got):\n%s", tt.name, tt.f, diff)
			}
			return nil
		})
	}
	bad := []struct {
		name string
		f    promote.LiveFilter
		code promote.Code
		msg  string
	}{
		{"no model", promote.LiveFilter{Environment: "prod"}, promote.Invalid, "a model and an environment"},
		{"no environment", promote.LiveFilter{Model: "fraud"}, promote.Invalid, "a model and an environment"},
		{"negative limit", promote.LiveFilter{Model: "fraud", Environment: "prod", Limit: -1}, promote.Invalid, "limit -1"},
		{"unknown model", promote.LiveFilter{Model: "nope", Environment: "prod"}, promote.NotFound, `"nope"`},
		{"negative cursor", promote.LiveFilter{Model: "fraud", Environment: "prod", BeforeSeq: -1}, promote.Invalid, "before_seq -1"},
		{"a cursor of another environment", promote.LiveFilter{Model: "fraud", Environment: "prod", BeforeSeq: seq["p2"]}, promote.Invalid,
			fmt.Sprintf(`before_seq %d is not a change of model "fraud" in "prod"`, seq["p2"])},
		{"a cursor of no change", promote.LiveFilter{Model: "fraud", Environment: "prod", AfterSeq: 1 << 40}, promote.Invalid,
			fmt.Sprintf(`after_seq %d is not a change`, int64(1<<40))},
	}
	for _, tt := range bad {
		err := s.View(t.Context(), func(tx promote.Tx) error {
			_, err := tx.LiveChanges(tt.f)
			return err
		})
		wantError(t, "LiveChanges, "+tt.name, err, tt.code, tt.msg)
	}
}

// historyPage is the page size with which readHistory reads: small, so that
// the suite's short histories span pages.
const historyPage = 2

// readHistory reads every change of model's alias in env, newest first, a
// page at a time by LiveChanges' cursor.
func readHistory(tx promote.Tx, model, env string) ([]promote.Live, error) {
	out := []promote.Live{}
	var before int64
	for {
		page, err := tx.LiveChanges(promote.LiveFilter{Model: model, Environment: env, BeforeSeq: before, Limit: historyPage})
		if err != nil {
			return nil, err
		}
		for _, c := range page {
			out = append(out, c.Live)
		}
		if len(page) < historyPage {
			return out, nil
		}
		before = page[len(page)-1].Seq
	}
}

// testPipelineCounts checks that PipelineCounts counts every model, and
// the active promotions and active holds in the environments named and no
// other.
func testPipelineCounts(t *testing.T, s promote.Store) {
	seed(t, s)
	update(t, s, func(tx promote.Tx) error {
		for _, p := range []promote.Promotion{
			promotion("p1", "fraud", "1.0", "dev", 1),
			promotion("p2", "fraud", "1.1", "prod", 2),
			promotion("p3", "churn", "1.0", "prod", 3),
			promotion("p4", "churn", "1.0", "retired", 4),
		} {
			if _, err := tx.CreatePromotion(p); err != nil {
				return err
			}
		}
		ended := promotion("p5", "fraud", "1.0", "prod", 5)
		ended.State = promote.StateSucceeded
		if _, err := tx.CreatePromotion(ended); err != nil {
			return err
		}
		var cleared promote.Hold
		for i, h := range []promote.Hold{
			{Model: "fraud", Version: "1.0", Environment: "prod", Reason: "rolled back", SetBy: "controller", SetAt: at(6)},
			{Model: "churn", Version: "1.0", Environment: "dev", Reason: "drift", SetBy: "sre", SetAt: at(7)},
			{Model: "churn", Version: "1.0", Environment: "retired", Reason: "old", SetBy: "sre", SetAt: at(8)},
			{Model: "fraud", Version: "1.1", Environment: "prod", Reason: "flaky", SetBy: "sre", SetAt: at(9)},
		} {
			got, err := tx.AddHold(h)
			if err != nil {
				return err
			}
			if i == 3 {
				cleared = got
			}
		}
		_, err := tx.ClearHold(cleared.ID, "sre", "fixed", at(10))
		return err
	})
	tests := []struct {
		envs []string
		want promote.PipelineCounts
	}{
		{[]string{"dev", "staging", "prod"}, promote.PipelineCounts{Models: 2, ActivePromotions: 3, ActiveHolds: 2}},
		{[]string{"prod"}, promote.PipelineCounts{Models: 2, ActivePromotions: 2, ActiveHolds: 1}},
		{nil, promote.PipelineCounts{Models: 2}},
	}
	for _, tt := range tests {
		view(t, s, func(tx promote.Tx) error {
			got, err := tx.PipelineCounts(tt.envs)
			if err != nil {
				return err
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("PipelineCounts(%q) mismatch (-want +got):\n%s", tt.envs, diff)
			}
			return nil
		})
	}
}
