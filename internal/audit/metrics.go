package audit

import (
	"fmt"
	"time"

	"github.com/promote-ml/promote/internal/telemetry"
)

// The metrics of the audit chain's verification (ChainMetrics), which the
// alerts PromoteAuditChainBroken and PromoteAuditChainNotVerified read
// (deploy/prometheus/promote-rules.yaml).
const (
	MetricChainVerified = "promote_audit_chain_verified_timestamp_seconds"
	MetricChainFailures = "promote_audit_chain_verification_failures_total"
)

// ChainMetrics are the metrics of a replica's verifications of the audit
// chain: when one last found it whole, and how many found it broken. A
// nil *ChainMetrics records nothing.
type ChainMetrics struct {
	verified telemetry.Gauge
	failures telemetry.Counter
}

// NewChainMetrics registers the verification's metrics with reg, both
// exported from the start (the time at 0 until a verification finds the
// chain whole).
func NewChainMetrics(reg *telemetry.Registry) (*ChainMetrics, error) {
	verified, err := reg.Gauge(MetricChainVerified,
		"When this replica's verification of the audit chain (in full at start and every interval, and of the events appended since on each view of the web UI's audit page) last found it whole, in seconds since the Unix epoch; 0 until then.")
	if err != nil {
		return nil, fmt.Errorf("audit chain metrics: %w", err)
	}
	failures, err := reg.Counter(MetricChainFailures,
		"The verifications of the audit chain by this replica that found it broken: once a break is found, each full verification that still finds it counts again.")
	if err != nil {
		return nil, fmt.Errorf("audit chain metrics: %w", err)
	}
	return &ChainMetrics{verified: verified.With(), failures: failures.With()}, nil
}

// Record counts a verification's outcome: the chain whole at at, or
// broken.
func (m *ChainMetrics) Record(whole bool, at time.Time) {
	switch {
	case m == nil:
	case whole:
		m.verified.Set(float64(at.UnixNano()) / 1e9)
	default:
		m.failures.Inc()
	}
}
