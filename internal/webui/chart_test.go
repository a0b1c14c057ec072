package webui

import (
	"html/template"
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
	if newChart(nil, "canary") != nil {
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
	c := newChart(samples, "canary")
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

// A shadow rollout's chart names its candidate the shadow, not a canary
// that served users, and marks its start as mirroring rather than as a
// weight of 0%.
func TestShadowChart(t *testing.T) {
	t0 := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	samples := []promote.RolloutSample{
		{At: t0, Event: "step"},
		{At: t0.Add(time.Minute), Stable: promote.TrackSample{Requests: 900, Errors: 9}, Canary: promote.TrackSample{Requests: 450, Errors: 4}, Decision: "continue"},
		{At: t0.Add(2 * time.Minute), Weight: 1, Event: "succeeded", Decision: "continue"},
	}
	c := newChart(samples, "shadow")
	var names, labels []string
	for _, s := range c.Panels[0].Series {
		names = append(names, s.Name)
	}
	for _, m := range c.Panels[0].Markers {
		labels = append(labels, m.Label)
	}
	if got := strings.Join(names, ","); got != "stable,shadow" {
		t.Errorf("series = %s, want stable,shadow", got)
	}
	if got := strings.Join(labels, ","); got != "step 1: mirroring,succeeded" {
		t.Errorf("markers = %s, want step 1: mirroring,succeeded", got)
	}
	if p := c.Panels[0]; p.Title != "Error rate, shadow against stable" || !strings.Contains(p.Desc, "of the shadow") {
		t.Errorf("panel title %q, desc %q; want the shadow named", p.Title, p.Desc)
	}
	tmpl, err := template.New("promotion").Funcs(funcs).ParseFS(templateFS, "templates/base.html", "templates/promotion.html")
	if err != nil {
		t.Fatal(err)
	}
	var buf strings.Builder
	if err := tmpl.ExecuteTemplate(&buf, "chart", c); err != nil {
		t.Fatal(err)
	}
	if html := buf.String(); strings.Contains(strings.ToLower(html), "canary against") || strings.Contains(html, "Canary requests") ||
		!strings.Contains(html, "Shadow against stable") || !strings.Contains(html, "Shadow requests") {
		t.Errorf("the chart of a shadow names a canary:\n%s", html)
	}
}
