package rollout

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/promote-ml/promote/internal/metrics"
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
