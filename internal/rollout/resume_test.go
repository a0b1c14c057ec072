package rollout

import (
	"context"
	"encoding/json"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/promote-ml/promote/internal/analysis"
	"github.com/promote-ml/promote/internal/metrics"
	"github.com/promote-ml/promote/internal/policy"
	"github.com/promote-ml/promote/promote"
)

// scripted is a metric source whose traffic the test writes, so that the
// evidence is exact: the test adds requests and errors to the tracks'
// totals, and a read returns the totals since the query's Since, as a
// source counting from then does.
type scripted struct {
	mu    sync.Mutex
	now   *time.Time
	marks []scriptedMark // the totals after each addition, oldest first
}

type scriptedMark struct {
	at             time.Time
	stable, canary analysis.Counts
}

// add serves requests at the clock's time: stable's without errors, the
// canary's with errors of them failing.
func (s *scripted) add(stable, canary, errors float64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var m scriptedMark
	if n := len(s.marks); n > 0 {
		m = s.marks[n-1]
	}
	m.at = *s.now
	m.stable.Requests += stable
	m.canary.Requests += canary
	m.canary.Errors += errors
	s.marks = append(s.marks, m)
}

func (s *scripted) Read(_ context.Context, q metrics.Query) metrics.Reading {
	s.mu.Lock()
	defer s.mu.Unlock()
	var base, cur scriptedMark
	for _, m := range s.marks {
		if !m.at.After(q.Since) {
			base = m
		}
		cur = m
	}
	pick := func(m scriptedMark) analysis.Counts {
		if q.Track == trackStable {
			return m.stable
		}
		return m.canary
	}
	b, c := pick(base), pick(cur)
	return metrics.Reading{Status: metrics.StatusOK,
		Counts: analysis.Counts{Requests: c.Requests - b.Requests, Errors: c.Errors - b.Errors}}
}

// storedLogE returns the error-rate test's ln e-value in the stored
// analysis state of the rollout, and whether one is stored.
func storedLogE(t *testing.T, w *world, id string) (float64, bool) {
	t.Helper()
	r, err := w.svc.Rollout(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	if r.AnalysisState == nil {
		return 0, false
	}
	var s struct {
		ErrorRate struct {
			LogE float64 `json:"log_e"`
		} `json:"error_rate"`
	}
	if err := json.Unmarshal(r.AnalysisState, &s); err != nil {
		t.Fatalf("stored analysis state %s: %v", r.AnalysisState, err)
	}
	return s.ErrorRate.LogE, true
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// restartOutcome is what TestRestartResumesTheAnalysis measures of one
// restarted rollout.
type restartOutcome struct {
	saved, resumed float64 // ln e-value stored before the restart, and after its first tick
	canaryAfter    float64 // canary requests served from the restart to the rollback
	logs           string
}

// restartedRollout runs a rollout whose canary fails 3 of the 80 requests
// its analysis sees at 10% weight (evidence against it, not yet enough),
// then restarts the controller, with the policy edited by edit when it is
// not nil, and lets the canary fail one request in ten until it is rolled
// back.
func restartedRollout(t *testing.T, edit func(*policy.Rollout)) restartOutcome {
	w := newWorld(t)
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	src := &scripted{now: &now}
	cfg := w.ctl.cfg
	cfg.Metrics, cfg.SampleEvery = src, 5*time.Second
	cfg.Now = func() time.Time { return now }
	tick := func(ctl *Controller, canaryErrors float64) promote.Rollout {
		t.Helper()
		now = now.Add(2 * time.Second)
		src.add(90, 10, canaryErrors)
		if err := ctl.Tick(t.Context()); err != nil {
			t.Fatalf("Tick: %v", err)
		}
		return w.rollout(t)
	}
	first, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	// Samples, with the analysis, are stored at ticks 1, 4 and 7 (every
	// 6 s of the clock). The canary fails a request at ticks 1, 3, 5 and
	// 7; the analysis counts from tick 1's reading, so it sees three
	// (e ≈ 247 against the 267 that fails it: the error test runs at ¾ of
	// the comparisons' α = 0.005). Ticks 8 and 9 are judged
	// but not stored: lost with the restart.
	var r promote.Rollout
	for i := 1; i <= 9; i++ {
		r = tick(first, float64(i%2*btoi(i < 8)))
	}
	if r.State != promote.RolloutRunning || r.Step != 0 {
		t.Fatalf("before the restart: rollout %s at step %d (%s), want running at step 1", r.State, r.Step+1, r.Reason)
	}
	var out restartOutcome
	var ok bool
	if out.saved, ok = storedLogE(t, w, r.PromotionID); !ok || out.saved <= 0 {
		t.Fatalf("stored ln e-value before the restart = %v (stored: %v), want evidence against the canary", out.saved, ok)
	}

	// The restart: a new controller over the same store.
	var logs strings.Builder
	cfg.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	if edit != nil {
		plan := *cfg.Plans["prod"]
		plan.Analysis.SLOs = slices.Clone(plan.Analysis.SLOs)
		edit(&plan)
		cfg.Plans = map[string]*policy.Rollout{"prod": &plan}
	}
	second, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	// Its first tick counts from the restart: nothing yet.
	tick(second, 0)
	out.canaryAfter = 10
	if out.resumed, ok = storedLogE(t, w, r.PromotionID); !ok {
		t.Fatal("no analysis state stored after the restart's first tick")
	}
	for range 20 {
		out.canaryAfter += 10
		if r = tick(second, 1); !r.State.Active() {
			break
		}
	}
	if r.State != promote.RolloutRolledBack || !strings.Contains(r.Reason, analysis.TestErrorRate) {
		t.Fatalf("after the restart: rollout %s (%s), want rolled back by %s", r.State, r.Reason, analysis.TestErrorRate)
	}
	out.logs = logs.String()
	return out
}

// TestRestartResumesTheAnalysis checks that a controller that takes over a
// rollout (a restarted server, a new leader) resumes its analysis with the
// evidence stored before, rather than from e-value 1, so that a bad canary
// is caught sooner; and that a policy edited in between starts the
// analysis afresh, saying why.
func TestRestartResumesTheAnalysis(t *testing.T) {
	resumed := restartedRollout(t, nil)
	// Another SLO limit: the guard has not started (fewer than 100 canary
	// requests), so only the lost evidence tells the runs apart.
	fresh := restartedRollout(t, func(p *policy.Rollout) { p.Analysis.SLOs[0].Threshold.Value = 0.06 })
	t.Logf("resumed: ln e stored %.3f, after the restart %.3f, canary requests to the rollback %g", resumed.saved, resumed.resumed, resumed.canaryAfter)
	t.Logf("edited policy: ln e stored %.3f, after the restart %.3f, canary requests to the rollback %g", fresh.saved, fresh.resumed, fresh.canaryAfter)
	if resumed.resumed != resumed.saved {
		t.Errorf("ln e-value after the restart = %v, want the stored %v", resumed.resumed, resumed.saved)
	}
	if !strings.Contains(resumed.logs, "analysis resumed with the stored evidence") {
		t.Errorf("the restarted controller's logs do not say it resumed the analysis:\n%s", resumed.logs)
	}
	if fresh.resumed != 0 {
		t.Errorf("ln e-value after a restart with an edited policy = %v, want 0 (a fresh analysis)", fresh.resumed)
	}
	if !strings.Contains(fresh.logs, "the analysis starts afresh") || !strings.Contains(fresh.logs, "max_error_rate 0.05, want 0.06") {
		t.Errorf("the logs do not say why the analysis started afresh:\n%s", fresh.logs)
	}
	if !(resumed.canaryAfter < fresh.canaryAfter) {
		t.Errorf("canary requests from the restart to the rollback: %g resumed, %g fresh; want fewer resumed", resumed.canaryAfter, fresh.canaryAfter)
	}
}

// TestAnalysisStateIsFenced checks that a replica that lost the lease
// stores neither a sample nor the analysis state.
func TestAnalysisStateIsFenced(t *testing.T) {
	w := newWorld(t)
	r := w.pumpUntil(t, w.ctl, 10, func(promote.Rollout) bool { return true })
	if err := w.store.Update(t.Context(), func(tx promote.Tx) error {
		_, err := tx.AcquireLease("controllers", "replica-b", time.Hour, time.Now())
		return err
	}); err != nil {
		t.Fatal(err)
	}
	stale := promote.WithFence(t.Context(), promote.Fence{Name: "controllers", Holder: "replica-a", Epoch: 99})
	before := len(w.samples(t, r.PromotionID))
	err := w.svc.RecordRolloutProgress(stale, promote.RolloutSample{PromotionID: r.PromotionID}, r.Revision, promote.RolloutProgress{AnalysisState: json.RawMessage(`{"version":1}`)})
	if promote.ErrorCode(err) != promote.Conflict {
		t.Errorf("RecordRolloutProgress with a stale fence = %v, want Conflict", err)
	}
	got, err := w.svc.Rollout(t.Context(), r.PromotionID)
	if err != nil {
		t.Fatal(err)
	}
	if string(got.AnalysisState) == `{"version":1}` || len(w.samples(t, r.PromotionID)) != before {
		t.Errorf("a fenced-out write stored the state %s or a sample", got.AnalysisState)
	}
	// Without a fence (a single server) both are stored.
	if err := w.svc.RecordRolloutProgress(t.Context(), promote.RolloutSample{PromotionID: r.PromotionID}, r.Revision, promote.RolloutProgress{AnalysisState: json.RawMessage(`{"version":1}`)}); err != nil {
		t.Fatal(err)
	}
	if got, _ := w.svc.Rollout(t.Context(), r.PromotionID); string(got.AnalysisState) != `{"version":1}` || len(w.samples(t, r.PromotionID)) != before+1 {
		t.Errorf("RecordRolloutProgress stored the state %s and %d samples, want {\"version\":1} and %d", got.AnalysisState, len(w.samples(t, r.PromotionID)), before+1)
	}
}

// A canary whose controller restarts at its last step, where the
// candidate has all the traffic, finishes: the stable version serves no
// request there by design, so the restarted controller, counting from the
// restart, has no stable data, and that is no reason to wait for it (it
// waited until the no-data limit, then paused the rollout, unable to
// judge).
func TestRestartAtFullTrafficFinishes(t *testing.T) {
	w := newWorld(t)
	r := w.pumpUntil(t, w.ctl, 200, func(r promote.Rollout) bool { return r.Step == 2 })
	if r.State != promote.RolloutRunning || r.Step != 2 || r.Weight != 1 {
		t.Fatalf("before the restart the rollout is %s at step %d, weight %g (%s); want running at step 3 with all traffic", r.State, r.Step+1, r.Weight, r.Reason)
	}
	restarted, err := New(w.ctl.cfg)
	if err != nil {
		t.Fatal(err)
	}
	r = w.pump(t, restarted, 20)
	if r.State != promote.RolloutSucceeded || r.Weight != 1 {
		t.Fatalf("after 1,000 requests at full traffic the restarted rollout is %s at step %d, weight %g (%s; %s); want succeeded", r.State, r.Step+1, r.Weight, r.Reason, r.Verdict)
	}
}

// A last step that holds all the traffic for longer than the metric
// source's no-data limit finishes: stable's counts stop growing there by
// design, which is no lack of evidence (the rollout was paused, unable to
// judge, once the limit passed).
func TestLongStepAtFullTrafficFinishes(t *testing.T) {
	w := newWorldWith(t, testPipeline, strings.Replace(testPolicy, "    - weight: 100\n      minRequests: 100\n",
		"    - weight: 100\n      minRequests: 100\n      minDuration: 10m\n", 1))
	// The clock runs ahead of the splitter's, which stamps the counts.
	var skew time.Duration
	clock := func() time.Time { return time.Now().Add(skew) }
	poller, err := metrics.NewPoller(metrics.NewBuiltin(w.reg), metrics.PollerOptions{NoDataLimit: 5 * time.Minute, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	cfg := w.ctl.cfg
	cfg.Metrics, cfg.Now = poller, clock
	ctl, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var r promote.Rollout
	// A minute passes with every 50 requests at the last step.
	for range 100 {
		if r = w.pump(t, ctl, 1); r.PromotionID != "" && !r.State.Active() || r.State == promote.RolloutPaused {
			break
		}
		if r.Step == 2 {
			skew += time.Minute
		}
	}
	if r.State != promote.RolloutSucceeded || r.Weight != 1 {
		t.Fatalf("the rollout is %s at step %d, weight %g (%s); want succeeded after its 10 minutes at full traffic", r.State, r.Step+1, r.Weight, r.Reason)
	}
}
