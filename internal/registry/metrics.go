package registry

import (
	"errors"
	"fmt"

	"github.com/promote-ml/promote/internal/policy"
	"github.com/promote-ml/promote/internal/telemetry"
)

// MetricGateEvaluations is the name of the gate outcomes' counter. It is a
// contract: dashboards and alerts query it by name (docs/operations.md,
// "Monitoring").
const MetricGateEvaluations = "promote_gate_evaluations_total"

// Metric label names.
const (
	LabelEnv     = "env"
	LabelVerdict = "verdict"
)

// The values of the verdict label: what a gate evaluation decided about a
// promotion.
const (
	// VerdictAllowed is a promotion the gate let through: it goes live.
	VerdictAllowed = "allowed"
	// VerdictAwaitingApproval is a promotion that passed every rule but
	// the approvals, which it now waits for.
	VerdictAwaitingApproval = "awaiting_approval"
	// VerdictBlocked is a promotion blocked by a rule that failed or by a
	// precondition (a hold, a rejection, the upstream environment, soak
	// time, a freeze).
	VerdictBlocked = "blocked"
	// VerdictError is a promotion blocked because a rule could not be
	// judged at all: a metric missing from the candidate or the baseline,
	// an undefined relative change, an expression that failed. A burst
	// of them is a broken policy or evidence that stopped arriving.
	VerdictError = "error"
)

// verdicts lists every verdict.
var verdicts = [...]string{VerdictAllowed, VerdictAwaitingApproval, VerdictBlocked, VerdictError}

// Metrics are the registry's metrics. Every replica counts the decisions
// that the requests it serves lead to. A nil *Metrics records nothing.
type Metrics struct {
	gates *telemetry.CounterVec
}

// NewMetrics creates the registry's metrics on reg. When reg already
// holds them the families are shared; a family of the same name but of
// another shape is an error.
func NewMetrics(reg *telemetry.Registry) (*Metrics, error) {
	if reg == nil {
		return nil, errors.New("registry metrics: no registry")
	}
	gates, err := reg.Counter(MetricGateEvaluations,
		"Gate evaluations that decided a promotion (requests and approvals, not dry runs), by environment and verdict (allowed, awaiting_approval, blocked, error: a rule could not be judged).",
		LabelEnv, LabelVerdict)
	if err != nil {
		return nil, fmt.Errorf("registry metrics: %w", err)
	}
	return &Metrics{gates: gates}, nil
}

// environments creates every verdict's series of envs at 0, so that the
// first evaluation is an increase Prometheus sees.
func (m *Metrics) environments(envs []string) {
	if m == nil {
		return
	}
	for _, env := range envs {
		for _, v := range verdicts {
			m.gates.With(env, v)
		}
	}
}

// gated counts a recorded decision of env's gate.
func (m *Metrics) gated(env string, d *policy.Decision) {
	if m == nil || d == nil {
		return
	}
	m.gates.With(env, verdictOf(d)).Inc()
}

// verdictOf is the verdict label of a gate's decision: allowed, error when a
// blocking rule could not be judged, awaiting_approval when only
// approvals are missing, blocked otherwise.
func verdictOf(d *policy.Decision) string {
	switch {
	case d.Allowed:
		return VerdictAllowed
	case d.Summary.Error > 0:
		return VerdictError
	case onlyApprovalsMissing(d):
		return VerdictAwaitingApproval
	default:
		return VerdictBlocked
	}
}
