package storetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/promote-ml/promote/promote"
)

// The lease tests run on real time: a store may time leases by its
// database's clock rather than the one it is given (PostgreSQL does), so
// they pass time.Now() read inside the transaction, and wait for expiry by
// polling with a deadline rather than by moving a fake clock.

// leaseDeadline bounds every wait for a lease to expire.
const leaseDeadline = 30 * time.Second

// clockSlack is how far the store's clock may be from the test's when
// both are the machine's: generous, since it only catches a wrong unit.
const clockSlack = time.Minute

// acquire runs AcquireLease in a transaction of its own, with the time
// read inside it.
func acquire(t *testing.T, s promote.Store, name, holder string, ttl time.Duration) (promote.Lease, error) {
	t.Helper()
	var l promote.Lease
	err := s.Update(t.Context(), func(tx promote.Tx) (err error) {
		l, err = tx.AcquireLease(name, holder, ttl, time.Now())
		return err
	})
	return l, err
}

// mustAcquire is acquire failing the test on an error.
func mustAcquire(t *testing.T, s promote.Store, name, holder string, ttl time.Duration) promote.Lease {
	t.Helper()
	l, err := acquire(t, s, name, holder, ttl)
	if err != nil {
		t.Fatalf("AcquireLease(%s, %s): %v", name, holder, err)
	}
	return l
}

// checkLease runs CheckLease in a transaction of its own.
func checkLease(t *testing.T, s promote.Store, name, holder string, epoch int64) error {
	t.Helper()
	return s.Update(t.Context(), func(tx promote.Tx) error {
		return tx.CheckLease(name, holder, epoch, time.Now())
	})
}

// releaseLease runs ReleaseLease in a transaction of its own.
func releaseLease(t *testing.T, s promote.Store, name, holder string, epoch int64) error {
	t.Helper()
	return s.Update(t.Context(), func(tx promote.Tx) error {
		return tx.ReleaseLease(name, holder, epoch, time.Now())
	})
}

// storedLease reads the lease.
func storedLease(t *testing.T, s promote.Store, name string) promote.Lease {
	t.Helper()
	var l promote.Lease
	view(t, s, func(tx promote.Tx) (err error) {
		l, err = tx.Lease(name)
		return err
	})
	return l
}

// wantLease fails the test unless got has the holder, the epoch and an
// expiry ttl after its renewal, at about the time of the call.
func wantLease(t *testing.T, what string, got promote.Lease, name, holder string, epoch int64, ttl time.Duration) {
	t.Helper()
	if got.Name != name || got.Holder != holder || got.Epoch != epoch {
		t.Errorf("%s = %s held by %s at epoch %d, want %s held by %s at epoch %d",
			what, got.Name, got.Holder, got.Epoch, name, holder, epoch)
	}
	if d := got.ExpiresAt.Sub(got.RenewedAt); d != ttl {
		t.Errorf("%s expires %s after its renewal, want %s", what, d, ttl)
	}
	if got.AcquiredAt.After(got.RenewedAt) {
		t.Errorf("%s acquired at %s, after its renewal at %s", what, got.AcquiredAt, got.RenewedAt)
	}
	if d := time.Since(got.RenewedAt).Abs(); d > clockSlack {
		t.Errorf("%s renewed at %s, %s from now: want the time of the call", what, got.RenewedAt, d)
	}
}

// testLeaseContract runs the lease tests in turn on one store, each on
// leases of its own.
func testLeaseContract(t *testing.T, s promote.Store) {
	for _, tt := range []struct {
		name string
		run  func(t *testing.T, s promote.Store)
	}{
		{"Lifecycle", testLeases},
		{"Expiry", testLeaseExpiry},
		{"Fence", testLeaseFence},
		{"Race", func(t *testing.T, s promote.Store) { raceLeases(t, []promote.Store{s}) }},
	} {
		t.Run(tt.name, func(t *testing.T) { tt.run(t, s) })
	}
}

func testLeases(t *testing.T, s promote.Store) {
	const name, hour = "controllers", time.Hour

	// Taken when never taken: the first term.
	a1 := mustAcquire(t, s, name, "a", hour)
	wantLease(t, "AcquireLease(a)", a1, name, "a", 1, hour)
	if !a1.AcquiredAt.Equal(a1.RenewedAt) {
		t.Errorf("AcquireLease(a) of a new lease: acquired at %s, renewed at %s, want the same", a1.AcquiredAt, a1.RenewedAt)
	}
	if diff := cmp.Diff(a1, storedLease(t, s, name)); diff != "" {
		t.Errorf("Lease(%s) after AcquireLease mismatch (-acquired +stored):\n%s", name, diff)
	}

	// Renewed by its holder: same term.
	a2 := mustAcquire(t, s, name, "a", 2*hour)
	wantLease(t, "AcquireLease(a) renewing", a2, name, "a", 1, 2*hour)
	if !a2.AcquiredAt.Equal(a1.AcquiredAt) || a2.RenewedAt.Before(a1.RenewedAt) || !a2.ExpiresAt.After(a1.ExpiresAt) {
		t.Errorf("AcquireLease(a) renewing = %+v, want the term of %+v, renewed later, expiring later", a2, a1)
	}

	// Held by another: Conflict, and the lease that stands.
	got, err := acquire(t, s, name, "b", hour)
	wantError(t, "AcquireLease(b) of a's lease", err, promote.Conflict, `"controllers"`, "held by a at epoch 1", "until")
	if diff := cmp.Diff(a2, got); diff != "" {
		t.Errorf("AcquireLease(b) of a's lease: returned lease mismatch (-standing +returned):\n%s", diff)
	}
	if diff := cmp.Diff(a2, storedLease(t, s, name)); diff != "" {
		t.Errorf("Lease(%s) after a refused AcquireLease mismatch (-want +got):\n%s", name, diff)
	}

	// The fencing check.
	checks := []struct {
		holder string
		epoch  int64
		msgs   []string // none: the check passes
	}{
		{"a", 1, nil},
		{"a", 2, []string{"deposed", `"controllers"`, "held by a at epoch 1"}},
		{"a", 0, []string{"deposed", "held by a at epoch 1"}},
		{"b", 1, []string{"deposed", "held by a at epoch 1"}},
	}
	for _, c := range checks {
		err := checkLease(t, s, name, c.holder, c.epoch)
		what := fmt.Sprintf("CheckLease(%s, %s, %d)", name, c.holder, c.epoch)
		if c.msgs == nil {
			if err != nil {
				t.Errorf("%s = %v, want nil", what, err)
			}
			continue
		}
		wantError(t, what, err, promote.Conflict, c.msgs...)
	}

	// Released by another holder or term: Conflict, and nothing changes.
	err = releaseLease(t, s, name, "b", 1)
	wantError(t, "ReleaseLease(b, 1) of a's lease", err, promote.Conflict, "held by a at epoch 1")
	err = releaseLease(t, s, name, "a", 7)
	wantError(t, "ReleaseLease(a, 7) of a's lease at epoch 1", err, promote.Conflict, "held by a at epoch 1")
	if err := checkLease(t, s, name, "a", 1); err != nil {
		t.Errorf("CheckLease(a, 1) after refused releases = %v, want nil", err)
	}

	// Released by its holder: expired at once, twice is nothing more.
	if err := releaseLease(t, s, name, "a", 1); err != nil {
		t.Fatalf("ReleaseLease(a, 1) = %v", err)
	}
	released := storedLease(t, s, name)
	if released.HeldAt(time.Now().Add(clockSlack)) {
		t.Errorf("Lease after ReleaseLease expires at %s, want now", released.ExpiresAt)
	}
	if err := releaseLease(t, s, name, "a", 1); err != nil {
		t.Errorf("ReleaseLease(a, 1) a second time = %v, want nil", err)
	}
	err = checkLease(t, s, name, "a", 1)
	wantError(t, "CheckLease(a, 1) after its release", err, promote.Conflict, "deposed", "epoch 1", "expired")

	// Taken by another at once: a new term.
	b := mustAcquire(t, s, name, "b", hour)
	wantLease(t, "AcquireLease(b) after a's release", b, name, "b", 2, hour)
	if b.AcquiredAt.Before(a1.RenewedAt) || !b.AcquiredAt.Equal(b.RenewedAt) {
		t.Errorf("AcquireLease(b) after a's release = %+v, want a term starting at its renewal", b)
	}
	err = checkLease(t, s, name, "a", 1)
	wantError(t, "CheckLease(a, 1) after b took the lease", err, promote.Conflict, "deposed", "held by b at epoch 2")
	if err := checkLease(t, s, name, "b", 2); err != nil {
		t.Errorf("CheckLease(b, 2) = %v, want nil", err)
	}
	_, err = acquire(t, s, name, "a", hour)
	wantError(t, "AcquireLease(a) of b's lease", err, promote.Conflict, "held by b at epoch 2")

	// The holder taking its own released lease again begins a new term.
	if err := releaseLease(t, s, name, "b", 2); err != nil {
		t.Fatalf("ReleaseLease(b, 2) = %v", err)
	}
	b3 := mustAcquire(t, s, name, "b", hour)
	wantLease(t, "AcquireLease(b) after its own release", b3, name, "b", 3, hour)
	err = checkLease(t, s, name, "b", 2)
	wantError(t, "CheckLease(b, 2) after b's new term", err, promote.Conflict, "deposed", "held by b at epoch 3")

	// Leases are independent by name.
	other := mustAcquire(t, s, "reports", "a", hour)
	wantLease(t, "AcquireLease(reports, a)", other, "reports", "a", 1, hour)
	if err := checkLease(t, s, name, "b", 3); err != nil {
		t.Errorf("CheckLease(b, 3) after another lease was taken = %v, want nil", err)
	}

	// A lease never taken.
	err = s.View(t.Context(), func(tx promote.Tx) error { _, err := tx.Lease("nope"); return err })
	wantError(t, "Lease(nope)", err, promote.NotFound, `lease "nope" not found`)
	err = releaseLease(t, s, "nope", "a", 1)
	wantError(t, "ReleaseLease(nope)", err, promote.NotFound, `lease "nope" not found`)
	err = checkLease(t, s, "nope", "a", 1)
	wantError(t, "CheckLease(nope)", err, promote.Conflict, "deposed", `"nope"`)

	// Bad input changes nothing.
	invalid := []struct {
		name string
		fn   func(tx promote.Tx) error
		msg  string
	}{
		{"no name", func(tx promote.Tx) error { _, err := tx.AcquireLease("", "c", hour, time.Now()); return err }, "name is empty"},
		{"no holder", func(tx promote.Tx) error { _, err := tx.AcquireLease(name, "", hour, time.Now()); return err }, "holder is empty"},
		{"no ttl", func(tx promote.Tx) error { _, err := tx.AcquireLease(name, "c", 0, time.Now()); return err }, "time to live 0s"},
		{"negative ttl", func(tx promote.Tx) error { _, err := tx.AcquireLease(name, "c", -time.Second, time.Now()); return err }, "-1s"},
		{"no time", func(tx promote.Tx) error { _, err := tx.AcquireLease(name, "c", hour, time.Time{}); return err }, "time is not set"},
		{"check with no time", func(tx promote.Tx) error { return tx.CheckLease(name, "b", 3, time.Time{}) }, "time is not set"},
		{"release with no time", func(tx promote.Tx) error { return tx.ReleaseLease(name, "b", 3, time.Time{}) }, "time is not set"},
	}
	for _, c := range invalid {
		err := s.Update(t.Context(), c.fn)
		wantError(t, c.name, err, promote.Invalid, c.msg)
	}

	// A view cannot take, release or check a lease (the check locks).
	writes := []struct {
		name string
		fn   func(tx promote.Tx) error
	}{
		{"AcquireLease", func(tx promote.Tx) error { _, err := tx.AcquireLease(name, "c", hour, time.Now()); return err }},
		{"ReleaseLease", func(tx promote.Tx) error { return tx.ReleaseLease(name, "b", 3, time.Now()) }},
		{"CheckLease", func(tx promote.Tx) error { return tx.CheckLease(name, "b", 3, time.Now()) }},
	}
	for _, w := range writes {
		if err := s.View(t.Context(), w.fn); err == nil {
			t.Errorf("View(%s) = nil, want an error: a view cannot write", w.name)
		}
	}

	// A rolled-back takeover leaves the lease as it was.
	if err := releaseLease(t, s, name, "b", 3); err != nil {
		t.Fatalf("ReleaseLease(b, 3) = %v", err)
	}
	before := storedLease(t, s, name)
	err = s.Update(t.Context(), func(tx promote.Tx) error {
		if _, err := tx.AcquireLease(name, "c", hour, time.Now()); err != nil {
			return err
		}
		return promote.Errorf(promote.Invalid, "changed its mind")
	})
	wantError(t, "Update taking the lease then failing", err, promote.Invalid, "changed its mind")
	if diff := cmp.Diff(before, storedLease(t, s, name)); diff != "" {
		t.Errorf("Lease after a rolled-back AcquireLease mismatch (-before +after):\n%s", diff)
	}
}

// testLeaseExpiry lets leases lapse: another holder takes a lapsed lease
// in a new term, and not before it lapsed; a holder whose lease lapsed
// while no one took it gets a new term too.
func testLeaseExpiry(t *testing.T, s promote.Store) {
	const name, ttl = "expiry", 300 * time.Millisecond
	start := time.Now()
	a := mustAcquire(t, s, name, "a", ttl)
	wantLease(t, "AcquireLease(a)", a, name, "a", 1, ttl)

	// b polls until it takes the lease.
	var b promote.Lease
	refused := 0
	for deadline := time.Now().Add(leaseDeadline); ; {
		l, err := acquire(t, s, name, "b", time.Hour)
		if err == nil {
			b = l
			break
		}
		wantError(t, "AcquireLease(b) of a's lease", err, promote.Conflict, "held by a at epoch 1")
		if t.Failed() || time.Now().After(deadline) {
			t.Fatalf("AcquireLease(b): still refused %s after a's lease of %s was taken (%d attempts)", time.Since(start), ttl, refused+1)
		}
		refused++
		time.Sleep(20 * time.Millisecond)
	}
	if took := time.Since(start); took < ttl {
		t.Errorf("AcquireLease(b) took a's lease %s after a took it, before its %s ran out", took, ttl)
	}
	wantLease(t, "AcquireLease(b) of a lapsed lease", b, name, "b", 2, time.Hour)
	if b.AcquiredAt.Before(a.ExpiresAt) {
		t.Errorf("AcquireLease(b) began its term at %s, before a's ended at %s", b.AcquiredAt, a.ExpiresAt)
	}
	err := checkLease(t, s, name, "a", 1)
	wantError(t, "CheckLease(a, 1) after the takeover", err, promote.Conflict, "deposed", "held by b at epoch 2")
	_, err = acquire(t, s, name, "a", ttl)
	wantError(t, "AcquireLease(a) renewing after the takeover", err, promote.Conflict, "held by b at epoch 2")
	err = releaseLease(t, s, name, "a", 1)
	wantError(t, "ReleaseLease(a, 1) after the takeover", err, promote.Conflict, "held by b at epoch 2")

	// A lease that lapses untaken: its check fails once it has expired,
	// and its holder taking it again begins a new term.
	c := mustAcquire(t, s, "expiry-lapse", "c", ttl)
	for deadline := time.Now().Add(leaseDeadline); ; {
		err := checkLease(t, s, "expiry-lapse", "c", c.Epoch)
		if err != nil {
			wantError(t, "CheckLease(c) of a lapsed lease", err, promote.Conflict, "deposed", "epoch 1", "expired")
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("CheckLease(c) still passes %s after a lease of %s was taken", time.Since(start), ttl)
		}
		time.Sleep(20 * time.Millisecond)
	}
	c2 := mustAcquire(t, s, "expiry-lapse", "c", time.Hour)
	wantLease(t, "AcquireLease(c) of its own lapsed lease", c2, "expiry-lapse", "c", 2, time.Hour)
	if !c2.AcquiredAt.After(c.AcquiredAt) {
		t.Errorf("AcquireLease(c) of its own lapsed lease kept the term's start %s, want a new one", c2.AcquiredAt)
	}
	if err := checkLease(t, s, "expiry-lapse", "c", 1); promote.ErrorCode(err) != promote.Conflict {
		t.Errorf("CheckLease(c, 1) after c's new term = %v, want a Conflict", err)
	}
}

// testLeaseFence checks that a check and the writes after it commit
// before any takeover: a holder checks its lease in a transaction that
// outlasts the lease, while another holder tries to take it; the takeover
// waits for that transaction, and the writes it made stay.
func testLeaseFence(t *testing.T, s promote.Store) {
	const name, ttl = "fence", time.Second
	taken := make(chan error, 1)
	var b promote.Lease
	err := s.Update(t.Context(), func(tx promote.Tx) error {
		a, err := tx.AcquireLease(name, "a", ttl, time.Now())
		if err != nil {
			return err
		}
		if err := tx.CheckLease(name, "a", a.Epoch, time.Now()); err != nil {
			// Only a machine stalled for the whole lease gets here.
			return fmt.Errorf("CheckLease right after AcquireLease: %w", err)
		}
		go func() {
			taken <- s.Update(t.Context(), func(tx promote.Tx) (err error) {
				b, err = tx.AcquireLease(name, "b", time.Hour, time.Now())
				return err
			})
		}()
		// Outlast the lease, giving the takeover time to run if nothing
		// held it back.
		time.Sleep(time.Until(a.ExpiresAt) + ttl)
		select {
		case err := <-taken:
			t.Errorf("AcquireLease(b) ended (%v) while a's transaction, which checked the lease, was open", err)
		default:
		}
		_, err = tx.CreateModel(model("fenced"))
		return err
	})
	if err != nil {
		t.Fatalf("Update checking the lease then writing: %v", err)
	}
	select {
	case err := <-taken:
		if err != nil {
			t.Fatalf("AcquireLease(b) after a's transaction ended: %v", err)
		}
	case <-time.After(leaseDeadline):
		t.Fatalf("AcquireLease(b) still waits %s after a's transaction ended", leaseDeadline)
	}
	wantLease(t, "AcquireLease(b) after a's fenced transaction", b, name, "b", 2, time.Hour)
	view(t, s, func(tx promote.Tx) error {
		_, err := tx.Model("fenced")
		return check("Model(fenced), written after the check", err)
	})
}

// raceLeases has 16 holders, spread over stores, take one lease at once,
// first new and then after its release: each time exactly one wins.
func raceLeases(t *testing.T, stores []promote.Store) {
	const name, n = "race", 16
	race := func(round int) string {
		errs := make([]error, n)
		leases := make([]promote.Lease, n)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				<-start
				errs[i] = stores[i%len(stores)].Update(t.Context(), func(tx promote.Tx) (err error) {
					leases[i], err = tx.AcquireLease(name, fmt.Sprintf("r%d-%02d", round, i), time.Hour, time.Now())
					return err
				})
			})
		}
		close(start)
		wg.Wait()
		var winners []string
		for i, err := range errs {
			switch promote.ErrorCode(err) {
			case "":
				winners = append(winners, leases[i].Holder)
			case promote.Conflict:
			default:
				t.Errorf("round %d: AcquireLease(r%d-%02d) = %v, want success or a Conflict", round, round, i, err)
			}
		}
		if len(winners) != 1 {
			t.Fatalf("round %d: %d of %d concurrent AcquireLease succeeded (%v), want exactly 1", round, len(winners), n, winners)
		}
		return winners[0]
	}
	for round, epoch := range []int64{1, 2} {
		winner := race(round)
		for i, s := range stores {
			l := storedLease(t, s, name)
			if l.Holder != winner || l.Epoch != epoch {
				t.Errorf("round %d, store %d: Lease = held by %s at epoch %d, want the winner %s at epoch %d",
					round, i, l.Holder, l.Epoch, winner, epoch)
			}
		}
		if err := releaseLease(t, stores[0], name, winner, epoch); err != nil {
			t.Fatalf("round %d: ReleaseLease(%s, %d) = %v", round, winner, epoch, err)
		}
	}
}
