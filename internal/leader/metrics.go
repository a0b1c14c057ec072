package leader

import (
	"errors"
	"fmt"

	"github.com/promote-ml/promote/internal/telemetry"
)

// MetricLeader is the name of the leadership gauge. It is a contract:
// dashboards and alerts query it by name (docs/operations.md,
// "Monitoring").
const MetricLeader = "promote_leader"

// LabelLease is the label of MetricLeader that names the lease.
const LabelLease = "lease"

// Metrics is the elector's gauge: 1 on the replica that leads, 0 on the
// others, so that "no replica leads" and "two replicas lead" can be told
// from the replicas' /metrics. A nil *Metrics records nothing.
type Metrics struct {
	leader *telemetry.GaugeVec
}

// NewMetrics creates the elector's gauge on reg. When reg already holds it
// the family is shared; a family of the same name but of another shape is
// an error.
func NewMetrics(reg *telemetry.Registry) (*Metrics, error) {
	if reg == nil {
		return nil, errors.New("leader metrics: no registry")
	}
	g, err := reg.Gauge(MetricLeader,
		"1 while this replica leads: from its election until its term ends (its controllers stopped, or the lease lost), 0 otherwise.",
		LabelLease)
	if err != nil {
		return nil, fmt.Errorf("leader metrics: %w", err)
	}
	return &Metrics{leader: g}, nil
}

// set records whether the replica leads the lease.
func (m *Metrics) set(lease string, leads bool) {
	if m == nil {
		return
	}
	v := 0.0
	if leads {
		v = 1
	}
	m.leader.With(lease).Set(v)
}
