package rollout

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/promote-ml/promote/internal/metrics"
	"github.com/promote-ml/promote/internal/testtool"
	"github.com/promote-ml/promote/promote"
)

// readTimes records when the controller read stable's counts: once per
// judgement.
type readTimes struct {
	Metrics
	mu    sync.Mutex
	times []time.Time
}

func (r *readTimes) Read(ctx context.Context, q metrics.Query) metrics.Reading {
	if q.Track == trackStable {
		r.mu.Lock()
		r.times = append(r.times, time.Now())
		r.mu.Unlock()
	}
	return r.Metrics.Read(ctx, q)
}

// With the splitter's hook wired to Look, a controller whose interval is
// an hour judges a faulty canary as its requests arrive, and rolls it
// back, never judging twice within LookEvery.
func TestLookJudgesAsEvidenceArrives(t *testing.T) {
	w := newWorld(t)
	w.failV2.Store(2) // half of the canary's answers are 5xx
	reads := &readTimes{Metrics: w.ctl.cfg.Metrics}
	cfg := w.ctl.cfg
	cfg.Interval, cfg.LookEvery, cfg.Metrics = time.Hour, 50*time.Millisecond, reads
	ctl, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	// The first tick starts the rollout at its first step.
	if err := ctl.Tick(t.Context()); err != nil {
		t.Fatal(err)
	}
	if r := w.rollout(t); r.State != promote.RolloutRunning || r.Version != "2" {
		t.Fatalf("rollout = %s of %s, want version 2 running", r.State, r.Version)
	}
	w.metrics.OnCandidate(ctl.Look)
	defer w.metrics.OnCandidate(nil)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- ctl.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	client := w.front.Client()
	deadline := time.Now().Add(20 * time.Second)
	var r promote.Rollout
	for r = w.rollout(t); r.State.Active() && time.Now().Before(deadline); r = w.rollout(t) {
		for range 20 {
			resp, err := client.Get(w.front.URL + "/predict")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
		}
	}
	if r.State != promote.RolloutRolledBack {
		t.Fatalf("rollout = %s (%s) after the canary's requests, want rolled back: an hour's interval, judged on its evidence", r.State, r.Reason)
	}
	reads.mu.Lock()
	defer reads.mu.Unlock()
	if len(reads.times) < 3 {
		t.Errorf("judged %d times, want the first tick, Run's and at least one look", len(reads.times))
	}
	// Run's first tick follows the test's at once; the looks after it are
	// LookEvery apart at least.
	for i := 2; i < len(reads.times); i++ {
		if gap := reads.times[i].Sub(reads.times[i-1]); gap < cfg.LookEvery {
			t.Errorf("judgements %d and %d %s apart, want at least %s", i-1, i, gap, cfg.LookEvery)
		}
	}
}

// unreachable is a registry whose store cannot be reached while down is
// set.
type unreachable struct {
	Registry
	down  atomic.Bool
	calls atomic.Int64
}

func (u *unreachable) PendingRollouts(ctx context.Context) ([]promote.Promotion, error) {
	u.calls.Add(1)
	if u.down.Load() {
		return nil, errors.New("the database is unavailable")
	}
	return u.Registry.PendingRollouts(ctx)
}

// While ticks fail, the failure is one warning and the recovery one line,
// and looks do not bring ticks: the interval paces the retries.
func TestFailingTicksLoggedOnceAndNotLooked(t *testing.T) {
	w := newWorld(t)
	reg := &unreachable{Registry: w.ctl.cfg.Registry}
	reg.down.Store(true)
	var logs testtool.Buffer
	cfg := w.ctl.cfg
	cfg.Registry, cfg.Interval, cfg.LookEvery = reg, 100*time.Millisecond, 10*time.Millisecond
	cfg.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	ctl, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- ctl.Run(ctx) }()
	stop := time.Now().Add(time.Second)
	for time.Now().Before(stop) {
		ctl.Look()
		time.Sleep(time.Millisecond)
	}
	failing := reg.calls.Load()
	reg.down.Store(false)
	time.Sleep(300 * time.Millisecond)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// A second of failures at a 100 ms interval: about 10 ticks (a few
	// more on a slow machine); looked at, they would be near 100.
	if failing > 25 {
		t.Errorf("%d ticks in a second of failures, want about 10: looks brought ticks", failing)
	}
	out := logs.String()
	if n := strings.Count(out, "tick failed"); n != 1 {
		t.Errorf("the failure was logged %d times at info or above, want once:\n%s", n, out)
	}
	if n := strings.Count(out, "ticks succeed again"); n != 1 {
		t.Errorf("the recovery was logged %d times, want once:\n%s", n, out)
	}
}
