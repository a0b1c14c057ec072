package rollout

import (
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/promote-ml/promote/internal/telemetry"
	"github.com/promote-ml/promote/promote"
)

// Metric names. They are a contract: dashboards and alerts query them by
// name (docs/operations.md, "Monitoring"; docs/rollouts.md).
const (
	MetricRollouts      = "promote_rollouts"
	MetricPausedOldest  = "promote_rollout_paused_oldest_timestamp_seconds"
	MetricWaitingOldest = "promote_rollout_waiting_oldest_timestamp_seconds"
)

// Metric label names.
const (
	LabelEnv   = "env"
	LabelState = "state"
)

// Gauges are the active rollouts as the controller last read them: how
// many run and how many are paused in each environment, since when the
// longest-paused one waits, and since when the running one that has
// waited longest for a person (a step with confirm) does. Every replica that runs a controller has
// them: the leader reads the active rollouts at every tick, the others at
// every look of Follow, so each replica's values are at most an interval
// old while the store answers (a failed read keeps the last values). A
// nil *Gauges records nothing.
type Gauges struct {
	rollouts *telemetry.GaugeVec
	paused   oldestGauge
	waiting  oldestGauge

	mu sync.Mutex
	// planned are the environments with a plan: their counts are shown,
	// at 0 too, so that a query finds them before any rollout.
	planned []string
	// shown are the environments whose counts are on /metrics.
	shown map[string]bool
}

// oldestGauge is, per environment, the Unix time of the oldest of some
// rollouts (the paused ones, those waiting for a person); an environment
// without any has no series.
type oldestGauge struct {
	vec *telemetry.GaugeVec
	// shown are the environments whose series are on /metrics.
	shown map[string]bool
}

// set shows the times of oldest, then deletes the series of the
// environments that have none now.
func (o *oldestGauge) set(oldest map[string]float64) {
	for env, at := range oldest {
		o.vec.With(env).Set(at)
	}
	for env := range o.shown {
		if _, ok := oldest[env]; !ok {
			o.vec.Delete(env)
		}
	}
	o.shown = map[string]bool{}
	for env := range oldest {
		o.shown[env] = true
	}
}

// earliest records r's last change in oldest under its environment, when
// it is earlier than the time there.
func earliest(oldest map[string]float64, r promote.Rollout) {
	at := float64(r.UpdatedAt.UnixNano()) / 1e9
	if o, ok := oldest[r.Environment]; !ok || at < o {
		oldest[r.Environment] = at
	}
}

// NewGauges creates the rollout gauges on reg. When reg already holds
// them the families are shared; a family of the same name but of another
// shape is an error.
func NewGauges(reg *telemetry.Registry) (*Gauges, error) {
	if reg == nil {
		return nil, errors.New("rollout metrics: no registry")
	}
	rollouts, err1 := reg.Gauge(MetricRollouts,
		"Active rollouts by environment and state (running, paused), as this replica's controller last read them.",
		LabelEnv, LabelState)
	paused, err2 := reg.Gauge(MetricPausedOldest,
		"Unix time at which the environment's longest-paused rollout was paused (its last change); absent while none is paused.",
		LabelEnv)
	waiting, err3 := reg.Gauge(MetricWaitingOldest,
		"Unix time at which the environment's running rollout that has waited longest for a person (a step with confirm) began to wait; absent while none waits.",
		LabelEnv)
	if err := errors.Join(err1, err2, err3); err != nil {
		return nil, fmt.Errorf("rollout metrics: %w", err)
	}
	return &Gauges{rollouts: rollouts, paused: oldestGauge{vec: paused}, waiting: oldestGauge{vec: waiting}, shown: map[string]bool{}}, nil
}

// plan shows the counts of the environments that have a plan, at 0 until
// the first read.
func (g *Gauges) plan(envs []string) {
	if g == nil {
		return
	}
	g.mu.Lock()
	g.planned = slices.Clone(envs)
	g.mu.Unlock()
	g.count(nil)
}

// count sets the gauges from the active rollouts read. Series are set
// before the stale ones are deleted, so that no gathering finds an
// environment missing in between.
func (g *Gauges) count(active []promote.Rollout) {
	if g == nil {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	type counts struct{ running, paused int }
	by := map[string]*counts{}
	for _, env := range g.planned {
		by[env] = &counts{}
	}
	paused, waiting := map[string]float64{}, map[string]float64{}
	for _, r := range active {
		c := by[r.Environment]
		if c == nil {
			// A rollout in an environment that lost its plan still
			// holds its traffic, and waits for a person.
			c = &counts{}
			by[r.Environment] = c
		}
		switch r.State {
		case promote.RolloutRunning:
			// A rollout waiting for a person runs (the analysis
			// judges it on), and its wait is the record of its last
			// change.
			c.running++
			if r.WaitsForPerson() {
				earliest(waiting, r)
			}
		case promote.RolloutPaused:
			c.paused++
			earliest(paused, r)
		}
	}
	for env, c := range by {
		g.rollouts.With(env, string(promote.RolloutRunning)).Set(float64(c.running))
		g.rollouts.With(env, string(promote.RolloutPaused)).Set(float64(c.paused))
	}
	g.paused.set(paused)
	g.waiting.set(waiting)
	for env := range g.shown {
		if by[env] == nil {
			g.rollouts.Delete(env, string(promote.RolloutRunning))
			g.rollouts.Delete(env, string(promote.RolloutPaused))
		}
	}
	g.shown = map[string]bool{}
	for env := range by {
		g.shown[env] = true
	}
}
