package webui

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/promote-ml/promote/promote"
)

// Geometry of a chart panel, in SVG user units.
const (
	chartW      = 720
	chartH      = 240
	chartLeft   = 64
	chartRight  = 16
	chartTop    = 40
	chartBottom = 44
)

// chart is a rollout's chart: two panels (error rate and p95 latency,
// canary against stable over time) with the step changes and the
// outcome marked, and the samples as a table for those who cannot see it.
type chart struct {
	// Candidate names the candidate's track: canary, or shadow in a
	// shadow rollout, whose candidate answers mirrored requests only;
	// CandidateTitle is the same capitalised, for a heading.
	Candidate, CandidateTitle string
	Panels                    []panel
	Rows                      []sampleRow
	Start                     time.Time
	End                       time.Time
	Outcome                   string
	Steps                     int
}

// panel is one plot of a chart.
type panel struct {
	ID     string
	Title  string
	Desc   string
	YLabel string
	XLabel string
	W, H   int
	// The plot area.
	X0, X1, Y0, Y1 float64
	XTicks         []tick
	YTicks         []tick
	Series         []series
	Markers        []marker
}

type tick struct {
	Pos   float64
	Label string
}

// series is one line; Paths are its runs of points (gaps where the track
// served nothing), each an SVG points list.
type series struct {
	Name  string
	Class string
	Paths []string
}

// marker is a vertical line at a moment of the rollout.
type marker struct {
	X      float64
	Label  string
	Class  string
	LabelY float64
	Anchor string
}

// sampleRow is one sample, formatted, for the table.
type sampleRow struct {
	At         time.Time
	Elapsed    string
	Step       int
	Weight     string
	StableReq  string
	StableErr  string
	CanaryReq  string
	CanaryErr  string
	StableP95  string
	CanaryP95  string
	Decision   string
	Event      string
	IsMarker   bool
	MarkerWord string
}

// errRate is a track's error rate in percent, and whether it served.
func errRate(t promote.TrackSample) (float64, bool) {
	if t.Requests <= 0 {
		return 0, false
	}
	return 100 * t.Errors / t.Requests, true
}

// p95ms is a track's p95 latency in milliseconds, and whether it served.
func p95ms(t promote.TrackSample) (float64, bool) {
	if t.Requests <= 0 || t.LatencyP95 <= 0 {
		return 0, false
	}
	return 1000 * t.LatencyP95, true
}

// eventWords says what a sample's event marks; a shadow's start is no
// weight (it has none while it mirrors).
func eventWords(s promote.RolloutSample, candidate string) string {
	switch s.Event {
	case "step":
		if candidate == trackShadow {
			return "mirroring"
		}
		return fmt.Sprintf("%s%%", fmtPercent(s.Weight))
	case "rolled_back":
		return "rolled back"
	case "succeeded":
		return "succeeded"
	case "paused":
		return "paused"
	case "resumed":
		return "resumed"
	case "waiting":
		return "waiting for a person"
	}
	return ""
}

// The candidate tracks a chart names.
const (
	trackCanary = "canary"
	trackShadow = "shadow"
)

// newChart lays out a rollout's samples (oldest first), naming the
// candidate's track as the rollout's strategy does; nil without any.
func newChart(samples []promote.RolloutSample, strategy string) *chart {
	if len(samples) == 0 {
		return nil
	}
	c := &chart{Candidate: trackCanary, CandidateTitle: "Canary", Start: samples[0].At, End: samples[len(samples)-1].At}
	if strategy == trackShadow {
		c.Candidate, c.CandidateTitle = trackShadow, "Shadow"
	}
	span := c.End.Sub(c.Start).Seconds()
	if span <= 0 {
		span = 1
	}
	x := func(t time.Time) float64 {
		return chartLeft + (chartW-chartLeft-chartRight)*t.Sub(c.Start).Seconds()/span
	}
	var maxErr, maxLat float64
	for _, s := range samples {
		for _, t := range []promote.TrackSample{s.Stable, s.Canary} {
			if v, ok := errRate(t); ok {
				maxErr = math.Max(maxErr, v)
			}
			if v, ok := p95ms(t); ok {
				maxLat = math.Max(maxLat, v)
			}
		}
	}
	xTicks := timeTicks(c.Start, span, x)
	mk := func(id, title, ylabel string, top float64, value func(promote.TrackSample) (float64, bool), unit string) panel {
		p := panel{ID: id, Title: title, YLabel: ylabel, XLabel: "time since the first sample (minutes)", W: chartW, H: chartH,
			X0: chartLeft, X1: chartW - chartRight, Y0: chartTop, Y1: chartH - chartBottom, XTicks: xTicks}
		step, yMax := niceScale(top)
		y := func(v float64) float64 { return p.Y1 - (p.Y1-p.Y0)*v/yMax }
		for v := 0.0; v <= yMax+step/2; v += step {
			p.YTicks = append(p.YTicks, tick{Pos: y(v), Label: fmtAxis(v) + unit})
		}
		for _, tr := range []struct {
			name, class string
			pick        func(promote.RolloutSample) promote.TrackSample
		}{{"stable", "stable", func(s promote.RolloutSample) promote.TrackSample { return s.Stable }},
			{c.Candidate, "canary", func(s promote.RolloutSample) promote.TrackSample { return s.Canary }}} {
			sr := series{Name: tr.name, Class: tr.class}
			var b strings.Builder
			n := 0
			flush := func() {
				if n > 0 {
					sr.Paths = append(sr.Paths, b.String())
				}
				b.Reset()
				n = 0
			}
			for _, s := range samples {
				v, ok := value(tr.pick(s))
				if !ok {
					flush()
					continue
				}
				if n > 0 {
					b.WriteByte(' ')
				}
				b.WriteString(coord(x(s.At)))
				b.WriteByte(',')
				b.WriteString(coord(y(v)))
				n++
			}
			flush()
			p.Series = append(p.Series, sr)
		}
		for _, s := range samples {
			words := eventWords(s, c.Candidate)
			if words == "" {
				continue
			}
			m := marker{X: x(s.At), Label: words, Class: "marker " + strings.ReplaceAll(s.Event, "_", "-"), LabelY: p.Y0 - 6, Anchor: "middle"}
			if s.Event == "step" {
				m.Label = "step " + strconv.Itoa(s.Step+1) + ": " + words
			}
			switch {
			case m.X > p.X1-40:
				m.Anchor = "end"
			case m.X < p.X0+40:
				m.Anchor = "start"
			}
			p.Markers = append(p.Markers, m)
		}
		return p
	}
	c.Panels = []panel{
		mk("chart-errors", "Error rate, "+c.Candidate+" against stable", "error rate (%)", maxErr, errRate, "%"),
		mk("chart-latency", "Latency p95, "+c.Candidate+" against stable", "p95 latency (ms)", maxLat, p95ms, " ms"),
	}
	for _, s := range samples {
		r := sampleRow{At: s.At, Elapsed: fmtElapsed(s.At.Sub(c.Start)), Step: s.Step + 1, Weight: fmtPercent(s.Weight) + "%",
			StableReq: fmtCount(s.Stable.Requests), CanaryReq: fmtCount(s.Canary.Requests), Decision: s.Decision, Event: s.Event,
			MarkerWord: eventWords(s, c.Candidate)}
		r.IsMarker = r.MarkerWord != ""
		r.StableErr, r.CanaryErr = fmtRate(errRate(s.Stable)), fmtRate(errRate(s.Canary))
		r.StableP95, r.CanaryP95 = fmtMs(p95ms(s.Stable)), fmtMs(p95ms(s.Canary))
		c.Rows = append(c.Rows, r)
		switch s.Event {
		case "rolled_back":
			c.Outcome = "rolled back"
		case "succeeded":
			c.Outcome = "succeeded"
		}
		c.Steps = max(c.Steps, s.Step+1)
	}
	for i := range c.Panels {
		c.Panels[i].Desc = c.describe(i, samples)
	}
	return c
}

// describe says in words what a panel shows, for its <desc>.
func (c *chart) describe(i int, samples []promote.RolloutSample) string {
	value := errRate
	what, unit := "error rate", "%"
	if i == 1 {
		value, what, unit = p95ms, "p95 latency", " ms"
	}
	var sum [2]float64
	var n [2]int
	var peak [2]float64
	for _, s := range samples {
		for k, t := range []promote.TrackSample{s.Stable, s.Canary} {
			if v, ok := value(t); ok {
				sum[k] += v
				n[k]++
				peak[k] = math.Max(peak[k], v)
			}
		}
	}
	avg := func(k int) string {
		if n[k] == 0 {
			return "no data"
		}
		return fmt.Sprintf("mean %s%s, peak %s%s", fmtAxis(sum[k]/float64(n[k])), unit, fmtAxis(peak[k]), unit)
	}
	d := fmt.Sprintf("The %s of the %s (%s) and of stable (%s) over %s, from %s, across %d step(s).",
		what, c.Candidate, avg(1), avg(0), fmtElapsed(c.End.Sub(c.Start)), c.Start.UTC().Format("2006-01-02 15:04:05 UTC"), c.Steps)
	if c.Outcome != "" {
		d += " The rollout " + c.Outcome + " at " + fmtElapsed(c.End.Sub(c.Start)) + "."
	}
	return d
}

// coord formats an SVG coordinate.
func coord(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }

// niceScale returns a tick step and an axis maximum of 1, 2 or 5 times a
// power of ten, with four or five ticks above zero.
func niceScale(top float64) (step, max float64) {
	if top <= 0 || math.IsNaN(top) || math.IsInf(top, 0) {
		return 0.25, 1
	}
	raw := top * 1.1 / 4
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*mag >= raw {
			step = m * mag
			break
		}
	}
	return step, step * math.Ceil(top*1.1/step)
}

// timeTicks places ticks on whole minutes (or seconds for short spans).
func timeTicks(start time.Time, span float64, x func(time.Time) float64) []tick {
	steps := []float64{10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600, 43200, 86400}
	step := steps[len(steps)-1]
	for _, s := range steps {
		if span/s <= 8 {
			step = s
			break
		}
	}
	var out []tick
	for t := 0.0; t <= span+1e-9; t += step {
		at := start.Add(time.Duration(t * float64(time.Second)))
		out = append(out, tick{Pos: x(at), Label: fmtElapsed(time.Duration(t * float64(time.Second)))})
	}
	return out
}

// fmtElapsed formats a duration on an axis: 0, 30s, 5m, 1m30s, 2h.
func fmtElapsed(d time.Duration) string {
	d = d.Round(time.Second)
	switch {
	case d == 0:
		return "0"
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		if d%time.Minute == 0 {
			return fmt.Sprintf("%dm", int(d.Minutes()))
		}
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	}
	if d%time.Hour == 0 {
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
}

func fmtAxis(v float64) string {
	s := strconv.FormatFloat(v, 'f', 2, 64)
	s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	if s == "" || s == "-0" {
		return "0"
	}
	return s
}

func fmtPercent(w float64) string { return fmtAxis(100 * w) }

func fmtCount(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

func fmtRate(v float64, ok bool) string {
	if !ok {
		return "—"
	}
	return fmt.Sprintf("%.2f%%", v)
}

func fmtMs(v float64, ok bool) string {
	if !ok {
		return "—"
	}
	return fmt.Sprintf("%.0f ms", v)
}
