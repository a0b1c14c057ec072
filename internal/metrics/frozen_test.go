package metrics

import (
	"strings"
	"testing"
	"time"
)

// TestPrometheusFrozen reads counts from a real Prometheus that stopped
// answering (suspended: its port still accepts connections): the read
// fails within DefaultQueryTimeout, saying so, rather than after the 30 s
// it took before, during which the controller's look, and the pause or
// abort a person asked for meanwhile, waited for it. Once Prometheus
// answers again, so do the reads.
func TestPrometheusFrozen(t *testing.T) {
	s := newTestSplitter(t)
	s.touch("m", "prod", TrackStable)
	prom := startPrometheus(t, s.reg)
	src, err := NewPrometheus(PrometheusOptions{URL: prom.URL})
	if err != nil {
		t.Fatal(err)
	}
	q := Query{Model: "m", Env: "prod", Track: TrackStable, Since: time.Now().Add(-time.Minute)}
	if _, err := src.Counts(t.Context(), q); err != nil && !strings.Contains(err.Error(), "no data") {
		t.Fatalf("Counts before the freeze: %v", err)
	}

	prom.Freeze(t)
	start := time.Now()
	_, err = src.Counts(t.Context(), q)
	took := time.Since(start)
	if err == nil || !strings.Contains(err.Error(), "prometheus did not answer within 5s") {
		t.Errorf("Counts from a frozen Prometheus = %v, want an error saying it did not answer within 5s", err)
	}
	if took > DefaultQueryTimeout+2*time.Second {
		t.Errorf("Counts from a frozen Prometheus took %s, want about %s", took.Round(time.Millisecond), DefaultQueryTimeout)
	}

	prom.Thaw(t)
	if _, err := src.Counts(t.Context(), q); err != nil && !strings.Contains(err.Error(), "no data") {
		t.Errorf("Counts after the thaw: %v", err)
	}
}
