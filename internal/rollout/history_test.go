package rollout

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/promote-ml/promote/internal/analysis"
	"github.com/promote-ml/promote/internal/audit"
	"github.com/promote-ml/promote/internal/metrics"
	"github.com/promote-ml/promote/internal/traffic"
	"github.com/promote-ml/promote/promote"
)

// historyPolicy is testPolicy with the history tests on.
var historyPolicy = strings.Replace(testPolicy, "    alpha: 0.01\n", "    alpha: 0.01\n    history: {window: 1h}\n", 1)

// SetJudge makes the test's splitter take the history tests' judge, as
// the local agent's splitters do in promote serve.
func (w *world) SetJudge(_ context.Context, _, _ string, j traffic.Judge) error {
	w.splitter.SetJudge(j)
	return nil
}

// History gives the scripted source a stable past of 10,000 requests with
// 0.5% errors.
func (s *scripted) History(context.Context, metrics.Query, time.Duration) (analysis.History, error) {
	return analysis.History{Requests: 10000, Errors: 50}, nil
}

// historyless is a Poller whose source can no longer read stable's
// history (Prometheus down when a controller takes over).
type historyless struct{ *metrics.Poller }

func (historyless) History(context.Context, metrics.Query, time.Duration) (analysis.History, error) {
	return analysis.History{}, errors.New("prometheus is down")
}

// serve sends n requests through the splitter, judging nothing.
func (w *world) serve(t *testing.T, n int) {
	t.Helper()
	client := w.front.Client()
	for range n {
		resp, err := client.Get(w.front.URL + "/predict")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
}

// look ticks ctl, sending nothing, and returns the newest rollout.
func (w *world) look(t *testing.T, ctl *Controller) promote.Rollout {
	t.Helper()
	if err := ctl.Tick(t.Context()); err != nil {
		t.Fatalf("Tick: %v", err)
	}
	return w.rollout(t)
}

// judged serves requests and has ctl look until its run of the newest
// rollout has handed the history tests to the splitter: its first
// observation, which needs a canary request. It returns the rollout.
func (w *world) judged(t *testing.T, ctl *Controller) promote.Rollout {
	t.Helper()
	for range 20 {
		w.serve(t, 20)
		r := w.look(t, ctl)
		if ru := ctl.run(r.PromotionID); r.State == promote.RolloutRunning && ru != nil && ru.judging {
			return r
		}
	}
	r := w.rollout(t)
	t.Fatalf("rollout %s (%s): the splitter does not judge after 20 looks", r.State, r.Reason)
	return r
}

// untilTripped serves requests until the splitter's judge trips, or fails
// the test after 2,000.
func (w *world) untilTripped(t *testing.T) {
	t.Helper()
	for range 100 {
		if w.splitter.Tripped() {
			return
		}
		w.serve(t, 20)
	}
	t.Fatal("the judge did not trip in 2,000 requests")
}

// historyTest returns the test named name of a stored verdict.
func historyTest(t *testing.T, raw json.RawMessage, name string) analysis.TestResult {
	t.Helper()
	var v analysis.Verdict
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("verdict %s: %v", raw, err)
	}
	for _, r := range v.Tests {
		if r.Name == name {
			return r
		}
	}
	t.Fatalf("verdict %s has no test %s", raw, name)
	return analysis.TestResult{}
}

// storedBaseline returns the history error test's state in the rollout's
// stored analysis: its bound and canary requests.
func storedBaseline(t *testing.T, w *world, id string) (bound, canary float64) {
	t.Helper()
	r, err := w.svc.Rollout(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	var s struct {
		History *struct {
			ErrorRate struct {
				Bound          float64 `json:"bound"`
				CanaryRequests float64 `json:"canary_requests"`
			} `json:"error_rate"`
		} `json:"history"`
	}
	if err := json.Unmarshal(r.AnalysisState, &s); err != nil || s.History == nil {
		t.Fatalf("stored analysis state %s (%v): want the history tests' state", r.AnalysisState, err)
	}
	return s.History.ErrorRate.Bound, s.History.ErrorRate.CanaryRequests
}

// checkHistoryRollback checks that r was rolled back by the history error
// test: the reason and the evidence name it, Git has the rollback commit,
// the candidate is on hold, the audit chain verifies, and the splitter's
// judge is detached.
func checkHistoryRollback(t *testing.T, w *world, r promote.Rollout) {
	t.Helper()
	if r.State != promote.RolloutRolledBack || r.Weight != 0 || !strings.Contains(r.Reason, analysis.TestHistoryErrorRate+": canary error rate is above stable's past") {
		t.Fatalf("rollout = %s at %g (%s); want rolled back by %s", r.State, r.Weight, r.Reason, analysis.TestHistoryErrorRate)
	}
	if got := historyTest(t, r.Verdict, analysis.TestHistoryErrorRate); got.Status != analysis.StatusFail {
		t.Errorf("the stored verdict's %s = %+v, want failed", analysis.TestHistoryErrorRate, got)
	}
	events, err := w.svc.AuditEvents(t.Context(), promote.AuditFilter{Model: "credit-risk", Action: promote.ActionRolledBack})
	if err != nil || len(events) != 1 || !strings.Contains(string(events[0].Reasons), analysis.TestHistoryErrorRate) {
		t.Errorf("live.rolled_back events %+v (%v): want one naming %s", events, err, analysis.TestHistoryErrorRate)
	}
	if trailers := w.rolledBackInGit(t); !strings.Contains(trailers, "Rollback-Of: 2") {
		t.Errorf("the last commit is not the rollback of 2:\n%s", trailers)
	}
	if res, err := audit.Verify(t.Context(), w.store); err != nil || !res.OK {
		t.Errorf("audit.Verify = %+v, %v", res, err)
	}
	if w.splitter.Tripped() {
		t.Error("the splitter's judge is still attached after the rollback")
	}
	if got := w.splitter.Weights(); got != 0 {
		t.Errorf("the splitter gives the canary %g after the rollback, want 0", got)
	}
}

// A canary failing a third of its requests, against a stable whose past
// failed 0.5%, is stopped by the splitter at the request that fails the
// history test, not at the controller's next look: with 2,000 requests
// between two looks at 10% weight it would have served about 200; then
// the look rolls it back as for any failure.
func TestHistoryTripsTheCanaryInline(t *testing.T) {
	w := newWorldWith(t, testPipeline, historyPolicy)
	w.failV1.Store(200) // stable fails 0.5% of its requests, then and now
	w.serve(t, 4000)    // stable's past, before the rollout
	w.failV2.Store(3)   // one canary answer in three is a 5xx
	if r := w.look(t, w.ctl); r.State != promote.RolloutRunning || r.Weight != 0.1 {
		t.Fatalf("rollout = %s at %g (%s), want running at 10%%", r.State, r.Weight, r.Reason)
	}
	w.judged(t, w.ctl)
	before := w.n.Load()
	w.serve(t, 2000)
	canary := w.n.Load() - before
	t.Logf("the canary served %d of 2,000 requests between two looks", canary)
	if canary >= 60 {
		t.Errorf("the canary served %d of 2,000 requests at 10%% between two looks; want the judge to stop it within a few dozen", canary)
	}
	if got := w.splitter.Weights(); got != 0 || !w.splitter.Tripped() {
		t.Errorf("before the next look: the splitter gives the canary %g (tripped: %v), want 0, tripped", got, w.splitter.Tripped())
	}
	checkHistoryRollback(t, w, w.look(t, w.ctl))
}

// The controller sees a trip at its next look even when the metric source
// shows no new request since the last one: the verdict fails.
func TestHistoryTripSeenWithoutNewRequests(t *testing.T) {
	w := newWorldWith(t, testPipeline, historyPolicy)
	now := time.Now()
	src := &scripted{now: &now}
	cfg := w.ctl.cfg
	cfg.Metrics, cfg.Now = src, func() time.Time { return now }
	ctl, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		now = now.Add(time.Second)
		src.add(90, 10, 0)
		if r := w.look(t, ctl); r.State != promote.RolloutRunning {
			t.Fatalf("rollout = %s (%s), want running", r.State, r.Reason)
		}
	}
	if ru := ctl.run(w.rollout(t).PromotionID); ru == nil || !ru.judging {
		t.Fatal("the splitter does not judge after the first looks")
	}
	// Requests the scripted source does not count: only the splitter's
	// judge sees them.
	w.failV2.Store(3)
	w.untilTripped(t)
	now = now.Add(time.Second)
	checkHistoryRollback(t, w, w.look(t, ctl))
}

// A history that cannot be read (stable served nothing before the rollout)
// leaves the comparisons and guards to judge: the rollout goes on, and its
// verdicts say why the history tests did not run.
func TestHistoryUnreadableJudgesWithout(t *testing.T) {
	w := newWorldWith(t, testPipeline, historyPolicy)
	w.look(t, w.ctl) // the rollout starts before stable served anything
	r := w.drive(t)
	if r.State != promote.RolloutSucceeded {
		t.Fatalf("rollout = %s (%s), want succeeded", r.State, r.Reason)
	}
	for _, name := range []string{analysis.TestHistoryErrorRate, analysis.TestHistoryLatency} {
		got := historyTest(t, r.Verdict, name)
		if got.Status != analysis.StatusSkipped || !strings.Contains(got.Detail, "stable's history could not be read") || !strings.Contains(got.Detail, "no data") {
			t.Errorf("the verdict's %s = %+v, want skipped, saying stable's history had no data", name, got)
		}
	}
}

// A controller that takes over a rollout with history tests (a restart)
// resumes them from the stored state, the bound fixed at the start
// included, even when stable's history cannot be read any more, and hands
// them to the splitter again.
func TestHistoryResumesAndJudgesInlineAgain(t *testing.T) {
	w := newWorldWith(t, testPipeline, historyPolicy)
	w.failV1.Store(200)
	w.serve(t, 4000)
	r := w.pump(t, w.ctl, 4) // a healthy canary, still at its first step
	if r.State != promote.RolloutRunning || r.Step != 0 {
		t.Fatalf("rollout = %s at step %d (%s), want running at step 1", r.State, r.Step+1, r.Reason)
	}
	bound, canary := storedBaseline(t, w, r.PromotionID)
	if bound <= 0.005 || bound >= 0.02 || canary <= 0 {
		t.Fatalf("stored history test: bound %g, canary requests %g; want a bound above stable's past 0.5%% and canary requests", bound, canary)
	}
	// The first controller stops: its run, and its judge, are gone.
	w.ctl.forget(t.Context(), r.PromotionID)
	// Stable's counters since the start would make another history.
	w.serve(t, 2000)

	// Its source cannot read stable's history now: the stored one serves.
	cfg := w.ctl.cfg
	cfg.Metrics = historyless{cfg.Metrics.(*metrics.Poller)}
	second, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r = w.judged(t, second)
	if got, _ := storedBaseline(t, w, r.PromotionID); got != bound {
		t.Errorf("after the restart the history test's bound = %g, want the stored %g", got, bound)
	}
	if got := historyTest(t, r.Verdict, analysis.TestHistoryErrorRate); got.Status != analysis.StatusOK || got.CanaryRequests <= canary {
		t.Errorf("after the restart the verdict's %s = %+v, want ok with more than the %g canary requests stored", analysis.TestHistoryErrorRate, got, canary)
	}
	w.failV2.Store(3)
	before := w.n.Load()
	w.serve(t, 2000)
	if served := w.n.Load() - before; served >= 60 || w.splitter.Weights() != 0 {
		t.Errorf("after the restart the canary served %d of 2,000 requests at 10%% and has weight %g; want the judge to stop it", served, w.splitter.Weights())
	}
	checkHistoryRollback(t, w, w.look(t, second))
}

// A person's promotion of a canary whose history tests the splitter has
// just failed is refused: the failure is carried out first.
func TestHistoryTripWinsOverPromoteNow(t *testing.T) {
	w := newWorldWith(t, testPipeline, historyPolicy)
	w.failV1.Store(200)
	w.serve(t, 4000)
	w.failV2.Store(3)
	w.look(t, w.ctl)
	r := w.judged(t, w.ctl)
	w.untilTripped(t)
	_, err := w.ctl.PromoteNow(t.Context(), promote.Principal{Name: "ana", Role: promote.RoleAdmin}, r.PromotionID, "")
	if promote.ErrorCode(err) != promote.Conflict || !strings.Contains(err.Error(), analysis.TestHistoryErrorRate) {
		t.Errorf("PromoteNow after the trip: %v; want a conflict naming %s", err, analysis.TestHistoryErrorRate)
	}
	checkHistoryRollback(t, w, w.rollout(t))
}

// noJudge checks that the splitter has no judge attached: a canary given
// half the traffic and failing half its requests keeps its weight.
func (w *world) noJudge(t *testing.T) {
	t.Helper()
	if err := w.splitter.SetWeight(0.5); err != nil {
		t.Fatalf("SetWeight(0.5): %v", err)
	}
	w.failV2.Store(2)
	w.serve(t, 400)
	if w.splitter.Tripped() || w.splitter.Weights() != 0.5 {
		t.Errorf("the splitter's judge is still attached: tripped %v, canary weight %g", w.splitter.Tripped(), w.splitter.Weights())
	}
}

// The judge leaves the splitter however the rollout ends: a success and a
// person's abort.
func TestHistoryJudgeDetachedAtTheEnd(t *testing.T) {
	t.Run("succeeded", func(t *testing.T) {
		w := newWorldWith(t, testPipeline, historyPolicy)
		w.failV1.Store(200)
		w.serve(t, 4000)
		w.failV1.Store(0)
		if r := w.drive(t); r.State != promote.RolloutSucceeded || r.Weight != 1 || w.splitter.Weights() != 1 {
			t.Fatalf("rollout = %s at %g, splitter at %g (%s); want succeeded with all traffic", r.State, r.Weight, w.splitter.Weights(), r.Reason)
		}
		w.noJudge(t)
	})
	t.Run("aborted", func(t *testing.T) {
		w := newWorldWith(t, testPipeline, historyPolicy)
		w.failV1.Store(200)
		w.serve(t, 4000)
		w.look(t, w.ctl)
		r := w.judged(t, w.ctl)
		if _, err := w.ctl.Abort(t.Context(), promote.Principal{Name: "ana", Role: promote.RoleAdmin}, r.PromotionID, "not today"); err != nil {
			t.Fatal(err)
		}
		w.noJudge(t)
	})
}
