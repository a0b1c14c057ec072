package storetest

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/promote-ml/promote/promote"
)

// ids returns the IDs of ps, in order.
func ids(ps []promote.Promotion) []string {
	out := []string{}
	for _, p := range ps {
		out = append(out, p.ID)
	}
	return out
}

func testPromotions(t *testing.T, s promote.Store) {
	seed(t, s)
	p := promotion("p1", "fraud", "1.1", "prod", 10)
	p.Override = true
	// The note is kept as written: a line break, quotes and a control
	// character, which the readers escape, not the store.
	p.Note = "retrained on March data;\nsee \"fairness\" report \x1b[2J ✓"
	var seq int64
	update(t, s, func(tx promote.Tx) (err error) { seq, err = tx.CreatePromotion(p); return err })
	view(t, s, func(tx promote.Tx) error {
		got, err := tx.Promotion("p1")
		if err != nil {
			return err
		}
		if diff := cmp.Diff(p, got, ignoreSeq); diff != "" {
			t.Errorf("Promotion(p1) mismatch (-want +got):\n%s", diff)
		}
		if seq <= 0 || seq != got.Seq {
			t.Errorf("CreatePromotion(p1) = %d, want the stored sequence number %d, above 0", seq, got.Seq)
		}
		return nil
	})

	// The gate ran: state, baseline, decision and time change; what the
	// promotion is for does not.
	p.State, p.Baseline, p.Decision, p.UpdatedAt = promote.StateGated, "1.0", []byte(`{"allowed":true}`), at(11)
	changed := p
	changed.Model, changed.Version, changed.Digest, changed.RequestedBy = "churn", "1.0", "sha256:ff", "mallory"
	changed.Note = "rewritten"
	update(t, s, func(tx promote.Tx) error { return tx.UpdatePromotion(changed) })
	view(t, s, func(tx promote.Tx) error {
		got, err := tx.Promotion("p1")
		if err != nil {
			return err
		}
		if diff := cmp.Diff(p, got, ignoreSeq); diff != "" {
			t.Errorf("Promotion(p1) after UpdatePromotion mismatch (-want +got):\n%s", diff)
		}
		return nil
	})

	p.State, p.Reason, p.Decision, p.UpdatedAt = promote.StateFailed, "the overlay could not be committed", nil, at(12)
	update(t, s, func(tx promote.Tx) error { return tx.UpdatePromotion(p) })
	view(t, s, func(tx promote.Tx) error {
		got, err := tx.Promotion("p1")
		if err != nil {
			return err
		}
		if diff := cmp.Diff(p, got, ignoreSeq); diff != "" {
			t.Errorf("Promotion(p1) after failing mismatch (-want +got):\n%s", diff)
		}
		// A listing carries the note too.
		list, err := tx.Promotions(promote.PromotionFilter{Model: "fraud"})
		if err != nil {
			return err
		}
		if len(list) != 1 || list[0].Note != p.Note {
			t.Errorf("Promotions(fraud) = %+v, want p1 with its note %q", list, p.Note)
		}
		return nil
	})
}

func testPromotionFilters(t *testing.T, s promote.Store) {
	seed(t, s)
	// p1 … p6, one minute apart; each environment's earlier ones ended.
	type row struct {
		id, model, version, env string
		state                   promote.State
	}
	rows := []row{
		{"p1", "fraud", "1.0", "dev", promote.StateSucceeded},
		{"p2", "fraud", "1.0", "staging", promote.StateBlocked},
		{"p3", "fraud", "1.1", "dev", promote.StateAwaitingApproval},
		{"p4", "fraud", "1.1", "staging", promote.StateRollingOut},
		{"p5", "churn", "1.0", "dev", promote.StateRequested},
		{"p6", "fraud", "1.0", "prod", promote.StateCancelled},
	}
	update(t, s, func(tx promote.Tx) error {
		for i, r := range rows {
			p := promotion(r.id, r.model, r.version, r.env, i)
			p.State = r.state
			if _, err := tx.CreatePromotion(p); err != nil {
				return err
			}
		}
		return nil
	})
	tests := []struct {
		name string
		f    promote.PromotionFilter
		want []string
	}{
		{"all", promote.PromotionFilter{}, []string{"p6", "p5", "p4", "p3", "p2", "p1"}},
		{"model", promote.PromotionFilter{Model: "fraud"}, []string{"p6", "p4", "p3", "p2", "p1"}},
		{"version", promote.PromotionFilter{Model: "fraud", Version: "1.1"}, []string{"p4", "p3"}},
		{"environment", promote.PromotionFilter{Environment: "dev"}, []string{"p5", "p3", "p1"}},
		{"states", promote.PromotionFilter{States: []promote.State{promote.StateBlocked, promote.StateSucceeded}}, []string{"p2", "p1"}},
		{"active only", promote.PromotionFilter{ActiveOnly: true}, []string{"p5", "p4", "p3"}},
		{"active in dev", promote.PromotionFilter{ActiveOnly: true, Environment: "dev", Model: "fraud"}, []string{"p3"}},
		{"limit", promote.PromotionFilter{Limit: 2}, []string{"p6", "p5"}},
		{"models", promote.PromotionFilter{Models: []string{"churn", "nope"}}, []string{"p5"}},
		{"active of models", promote.PromotionFilter{Models: []string{"fraud", "churn"}, ActiveOnly: true}, []string{"p5", "p4", "p3"}},
		{"model and models", promote.PromotionFilter{Model: "fraud", Models: []string{"churn"}}, []string{}},
		{"none", promote.PromotionFilter{Model: "nope"}, []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			view(t, s, func(tx promote.Tx) error {
				got, err := tx.Promotions(tt.f)
				if err != nil {
					return err
				}
				if diff := cmp.Diff(tt.want, ids(got)); diff != "" {
					t.Errorf("Promotions(%+v) mismatch (-want +got):\n%s", tt.f, diff)
				}
				return nil
			})
		})
	}
}

// testOneActivePromotion checks the partial unique index: one active
// promotion per model and environment, freed by a terminal state.
func testOneActivePromotion(t *testing.T, s promote.Store) {
	seed(t, s)
	update(t, s, func(tx promote.Tx) error {
		if _, err := tx.CreatePromotion(promotion("p1", "fraud", "1.0", "prod", 0)); err != nil {
			return err
		}
		// Other environments and other models have slots of their own.
		if _, err := tx.CreatePromotion(promotion("p2", "fraud", "1.0", "staging", 1)); err != nil {
			return err
		}
		_, err := tx.CreatePromotion(promotion("p3", "churn", "1.0", "prod", 2))
		return err
	})
	for _, end := range []promote.State{promote.StateBlocked, promote.StateSucceeded, promote.StateRolledBack,
		promote.StateFailed, promote.StateCancelled} {
		t.Run(string(end), func(t *testing.T) {
			next := fmt.Sprintf("after-%s", end)
			err := s.Update(t.Context(), func(tx promote.Tx) error {
				_, err := tx.CreatePromotion(promotion(next, "fraud", "1.1", "prod", 3))
				return err
			})
			wantError(t, "CreatePromotion while one is active", err, promote.Conflict, `model "fraud"`, `"prod"`)

			update(t, s, func(tx promote.Tx) error {
				active, err := tx.Promotions(promote.PromotionFilter{Model: "fraud", Environment: "prod", ActiveOnly: true})
				if err != nil {
					return err
				}
				if len(active) != 1 {
					return fmt.Errorf("%d active promotions of fraud in prod, want 1", len(active))
				}
				p := active[0]
				p.State, p.UpdatedAt = end, at(4)
				if err := tx.UpdatePromotion(p); err != nil {
					return err
				}
				// The slot is free: a new request may take it, in the same
				// transaction.
				_, err = tx.CreatePromotion(promotion(next, "fraud", "1.1", "prod", 5))
				return check("CreatePromotion after "+string(end), err)
			})
		})
	}
}

func testApprovals(t *testing.T, s promote.Store) {
	seed(t, s)
	approvals := []promote.Approval{
		{PromotionID: "p1", Approver: "carol", Roles: []string{"ml-lead", "risk"}, Approve: true, Digest: "sha256:ab", Comment: "fine", At: at(11)},
		{PromotionID: "p1", Approver: "dave", Approve: false, Digest: "sha256:ab", Comment: "no", At: at(12)},
		{PromotionID: "p1", Approver: "erin", Roles: []string{}, Approve: true, Digest: "sha256:ab", At: at(12)},
	}
	update(t, s, func(tx promote.Tx) error {
		if _, err := tx.CreatePromotion(promotion("p1", "fraud", "1.1", "prod", 10)); err != nil {
			return err
		}
		if _, err := tx.CreatePromotion(promotion("p2", "churn", "1.0", "prod", 10)); err != nil {
			return err
		}
		for _, a := range approvals {
			if err := tx.AddApproval(a); err != nil {
				return err
			}
		}
		// One person decides once per promotion, but on every promotion.
		return tx.AddApproval(promote.Approval{PromotionID: "p2", Approver: "carol", Approve: true, At: at(13)})
	})
	view(t, s, func(tx promote.Tx) error {
		got, err := tx.Approvals("p1")
		if err != nil {
			return err
		}
		if diff := cmp.Diff(approvals, got); diff != "" {
			t.Errorf("Approvals(p1) mismatch, want them in order (-want +got):\n%s", diff)
		}
		got, err = tx.Approvals("p2")
		if err != nil {
			return err
		}
		if len(got) != 1 || got[0].Approver != "carol" {
			t.Errorf("Approvals(p2) = %+v, want carol's", got)
		}
		return nil
	})
}

func testLive(t *testing.T, s promote.Store) {
	seed(t, s)
	changes := []promote.Live{
		{Model: "fraud", Environment: "prod", Version: "1.0", PromotionID: "p1", SetBy: "controller", SetAt: at(1), Reason: "promoted"},
		{Model: "fraud", Environment: "staging", Version: "1.1", PromotionID: "p2", SetBy: "controller", SetAt: at(2), Reason: "promoted"},
		{Model: "fraud", Environment: "prod", Version: "1.1", PromotionID: "p3", SetBy: "controller", SetAt: at(3), Reason: "promoted"},
		{Model: "fraud", Environment: "prod", Version: "1.0", SetBy: "controller", SetAt: at(4), Reason: "rolled back"},
		{Model: "churn", Environment: "prod", Version: "1.0", SetBy: "alice", SetAt: at(5)},
	}
	update(t, s, func(tx promote.Tx) error {
		if _, err := tx.CreateModel(model("idle")); err != nil {
			return err
		}
		for _, l := range changes {
			if err := tx.SetLive(l); err != nil {
				return err
			}
		}
		return nil
	})
	view(t, s, func(tx promote.Tx) error {
		live, err := tx.Live("fraud")
		if err != nil {
			return err
		}
		want := map[string]promote.Live{"prod": changes[3], "staging": changes[1]}
		if diff := cmp.Diff(want, live); diff != "" {
			t.Errorf("Live(fraud) mismatch (-want +got):\n%s", diff)
		}
		history, err := readHistory(tx, "fraud", "prod")
		if err != nil {
			return err
		}
		if diff := cmp.Diff([]promote.Live{changes[3], changes[2], changes[0]}, history); diff != "" {
			t.Errorf("the history of fraud in prod mismatch, want newest first (-want +got):\n%s", diff)
		}
		live, err = tx.Live("idle")
		if err != nil {
			return err
		}
		if live == nil || len(live) != 0 {
			t.Errorf("Live(idle) = %#v, want an empty map", live)
		}
		all, err := tx.AllLive()
		if err != nil {
			return err
		}
		wantAll := map[string]map[string]promote.Live{
			"fraud": {"prod": changes[3], "staging": changes[1]},
			"churn": {"prod": changes[4]},
		}
		if diff := cmp.Diff(wantAll, all); diff != "" {
			t.Errorf("AllLive mismatch, want every model with a live version and no other (-want +got):\n%s", diff)
		}
		for _, tt := range []struct {
			models []string
			want   map[string]map[string]promote.Live
		}{
			{[]string{"fraud"}, map[string]map[string]promote.Live{"fraud": wantAll["fraud"]}},
			// One with none, one not stored: absent.
			{[]string{"churn", "idle", "nope"}, map[string]map[string]promote.Live{"churn": wantAll["churn"]}},
			{nil, map[string]map[string]promote.Live{}},
		} {
			got, err := tx.LiveOf(tt.models)
			if err != nil {
				return err
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("LiveOf(%q) mismatch, want the live versions of those models alone (-want +got):\n%s", tt.models, diff)
			}
		}
		history, err = readHistory(tx, "fraud", "dev")
		if err != nil {
			return err
		}
		if history == nil || len(history) != 0 {
			t.Errorf("the history of fraud in dev = %#v, want an empty list", history)
		}
		return nil
	})
}

func testLiveCommit(t *testing.T, s promote.Store) {
	seed(t, s)
	first := promote.Live{Model: "fraud", Environment: "prod", Version: "1.0", PromotionID: "p1", SetBy: "alice", SetAt: at(1), Reason: "promoted"}
	second := promote.Live{Model: "fraud", Environment: "prod", Version: "1.1", PromotionID: "rb1", SetBy: "bob", SetAt: at(2),
		Reason: "errors up", RollbackOf: "1.0"}
	update(t, s, func(tx promote.Tx) error {
		if err := tx.SetLive(first); err != nil {
			return err
		}
		if err := tx.SetLiveCommit("fraud", "prod", "p1", "c1"); err != nil {
			return err
		}
		if err := tx.SetLive(second); err != nil {
			return err
		}
		// The alias has moved on: p1's commit may not land on rb1's change.
		if err := tx.SetLiveCommit("fraud", "prod", "p1", "c9"); promote.ErrorCode(err) != promote.Conflict {
			t.Errorf("SetLiveCommit of a superseded change = %v, want a Conflict", err)
		}
		return tx.SetLiveCommit("fraud", "prod", "rb1", "c2")
	})
	first.Commit, second.Commit = "c1", "c2"
	view(t, s, func(tx promote.Tx) error {
		live, err := tx.Live("fraud")
		if err != nil {
			return err
		}
		if diff := cmp.Diff(map[string]promote.Live{"prod": second}, live); diff != "" {
			t.Errorf("Live(fraud) mismatch (-want +got):\n%s", diff)
		}
		history, err := readHistory(tx, "fraud", "prod")
		if err != nil {
			return err
		}
		if diff := cmp.Diff([]promote.Live{second, first}, history); diff != "" {
			t.Errorf("the history of fraud in prod mismatch (-want +got):\n%s", diff)
		}
		return nil
	})
	update(t, s, func(tx promote.Tx) error { return tx.ClearLive("fraud", "prod") })
	view(t, s, func(tx promote.Tx) error {
		live, err := tx.Live("fraud")
		if err != nil {
			return err
		}
		if len(live) != 0 {
			t.Errorf("Live(fraud) after ClearLive = %+v, want none", live)
		}
		history, err := readHistory(tx, "fraud", "prod")
		if err != nil {
			return err
		}
		if len(history) != 2 {
			t.Errorf("the history of fraud in prod after ClearLive has %d entries, want the 2 kept", len(history))
		}
		return nil
	})
}

// testLiveCommitError checks the commit error of a live change: recorded
// with the time the failures began, replaced by the next, cleared by an
// empty message, by the commit and by a new change, and never in the
// history.
func testLiveCommitError(t *testing.T, s promote.Store) {
	seed(t, s)
	first := promote.Live{Model: "fraud", Environment: "prod", Version: "1.0", PromotionID: "p1", SetBy: "alice", SetAt: at(1), Reason: "promoted"}
	alias := func(tx promote.Tx) promote.Live {
		t.Helper()
		live, err := tx.Live("fraud")
		if err != nil {
			t.Fatal(err)
		}
		return live["prod"]
	}
	check := func(what string, want *promote.CommitError) {
		t.Helper()
		view(t, s, func(tx promote.Tx) error {
			if diff := cmp.Diff(want, alias(tx).CommitError); diff != "" {
				t.Errorf("%s: Live(fraud)[prod].CommitError mismatch (-want +got):\n%s", what, diff)
			}
			all, err := tx.AllLive()
			if err != nil {
				return err
			}
			if diff := cmp.Diff(want, all["fraud"]["prod"].CommitError); diff != "" {
				t.Errorf("%s: AllLive()[fraud][prod].CommitError mismatch (-want +got):\n%s", what, diff)
			}
			of, err := tx.LiveOf([]string{"fraud"})
			if err != nil {
				return err
			}
			if diff := cmp.Diff(want, of["fraud"]["prod"].CommitError); diff != "" {
				t.Errorf("%s: LiveOf(fraud)[fraud][prod].CommitError mismatch (-want +got):\n%s", what, diff)
			}
			history, err := readHistory(tx, "fraud", "prod")
			if err != nil {
				return err
			}
			for _, l := range history {
				if l.CommitError != nil {
					t.Errorf("%s: history entry %s has commit error %+v, want none: only the alias carries it", what, l.PromotionID, l.CommitError)
				}
			}
			return nil
		})
	}
	set := func(promotionID, msg string, when time.Time) error {
		return s.Update(t.Context(), func(tx promote.Tx) error { return tx.SetLiveCommitError("fraud", "prod", promotionID, msg, when) })
	}
	must := func(promotionID, msg string, when time.Time) {
		t.Helper()
		if err := set(promotionID, msg, when); err != nil {
			t.Fatalf("SetLiveCommitError(%s, %q): %v", promotionID, msg, err)
		}
	}

	update(t, s, func(tx promote.Tx) error { return tx.SetLive(first) })
	check("a new change", nil)
	must("p1", "push refused", at(2))
	check("the first error", &promote.CommitError{Message: "push refused", Since: at(2)})
	must("p1", "remote unreachable", at(3))
	check("the next error", &promote.CommitError{Message: "remote unreachable", Since: at(2)})
	must("p1", "", at(4))
	check("cleared", nil)
	must("p1", "push refused", at(5))
	check("an error after a clear", &promote.CommitError{Message: "push refused", Since: at(5)})
	if err := set("p0", "push refused", at(6)); promote.ErrorCode(err) != promote.Conflict {
		t.Errorf("SetLiveCommitError of another change = %v, want a Conflict", err)
	}
	long := strings.Repeat("é", 3000)
	must("p1", long, at(6))
	view(t, s, func(tx promote.Tx) error {
		got := alias(tx).CommitError
		if got == nil || len(got.Message) > 2100 || !strings.HasPrefix(long, strings.TrimSuffix(got.Message, "…")) || got.Since != at(5) {
			t.Errorf("a long commit error was stored as %d bytes since %v, want a prefix of at most about 2000 bytes since %v", len(got.Message), got.Since, at(5))
		}
		return nil
	})

	update(t, s, func(tx promote.Tx) error { return tx.SetLiveCommit("fraud", "prod", "p1", "c1") })
	check("committed", nil)
	if err := set("p1", "push refused", at(7)); promote.ErrorCode(err) != promote.Conflict {
		t.Errorf("SetLiveCommitError of a committed change = %v, want a Conflict", err)
	}
	check("committed, after a late error", nil)

	second := promote.Live{Model: "fraud", Environment: "prod", Version: "1.1", PromotionID: "p2", SetBy: "bob", SetAt: at(8), Reason: "promoted"}
	update(t, s, func(tx promote.Tx) error { return tx.SetLive(second) })
	must("p2", "push refused", at(9))
	third := second
	third.PromotionID, third.SetAt = "rb1", at(10)
	third.CommitError = &promote.CommitError{Message: "carried over", Since: at(1)}
	update(t, s, func(tx promote.Tx) error { return tx.SetLive(third) })
	check("a change after a failing one", nil)
}
