package leader_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/promote-ml/promote/internal/leader"
	"github.com/promote-ml/promote/internal/postgres"
	"github.com/promote-ml/promote/internal/sqlite"
	"github.com/promote-ml/promote/internal/storetest"
	"github.com/promote-ml/promote/internal/testtool"
	"github.com/promote-ml/promote/promote"
)

// deadline bounds every wait for something the elector does in time.
const deadline = 30 * time.Second

// database returns a function opening stores on one new database, each a
// replica's own, closed when the test ends.
type database func(t *testing.T) func() promote.Store

var databases = []struct {
	name string
	open database
}{
	{"sqlite", func(t *testing.T) func() promote.Store {
		dir := t.TempDir()
		return func() promote.Store {
			s, err := sqlite.Open(t.Context(), dir)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		}
	}},
	{"postgres", func(t *testing.T) func() promote.Store {
		dsn := storetest.PostgresDSN(t)
		return func() promote.Store {
			s, err := postgres.Open(t.Context(), dsn)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		}
	}},
}

// forEachDatabase runs test on every database, in parallel.
func forEachDatabase(t *testing.T, test func(t *testing.T, open func() promote.Store)) {
	t.Parallel()
	for _, db := range databases {
		t.Run(db.name, func(t *testing.T) {
			if db.name == "postgres" {
				storetest.PostgresServer(t)
			}
			t.Parallel()
			test(t, db.open(t))
		})
	}
}

// term is what a replica's OnElected saw of one term.
type term struct {
	fence    promote.Fence
	ctxFence promote.Fence // the fence its context carried
	ended    bool
	endedAt  time.Time
	cause    error
}

// replica is an elector running on a store of its own, recording its
// terms.
type replica struct {
	name   string
	store  promote.Store
	el     *leader.Elector
	cancel context.CancelFunc
	done   chan struct{} // closed when Run has returned

	mu      sync.Mutex
	terms   []*term
	deposed int
	hold    func(ctx context.Context, n int)
}

// start runs an elector named name on store with cfg, stopped when the
// test ends.
func start(t *testing.T, name string, store promote.Store, cfg leader.Config) *replica {
	t.Helper()
	return startHolding(t, name, store, cfg, nil)
}

// startHolding is start with OnElected running hold(ctx, n) in the n-th
// term, when hold is set.
func startHolding(t *testing.T, name string, store promote.Store, cfg leader.Config, hold func(ctx context.Context, n int)) *replica {
	t.Helper()
	r := &replica{name: name, store: store, done: make(chan struct{}), hold: hold}
	cfg.Store, cfg.Holder = store, name
	cfg.Logger = slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
	cfg.OnElected = func(ctx context.Context, f promote.Fence) {
		tm := &term{fence: f}
		tm.ctxFence, _ = promote.FenceFrom(ctx)
		r.mu.Lock()
		r.terms = append(r.terms, tm)
		n := len(r.terms)
		r.mu.Unlock()
		if r.hold != nil {
			r.hold(ctx, n)
		} else {
			<-ctx.Done()
		}
		r.mu.Lock()
		tm.ended, tm.endedAt, tm.cause = true, time.Now(), context.Cause(ctx)
		r.mu.Unlock()
	}
	cfg.OnDeposed = func() {
		r.mu.Lock()
		r.deposed++
		r.mu.Unlock()
	}
	el, err := leader.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	r.el = el
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() {
		defer close(r.done)
		if err := el.Run(ctx); err != nil {
			t.Errorf("%s: Run = %v, want nil", name, err)
		}
	}()
	t.Cleanup(r.stop)
	return r
}

// stop ends Run cleanly and waits for it.
func (r *replica) stop() {
	r.cancel()
	<-r.done
}

// kill stops the replica as kill -9 would, as far as the database can
// tell: its store is closed first, so its lease is neither renewed nor
// released.
func (r *replica) kill() {
	r.store.Close()
	r.stop()
}

// snapshot returns copies of the replica's terms and its count of
// OnDeposed calls.
func (r *replica) snapshot() ([]term, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]term, len(r.terms))
	for i, tm := range r.terms {
		out[i] = *tm
	}
	return out, r.deposed
}

// waitFor polls cond until it holds, failing the test after deadline.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(deadline); !cond(); {
		if time.Now().After(end) {
			t.Fatalf("%s: not after %s", what, deadline)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// leaseIn reads the stored lease.
func leaseIn(t *testing.T, s promote.Store, name string) promote.Lease {
	t.Helper()
	var l promote.Lease
	if err := s.View(t.Context(), func(tx promote.Tx) (err error) {
		l, err = tx.Lease(name)
		return err
	}); err != nil {
		t.Fatalf("Lease(%s): %v", name, err)
	}
	return l
}

// leaderOf waits until exactly one of rs leads, and returns it and the
// others.
func leaderOf(t *testing.T, rs ...*replica) (*replica, []*replica) {
	t.Helper()
	var lead *replica
	var rest []*replica
	waitFor(t, "one replica leads and has started its term", func() bool {
		lead, rest = nil, nil
		for _, r := range rs {
			if r.el.Status().Leader {
				if lead != nil {
					t.Fatalf("%s and %s both lead", lead.name, r.name)
				}
				lead = r
				continue
			}
			rest = append(rest, r)
		}
		return lead != nil && lead.inTerm()
	})
	return lead, rest
}

// inTerm reports whether r's OnElected is running a term: it runs in a
// goroutine of its own, so it may start a moment after Status says r leads.
func (r *replica) inTerm() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.terms) > 0 && !r.terms[len(r.terms)-1].ended
}

// steady is a configuration whose leader keeps its lease through a busy
// machine's stalls: a deadline 2 s after each renewal, renewed every
// 300 ms.
var steady = leader.Config{TTL: 3 * time.Second, RenewEvery: 300 * time.Millisecond, Margin: time.Second}

func TestElection(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, open func() promote.Store) {
		observer := open()
		a := start(t, "a", open(), steady)
		b := start(t, "b", open(), steady)
		lead, rest := leaderOf(t, a, b)
		follower := rest[0]

		// The follower sees who leads.
		waitFor(t, "the follower sees the leader", func() bool { return follower.el.Status().Holder == lead.name })
		st := follower.el.Status()
		if st.Leader || st.Self != follower.name || st.Lease != leader.DefaultName || st.Epoch != 1 || st.Error != "" {
			t.Errorf("%s: Status() = %+v, want a follower of %s at epoch 1", follower.name, st, lead.name)
		}

		// The leader's term carries its fence, which the store holds.
		terms, _ := lead.snapshot()
		if len(terms) != 1 {
			t.Fatalf("%s: %d terms, want 1", lead.name, len(terms))
		}
		want := promote.Fence{Name: leader.DefaultName, Holder: lead.name, Epoch: 1}
		if terms[0].fence != want || terms[0].ctxFence != want {
			t.Errorf("%s: OnElected fence %+v, context's fence %+v, want %+v", lead.name, terms[0].fence, terms[0].ctxFence, want)
		}
		first := leaseIn(t, observer, leader.DefaultName)
		if first.Holder != lead.name || first.Epoch != 1 {
			t.Errorf("stored lease = %+v, want %s's at epoch 1", first, lead.name)
		}

		// It renews: well past the TTL it still leads, in the same term.
		time.Sleep(2 * steady.TTL)
		renewed := leaseIn(t, observer, leader.DefaultName)
		if renewed.Holder != lead.name || renewed.Epoch != 1 || !renewed.RenewedAt.After(first.RenewedAt.Add(steady.TTL)) {
			t.Errorf("stored lease after 2 TTLs = %+v, want %s's at epoch 1 renewed since %s", renewed, lead.name, first.RenewedAt)
		}
		if terms, _ := lead.snapshot(); len(terms) != 1 || terms[0].ended {
			t.Errorf("%s: terms after 2 TTLs = %+v, want the one term, running", lead.name, terms)
		}
		if terms, _ := follower.snapshot(); len(terms) != 0 {
			t.Errorf("%s: terms = %+v, want none while %s leads", follower.name, terms, lead.name)
		}
		if st := lead.el.Status(); !st.Leader || st.Holder != lead.name || st.Epoch != 1 || !st.ExpiresAt.After(first.ExpiresAt) {
			t.Errorf("%s: Status() = %+v, want the leader at epoch 1, its expiry moved", lead.name, st)
		}

		// Killed, it neither renews nor releases: the follower takes
		// over once the lease has expired, in the next term.
		lead.kill()
		before := leaseIn(t, observer, leader.DefaultName)
		waitFor(t, follower.name+" takes over", func() bool { return follower.el.Status().Leader && follower.inTerm() })
		after := leaseIn(t, observer, leader.DefaultName)
		if after.Holder != follower.name || after.Epoch != 2 {
			t.Errorf("stored lease after the takeover = %+v, want %s's at epoch 2", after, follower.name)
		}
		if after.AcquiredAt.Before(before.ExpiresAt) {
			t.Errorf("%s took the lease at %s, before %s's expired at %s", follower.name, after.AcquiredAt, lead.name, before.ExpiresAt)
		}
		terms, _ = follower.snapshot()
		if len(terms) != 1 || terms[0].fence.Epoch != 2 || terms[0].ctxFence.Epoch != 2 {
			t.Errorf("%s: terms after the takeover = %+v, want one at epoch 2", follower.name, terms)
		}
		terms, deposed := lead.snapshot()
		if len(terms) != 1 || !terms[0].ended || deposed != 1 {
			t.Errorf("%s: after kill: terms %+v, OnDeposed %d times, want the one term ended and 1", lead.name, terms, deposed)
		}
		// The killed leader's fence no longer passes.
		err := observer.Update(t.Context(), func(tx promote.Tx) error {
			return tx.CheckLease(want.Name, want.Holder, want.Epoch, time.Now())
		})
		if promote.ErrorCode(err) != promote.Conflict || !strings.Contains(err.Error(), "held by "+follower.name+" at epoch 2") {
			t.Errorf("CheckLease(%+v) after the takeover = %v, want a Conflict naming %s at epoch 2", want, err, follower.name)
		}
	})
}

func TestReleaseHandsOver(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, open func() promote.Store) {
		// A lease far longer than the wait: only a release lets the
		// follower in.
		cfg := leader.Config{TTL: 5 * time.Minute, RenewEvery: 100 * time.Millisecond}
		observer := open()
		a := start(t, "a", open(), cfg)
		b := start(t, "b", open(), cfg)
		lead, rest := leaderOf(t, a, b)
		follower := rest[0]
		waitFor(t, "the follower sees the leader", func() bool { return follower.el.Status().Holder == lead.name })

		lead.stop()
		terms, deposed := lead.snapshot()
		if len(terms) != 1 || !terms[0].ended || !errors.Is(terms[0].cause, context.Canceled) || deposed != 1 {
			t.Errorf("%s: after stop: terms %+v, OnDeposed %d times; want its term ended by the cancellation, and 1", lead.name, terms, deposed)
		}
		if st := lead.el.Status(); st.Leader {
			t.Errorf("%s: Status() after stop = %+v, want not the leader", lead.name, st)
		}
		waitFor(t, follower.name+" takes over", func() bool { return follower.el.Status().Leader && follower.inTerm() })
		l := leaseIn(t, observer, leader.DefaultName)
		if l.Holder != follower.name || l.Epoch != 2 {
			t.Errorf("stored lease after the hand-over = %+v, want %s's at epoch 2", l, follower.name)
		}
	})
}

func TestDeposedWhenRenewalsFail(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, open func() promote.Store) {
		observer := open()
		a := start(t, "a", open(), steady)
		waitFor(t, "a leads", func() bool { return a.el.Status().Leader })

		// The database becomes unreachable to a.
		a.store.Close()
		waitFor(t, "a's term ends", func() bool {
			terms, _ := a.snapshot()
			return len(terms) == 1 && terms[0].ended
		})
		terms, _ := a.snapshot()
		l := leaseIn(t, observer, leader.DefaultName)
		if l.Holder != "a" || l.Epoch != 1 {
			t.Fatalf("stored lease = %+v, want a's at epoch 1, neither renewed nor released", l)
		}
		if !terms[0].endedAt.Before(l.ExpiresAt) {
			t.Errorf("a stopped acting at %s, after its lease expired at %s", terms[0].endedAt, l.ExpiresAt)
		}
		if !errors.Is(terms[0].cause, leader.ErrDeposed) || !strings.Contains(terms[0].cause.Error(), "not renewed in time") {
			t.Errorf("a's term ended because %v, want ErrDeposed: not renewed in time", terms[0].cause)
		}
		waitFor(t, "a reports the failure and is told", func() bool {
			st := a.el.Status()
			_, deposed := a.snapshot()
			return !st.Leader && st.Error != "" && deposed >= 1
		})
		if _, deposed := a.snapshot(); deposed != 1 {
			t.Errorf("a: OnDeposed called %d times, want 1", deposed)
		}
	})
}

func TestDeposedOnConflict(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, open func() promote.Store) {
		observer := open()
		a := start(t, "a", open(), leader.Config{TTL: 5 * time.Minute, RenewEvery: 100 * time.Millisecond})
		waitFor(t, "a leads", func() bool { return a.el.Status().Leader })

		// Another holder gets the lease from under a (as after a stall
		// of a's longer than the lease).
		if err := observer.Update(t.Context(), func(tx promote.Tx) error {
			if err := tx.ReleaseLease(leader.DefaultName, "a", 1, time.Now()); err != nil {
				return err
			}
			_, err := tx.AcquireLease(leader.DefaultName, "intruder", time.Hour, time.Now())
			return err
		}); err != nil {
			t.Fatal(err)
		}
		// OnDeposed follows the end of OnElected: wait for both.
		waitFor(t, "a's term ends and a is told", func() bool {
			terms, deposed := a.snapshot()
			return len(terms) == 1 && terms[0].ended && deposed >= 1
		})
		terms, deposed := a.snapshot()
		if c := terms[0].cause; !errors.Is(c, leader.ErrDeposed) || promote.ErrorCode(c) != promote.Conflict || !strings.Contains(c.Error(), "intruder") {
			t.Errorf("a's term ended because %v, want ErrDeposed with the Conflict naming the intruder", c)
		}
		if deposed != 1 {
			t.Errorf("a: OnDeposed called %d times, want 1", deposed)
		}
		st := a.el.Status()
		if st.Leader || st.Holder != "intruder" || st.Epoch != 2 {
			t.Errorf("a: Status() = %+v, want a follower of the intruder at epoch 2", st)
		}
		if l := leaseIn(t, observer, leader.DefaultName); l.Holder != "intruder" {
			t.Errorf("stored lease = %+v, want the intruder's", l)
		}
	})
}

func TestResignsWhenControllersStop(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, open func() promote.Store) {
		observer := open()
		cfg := leader.Config{TTL: time.Second, RenewEvery: 100 * time.Millisecond}
		// The first term's controllers stop at once; later ones run.
		a := startHolding(t, "a", open(), cfg, func(ctx context.Context, n int) {
			if n > 1 {
				<-ctx.Done()
			}
		})
		waitFor(t, "a's first term ends", func() bool {
			terms, deposed := a.snapshot()
			return len(terms) >= 1 && terms[0].ended && deposed >= 1
		})
		waitFor(t, "a leads again", func() bool {
			terms, _ := a.snapshot()
			return len(terms) == 2
		})
		terms, _ := a.snapshot()
		if terms[1].fence.Epoch != 2 {
			t.Errorf("a's second term at epoch %d, want 2: the first was released", terms[1].fence.Epoch)
		}
		if l := leaseIn(t, observer, leader.DefaultName); l.Holder != "a" || l.Epoch != 2 {
			t.Errorf("stored lease = %+v, want a's at epoch 2", l)
		}
	})
}

func TestNewValidates(t *testing.T) {
	on := func(context.Context, promote.Fence) {}
	tests := []struct {
		name string
		cfg  leader.Config
		msgs []string
	}{
		{"nothing", leader.Config{}, []string{"no store", "no OnElected"}},
		{"negative TTL", leader.Config{OnElected: on, TTL: -time.Second}, []string{"time to live -1s is negative"}},
		{"margin past the TTL", leader.Config{OnElected: on, TTL: time.Second, Margin: time.Second}, []string{"margin 1s"}},
		{"renewals too rare", leader.Config{OnElected: on, TTL: time.Second, RenewEvery: 900 * time.Millisecond},
			[]string{"renewal interval 900ms", "margin 200ms"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := leader.New(tt.cfg)
			if err == nil {
				t.Fatalf("New(%+v) = nil error, want one", tt.cfg)
			}
			for _, m := range tt.msgs {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("New(%s) = %q, want it to mention %q", tt.name, err, m)
				}
			}
		})
	}
}

func TestDefaultHolder(t *testing.T) {
	a, b := leader.DefaultHolder(), leader.DefaultHolder()
	if a == b || a == "" {
		t.Errorf("DefaultHolder() = %q then %q, want two different names", a, b)
	}
}

// flaky is a store whose database can be made unreachable: while down,
// Update fails as a driver does, with a connection error.
type flaky struct {
	promote.Store
	down atomic.Bool
}

func (s *flaky) Update(ctx context.Context, fn func(promote.Tx) error) error {
	if s.down.Load() {
		return fmt.Errorf("%w: begin postgres transaction: dial tcp 10.0.0.5:5432: connect: connection refused", promote.ErrUnavailable)
	}
	return s.Store.Update(ctx, fn)
}

// TestOutageLoggedOnce: a replica that cannot reach the database to take
// the lease says so once, not at every attempt, and says when it can
// again; it then takes the lease.
func TestOutageLoggedOnce(t *testing.T) {
	dir := t.TempDir()
	s, err := sqlite.Open(t.Context(), dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	store := &flaky{Store: s}
	store.down.Store(true)
	var logs testtool.Buffer
	cfg := steady
	cfg.Store, cfg.Holder = store, "a"
	cfg.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	cfg.OnElected = func(ctx context.Context, _ promote.Fence) { <-ctx.Done() }
	el, err := leader.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); el.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	// Ten attempts or so while the database is unreachable.
	time.Sleep(10 * cfg.RenewEvery)
	if st := el.Status(); st.Leader || st.Error == "" {
		t.Errorf("Status while the database is down = %+v, want a follower reporting the error", st)
	} else if strings.Contains(st.Error, "10.0.0.5") {
		// The status is on /api/v1/leader for any token: the driver's
		// words, with the database's address, stay in the log.
		t.Errorf("Status().Error = %q, names the database's address", st.Error)
	}
	if n := strings.Count(logs.String(), "taking the lease failed"); n != 1 {
		t.Errorf("%d lines say taking the lease failed, want 1:\n%s", n, logs.String())
	}
	store.down.Store(false)
	waitFor(t, "a leads", func() bool { return el.Status().Leader })
	if !strings.Contains(logs.String(), "leader: the database answers again") {
		t.Errorf("no line says the database answers again:\n%s", logs.String())
	}
}
