package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/promote-ml/promote/promote"
)

// wantNoModel fails the test when the model is stored.
func wantNoModel(t *testing.T, s promote.Store, name, why string) {
	t.Helper()
	err := s.View(t.Context(), func(tx promote.Tx) error { _, err := tx.Model(name); return err })
	if promote.ErrorCode(err) != promote.NotFound {
		t.Errorf("Model(%q) %s = %v, want NotFound", name, why, err)
	}
}

func testRollback(t *testing.T, s promote.Store) {
	event := promote.AuditEvent{Time: t0, Actor: "alice", Action: promote.ActionModelCreated, Model: "fraud"}

	// An error from fn is returned as is, and nothing fn wrote stays.
	sentinel := errors.New("the caller changed its mind")
	err := s.Update(t.Context(), func(tx promote.Tx) error {
		if _, err := tx.CreateModel(model("fraud")); err != nil {
			return err
		}
		if _, err := tx.AppendAudit(event); err != nil {
			return err
		}
		return sentinel
	})
	if err != sentinel {
		t.Errorf("Update with fn failing = %v, want fn's error itself", err)
	}
	wantNoModel(t, s, "fraud", "after fn failed")

	// A panic in fn rolls back too, and goes on up.
	func() {
		defer func() {
			if r := recover(); r != "boom" {
				t.Errorf("Update with fn panicking: recovered %v, want the panic \"boom\"", r)
			}
		}()
		s.Update(t.Context(), func(tx promote.Tx) error {
			if _, err := tx.CreateModel(model("fraud")); err != nil {
				return err
			}
			if _, err := tx.AppendAudit(event); err != nil {
				return err
			}
			panic("boom")
		})
	}()
	wantNoModel(t, s, "fraud", "after fn panicked")
	if got := verifyChain(t, s); len(got) != 0 {
		t.Errorf("audit records after rolled-back appends = %d, want 0", len(got))
	}

	// The store still works, and the rolled-back appends took no seq.
	update(t, s, func(tx promote.Tx) error {
		if _, err := tx.CreateModel(model("fraud")); err != nil {
			return err
		}
		e, err := tx.AppendAudit(event)
		if err == nil && (e.Seq != 1 || e.PrevHash != promote.GenesisHash) {
			t.Errorf("AppendAudit after rollbacks = seq %d prev %s, want seq 1 after the genesis hash", e.Seq, e.PrevHash)
		}
		return err
	})
	if got := verifyChain(t, s); len(got) != 1 {
		t.Errorf("audit records = %d, want 1", len(got))
	}
}

func testView(t *testing.T, s promote.Store) {
	seed(t, s)
	// A view is read-only.
	writes := []struct {
		name string
		fn   func(tx promote.Tx) error
	}{
		{"CreateModel", func(tx promote.Tx) error { _, err := tx.CreateModel(model("viewed")); return err }},
		{"AppendAudit", func(tx promote.Tx) error {
			_, err := tx.AppendAudit(promote.AuditEvent{Time: t0, Actor: "x", Action: promote.ActionModelCreated, Model: "viewed"})
			return err
		}},
		{"RejectVersion", func(tx promote.Tx) error { return tx.RejectVersion("fraud", "1.0", "x", "y", t0) }},
	}
	for _, w := range writes {
		t.Run(w.name, func(t *testing.T) {
			if err := s.View(t.Context(), w.fn); err == nil {
				t.Errorf("View(%s) = nil, want an error: a view cannot write", w.name)
			}
		})
	}
	wantNoModel(t, s, "viewed", "after writes in views")
	view(t, s, func(tx promote.Tx) error {
		v, err := tx.Version("fraud", "1.0")
		if err == nil && v.Rejected {
			t.Errorf("Version(fraud, 1.0) rejected in a view, want it unchanged")
		}
		return err
	})
	if got := verifyChain(t, s); len(got) != 0 {
		t.Errorf("audit records after appends in views = %d, want 0", len(got))
	}

	// A view sees one snapshot: what commits while it runs is not in it.
	view(t, s, func(tx promote.Tx) error {
		before, err := tx.Models(promote.ModelFilter{})
		if err != nil {
			return err
		}
		update(t, s, func(tx promote.Tx) error { _, err := tx.CreateModel(model("late")); return err })
		after, err := tx.Models(promote.ModelFilter{})
		if err != nil {
			return err
		}
		if len(after) != len(before) {
			t.Errorf("Models() in one view: %d, then %d after a commit elsewhere; want one snapshot", len(before), len(after))
		}
		return nil
	})
	view(t, s, func(tx promote.Tx) error {
		_, err := tx.Model("late")
		return err
	})
}

func testContext(t *testing.T, s promote.Store) {
	if err := s.Ping(t.Context()); err != nil {
		t.Errorf("Ping on an open store = %v, want nil", err)
	}
	canceled, cancel := context.WithCancel(t.Context())
	cancel()
	called := false
	fn := func(promote.Tx) error { called = true; return nil }
	calls := []struct {
		name string
		err  error
	}{
		{"Update", s.Update(canceled, fn)},
		{"View", s.View(canceled, fn)},
		{"ScanAudit", s.ScanAudit(canceled, 0, func(promote.AuditRecord) error { called = true; return nil })},
		{"Ping", s.Ping(canceled)},
	}
	for _, c := range calls {
		if !errors.Is(c.err, context.Canceled) {
			t.Errorf("%s with a canceled context = %v, want context.Canceled", c.name, c.err)
		}
	}
	if called {
		t.Errorf("fn was called with a canceled context")
	}

	// A context canceled inside fn ends the transaction: the next query
	// fails, and so does the commit; nothing is stored.
	for _, ignore := range []bool{false, true} {
		t.Run(fmt.Sprintf("canceled in fn, error ignored %v", ignore), func(t *testing.T) {
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			name := fmt.Sprintf("canceled-%v", ignore)
			err := s.Update(ctx, func(tx promote.Tx) error {
				if _, err := tx.CreateModel(model(name)); err != nil {
					return err
				}
				cancel()
				_, err := tx.CreateModel(model(name + "-2"))
				if err == nil {
					t.Errorf("CreateModel after its context was canceled = nil, want an error")
				}
				if ignore {
					return nil
				}
				return err
			})
			if err == nil {
				t.Errorf("Update canceled in fn = nil, want an error")
			}
			wantNoModel(t, s, name, "after its transaction was canceled")
		})
	}
}

// racePromotions races 32 requests for one slot, spread over stores: exactly
// one wins, every other gets a Conflict.
func racePromotions(t *testing.T, stores []promote.Store) {
	seed(t, stores[0])
	const n = 32
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = stores[i%len(stores)].Update(t.Context(), func(tx promote.Tx) error {
				_, err := tx.CreatePromotion(promotion(fmt.Sprintf("race-%02d", i), "fraud", "1.1", "prod", i))
				return err
			})
		})
	}
	close(start)
	wg.Wait()
	won := 0
	for i, err := range errs {
		switch promote.ErrorCode(err) {
		case "":
			won++
		case promote.Conflict:
		default:
			t.Errorf("CreatePromotion(race-%02d) = %v, want success or a Conflict", i, err)
		}
	}
	if won != 1 {
		t.Errorf("%d of %d concurrent CreatePromotion for one slot succeeded, want exactly 1", won, n)
	}
	for i, s := range stores {
		view(t, s, func(tx promote.Tx) error {
			ps, err := tx.Promotions(promote.PromotionFilter{Model: "fraud", Environment: "prod"})
			if err == nil && len(ps) != 1 {
				t.Errorf("store %d: Promotions(fraud, prod) after the race = %d, want 1", i, len(ps))
			}
			return err
		})
	}
}

// raceAudit appends from 32 goroutines at once, spread over stores: the
// chain has every event once, no gap, and verifies.
func raceAudit(t *testing.T, stores []promote.Store) {
	const writers, each = 32, 6
	start := make(chan struct{})
	var wg sync.WaitGroup
	errs := make([]error, writers)
	for w := range writers {
		wg.Go(func() {
			<-start
			for i := 0; i < each; i += 2 {
				// Two appends per transaction.
				errs[w] = stores[w%len(stores)].Update(t.Context(), func(tx promote.Tx) error {
					for j := range 2 {
						e := promote.AuditEvent{Time: at(i + j), Actor: fmt.Sprintf("writer-%d", w),
							Action: promote.ActionPromotionState, PromotionID: fmt.Sprintf("%d-%d", w, i+j)}
						if _, err := tx.AppendAudit(e); err != nil {
							return err
						}
					}
					return nil
				})
				if errs[w] != nil {
					return
				}
			}
		})
	}
	close(start)
	wg.Wait()
	for w, err := range errs {
		if err != nil {
			t.Errorf("writer %d: %v", w, err)
		}
	}
	for i, s := range stores {
		records := verifyChain(t, s)
		if len(records) != writers*each {
			t.Fatalf("store %d: the chain has %d records after %d concurrent appends, want %d",
				i, len(records), writers*each, writers*each)
		}
		seen := map[string]bool{}
		for _, r := range records {
			e, err := r.Event()
			if err != nil {
				t.Fatal(err)
			}
			if seen[e.PromotionID] {
				t.Errorf("store %d: event %s appended twice", i, e.PromotionID)
			}
			seen[e.PromotionID] = true
		}
	}
}
