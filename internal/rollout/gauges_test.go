package rollout

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/promote-ml/promote/internal/telemetry"
	"github.com/promote-ml/promote/internal/testtool"
	"github.com/promote-ml/promote/promote"
)

// withGauges returns a controller as c with gauges on a registry of its
// own, as each replica's /metrics is.
func withGauges(t *testing.T, c *Controller) (*Controller, *telemetry.Registry) {
	t.Helper()
	reg := telemetry.NewRegistry()
	g, err := NewGauges(reg)
	if err != nil {
		t.Fatal(err)
	}
	cfg := c.cfg
	cfg.Gauges = g
	n, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return n, reg
}

// rolloutSeries reads reg's rollout gauges, each sample by its name and
// labels.
func rolloutSeries(t *testing.T, reg *telemetry.Registry) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	for _, name := range []string{MetricRollouts, MetricPausedOldest, MetricWaitingOldest} {
		for labels, v := range testtool.Samples(t, reg, name) {
			out[name+"{"+labels+"}"] = v
		}
	}
	return out
}

// The leader's gauges count the active rollouts by state at every tick,
// and a follower's at every look; a paused rollout's gauge says since when
// it waits, and goes away when it resumes.
func TestRolloutGauges(t *testing.T) {
	w := newWorld(t)
	leader, regL := withGauges(t, w.ctl)
	f, _ := newFollower(t, w)
	follower, regF := withGauges(t, f)
	counts := func(running, paused float64) map[string]float64 {
		return map[string]float64{
			"promote_rollouts{env=prod,state=running}": running,
			"promote_rollouts{env=prod,state=paused}":  paused,
		}
	}
	check := func(what string, reg *telemetry.Registry, want map[string]float64) {
		t.Helper()
		if diff := cmp.Diff(want, rolloutSeries(t, reg)); diff != "" {
			t.Errorf("%s (-want +got):\n%s", what, diff)
		}
	}
	check("the leader before its first tick", regL, counts(0, 0))
	check("the follower before its first look", regF, counts(0, 0))

	r := w.pump(t, leader, 1)
	if r.State != promote.RolloutRunning {
		t.Fatalf("rollout after the first tick = %s, want running", r.State)
	}
	if err := leader.Tick(t.Context()); err != nil {
		t.Fatal(err)
	}
	check("the leader with a running rollout", regL, counts(1, 0))
	seen := follower.follow(t.Context(), nil)
	check("the follower with a running rollout", regF, counts(1, 0))

	paused, err := leader.Pause(t.Context(), lena, r.PromotionID, "looking at a dashboard")
	if err != nil {
		t.Fatalf("Pause: %v", err)
	}
	if err := leader.Tick(t.Context()); err != nil {
		t.Fatal(err)
	}
	want := counts(0, 1)
	want["promote_rollout_paused_oldest_timestamp_seconds{env=prod}"] = float64(paused.UpdatedAt.UnixNano()) / 1e9
	check("the leader with a paused rollout", regL, want)
	seen = follower.follow(t.Context(), seen)
	check("the follower with a paused rollout", regF, want)

	// More ticks do not move the time it has waited since.
	w.pump(t, leader, 2)
	check("the leader after more ticks of a paused rollout", regL, want)

	if _, err := follower.Resume(t.Context(), lena, r.PromotionID, "the incident was upstream"); err != nil {
		t.Fatalf("Resume: %v", err)
	}
	follower.follow(t.Context(), seen)
	check("the follower after the resumption", regF, counts(1, 0))
	if r := w.pump(t, leader, 200); r.State != promote.RolloutSucceeded {
		t.Fatalf("rollout = %s (%s), want succeeded", r.State, r.Reason)
	}
	if err := leader.Tick(t.Context()); err != nil {
		t.Fatal(err)
	}
	check("the leader once the rollout succeeded", regL, counts(0, 0))
}

func TestNewGaugesNeedsARegistry(t *testing.T) {
	if _, err := NewGauges(nil); err == nil {
		t.Error("NewGauges(nil) = nil error, want one")
	}
}

// prodGauges returns gauges on a registry of their own, of a controller
// whose plans are prod's.
func prodGauges(t *testing.T) (*Gauges, *telemetry.Registry) {
	t.Helper()
	reg := telemetry.NewRegistry()
	g, err := NewGauges(reg)
	if err != nil {
		t.Fatal(err)
	}
	g.plan([]string{"prod"})
	return g, reg
}

// The oldest pause of an environment is the earliest among its paused
// rollouts; an environment without a plan shows while it has active
// rollouts, and its series go with them.
func TestGaugesCount(t *testing.T) {
	g, reg := prodGauges(t)
	t0 := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	g.count([]promote.Rollout{
		{Model: "b", Environment: "prod", State: promote.RolloutPaused, UpdatedAt: t0},
		{Model: "a", Environment: "prod", State: promote.RolloutPaused, UpdatedAt: t0.Add(time.Hour)},
		{Model: "c", Environment: "prod", State: promote.RolloutRunning, UpdatedAt: t0.Add(-time.Hour)},
		{Model: "a", Environment: "eu", State: promote.RolloutPaused, UpdatedAt: t0.Add(2 * time.Hour)},
	})
	want := map[string]float64{
		"promote_rollouts{env=prod,state=running}":                  1,
		"promote_rollouts{env=prod,state=paused}":                   2,
		"promote_rollout_paused_oldest_timestamp_seconds{env=prod}": float64(t0.Unix()),
		"promote_rollouts{env=eu,state=running}":                    0,
		"promote_rollouts{env=eu,state=paused}":                     1,
		"promote_rollout_paused_oldest_timestamp_seconds{env=eu}":   float64(t0.Add(2 * time.Hour).Unix()),
	}
	if diff := cmp.Diff(want, rolloutSeries(t, reg)); diff != "" {
		t.Errorf("count(two paused and one running in prod, one paused in eu) (-want +got):\n%s", diff)
	}
	g.count([]promote.Rollout{{Model: "c", Environment: "prod", State: promote.RolloutRunning}})
	want = map[string]float64{
		"promote_rollouts{env=prod,state=running}": 1,
		"promote_rollouts{env=prod,state=paused}":  0,
	}
	if diff := cmp.Diff(want, rolloutSeries(t, reg)); diff != "" {
		t.Errorf("count(one running in prod) (-want +got):\n%s", diff)
	}
}

// A rollout waiting for a person counts as running, and the oldest wait of
// each environment is a series of its own, from the wait's record: more
// ticks do not move it, and it goes when a person moves the rollout on.
func TestRolloutGaugesWaitingForAPerson(t *testing.T) {
	w := newWorldWith(t, testPipeline, confirmPolicy)
	leader, reg := withGauges(t, w.ctl)
	w.ctl = leader
	r := w.waiting(t)
	w.pump(t, leader, 3)
	want := map[string]float64{
		"promote_rollouts{env=prod,state=running}":                   1,
		"promote_rollouts{env=prod,state=paused}":                    0,
		"promote_rollout_waiting_oldest_timestamp_seconds{env=prod}": float64(r.UpdatedAt.UnixNano()) / 1e9,
	}
	if diff := cmp.Diff(want, rolloutSeries(t, reg)); diff != "" {
		t.Errorf("gauges of a rollout waiting for a person (-want +got):\n%s", diff)
	}
	if _, err := leader.Resume(t.Context(), lena, r.PromotionID, ""); err != nil {
		t.Fatalf("Resume: %v", err)
	}
	if err := leader.Tick(t.Context()); err != nil {
		t.Fatal(err)
	}
	delete(want, "promote_rollout_waiting_oldest_timestamp_seconds{env=prod}")
	if diff := cmp.Diff(want, rolloutSeries(t, reg)); diff != "" {
		t.Errorf("gauges once a person moved it on (-want +got):\n%s", diff)
	}
}

// The oldest wait for a person of an environment is the earliest among
// its waiting rollouts: running ones that do not wait, and paused ones,
// have no part in it.
func TestGaugesCountWaiting(t *testing.T) {
	g, reg := prodGauges(t)
	t0 := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	waits := &promote.StepNeeds{Steps: 3, Confirm: true, WaitingForPerson: true}
	g.count([]promote.Rollout{
		{Model: "a", Environment: "prod", State: promote.RolloutRunning, UpdatedAt: t0.Add(time.Hour), StepNeeds: waits},
		{Model: "b", Environment: "prod", State: promote.RolloutRunning, UpdatedAt: t0, StepNeeds: waits},
		{Model: "c", Environment: "prod", State: promote.RolloutRunning, UpdatedAt: t0.Add(-time.Hour), StepNeeds: &promote.StepNeeds{Steps: 3, Confirm: true}},
		{Model: "d", Environment: "prod", State: promote.RolloutPaused, UpdatedAt: t0.Add(-2 * time.Hour), StepNeeds: waits},
	})
	want := map[string]float64{
		"promote_rollouts{env=prod,state=running}":                   3,
		"promote_rollouts{env=prod,state=paused}":                    1,
		"promote_rollout_paused_oldest_timestamp_seconds{env=prod}":  float64(t0.Add(-2 * time.Hour).Unix()),
		"promote_rollout_waiting_oldest_timestamp_seconds{env=prod}": float64(t0.Unix()),
	}
	if diff := cmp.Diff(want, rolloutSeries(t, reg)); diff != "" {
		t.Errorf("count(two waiting, one running, one paused) (-want +got):\n%s", diff)
	}
}
