package canary

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// The judges the targets name.
const (
	ours           = "Promote"
	flaggerDefault = "Flagger T=1"
)

// The targets (from the issue).
const (
	// TargetFalseRollbacks is the largest false-rollback rate allowed on a
	// healthy canary.
	TargetFalseRollbacks = 0.01
	// TargetFewerBad is how many times fewer bad requests than the
	// Flagger-default judge the analysis must let through for the 5% and
	// 20% error canaries at 10% weight and 100 req/s.
	TargetFewerBad = 10
	// TargetSPRTRatio is the largest ratio of the analysis's mean canary
	// requests before a rollback to the SPRT bound, for every bad canary.
	TargetSPRTRatio = 2
)

// Target is one target's verdict.
type Target struct {
	Name     string `json:"name"`
	Measured string `json:"measured"`
	Holds    bool   `json:"holds"`
}

// Targets evaluates the targets on the results of Grid. Targets
// whose scenarios are missing from results are not reported.
func Targets(results []Result) []Target { return targetsOf(results, ours) }

// targetsOf evaluates the targets for the named judge.
func targetsOf(results []Result, ours string) []Target {
	var ts []Target
	// False rollbacks of healthy canaries.
	worst, worstName, n, hold := -1.0, "", 0, true
	lo, hi := math.Inf(1), 0.0
	var worstStats Stats
	for _, r := range results {
		s, ok := r.Judge(ours)
		if !ok || !r.Scenario.Healthy() {
			continue
		}
		n++
		lo, hi = min(lo, r.Scenario.Rate), max(hi, r.Scenario.Rate)
		if s.Rate() > TargetFalseRollbacks {
			hold = false
		}
		if s.Rate() > worst {
			worst, worstName, worstStats = s.Rate(), r.Scenario.Name, s
		}
	}
	if n > 0 {
		ts = append(ts, Target{
			Name: fmt.Sprintf("at most %s false rollbacks on healthy canaries (%d scenarios, %s to %s req/s)", pct(TargetFalseRollbacks), n, plain(lo), plain(hi)),
			Measured: fmt.Sprintf("highest %s (%d of %d runs, 95%% upper bound %s) for %s", pct(worst), worstStats.RolledBack, worstStats.Runs,
				pct(wilsonUpper(worstStats.RolledBack, worstStats.Runs)), worstName),
			Holds: hold,
		})
	}
	// Bad requests against Flagger's default.
	for _, r := range results {
		sc := r.Scenario
		if sc.Effect != "errors 5%" && sc.Effect != "errors 20%" || sc.Weight != 0.1 || sc.Rate != 100 {
			continue
		}
		o, ok1 := r.Judge(ours)
		f, ok2 := r.Judge(flaggerDefault)
		if !ok1 || !ok2 {
			continue
		}
		ratio := f.Bad.Mean / o.Bad.Mean
		ts = append(ts, Target{
			Name: fmt.Sprintf("%s: at least %d× fewer bad requests before rollback than %s", sc.Name, TargetFewerBad, flaggerDefault),
			Measured: fmt.Sprintf("%s× (%s against %s, means of %d runs)", num(ratio), num(o.Bad.Mean), num(f.Bad.Mean), o.Runs) +
				censoredNote(o, f),
			Holds: ratio >= TargetFewerBad && !o.Censored(),
		})
	}
	// The SPRT bound.
	n, held := 0, 0
	worst, worstName = -1, ""
	for _, r := range results {
		s, ok := r.Judge(ours)
		if !ok || r.SPRT == nil {
			continue
		}
		n++
		ratio := s.Requests.Mean / r.SPRT.Requests
		if ratio <= TargetSPRTRatio && !s.Censored() {
			held++
		}
		if ratio > worst {
			worst, worstName = ratio, r.Scenario.Name
		}
	}
	if n > 0 {
		m := fmt.Sprintf("%d of %d within; worst %s× (%s)", held, n, num(worst), worstName)
		ts = append(ts, Target{
			Name:     fmt.Sprintf("every bad canary: mean canary requests before rollback within %d× of the SPRT bound", TargetSPRTRatio),
			Measured: m,
			Holds:    held == n,
		})
	}
	return ts
}

// censoredNote warns when a mean is a lower bound.
func censoredNote(ss ...Stats) string {
	var c []string
	for _, s := range ss {
		if s.Censored() {
			c = append(c, fmt.Sprintf("%s rolled back only %d of %d runs", s.Judge, s.RolledBack, s.Runs))
		}
	}
	if len(c) == 0 {
		return ""
	}
	return "; " + strings.Join(c, ", ")
}

// wilsonUpper returns the upper end of the 95% Wilson score interval of k
// successes in n trials (Wilson 1927, "Probable inference, the law of
// succession, and statistical inference", JASA 22(158)).
func wilsonUpper(k, n int) float64 {
	const z = 1.959964
	p, fn := float64(k)/float64(n), float64(n)
	c := p + z*z/(2*fn)
	d := z * math.Sqrt(p*(1-p)/fn+z*z/(4*fn*fn))
	return (c + d) / (1 + z*z/fn)
}

// WriteMarkdown writes the results as Markdown tables: false rollbacks of
// the healthy canaries; bad requests, time to decision and canary requests
// against the SPRT bound for the bad ones; and the targets.
func WriteMarkdown(w io.Writer, results []Result, judges []JudgeSpec) error {
	var b strings.Builder
	names := make([]string, len(judges))
	for i, j := range judges {
		names[i] = j.Name
	}
	var healthy, bad []Result
	for _, r := range results {
		if r.Scenario.Healthy() {
			healthy = append(healthy, r)
		} else {
			bad = append(bad, r)
		}
	}
	if len(healthy) > 0 {
		h := healthy[0].Scenario
		within := minutes(h.Horizon)
		if h.Horizon > 600 {
			within += " (within the first 10 min)"
		}
		fmt.Fprintf(&b, "Healthy canaries (%s errors, stable's latency): false rollbacks within %s, %d runs each\n\n",
			pct(h.Canary.ErrorRate), within, h.Runs)
		fmt.Fprintf(&b, "| req/s | weight | canary req/s | %s |\n", strings.Join(names, " | "))
		fmt.Fprintf(&b, "|---:|---:|---:|%s\n", strings.Repeat("---:|", len(names)))
		for _, r := range healthy {
			sc := r.Scenario
			fmt.Fprintf(&b, "| %s | %s | %s |", plain(sc.Rate), pct(sc.Weight), plain(sc.Rate*sc.Weight))
			for _, s := range r.Judges {
				cell := pct(s.Rate())
				if sc.Horizon > 600 {
					cell += " (" + pct(float64(s.RolledBack10m)/float64(s.Runs)) + ")"
				}
				if s.Judge == ours {
					cell = "**" + cell + "**"
				}
				fmt.Fprintf(&b, " %s |", cell)
			}
			b.WriteString("\n")
		}
		b.WriteString("\n")
	}
	if len(bad) > 0 {
		h := bad[0].Scenario
		fmt.Fprintf(&b, "Bad canaries (stable at %s errors): bad requests served by the canary before rollback, mean (95th percentile), %d runs each, horizon %s. "+
			"Bad requests are errors, or for a latency effect requests slower than %g s. "+
			"[x%%] marks a judge that rolled back only x%% of the runs within the horizon: its figures count the others at the horizon, a lower bound. "+
			"SPRT: the bound's requests × p1.\n\n",
			pct(StableErrorRate), h.Runs, minutes(h.Horizon), LatencyThreshold())
		fmt.Fprintf(&b, "| canary | weight | req/s | SPRT | %s | %s ÷ %s |\n", strings.Join(names, " | "), flaggerDefault, ours)
		fmt.Fprintf(&b, "|---|---:|---:|---:|%s---:|\n", strings.Repeat("---:|", len(names)))
		for _, r := range bad {
			sc := r.Scenario
			fmt.Fprintf(&b, "| %s | %s | %s | %s |", sc.Effect, pct(sc.Weight), plain(sc.Rate), num(r.SPRT.Bad))
			for _, s := range r.Judges {
				fmt.Fprintf(&b, " %s |", cell(s, s.Bad, s.Judge == ours))
			}
			o, _ := r.Judge(ours)
			f, _ := r.Judge(flaggerDefault)
			fmt.Fprintf(&b, " %s |\n", ratio(f.Bad.Mean, o.Bad.Mean, f.Censored(), o.Censored()))
		}
		b.WriteString("\nTime to rollback, seconds after the canary got traffic: mean (95th percentile). SPRT: the bound's requests ÷ the canary's request rate.\n\n")
		fmt.Fprintf(&b, "| canary | weight | req/s | SPRT | %s |\n", strings.Join(names, " | "))
		fmt.Fprintf(&b, "|---|---:|---:|---:|%s\n", strings.Repeat("---:|", len(names)))
		for _, r := range bad {
			sc := r.Scenario
			fmt.Fprintf(&b, "| %s | %s | %s | %s |", sc.Effect, pct(sc.Weight), plain(sc.Rate), num(r.SPRT.Seconds))
			for _, s := range r.Judges {
				fmt.Fprintf(&b, " %s |", cell(s, s.Seconds, s.Judge == ours))
			}
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, "\nPromote against the SPRT bound: canary requests before rollback, mean (95th percentile), and the mean's ratio to the bound "+
			"(analysis.SPRTBound(p0, p1, %g, %g), p0 and p1 the per-request probabilities of a bad request in stable and canary). "+
			"The split bound is the same bound for a test that does not know p0 and compares the canary with stable by the split of their bad requests, as the analysis does; it is no target. "+
			"Promote looks as the canary's requests arrive, at most every 0.1 s (from %g req/s the simulation draws tenths of a second; below, whole seconds), so it cannot decide before the canary's requests of one look; Promote 1 s looks once a second only.\n\n", BoundAlpha, BoundBeta, float64(SliceRate))
		b.WriteString("| canary | weight | req/s | p0 → p1 | SPRT bound | split bound | Promote | ÷ SPRT | ÷ split | Promote 1 s | ÷ SPRT | within 2× of SPRT |\n")
		b.WriteString("|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---|\n")
		for _, r := range bad {
			sc := r.Scenario
			o, _ := r.Judge(ours)
			o10, ok10 := r.Judge("Promote 1 s")
			fmt.Fprintf(&b, "| %s | %s | %s | %s → %s | %s | %s | %s | %s | %s |", sc.Effect, pct(sc.Weight), plain(sc.Rate),
				pct(r.SPRT.P0), pct(r.SPRT.P1), num(r.SPRT.Requests), num(r.SPRT.SplitRequests), cell(o, o.Requests, false),
				ratio(o.Requests.Mean, r.SPRT.Requests, o.Censored(), false), ratio(o.Requests.Mean, r.SPRT.SplitRequests, o.Censored(), false))
			if ok10 {
				fmt.Fprintf(&b, " %s | %s |", cell(o10, o10.Requests, false), ratio(o10.Requests.Mean, r.SPRT.Requests, o10.Censored(), false))
			} else {
				b.WriteString(" - | - |")
			}
			verdict := "holds"
			if o.Requests.Mean/r.SPRT.Requests > TargetSPRTRatio || o.Censored() {
				verdict = "missed"
			}
			fmt.Fprintf(&b, " %s |\n", verdict)
		}
		b.WriteString("\n")
	}
	writeTargets(&b, Targets(results))
	_, err := io.WriteString(w, b.String())
	return err
}

// writeTargets writes the targets' table, if there are any.
func writeTargets(b *strings.Builder, ts []Target) {
	if len(ts) == 0 {
		return
	}
	b.WriteString("| target | measured | |\n|---|---|---|\n")
	for _, t := range ts {
		v := "**missed**"
		if t.Holds {
			v = "**holds**"
		}
		fmt.Fprintf(b, "| %s | %s | %s |\n", t.Name, t.Measured, v)
	}
}

// cell formats a judge's summary: mean (p95), bold for ours, with the
// share of runs rolled back when it is not all.
func cell(s Stats, v Summary, bold bool) string {
	c := fmt.Sprintf("%s (%s)", num(v.Mean), num(v.P95))
	if bold {
		c = "**" + num(v.Mean) + "**" + " (" + num(v.P95) + ")"
	}
	if s.Censored() {
		c = "≥ " + c + " [" + pct(s.Rate()) + "]"
	}
	return c
}

// ratio formats a ÷ b, marking a bound when either is a lower bound.
func ratio(a, b float64, aLow, bLow bool) string {
	r := num(a/b) + "×"
	switch {
	case aLow && bLow:
		return "~" + r
	case aLow:
		return "≥ " + r
	case bLow:
		return "≤ " + r
	}
	return r
}

// num formats a figure with about three significant digits and thousands
// separators: 1,234, 58.7, 6.36, 9, 0.587.
func num(x float64) string {
	switch {
	case math.IsNaN(x) || math.IsInf(x, 0):
		return "-"
	case math.Abs(x) >= 100:
		return thousands(strconv.FormatFloat(math.Round(x), 'f', 0, 64))
	case math.Abs(x) >= 10:
		return strings.TrimSuffix(strconv.FormatFloat(x, 'f', 1, 64), ".0")
	}
	return strconv.FormatFloat(x, 'g', 3, 64)
}

// plain formats an exact figure such as a rate: 0.1, 10, 1,000.
func plain(x float64) string {
	return thousands(strconv.FormatFloat(math.Round(x*1e6)/1e6, 'f', -1, 64))
}

// thousands puts commas between the groups of three digits of a decimal
// number's integer part.
func thousands(s string) string {
	end := strings.IndexByte(s, '.')
	if end < 0 {
		end = len(s)
	}
	start := 0
	if strings.HasPrefix(s, "-") {
		start = 1
	}
	for i := end - 3; i > start; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// pct formats a share as a percentage.
func pct(x float64) string {
	p := 100 * x
	switch {
	case math.Abs(p-math.Round(p)) < 1e-9:
		return strconv.FormatFloat(math.Round(p), 'f', 0, 64) + "%"
	case p >= 10:
		return strconv.FormatFloat(p, 'f', 1, 64) + "%"
	}
	return strconv.FormatFloat(p, 'f', 2, 64) + "%"
}

// minutes formats a horizon in seconds: in hours from 2 h.
func minutes(sec int) string {
	if sec >= 7200 && sec%3600 == 0 {
		return fmt.Sprintf("%d h", sec/3600)
	}
	if sec%60 == 0 {
		return fmt.Sprintf("%d min", sec/60)
	}
	return fmt.Sprintf("%d s", sec)
}

// WriteKnownRate writes, for the bad canaries among results for which
// KnownRates has run, the table of the analysis's test with stable's rate
// known against the SPRT bound and against Promote.
func WriteKnownRate(w io.Writer, results []Result) error {
	var b strings.Builder
	fmt.Fprintf(&b, "The analysis's test with stable's rate known (analysis.KnownRate): the same mixture of ratios at the same level as the comparison with stable "+
		"(errors: ErrorAlphaShare × α; latency: the rest of α, α = %g), but tested against the true p0 on the canary's requests alone, each a bad request with probability p1; "+
		"canary requests before rejection, mean (95th percentile), and ÷ the SPRT bound. "+
		"\"every request\": looked at after every canary request; \"Promote's looks\": every k canary requests, k the canary's requests per look of the Promote judge (rate × weight ÷ looks per second); "+
		"\"half level\": every request, at half the level, as a test run beside the comparison with stable would be. Promote: the Promote judge's ratio, for comparison. "+
		"No product runs this test: p0 is what a comparison with stable does not know.\n\n", BoundAlpha)
	b.WriteString("| canary | weight | req/s | SPRT bound | every request | ÷ SPRT | Promote's looks (k) | ÷ SPRT | half level | ÷ SPRT | Promote ÷ SPRT |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	rows := 0
	for _, r := range results {
		if len(r.KnownRate) != 3 || r.SPRT == nil {
			continue
		}
		rows++
		sc := r.Scenario
		fmt.Fprintf(&b, "| %s | %s | %s | %s |", sc.Effect, pct(sc.Weight), plain(sc.Rate), num(r.SPRT.Requests))
		for i, kr := range r.KnownRate {
			c := fmt.Sprintf("%s (%s)", num(kr.Requests.Mean), num(kr.Requests.P95))
			if kr.Censored {
				c = "≥ " + c
			}
			if i == 1 {
				c = fmt.Sprintf("%s (%d)", c, kr.Look)
			}
			fmt.Fprintf(&b, " %s | %s |", c, ratio(kr.Requests.Mean, r.SPRT.Requests, kr.Censored, false))
		}
		o, _ := r.Judge(ours)
		fmt.Fprintf(&b, " %s |\n", ratio(o.Requests.Mean, r.SPRT.Requests, o.Censored(), false))
	}
	if rows == 0 {
		return nil
	}
	_, err := io.WriteString(w, b.String())
	return err
}
