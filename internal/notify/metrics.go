package notify

import (
	"errors"
	"fmt"
	"time"

	"github.com/promote-ml/promote/internal/telemetry"
	"github.com/promote-ml/promote/promote"
)

// Metric names. They are a contract: dashboards and alerts query them by
// name (docs/operations.md, "Monitoring").
const (
	MetricDeliveries    = "promote_webhook_delivery_attempts_total"
	MetricFailed        = "promote_webhook_failed_deliveries"
	MetricLastDelivered = "promote_webhook_last_delivered_timestamp_seconds"
)

// Metric label names.
const (
	LabelEndpoint = "endpoint"
	LabelOutcome  = "outcome"
)

// Metrics are the webhook dispatcher's metrics. A nil *Metrics records
// nothing.
type Metrics struct {
	deliveries *telemetry.CounterVec
	failed     *telemetry.GaugeVec
	last       *telemetry.GaugeVec
}

// NewMetrics creates the webhook metrics on reg. When reg already holds
// them the families are shared; a family of the same name but of another
// shape is an error.
func NewMetrics(reg *telemetry.Registry) (*Metrics, error) {
	if reg == nil {
		return nil, errors.New("webhook metrics: no registry")
	}
	deliveries, err1 := reg.Counter(MetricDeliveries,
		"Attempts to deliver a webhook, by endpoint and outcome (delivered, retrying, failed): failed means no further attempt will be made.",
		LabelEndpoint, LabelOutcome)
	failed, err2 := reg.Gauge(MetricFailed,
		"Deliveries whose last attempt failed for good and that no one has asked to re-send, among those the delivery log keeps, as the leader last read them.",
		LabelEndpoint)
	last, err3 := reg.Gauge(MetricLastDelivered,
		"Unix time of the newest delivered attempt to the endpoint that the delivery log keeps, as the leader last read it; absent when it keeps none.",
		LabelEndpoint)
	if err := errors.Join(err1, err2, err3); err != nil {
		return nil, fmt.Errorf("webhook metrics: %w", err)
	}
	return &Metrics{deliveries: deliveries, failed: failed, last: last}, nil
}

// attempt counts one recorded attempt to endpoint.
func (m *Metrics) attempt(endpoint, status string, at time.Time) {
	if m == nil {
		return
	}
	m.deliveries.With(endpoint, status).Inc()
	if status == StatusDelivered {
		m.delivered(endpoint, at)
	}
}

// delivered moves the endpoint's last delivery forward to at.
func (m *Metrics) delivered(endpoint string, at time.Time) {
	g := m.last.With(endpoint)
	if t := float64(at.UnixNano()) / 1e9; t > g.Value() {
		g.Set(t)
	}
}

// stats sets the gauges of endpoints from the store's sums; an endpoint
// the log holds nothing of has no failure.
func (m *Metrics) stats(endpoints []Endpoint, stats []promote.WebhookStats) {
	if m == nil {
		return
	}
	by := make(map[string]promote.WebhookStats, len(stats))
	for _, s := range stats {
		by[s.Endpoint] = s
	}
	for _, ep := range endpoints {
		s := by[ep.Name]
		m.failed.With(ep.Name).Set(float64(s.Failed))
		if !s.LastDelivered.IsZero() {
			m.delivered(ep.Name, s.LastDelivered)
		}
	}
}

// forget drops the gauges when the replica stops sending, so that a
// replica that no longer leads shows none rather than stale values.
func (m *Metrics) forget() {
	if m == nil {
		return
	}
	m.failed.Reset()
	m.last.Reset()
}
