package rollout

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/promote-ml/promote/internal/metrics"
	"github.com/promote-ml/promote/promote"
)

// scriptedCanary answers the canary's reads from script while it lasts,
// and every other read from the source.
type scriptedCanary struct {
	source Metrics
	mu     sync.Mutex
	script []metrics.Reading
}

func (s *scriptedCanary) Read(ctx context.Context, q metrics.Query) metrics.Reading {
	s.mu.Lock()
	defer s.mu.Unlock()
	if q.Track == metrics.TrackCanary && len(s.script) > 0 {
		rd := s.script[0]
		s.script = s.script[1:]
		return rd
	}
	return s.source.Read(ctx, q)
}

// Readings that leave a rollout unjudged are logged, so that on-call sees a
// metric source failing or silent before its limit pauses the rollout:
// each failed query the error budget tolerates as a warning, a wait for
// data once when it begins, and the first judged tick after them.
func TestInconclusiveReadingsAreLogged(t *testing.T) {
	w := newWorld(t)
	var logs strings.Builder
	cfg := w.ctl.cfg
	waiting := metrics.Reading{Status: metrics.StatusWaiting, Err: metrics.ErrNoData}
	cfg.Metrics = &scriptedCanary{source: cfg.Metrics, script: []metrics.Reading{
		waiting, waiting, waiting,
		{Status: metrics.StatusRetrying, Err: errors.New("prometheus did not answer within 5s")},
		{Status: metrics.StatusRetrying, Err: errors.New("prometheus answered 503")},
	}}
	cfg.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	ctl, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if r := w.pump(t, ctl, 7); r.State != promote.RolloutRunning {
		t.Fatalf("rollout = %s (%s), want running", r.State, r.Reason)
	}
	out := logs.String()
	// The messages in order: a wait is logged when it begins (at the
	// first tick, and again after the failures), each tolerated failure,
	// and the first judged tick after them; not every waiting tick.
	var got []string
	for _, line := range strings.Split(out, "\n") {
		for _, m := range []string{"no new metric data yet", "a metric query failed", "metric data again"} {
			if strings.Contains(line, m) {
				got = append(got, m)
			}
		}
	}
	want := []string{"no new metric data yet", "a metric query failed", "a metric query failed", "no new metric data yet", "metric data again"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("logged %q, want %q:\n%s", got, want, out)
	}
	for _, e := range []string{"prometheus did not answer within 5s", "prometheus answered 503"} {
		if !strings.Contains(out, e) {
			t.Errorf("the log lacks the failed query's error %q:\n%s", e, out)
		}
	}
	if !strings.Contains(out, "level=WARN msg=\"rollout: a metric query failed") || !strings.Contains(out, "track=canary") {
		t.Errorf("the failed query is not a warning naming the track:\n%s", out)
	}
}
