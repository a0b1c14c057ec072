package rollout

import (
	"bytes"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/promote-ml/promote/promote"
)

// pumpCounting sends 50 requests through the splitter and ticks ctl, and
// returns the rollout as stored and how many of the requests the canary
// answered.
func (w *world) pumpCounting(t *testing.T, ctl *Controller) (promote.Rollout, int) {
	t.Helper()
	client := w.front.Client()
	canary := 0
	for range 50 {
		resp, err := client.Get(w.front.URL + "/predict")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(body) == "version 2" {
			canary++
		}
	}
	if err := ctl.Tick(t.Context()); err != nil {
		t.Fatalf("Tick: %v", err)
	}
	return w.rollout(t), canary
}

// A restart in the middle of a step counts the step's requests on from
// those stored, as the step's minimum time counts on from its start: the
// first step (100 requests at 10%) moves on once the canary has served
// about 100 requests in it, restart or not, not 100 more after the
// restart.
func TestRestartKeepsTheStepsRequests(t *testing.T) {
	w := newWorld(t)
	cfg := w.ctl.cfg
	cfg.SampleEvery = time.Nanosecond // a sample, and the step's count, stored at every tick
	first, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	served := 0 // the canary's requests in the first step
	var r promote.Rollout
	for range 100 {
		var n int
		r, n = w.pumpCounting(t, first)
		served += n
		if r.Step != 0 || served >= 60 {
			break
		}
	}
	if r.Step != 0 || r.State != promote.RolloutRunning {
		t.Fatalf("before the restart: %s at step %d, want running at step 1", r.State, r.Step+1)
	}
	if r.StepRequests < float64(served)-20 || r.StepRequests > float64(served) {
		t.Fatalf("before the restart the stored step requests = %g, want about the %d the canary served", r.StepRequests, served)
	}
	stored := r.StepRequests
	restarted, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r, n := w.pumpCounting(t, restarted)
	served += n
	if r.Step == 0 && r.StepRequests < stored {
		t.Errorf("after the restart the stored step requests = %g, want at least the %g stored before", r.StepRequests, stored)
	}
	for r.Step == 0 && served < 400 {
		r, n = w.pumpCounting(t, restarted)
		if r.Step == 0 {
			served += n
		}
	}
	// The requests served between the last sample and the restart's first
	// reading are lost (about one tick's), and the step moves on at the
	// tick that reaches 100 (about one tick's more).
	if r.Step != 1 || served > 130 {
		t.Errorf("the first step moved on after the canary served %d requests in it (now at step %d), want about 100 across the restart", served, r.Step+1)
	}
	if r.StepRequests != 0 || r.StepNeeds == nil || r.StepNeeds.MinRequests != 200 || r.StepNeeds.Steps != 3 {
		t.Errorf("at the second step: step requests %g, needs %+v; want 0 of 200 in 3 steps", r.StepRequests, r.StepNeeds)
	}
}

const slowStepPolicy = `apiVersion: promote.dev/v1
kind: Policy
gate:
  require: [tests_passed]
  noBaseline: pass
rollout:
  strategy: canary
  steps:
    - weight: 10
      minRequests: 100000
      minDuration: 5m
    - weight: 100
  analysis:
    alpha: 0.01
  rollback:
    automatic: true
    when: [regression]
`

// A step whose minimum time has passed but whose canary has not served its
// minimum requests says so: the rollout as stored (what the API, the CLI
// and the web UI show) says that it waits for requests, how many it has
// and needs, and the log says it once.
func TestStepWaitingForRequestsIsStoredAndLoggedOnce(t *testing.T) {
	w := newWorldWith(t, testPipeline, slowStepPolicy)
	// The clock the controller judges by; the metric source's no-data
	// limit runs on the real one, whose time this starts at.
	now := time.Now()
	var logs bytes.Buffer
	cfg := w.ctl.cfg
	cfg.Now = func() time.Time { return now }
	cfg.SampleEvery = time.Nanosecond
	cfg.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	ctl, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r, _ := w.pumpCounting(t, ctl)
	want := promote.StepNeeds{Steps: 2, MinRequests: 100000, MinDuration: 300}
	if r.StepNeeds == nil || *r.StepNeeds != want {
		t.Fatalf("the step needs at the start = %+v, want %+v", r.StepNeeds, want)
	}
	now = now.Add(4 * time.Minute)
	if r, _ = w.pumpCounting(t, ctl); r.StepNeeds.WaitingForRequests {
		t.Errorf("before the step's minimum time: waiting for requests, want not yet")
	}
	for range 3 {
		now = now.Add(time.Minute)
		r, _ = w.pumpCounting(t, ctl)
	}
	want.WaitingForRequests = true
	if r.State != promote.RolloutRunning || r.Step != 0 || r.StepNeeds == nil || *r.StepNeeds != want || r.StepRequests == 0 {
		t.Fatalf("after the step's minimum time: %s at step %d, needs %+v, %g requests; want running at step 1, waiting, with the requests counted",
			r.State, r.Step+1, r.StepNeeds, r.StepRequests)
	}
	if got := strings.Count(logs.String(), "waits for the canary's requests"); got != 1 {
		t.Errorf("the wait for requests was logged %d times, want once:\n%s", got, logs.String())
	}
	// A resumption restarts the step: its requests and its wait.
	if _, err := ctl.Pause(t.Context(), lena, r.PromotionID, ""); err != nil {
		t.Fatal(err)
	}
	resumed, err := ctl.Resume(t.Context(), lena, r.PromotionID, "")
	if err != nil {
		t.Fatal(err)
	}
	if resumed.StepRequests != 0 || resumed.StepNeeds == nil || resumed.StepNeeds.WaitingForRequests {
		t.Errorf("after a resumption: step requests %g, needs %+v; want 0 and not waiting", resumed.StepRequests, resumed.StepNeeds)
	}
}
