package storetest

import (
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/promote-ml/promote/promote"
)

func testHolds(t *testing.T, s promote.Store) {
	seed(t, s)
	holds := []promote.Hold{
		{Model: "fraud", Version: "1.0", Environment: "prod", Reason: "rolled back: error rate", SetBy: "controller", SetAt: at(1)},
		{Model: "fraud", Version: "1.1", Environment: "prod", Reason: "rejected", SetBy: "carol", SetAt: at(2)},
		{Model: "fraud", Version: "1.1", Environment: "staging", Reason: "flaky", SetBy: "carol", SetAt: at(3)},
		{Model: "churn", Version: "1.0", Environment: "prod", Reason: "drift", SetBy: "controller", SetAt: at(4)},
	}
	update(t, s, func(tx promote.Tx) error {
		seen := map[int64]bool{}
		for i, h := range holds {
			got, err := tx.AddHold(h)
			if err != nil {
				return err
			}
			if got.ID <= 0 || seen[got.ID] {
				t.Errorf("AddHold(%d).ID = %d, want a new positive ID", i, got.ID)
			}
			seen[got.ID] = true
			holds[i].ID = got.ID
			if diff := cmp.Diff(holds[i], got); diff != "" {
				t.Errorf("AddHold(%d) mismatch (-want +got):\n%s", i, diff)
			}
		}
		return nil
	})

	cleared := holds[1]
	clearedAt := at(5)
	cleared.ClearedBy, cleared.ClearedAt, cleared.ClearReason = "dave", &clearedAt, "retrained"
	update(t, s, func(tx promote.Tx) error {
		got, err := tx.ClearHold(holds[1].ID, "dave", "retrained", clearedAt)
		if err != nil {
			return err
		}
		if diff := cmp.Diff(cleared, got); diff != "" {
			t.Errorf("ClearHold mismatch (-want +got):\n%s", diff)
		}
		if got.Active() {
			t.Errorf("ClearHold(%d).Active() = true, want false", holds[1].ID)
		}
		return nil
	})
	holds[1] = cleared
	err := s.Update(t.Context(), func(tx promote.Tx) error {
		_, err := tx.ClearHold(holds[1].ID, "erin", "twice", at(6))
		return err
	})
	wantError(t, "ClearHold of a cleared hold", err, promote.Conflict, fmt.Sprintf("hold %d", holds[1].ID), "already cleared")

	tests := []struct {
		name string
		f    promote.HoldFilter
		want []promote.Hold
	}{
		{"active", promote.HoldFilter{}, []promote.Hold{holds[3], holds[2], holds[0]}},
		{"all", promote.HoldFilter{IncludeCleared: true}, []promote.Hold{holds[3], holds[2], holds[1], holds[0]}},
		{"model", promote.HoldFilter{Model: "fraud", IncludeCleared: true}, []promote.Hold{holds[2], holds[1], holds[0]}},
		{"version", promote.HoldFilter{Model: "fraud", Version: "1.1"}, []promote.Hold{holds[2]}},
		{"environment", promote.HoldFilter{Environment: "prod"}, []promote.Hold{holds[3], holds[0]}},
		{"version in environment", promote.HoldFilter{Model: "fraud", Version: "1.1", Environment: "prod", IncludeCleared: true},
			[]promote.Hold{holds[1]}},
		{"limit", promote.HoldFilter{Limit: 1}, []promote.Hold{holds[3]}},
		{"models", promote.HoldFilter{Models: []string{"churn", "nope"}}, []promote.Hold{holds[3]}},
		{"models, cleared too", promote.HoldFilter{Models: []string{"fraud", "churn"}, IncludeCleared: true}, []promote.Hold{holds[3], holds[2], holds[1], holds[0]}},
		{"model and models", promote.HoldFilter{Model: "fraud", Models: []string{"churn"}}, []promote.Hold{}},
		{"none", promote.HoldFilter{Model: "fraud", Version: "1.1", Environment: "prod"}, []promote.Hold{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			view(t, s, func(tx promote.Tx) error {
				got, err := tx.Holds(tt.f)
				if err != nil {
					return err
				}
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Errorf("Holds(%+v) mismatch (-want +got):\n%s", tt.f, diff)
				}
				return nil
			})
		})
	}
}

// testLimits checks a listing's page size: DefaultLimit when none is
// named, at most 1000.
func testLimits(t *testing.T, s promote.Store) {
	seed(t, s)
	const n = 1005
	update(t, s, func(tx promote.Tx) error {
		for i := range n {
			h := promote.Hold{Model: "fraud", Version: "1.0", Environment: "prod", Reason: fmt.Sprint(i), SetAt: at(i)}
			if _, err := tx.AddHold(h); err != nil {
				return err
			}
		}
		return nil
	})
	tests := []struct {
		limit, want int
	}{
		{0, promote.DefaultLimit},
		{7, 7},
		{1000, 1000},
		{5000, 1000},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.limit), func(t *testing.T) {
			view(t, s, func(tx promote.Tx) error {
				got, err := tx.Holds(promote.HoldFilter{Limit: tt.limit})
				if err != nil {
					return err
				}
				if len(got) != tt.want {
					t.Errorf("len(Holds(Limit: %d)) = %d, want %d", tt.limit, len(got), tt.want)
				}
				if len(got) > 0 && got[0].Reason != fmt.Sprint(n-1) {
					t.Errorf("Holds(Limit: %d)[0].Reason = %q, want the newest, %d", tt.limit, got[0].Reason, n-1)
				}
				return nil
			})
		})
	}
}

// testHoldCells checks that HoldCells returns the newest active holds of
// each model named in each environment, and counts them all.
func testHoldCells(t *testing.T, s promote.Store) {
	seed(t, s)
	var prod, dev []promote.Hold // as stored, oldest first
	update(t, s, func(tx promote.Tx) error {
		add := func(model, version, env string, i int) (promote.Hold, error) {
			return tx.AddHold(promote.Hold{Model: model, Version: version, Environment: env, Reason: fmt.Sprintf("hold %d", i), SetBy: "sre", SetAt: at(i)})
		}
		for i := range 5 {
			h, err := add("fraud", "1.0", "prod", i)
			if err != nil {
				return err
			}
			prod = append(prod, h)
		}
		// Cleared holds are neither listed nor counted.
		cleared, err := add("fraud", "1.1", "prod", 5)
		if err != nil {
			return err
		}
		if _, err := tx.ClearHold(cleared.ID, "sre", "fixed", at(6)); err != nil {
			return err
		}
		h, err := add("fraud", "1.1", "dev", 7)
		if err != nil {
			return err
		}
		dev = append(dev, h)
		_, err = add("churn", "1.0", "prod", 8)
		return err
	})
	tests := []struct {
		name   string
		models []string
		n      int
		want   []promote.HoldCell
	}{
		{"the newest of each cell", []string{"fraud"}, 3, []promote.HoldCell{
			{Model: "fraud", Environment: "dev", Holds: dev, Active: 1},
			{Model: "fraud", Environment: "prod", Holds: []promote.Hold{prod[4], prod[3], prod[2]}, Active: 5},
		}},
		{"every one when fewer", []string{"fraud", "nope"}, 10, []promote.HoldCell{
			{Model: "fraud", Environment: "dev", Holds: dev, Active: 1},
			{Model: "fraud", Environment: "prod", Holds: []promote.Hold{prod[4], prod[3], prod[2], prod[1], prod[0]}, Active: 5},
		}},
		{"a model without holds", []string{"nope"}, 3, []promote.HoldCell{}},
		{"no models", nil, 3, []promote.HoldCell{}},
	}
	for _, tt := range tests {
		view(t, s, func(tx promote.Tx) error {
			got, err := tx.HoldCells(tt.models, tt.n)
			if err != nil {
				return err
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("%s: HoldCells(%q, %d) mismatch (-want +got):\n%s", tt.name, tt.models, tt.n, diff)
			}
			return nil
		})
	}
	for _, n := range []int{0, -1, 1001} {
		err := s.View(t.Context(), func(tx promote.Tx) error {
			_, err := tx.HoldCells([]string{"fraud"}, n)
			return err
		})
		wantError(t, fmt.Sprintf("HoldCells(n %d)", n), err, promote.Invalid, fmt.Sprintf("%d holds a cell", n))
	}
}
