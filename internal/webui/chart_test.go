package webui

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/promote-ml/promote/promote"
)

func TestNiceScale(t *testing.T) {
	tests := []struct{ top, step, max float64 }{
		{0, 0.25, 1},
		{5.5, 2, 8},
		{136.42, 50, 200},
		{0.19, 0.1, 0.3},
	}
	for _, tt := range tests {
		if step, max := niceScale(tt.top); math.Abs(step-tt.step) > 1e-9 || math.Abs(max-tt.max) > 1e-9 {
			t.Errorf("niceScale(%v) = %v, %v; want %v, %v", tt.top, step, max, tt.step, tt.max)
		}
	}
}

func TestNewChart(t *testing.T) {
	if newChart(nil) != nil {
		t.Error("a chart without samples")
	}
	t0 := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	track := func(req, errs, p95 float64) promote.TrackSample {
		return promote.TrackSample{Requests: req, Errors: errs, LatencyP95: p95}
	}
	samples := []promote.RolloutSample{
		{At: t0, Weight: 0.1, Event: "step"},
		{At: t0.Add(time.Minute), Weight: 0.1, Stable: track(900, 9, 0.1), Canary: track(100, 2, 0.2)},
		{At: t0.Add(2 * time.Minute), Weight: 0.1, Stable: track(900, 0, 0.1), Canary: track(0, 0, 0)},
		{At: t0.Add(3 * time.Minute), Weight: 0.1, Stable: track(900, 9, 0.1), Canary: track(100, 4, 0.3)},
		{At: t0.Add(4 * time.Minute), Step: 1, Weight: 0.5, Event: "step"},
		{At: t0.Add(5 * time.Minute), Step: 1, Weight: 0.5, Stable: track(500, 5, 0.1), Canary: track(500, 50, 0.4), Decision: "fail"},
		{At: t0.Add(5 * time.Minute), Step: 1, Weight: 0, Event: "rolled_back", Decision: "fail"},
	}
	c := newChart(samples)
	if c.Outcome != "rolled back" || c.Steps != 2 || len(c.Rows) != len(samples) || len(c.Panels) != 2 {
		t.Fatalf("chart = outcome %q, %d steps, %d rows, %d panels", c.Outcome, c.Steps, len(c.Rows), len(c.Panels))
	}
	errs := c.Panels[0]
	var canary, stable series
	for _, s := range errs.Series {
		switch s.Name {
		case "canary":
			canary = s
		case "stable":
			stable = s
		}
	}
	// The canary served nothing at 2m: its line breaks there.
	if len(canary.Paths) != 3 || len(stable.Paths) != 2 {
		t.Errorf("paths: canary %q, stable %q", canary.Paths, stable.Paths)
	}
	// 10% errors at the top of a 0 to 12% axis: the point's y is near the top.
	last := strings.Fields(canary.Paths[2])
	if len(last) != 1 || !strings.HasPrefix(last[0], "704.0,") {
		t.Errorf("last canary point = %v, want at the right edge", last)
	}
	var labels []string
	for _, m := range errs.Markers {
		labels = append(labels, m.Label)
	}
	if got := strings.Join(labels, ","); got != "step 1: 10%,step 2: 50%,rolled back" {
		t.Errorf("markers = %s", got)
	}
	if c.Rows[5].CanaryErr != "10.00%" || c.Rows[2].CanaryErr != "—" || c.Rows[5].CanaryP95 != "400 ms" {
		t.Errorf("rows = %+v", c.Rows[5])
	}
	if !strings.Contains(errs.Desc, "peak 10%") || !strings.Contains(errs.Desc, "rolled back") {
		t.Errorf("desc = %q", errs.Desc)
	}
}
