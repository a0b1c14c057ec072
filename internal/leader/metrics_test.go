package leader_test

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/promote-ml/promote/internal/leader"
	"github.com/promote-ml/promote/internal/telemetry"
	"github.com/promote-ml/promote/internal/testtool"
	"github.com/promote-ml/promote/promote"
)

// leaderSeries reads reg's promote_leader samples, by lease: what the
// replica's /metrics shows.
func leaderSeries(t *testing.T, reg *telemetry.Registry) map[string]float64 {
	t.Helper()
	return testtool.Samples(t, reg, leader.MetricLeader)
}

// The gauge is 1 on the replica that leads and 0 on the other, from the
// start, and moves with the lease when the leader hands it over.
func TestLeaderGauge(t *testing.T) {
	forEachDatabase(t, func(t *testing.T, open func() promote.Store) {
		cfg := leader.Config{TTL: 5 * time.Minute, RenewEvery: 100 * time.Millisecond}
		regs := map[string]*telemetry.Registry{}
		var rs []*replica
		for _, name := range []string{"a", "b"} {
			reg := telemetry.NewRegistry()
			m, err := leader.NewMetrics(reg)
			if err != nil {
				t.Fatal(err)
			}
			c := cfg
			c.Metrics = m
			regs[name] = reg
			rs = append(rs, start(t, name, open(), c))
		}
		want := func(v float64) map[string]float64 {
			return map[string]float64{"lease=" + leader.DefaultName: v}
		}
		lead, rest := leaderOf(t, rs...)
		follower := rest[0]
		if diff := cmp.Diff(want(1), leaderSeries(t, regs[lead.name])); diff != "" {
			t.Errorf("%s leads: %s (-want +got):\n%s", lead.name, leader.MetricLeader, diff)
		}
		if diff := cmp.Diff(want(0), leaderSeries(t, regs[follower.name])); diff != "" {
			t.Errorf("%s follows: %s (-want +got):\n%s", follower.name, leader.MetricLeader, diff)
		}

		lead.stop()
		if diff := cmp.Diff(want(0), leaderSeries(t, regs[lead.name])); diff != "" {
			t.Errorf("%s stopped: %s (-want +got):\n%s", lead.name, leader.MetricLeader, diff)
		}
		waitFor(t, follower.name+" takes over", func() bool { return follower.el.Status().Leader && follower.inTerm() })
		if diff := cmp.Diff(want(1), leaderSeries(t, regs[follower.name])); diff != "" {
			t.Errorf("%s took over: %s (-want +got):\n%s", follower.name, leader.MetricLeader, diff)
		}
	})
}

func TestNewMetricsNeedsARegistry(t *testing.T) {
	if _, err := leader.NewMetrics(nil); err == nil {
		t.Error("NewMetrics(nil) = nil error, want one")
	}
}
