package webui

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/promote-ml/promote/promote"
)

// startRollout has bob approve the demo's promotion awaiting approval,
// records its commit as delivered and starts its rollout.
func (f *fixture) startRollout(t *testing.T, b *browser) promote.Rollout {
	t.Helper()
	ctx := t.Context()
	if res := decide(t, b, f.demo.Awaiting, "approve", map[string][]string{"digest": {f.digestOf(f.demo.Awaiting)}}); res.status != http.StatusSeeOther {
		t.Fatalf("approve = %d", res.status)
	}
	deps, err := f.env.Service.Deployments(ctx, "credit-risk", "prod")
	if err != nil || len(deps) != 1 {
		t.Fatalf("deployments = %v, %v", deps, err)
	}
	if err := f.env.Service.Delivered(ctx, deps[0], strings.Repeat("c", 40)); err != nil {
		t.Fatal(err)
	}
	r, err := f.env.Service.StartRollout(ctx, f.demo.Awaiting)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// The promotion page says how far a canary's step has come, and that it
// waits for requests once its minimum time has passed without them, as
// the controller stored it with the rollout.
func TestRolloutStepProgress(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	b := f.signIn("bob")
	r := f.startRollout(t, b)
	r.Weight, r.StepRequests = 0.1, 6
	r.StepNeeds = &promote.StepNeeds{Steps: 3, MinRequests: 100, MinDuration: 300, WaitingForRequests: true}
	r, err := f.env.Service.RecordRollout(ctx, f.env.Principals["bob"], r, "step 1: weight 10%")
	if err != nil {
		t.Fatal(err)
	}
	p := b.get(Prefix + "/promotions/" + f.demo.Awaiting)
	if got := text(p.one(t, "rollout-state")); !strings.Contains(got, "step 1 of 3 · weight 10%") {
		t.Errorf("rollout = %q, want step 1 of 3", got)
	}
	want := "Waiting for requests: 6 of 100 after 5m. The step has lasted its minimum time; it moves on once the canary has served its minimum requests."
	if got := text(p.one(t, "rollout-step")); got != want {
		t.Errorf("rollout step = %q, want %q", got, want)
	}
	// A step with confirm that has served its minimums waits for a
	// person, and says how to move it on.
	r.Step, r.Weight, r.StepRequests = 1, 0.5, 240
	r.StepNeeds = &promote.StepNeeds{Steps: 3, MinRequests: 200, Confirm: true, WaitingForPerson: true}
	if r, err = f.env.Service.RecordRollout(ctx, f.env.Principals["bob"], r, "waiting for a person at 50% (step 2)"); err != nil {
		t.Fatal(err)
	}
	p = b.get(Prefix + "/promotions/" + f.demo.Awaiting)
	want = "waiting for a person at 50% (step 2): the step has served its minimum time and requests; the analysis still judges it and rolls it back on a regression. " +
		"It moves on when a person says so: promote rollout resume " + f.demo.Awaiting + " moves it to the next step, promote rollout promote " + f.demo.Awaiting +
		" gives it all traffic now (or POST /api/v1/rollouts/" + f.demo.Awaiting + "/resume )." // text() spaces the code element
	if got := text(p.one(t, "rollout-step")); got != want {
		t.Errorf("rollout step waiting for a person = %q, want %q", got, want)
	}
	// A step with no minimum requests says nothing of requests.
	r.Step, r.Weight = 0, 0.1
	r.StepRequests, r.StepNeeds = 0, &promote.StepNeeds{Steps: 3}
	if r, err = f.env.Service.RecordRollout(ctx, f.env.Principals["bob"], r, "step 1: weight 10%"); err != nil {
		t.Fatal(err)
	}
	p = b.get(Prefix + "/promotions/" + f.demo.Awaiting)
	if got, want := text(p.one(t, "rollout-step")), "Step progress: the next judgment moves it on."; got != want {
		t.Errorf("rollout step without minimums = %q, want %q", got, want)
	}
	// A paused step's minimums count again from its resumption: the page
	// says what they are, not the requests served before the pause.
	r.State, r.StepRequests = promote.RolloutPaused, 60
	r.StepNeeds = &promote.StepNeeds{Steps: 3, MinRequests: 100, MinDuration: 300}
	if _, err := f.env.Service.RecordRollout(ctx, f.env.Principals["bob"], r, "paused"); err != nil {
		t.Fatal(err)
	}
	p = b.get(Prefix + "/promotions/" + f.demo.Awaiting)
	if got, want := text(p.one(t, "rollout-step")), "Paused: the step needs 100 requests and 5m from its resumption."; got != want {
		t.Errorf("rollout step paused = %q, want %q", got, want)
	}

	started := time.Date(2026, 11, 26, 11, 40, 0, 0, time.UTC)
	judging := promote.Rollout{Strategy: "canary", State: promote.RolloutRunning, StepStartedAt: started, StepRequests: 42.9,
		StepNeeds: &promote.StepNeeds{Steps: 3, MinRequests: 100, MinDuration: 300}}
	paused := judging
	paused.State = promote.RolloutPaused
	ended := judging
	ended.State = promote.RolloutSucceeded
	personLast := judging
	personLast.Step, personLast.Weight = 2, 1
	personLast.StepNeeds = &promote.StepNeeds{Steps: 3, MinRequests: 100, MinDuration: 300, Confirm: true, WaitingForPerson: true}
	for _, tt := range []struct {
		name string
		r    promote.Rollout
		want *stepView
	}{
		{"judging", judging, &stepView{Requests: "42", MinRequests: 100, Elapsed: "2m10s", MinDuration: "5m"}},
		{"paused", paused, &stepView{Requests: "42", MinRequests: 100, MinDuration: "5m", Paused: "needs 100 requests and 5m from its resumption"}},
		{"ended", ended, nil},
		{"waiting for a person at the last step", personLast, &stepView{Requests: "42", MinRequests: 100, Elapsed: "2m10s", MinDuration: "5m",
			Person: "waiting for a person at 100%", Last: true}},
	} {
		got := stepProgress(tt.r, started.Add(2*time.Minute+10*time.Second))
		if (got == nil) != (tt.want == nil) || got != nil && *got != *tt.want {
			t.Errorf("%s: stepProgress = %+v, want %+v", tt.name, got, tt.want)
		}
	}
}
