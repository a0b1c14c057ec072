package metrics

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/promote-ml/promote/internal/promtest"
	"github.com/promote-ml/promote/internal/telemetry"
)

// promServer is a real Prometheus on loopback scraping one registry.
type promServer struct {
	*promtest.Server
}

// startPrometheus serves reg on loopback, starts a Prometheus scraping it
// every second, and returns once its first scrape of reg is queryable.
func startPrometheus(t *testing.T, reg *telemetry.Registry) *promServer {
	t.Helper()
	target := httptest.NewServer(reg.Handler(nil))
	t.Cleanup(target.Close)
	return &promServer{promtest.Start(t, strings.TrimPrefix(target.URL, "http://"))}
}

// query runs promql now, as the sources do.
func (s *promServer) query(t *testing.T, promql string) ([]sample, error) {
	t.Helper()
	p, err := NewPrometheus(PrometheusOptions{URL: s.URL})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	return p.instantQuery(ctx, promql, time.Now())
}

// waitFor polls cond until it holds or the deadline passes; what says what
// is awaited, and cond's second result what it saw last.
func waitFor(t *testing.T, deadline time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	end := time.Now().Add(deadline)
	for {
		ok, last := cond()
		if ok {
			return
		}
		if time.Now().After(end) {
			t.Fatalf("waited %s for %s; last saw: %s", deadline, what, last)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
