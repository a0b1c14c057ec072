package metrics

import (
	"context"
	"encoding/json"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
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

// rawSample is a sample as Prometheus stored it.
type rawSample struct {
	at    time.Time // to the millisecond, as stored
	value float64
}

// rawSamples returns the samples Prometheus stored in the last minute for
// the one series that sel selects, oldest first (stale markers are not
// returned).
func (s *promServer) rawSamples(t *testing.T, sel string) []rawSample {
	t.Helper()
	resp, err := http.Get(s.URL + "/api/v1/query?query=" + url.QueryEscape(sel+"[1m]"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			Result []struct {
				Values [][2]json.RawMessage `json:"values"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	if body.Status != "success" || len(body.Data.Result) != 1 {
		t.Fatalf("raw samples of %s: status %q (%s), %d series; want one", sel, body.Status, body.Error, len(body.Data.Result))
	}
	var out []rawSample
	for _, pair := range body.Data.Result[0].Values {
		var at float64
		var v string
		if err := json.Unmarshal(pair[0], &at); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(pair[1], &v); err != nil {
			t.Fatal(err)
		}
		value, err := strconv.ParseFloat(v, 64)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, rawSample{at: time.UnixMilli(int64(math.Round(at * 1000))), value: value})
	}
	return out
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
