package rollout

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/promote-ml/promote/internal/metrics"
	"github.com/promote-ml/promote/promote"
)

// heldMetrics is a metrics reader whose next read of the canary's counts,
// once held, returns them only when released: a Prometheus slow to
// answer, whose answer holds the counts as they were when it was asked.
type heldMetrics struct {
	*metrics.Poller
	hold    atomic.Bool
	entered chan struct{}
	release chan struct{}
}

func (h *heldMetrics) Read(ctx context.Context, q metrics.Query) metrics.Reading {
	rd := h.Poller.Read(ctx, q)
	if q.Track == trackCanary && h.hold.CompareAndSwap(true, false) {
		close(h.entered)
		<-h.release
	}
	return rd
}

// trafficLog is a traffic layer that logs the weights and mirrors set.
type trafficLog struct {
	Traffic
	mu  sync.Mutex
	set []float64
}

func (l *trafficLog) SetWeight(ctx context.Context, model, env string, weight float64) error {
	l.mu.Lock()
	l.set = append(l.set, weight)
	l.mu.Unlock()
	return l.Traffic.SetWeight(ctx, model, env, weight)
}

func (l *trafficLog) SetShadow(ctx context.Context, model, env string, share float64) error {
	l.mu.Lock()
	l.set = append(l.set, share)
	l.mu.Unlock()
	return l.Traffic.SetShadow(ctx, model, env, share)
}

// since returns what was set since the log was cleared, and clears it.
func (l *trafficLog) since() []float64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := l.set
	l.set = nil
	return out
}

// A person's abort or pause does not wait for the metric reads of a tick
// under way (a slow Prometheus held the on-call engineer's abort for as
// long as a tick's reads took), it takes effect at once, and the tick,
// when its reads end, leaves what the person did alone: though its
// readings would take the rollout to its next step, it moves no traffic
// and stores nothing over the operation.
func TestOperationsDoNotWaitForATicksMetricReads(t *testing.T) {
	for _, tt := range []struct {
		op     string
		state  promote.RolloutState
		weight float64
	}{
		{"abort", promote.RolloutRolledBack, 0},
		{"pause", promote.RolloutPaused, 0.1},
	} {
		t.Run(tt.op, func(t *testing.T) {
			w := newWorld(t)
			held := &heldMetrics{Poller: w.ctl.cfg.Metrics.(*metrics.Poller), entered: make(chan struct{}), release: make(chan struct{})}
			traffic := &trafficLog{Traffic: w}
			cfg := w.ctl.cfg
			cfg.Metrics, cfg.Traffic = held, traffic
			ctl, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			r := w.pump(t, ctl, 2)
			if r.State != promote.RolloutRunning || w.splitter.Weights() != 0.1 {
				t.Fatalf("rollout = %s at weight %g, the splitter %g; want running at 0.1", r.State, r.Weight, w.splitter.Weights())
			}

			// Enough canary requests for the step: the tick would move
			// the rollout to its next step, were it to judge.
			for range 1500 {
				resp, err := w.front.Client().Get(w.front.URL + "/predict")
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
			}
			held.hold.Store(true)
			ticked := make(chan error, 1)
			go func() { ticked <- ctl.Tick(t.Context()) }()
			<-held.entered
			traffic.since()
			done := make(chan error, 1)
			go func() {
				var err error
				if tt.op == "abort" {
					_, err = ctl.Abort(t.Context(), lena, r.PromotionID, "wrong flags")
				} else {
					_, err = ctl.Pause(t.Context(), lena, r.PromotionID, "checking a dashboard")
				}
				done <- err
			}()
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("%s during the tick's read: %v", tt.op, err)
				}
			case <-time.After(10 * time.Second):
				close(held.release)
				<-ticked
				<-done
				t.Fatalf("the %s waited for the tick's metric read", tt.op)
			}
			r = w.rollout(t)
			if r.State != tt.state || w.splitter.Weights() != tt.weight {
				t.Fatalf("after the %s: rollout = %s (%s), the splitter %g; want %s, %g", tt.op, r.State, r.Reason, w.splitter.Weights(), tt.state, tt.weight)
			}
			traffic.since()

			close(held.release)
			if err := <-ticked; err != nil {
				t.Errorf("the tick that read during the %s: %v", tt.op, err)
			}
			if set := traffic.since(); len(set) != 0 {
				t.Errorf("the tick that read during the %s then set the traffic %v, want nothing", tt.op, set)
			}
			after := w.rollout(t)
			if after.State != tt.state || after.Revision != r.Revision || w.splitter.Weights() != tt.weight {
				t.Errorf("after the tick: rollout = %s (%s) at revision %d, the splitter %g; want %s at revision %d, %g",
					after.State, after.Reason, after.Revision, w.splitter.Weights(), tt.state, r.Revision, tt.weight)
			}
			if ru := ctl.run(r.PromotionID); ru != nil {
				t.Errorf("the controller keeps a run of the rollout after the %s", tt.op)
			}
			if got := w.pump(t, ctl, 2); got.State != tt.state || got.Revision != r.Revision || w.splitter.Weights() != tt.weight {
				t.Errorf("after more ticks: rollout = %s (%s) at revision %d, the splitter %g; want %s at revision %d, %g",
					got.State, got.Reason, got.Revision, w.splitter.Weights(), tt.state, r.Revision, tt.weight)
			}
		})
	}
}
