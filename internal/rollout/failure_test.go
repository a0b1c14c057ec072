package rollout

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/promote-ml/promote/internal/policy"
	"github.com/promote-ml/promote/internal/registry"
	"github.com/promote-ml/promote/promote"
)

// faultyRegistry fails the next Rollbacks and pauses (RecordRollout
// "paused") it is told to, as a store that is locked or unreachable does.
type faultyRegistry struct {
	*registry.Service
	rollbackFails, pauseFails atomic.Int64
	rollbacks                 atomic.Int64 // Rollbacks asked for
}

var errStoreDown = errors.New("the store is unreachable")

func (f *faultyRegistry) Rollback(ctx context.Context, who promote.Principal, req registry.RollbackRequest) (registry.RollbackView, error) {
	f.rollbacks.Add(1)
	if f.rollbackFails.Add(-1) >= 0 {
		return registry.RollbackView{}, errStoreDown
	}
	return f.Service.Rollback(ctx, who, req)
}

func (f *faultyRegistry) RecordRollout(ctx context.Context, who promote.Principal, r promote.Rollout, what string) (promote.Rollout, error) {
	if what == "paused" && f.pauseFails.Add(-1) >= 0 {
		return r, errStoreDown
	}
	return f.Service.RecordRollout(ctx, who, r, what)
}

// faultyTraffic is the world's splitter, failing the next SetWeights it is
// told to.
type faultyTraffic struct {
	*world
	weightFails atomic.Int64
	mu          sync.Mutex
	set         []float64 // the weights asked for
}

func (f *faultyTraffic) SetWeight(ctx context.Context, model, env string, weight float64) error {
	f.mu.Lock()
	f.set = append(f.set, weight)
	f.mu.Unlock()
	if f.weightFails.Add(-1) >= 0 {
		return errors.New("the agent is restarting")
	}
	return f.world.SetWeight(ctx, model, env, weight)
}

// tick sends 50 requests through the splitter and ticks ctl once; a
// failed tick is what the test is about, so its error is returned.
func (w *world) tick(t *testing.T, ctl *Controller) error {
	t.Helper()
	for range 50 {
		resp, err := w.front.Client().Get(w.front.URL + "/predict")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	return ctl.Tick(t.Context())
}

// refusedRollback makes the candidate a regression and runs a controller
// on a registry that refuses every rollback and pause, until the analysis
// has tried its first rollback.
func (w *world) refusedRollback(t *testing.T) (*Controller, *faultyRegistry) {
	t.Helper()
	w.failV2.Store(10) // a regression
	reg := &faultyRegistry{Service: w.svc}
	cfg := w.ctl.cfg
	cfg.Registry = reg
	ctl, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	reg.rollbackFails.Store(1 << 30)
	reg.pauseFails.Store(1 << 30)
	for i := 0; reg.rollbacks.Load() == 0; i++ {
		if i == 200 {
			t.Fatal("no rollback after 10,000 requests")
		}
		w.tick(t, ctl)
	}
	return ctl, reg
}

// A rollback the store refuses never gives the candidate its traffic back:
// while neither the rollback nor a pause can be stored, every tick tries
// the rollback again at weight 0; once the store works, the rollback lands
// with its evidence.
func TestRollbackTheStoreRefusesKeepsTheTrafficOff(t *testing.T) {
	w := newWorld(t)
	ctl, reg := w.refusedRollback(t)
	for range 10 {
		if err := w.tick(t, ctl); err == nil {
			t.Fatal("a tick whose rollback the store refused returned no error")
		}
		if got := w.splitter.Weights(); got != 0 {
			t.Fatalf("after a refused rollback the canary has %g of the traffic, want 0", got)
		}
	}
	if n := reg.rollbacks.Load(); n < 10 {
		t.Errorf("the rollback was tried %d times in 10 ticks, want at every tick", n)
	}
	reg.rollbackFails.Store(0)
	reg.pauseFails.Store(0)
	if err := w.tick(t, ctl); err != nil {
		t.Fatalf("tick once the store works: %v", err)
	}
	r := w.rollout(t)
	if r.State != promote.RolloutRolledBack || r.Weight != 0 || len(r.Verdict) == 0 || !strings.Contains(r.Reason, "canary analysis failed") {
		t.Fatalf("rollout = %s at %g (%q), verdict %s; want rolled back with the analysis's verdict", r.State, r.Weight, r.Reason, r.Verdict)
	}
	st, err := w.svc.Status(t.Context(), "credit-risk")
	if err != nil {
		t.Fatal(err)
	}
	if st.Live["prod"].Version != "1" || len(st.Holds) != 1 {
		t.Errorf("after the rollback: live %s, holds %+v; want 1 live, 2 held", st.Live["prod"].Version, st.Holds)
	}
}

// A rollback the registry refuses for good (here: the store's error at
// every try) while pauses can be stored pauses the rollout at weight 0 for
// a person, saying why.
func TestRollbackThatFailsPausesForAPerson(t *testing.T) {
	w := newWorld(t)
	w.failV2.Store(10)
	reg := &faultyRegistry{Service: w.svc}
	reg.rollbackFails.Store(1 << 30)
	cfg := w.ctl.cfg
	cfg.Registry = reg
	ctl, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r := w.pumpUntil(t, ctl, 200, func(r promote.Rollout) bool { return r.State == promote.RolloutPaused })
	if r.State != promote.RolloutPaused || r.Weight != 0 || !strings.Contains(r.Reason, "the rollback failed") || len(r.Verdict) == 0 {
		t.Fatalf("rollout = %s at %g (%q); want paused at 0 saying the rollback failed, with the verdict", r.State, r.Weight, r.Reason)
	}
	for range 10 {
		w.tick(t, ctl)
		if got := w.splitter.Weights(); got != 0 {
			t.Fatalf("the paused rollout's canary has %g of the traffic, want 0", got)
		}
	}
}

// A policy edited mid-rollout to another strategy cannot judge the rollout:
// all traffic goes to stable and it pauses, and a weight that could not be
// set then is set at a later tick.
func TestStrategyEditedMidRolloutCannotJudge(t *testing.T) {
	w := newWorld(t)
	if r := w.pump(t, w.ctl, 1); r.State != promote.RolloutRunning || w.splitter.Weights() != 0.1 {
		t.Fatalf("rollout = %s at %g, want running at 0.1", r.State, w.splitter.Weights())
	}
	shadow, err := policy.Load("shadow.yaml", []byte("gate: {require: [tests_passed]}\nrollout:\n  strategy: shadow\n"))
	if err != nil {
		t.Fatal(err)
	}
	tr := &faultyTraffic{world: w}
	tr.weightFails.Store(1) // the zeroing fails once
	cfg := w.ctl.cfg
	cfg.Traffic = tr
	cfg.Plans = map[string]*policy.Rollout{"prod": shadow.Rollout("prod")}
	ctl, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	w.tick(t, ctl) // cannot judge: zeroing fails, the pause is stored
	r := w.rollout(t)
	if r.State != promote.RolloutPaused || r.Weight != 0 || !strings.Contains(r.Reason, "now rolls out by shadow") {
		t.Fatalf("rollout = %s at %g (%q); want paused at 0, the strategy edited", r.State, r.Weight, r.Reason)
	}
	if err := w.tick(t, ctl); err != nil {
		t.Fatalf("tick of the paused rollout: %v", err)
	}
	if got := w.splitter.Weights(); got != 0 {
		t.Errorf("after the next tick the canary has %g of the traffic, want the stored pause's 0", got)
	}
}

// The registry records a rollback and its rollout's end in one
// transaction: a rollout saved by another writer since it was read makes
// the whole rollback fail, changing nothing.
func TestRollbackWithAStaleRolloutChangesNothing(t *testing.T) {
	w := newWorld(t)
	r := w.pump(t, w.ctl, 1)
	if _, err := w.svc.RecordRollout(t.Context(), lena, r, "a step by another writer"); err != nil {
		t.Fatal(err)
	}
	stale := r
	stale.State, stale.Weight, stale.Reason = promote.RolloutRolledBack, 0, "a regression"
	req := registry.RollbackRequest{Model: r.Model, Environment: r.Environment, To: r.Stable, Reason: "a regression", Rollout: &stale}
	_, err := w.svc.Rollback(t.Context(), registry.RolloutActor, req)
	var moved *promote.RolloutChangedError
	if !errors.As(err, &moved) {
		t.Fatalf("Rollback with a stale rollout = %v, want a RolloutChangedError", err)
	}
	st, err := w.svc.Status(t.Context(), "credit-risk")
	if err != nil {
		t.Fatal(err)
	}
	if got := w.rollout(t); st.Live["prod"].Version != "2" || len(st.Holds) != 0 || got.State != promote.RolloutRunning {
		t.Errorf("after the refused rollback: live %s, holds %+v, rollout %s; want 2 live, no hold, running", st.Live["prod"].Version, st.Holds, got.State)
	}
	if p := w.promotion(t, r.PromotionID); p.State != promote.StateRollingOut {
		t.Errorf("promotion is %s, want still rolling_out", p.State)
	}
	other := stale
	other.Environment = "staging"
	req.Rollout = &other
	if _, err := w.svc.Rollback(t.Context(), registry.RolloutActor, req); promote.ErrorCode(err) != promote.Invalid {
		t.Errorf("Rollback with another environment's rollout = %v, want Invalid", err)
	}
}

// The counts' baseline is taken when the rollout starts, before the weight
// moves: the first requests the candidate serves are judged.
func TestFirstRequestsCount(t *testing.T) {
	w := newWorld(t)
	r := w.pump(t, w.ctl, 2) // the start, then 50 requests and a judged tick
	ru := w.ctl.run(r.PromotionID)
	if ru == nil {
		t.Fatalf("no run for the rollout %s", r.State)
	}
	if got := ru.read.stable.Requests + ru.read.canary.Requests; got != 50 {
		t.Errorf("the first judged tick counted %g stable and %g canary requests, want the 50 served since the start",
			ru.read.stable.Requests, ru.read.canary.Requests)
	}
}

// Without automatic rollback a failure pauses the rollout for a person; a
// pause the store refuses is tried again at every tick, the candidate
// kept at weight 0 meanwhile.
func TestPauseTheStoreRefusesKeepsTheTrafficOff(t *testing.T) {
	w, ctl, reg := refusedPause(t)
	for range 10 {
		if err := w.tick(t, ctl); err == nil {
			t.Fatal("a tick whose pause the store refused returned no error")
		}
		if got := w.splitter.Weights(); got != 0 {
			t.Fatalf("after a refused pause the canary has %g of the traffic, want 0", got)
		}
	}
	reg.pauseFails.Store(0)
	if err := w.tick(t, ctl); err != nil {
		t.Fatalf("tick once the store works: %v", err)
	}
	if r := w.rollout(t); r.State != promote.RolloutPaused || r.Weight != 0 || !strings.Contains(r.Reason, "automatic rollback is off") {
		t.Fatalf("rollout = %s at %g (%q); want paused at 0, automatic rollback off", r.State, r.Weight, r.Reason)
	}
}

// A resumption that carries out a failure's pause the store refused
// before is refused, naming the failure: the person decided without
// having seen it, and the rollout stays paused with no traffic, for them
// to look at and resume again.
func TestResumeAfterARefusedPauseKeepsItPaused(t *testing.T) {
	w, ctl, reg := refusedPause(t)
	reg.pauseFails.Store(0)
	id := w.rollout(t).PromotionID
	_, err := ctl.Resume(t.Context(), lena, id, "looks fine")
	if promote.ErrorCode(err) != promote.Conflict || !strings.Contains(err.Error(), "not resumed") || !strings.Contains(err.Error(), "pause") {
		t.Errorf("Resume that carried out a pending pause = %v, want a Conflict naming the failure's pause", err)
	}
	if r := w.rollout(t); r.State != promote.RolloutPaused || w.splitter.Weights() != 0 {
		t.Errorf("after the refused resumption the rollout is %s, the canary at %g; want paused at 0", r.State, w.splitter.Weights())
	}
}

// refusedPause is a world without automatic rollback whose canary the
// analysis has failed, and a controller on it whose store refuses the
// pause that the failure calls for: the tick that failed it returned the
// refusal.
func refusedPause(t *testing.T) (*world, *Controller, *faultyRegistry) {
	t.Helper()
	w := newWorldWith(t, testPipeline, strings.Replace(testPolicy, "automatic: true", "automatic: false", 1))
	w.failV2.Store(10)
	reg := &faultyRegistry{Service: w.svc}
	reg.pauseFails.Store(1 << 30)
	cfg := w.ctl.cfg
	cfg.Registry = reg
	ctl, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; w.tick(t, ctl) == nil; i++ {
		if i == 300 {
			t.Fatal("the analysis never failed in 15,000 requests")
		}
	}
	return w, ctl, reg
}
