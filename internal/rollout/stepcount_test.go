package rollout

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/promote-ml/promote/internal/metrics"
	"github.com/promote-ml/promote/internal/promtest"
	"github.com/promote-ml/promote/internal/telemetry"
	"github.com/promote-ml/promote/internal/traffic"
	"github.com/promote-ml/promote/promote"
)

// restartSplitter gives w a splitter whose counters start at zero, in
// front of the same model servers, as a restarted process's agent has,
// and returns the registry it counts on.
func (w *world) restartSplitter(t *testing.T) *telemetry.Registry {
	t.Helper()
	reg := telemetry.NewRegistry()
	m, err := traffic.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	s, err := traffic.New(traffic.Config{Model: "credit-risk", Env: "prod", Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.SetStable(traffic.Backend{Version: "1", URL: w.v1}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetCanary(&traffic.Backend{Version: "2", URL: w.v2}, 0); err != nil {
		t.Fatal(err)
	}
	w.splitter, w.reg, w.metrics = s, reg, m
	w.front = httptest.NewServer(s)
	t.Cleanup(w.front.Close)
	return reg
}

// send sends n requests through the splitter and returns how many the
// canary answered.
func (w *world) send(t *testing.T, n int) int {
	t.Helper()
	canary := 0
	for range n {
		resp, err := w.front.Client().Get(w.front.URL + "/predict")
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		buf := make([]byte, 64)
		for {
			k, err := resp.Body.Read(buf)
			b.Write(buf[:k])
			if err != nil {
				break
			}
		}
		resp.Body.Close()
		if b.String() == "version 2" {
			canary++
		}
	}
	return canary
}

// judge ticks ctl and returns the rollout as stored.
func (w *world) judge(t *testing.T, ctl *Controller) promote.Rollout {
	t.Helper()
	if err := ctl.Tick(t.Context()); err != nil {
		t.Fatalf("Tick: %v", err)
	}
	return w.rollout(t)
}

// A step's requests are counted whole across a restart of the process
// (the splitters' counters start at zero with it) and a takeover by a
// process whose counters predate the step, with the built-in source:
// what other processes stored, plus every canary request this process
// counted since it began counting the step, those it served before its
// first tick and before its first valid reading (its first readings are
// Waiting: no data) included.
func TestBuiltinStepCountSurvivesRestartAndTakeover(t *testing.T) {
	for _, tc := range []struct {
		name    string
		restart bool
	}{
		{"restart", true},
		{"takeover", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorldWith(t, testPipeline, slowStepPolicy)
			cfg := w.ctl.cfg
			cfg.SampleEvery = time.Nanosecond // the step's count stored at every tick
			first, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			served := 0
			var r promote.Rollout
			for range 3 {
				served += w.send(t, 50)
				r = w.judge(t, first)
			}
			if r.State != promote.RolloutRunning || r.Step != 0 || r.StepRequests != float64(served) {
				t.Fatalf("before the %s: %s at step %d with %g step requests; want running at step 1 with the %d the canary served",
					tc.name, r.State, r.Step+1, r.StepRequests, served)
			}
			next := cfg
			if tc.restart {
				poller, err := metrics.NewPoller(metrics.NewBuiltin(w.restartSplitter(t)), metrics.PollerOptions{})
				if err != nil {
					t.Fatal(err)
				}
				next.Metrics = poller
			}
			ctl, err := New(next)
			if err != nil {
				t.Fatal(err)
			}
			if tc.restart {
				// The restarted process follows the stored weight
				// before it leads, and its canary serves meanwhile.
				ctl.follow(t.Context(), nil)
				served += w.send(t, 50)
			}
			// The first readings have no new data: Waiting.
			if r = w.judge(t, ctl); r.Step != 0 {
				t.Fatalf("after the %s: at step %d, want 1", tc.name, r.Step+1)
			}
			served += w.send(t, 50)
			r = w.judge(t, ctl)
			served += w.send(t, 50)
			r = w.judge(t, ctl)
			if r.Step != 0 || r.StepRequests != float64(served) {
				t.Errorf("after the %s: at step %d with %g step requests; want step 1 with the %d the canary served in it", tc.name, r.Step+1, r.StepRequests, served)
			}
		})
	}
}

// A step's requests are counted whole across a restart of the process
// whose splitter Prometheus scrapes (a new one, at another address, whose
// counters start at zero), and across a takeover by another process, with
// Prometheus as the source: the count of the canary's requests since the step began,
// those served after the last stored count and before the new process's
// first valid reading included, its first readings being Waiting until
// Prometheus has scraped anything since its start.
func TestPrometheusStepCountSurvivesRestartAndTakeover(t *testing.T) {
	w := newWorldWith(t, testPipeline, slowStepPolicy)
	// Two scrape targets: the process before the restart, and the one
	// after it (a new pod, another address), whose registry is empty
	// until it starts.
	var before, after atomic.Pointer[telemetry.Registry]
	before.Store(w.reg)
	after.Store(telemetry.NewRegistry())
	target := func(reg *atomic.Pointer[telemetry.Registry]) string {
		srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, req *http.Request) {
			if r := reg.Load(); r != nil {
				r.Handler(nil).ServeHTTP(rw, req)
				return
			}
			http.Error(rw, "gone", http.StatusServiceUnavailable)
		}))
		t.Cleanup(srv.Close)
		return strings.TrimPrefix(srv.URL, "http://")
	}
	prom := promtest.Start(t, target(&before), target(&after))
	newController := func() *Controller {
		src, err := metrics.NewPrometheus(metrics.PrometheusOptions{URL: prom.URL})
		if err != nil {
			t.Fatal(err)
		}
		poller, err := metrics.NewPoller(src, metrics.PollerOptions{})
		if err != nil {
			t.Fatal(err)
		}
		cfg := w.ctl.cfg
		cfg.Metrics = poller
		cfg.SampleEvery = time.Hour // the step's count stored at the first judged tick alone
		ctl, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		return ctl
	}
	// scraped waits until Prometheus has scraped what was served, and
	// the settle time has passed.
	scraped := func() { time.Sleep(2500 * time.Millisecond) }

	first := newController()
	served := 0
	r := w.judge(t, first) // started
	served += w.send(t, 50)
	scraped()
	r = w.judge(t, first)
	if r.State != promote.RolloutRunning || r.Step != 0 || r.StepRequests != float64(served) {
		t.Fatalf("at the first judged tick: %s at step %d with %g step requests; want running at step 1 with %d", r.State, r.Step+1, r.StepRequests, served)
	}
	stored := r.StepRequests
	// Served, read, but not stored before the restart.
	served += w.send(t, 50)
	scraped()
	if r = w.judge(t, first); r.StepRequests != stored {
		t.Fatalf("the stored step requests = %g, want %g still (no sample for an hour)", r.StepRequests, stored)
	}
	served += w.send(t, 50)
	scraped() // what a process served after its last scrape dies with it

	// The process restarts: the old one's series go stale, and the new
	// one's counters start at zero.
	before.Store(nil)
	after.Store(w.restartSplitter(t))
	restarted := newController()
	restarted.follow(t.Context(), nil)
	served += w.send(t, 50)
	if r = w.judge(t, restarted); r.Step != 0 {
		t.Fatalf("after the restart: at step %d, want 1", r.Step+1)
	}
	served += w.send(t, 50)
	scraped()
	if r = w.judge(t, restarted); r.Step != 0 || r.StepRequests != float64(served) {
		t.Errorf("after the restart: at step %d with %g step requests; want step 1 with the %d the canary served in it", r.Step+1, r.StepRequests, served)
	}

	// Another process takes over, reading the same Prometheus.
	served += w.send(t, 50)
	next := newController()
	w.judge(t, next) // Waiting: nothing scraped since it began
	served += w.send(t, 50)
	scraped()
	if r = w.judge(t, next); r.Step != 0 || r.StepRequests != float64(served) {
		t.Errorf("after the takeover: at step %d with %g step requests; want step 1 with the %d the canary served in it", r.Step+1, r.StepRequests, served)
	}
}
