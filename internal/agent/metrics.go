package agent

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/promote-ml/promote/internal/telemetry"
)

// Metric names. They are a contract: dashboards and alerts query them by
// these names (docs/operations.md).
const (
	MetricSyncOK          = "promote_agent_sync_ok"
	MetricLastSyncSuccess = "promote_agent_sync_last_success_timestamp_seconds"
	MetricEnvInSync       = "promote_agent_environment_in_sync"
	MetricAppliedCommit   = "promote_agent_applied_commit_info"
)

// Metric label names.
const (
	LabelEnv    = "env"
	LabelCommit = "commit"
)

// Metrics are the agent's sync health: whether every environment serves
// the branch's head, since when, and which commit each serves. The agent
// sets them after every poll, from what Status reports then.
type Metrics struct {
	ok      *telemetry.GaugeVec
	last    *telemetry.GaugeVec
	inSync  *telemetry.GaugeVec
	applied *telemetry.GaugeVec

	mu      sync.Mutex
	commits map[string]string // the commit of each environment's applied_commit series
}

// NewMetrics creates the agent's metrics on reg.
func NewMetrics(reg *telemetry.Registry) (*Metrics, error) {
	if reg == nil {
		return nil, errors.New("agent metrics: no registry")
	}
	var errs []error
	gauge := func(name, help string, labels ...string) *telemetry.GaugeVec {
		v, err := reg.Gauge(name, help, labels...)
		errs = append(errs, err)
		return v
	}
	m := &Metrics{
		ok: gauge(MetricSyncOK,
			"1 when the agent's last poll found every environment serving the branch's head, 0 when the fetch, the checkout, the endpoints file or an environment failed."),
		last: gauge(MetricLastSyncSuccess,
			"Unix time of the agent's last poll that found every environment serving the branch's head; absent until the first."),
		inSync: gauge(MetricEnvInSync,
			"1 when the environment serves the desired state of the branch's head, 0 while it keeps an older commit's (its error is in the agent's /-/status).",
			LabelEnv),
		applied: gauge(MetricAppliedCommit,
			"1, labelled with the commit whose desired state the environment serves; one series per environment.",
			LabelEnv, LabelCommit),
		commits: map[string]string{},
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("agent metrics: %w", err)
	}
	return m, nil
}

// observe sets the metrics from s, a Status taken at now.
func (m *Metrics) observe(s Status, now time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	ok := s.Error == "" && s.Head != ""
	seen := map[string]bool{}
	for _, e := range s.Environments {
		seen[e.Name] = true
		v := 0.0
		if e.InSync {
			v = 1
		} else {
			ok = false
		}
		m.inSync.With(e.Name).Set(v)
		if was, had := m.commits[e.Name]; had && was != e.Commit {
			m.applied.Delete(e.Name, was)
			delete(m.commits, e.Name)
		}
		if e.Commit != "" {
			m.applied.With(e.Name, e.Commit).Set(1)
			m.commits[e.Name] = e.Commit
		}
	}
	for env, commit := range m.commits {
		if !seen[env] {
			m.applied.Delete(env, commit)
			m.inSync.Delete(env)
			delete(m.commits, env)
		}
	}
	if ok {
		m.ok.With().Set(1)
		m.last.With().Set(float64(now.UnixNano()) / 1e9)
	} else {
		m.ok.With().Set(0)
	}
}
