package leader_test

import (
	"context"
	"testing"
	"time"

	"github.com/promote-ml/promote/internal/leader"
	"github.com/promote-ml/promote/internal/postgres"
	"github.com/promote-ml/promote/internal/storetest"
	"github.com/promote-ml/promote/promote"
)

// TestFrozenLeaderDoesNotBlockTheTakeover freezes a leader inside a fenced
// transaction, as a process stopped (SIGSTOP, a frozen VM) or cut off from
// the database between two statements of a write would be: the lease's row
// stays locked by the check. Another replica must still take over once the
// lease expires, and the frozen write, thawed after the takeover, must not
// land.
func TestFrozenLeaderDoesNotBlockTheTakeover(t *testing.T) {
	dsn := storetest.PostgresDSN(t)
	open := func() promote.Store {
		s, err := postgres.Open(t.Context(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	frozen := open() // the connection the leader's write is frozen on
	cfg := leader.Config{TTL: time.Second, RenewEvery: 100 * time.Millisecond}
	checked, thaw, wrote := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	a := startHolding(t, "a", open(), cfg, func(ctx context.Context, n int) {
		if n == 1 {
			fence, _ := promote.FenceFrom(ctx)
			go func() {
				// Not ctx: a frozen process cancels nothing.
				wrote <- frozen.Update(promote.WithFence(context.Background(), fence), func(tx promote.Tx) error {
					if err := promote.CheckFence(promote.WithFence(context.Background(), fence), tx, time.Now()); err != nil {
						return err
					}
					close(checked)
					<-thaw
					_, err := tx.AcquireLease("written-while-frozen", "a", time.Hour, time.Now())
					return err
				})
			}()
		}
		<-ctx.Done()
	})
	waitFor(t, "a leads", func() bool { return a.el.Status().Leader })
	b := start(t, "b", open(), cfg)
	<-checked
	a.kill() // a renews nothing more
	frozenAt := time.Now()

	// b takes over once the server has ended the frozen transaction
	// (postgres.Open's idle-in-transaction timeout, 5 s) and the lease
	// has expired, with room for a busy machine; the frozen process stays
	// frozen all along.
	within := time.Now().Add(5*time.Second + cfg.TTL + cfg.RenewEvery + 3*time.Second)
	for !b.el.Status().Leader && time.Now().Before(within) {
		time.Sleep(10 * time.Millisecond)
	}
	took := b.el.Status().Leader
	close(thaw)
	err := <-wrote
	if !took {
		t.Fatalf("b did not take over within %s of a freezing in a fenced transaction (lease %s): %+v",
			time.Since(frozenAt).Round(time.Millisecond), cfg.TTL, b.el.Status())
	}
	t.Logf("b took over %s after a froze; the frozen write then returned %v", time.Since(frozenAt).Round(time.Millisecond), err)
	if err == nil {
		t.Errorf("the write frozen in a's term committed after b took over, want it refused")
	}
	observer := open()
	if err := observer.View(t.Context(), func(tx promote.Tx) error {
		_, err := tx.Lease("written-while-frozen")
		return err
	}); promote.ErrorCode(err) != promote.NotFound {
		t.Errorf("the frozen write's lease: %v, want NotFound", err)
	}
}
