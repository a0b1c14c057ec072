// Command canarysim runs the canary analysis simulation benchmark
// (package canary) and prints its tables in Markdown, with the targets
// marked holds or missed; bench/canary/run.sh runs it.
//
//	canarysim                          # the full grid, as BENCHMARKS.md reports it
//	canarysim -healthy-runs 200 -bad-runs 50 -only 'errors'
//	canarysim -json results.json
//
// Progress goes to standard error, one line per scenario. The figures are
// deterministic: every run has its own seed, so they depend neither on
// -workers nor on the machine; only the time taken does.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"regexp"
	"runtime"
	"time"

	"github.com/promote-ml/promote/bench/canary"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "canarysim:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("canarysim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg := canary.DefaultGrid
	fs.IntVar(&cfg.HealthyRuns, "healthy-runs", cfg.HealthyRuns, "seeded runs per healthy scenario")
	fs.IntVar(&cfg.BadRuns, "bad-runs", cfg.BadRuns, "seeded runs per bad scenario")
	horizon := fs.Duration("horizon", time.Duration(cfg.Horizon)*time.Second, "simulated time per run (whole seconds)")
	workers := fs.Int("workers", runtime.GOMAXPROCS(0), "goroutines simulating runs")
	only := fs.String("only", "", "run only the scenarios whose name matches this regular expression")
	jsonOut := fs.String("json", "", "also write the results as JSON to this file")
	hcfg := canary.DefaultHistoryGrid
	window := fs.Duration("history-window", time.Duration(hcfg.Window)*time.Second, "stable's history before the canary, for the "+canary.HistoryJudge+" judge (whole seconds)")
	recent := fs.Duration("history-recent", time.Duration(hcfg.Recent)*time.Second, "the end of stable's history also given as its recent counts (History.Recent), for the "+canary.HistoryJudge+" judge (whole seconds; 0 for none)")
	badHorizon := fs.Duration("history-horizon", time.Duration(hcfg.BadHorizon)*time.Second, "simulated time per bad run of the "+canary.HistoryJudge+" judge (whole seconds)")
	fs.IntVar(&hcfg.DriftRuns, "drift-runs", hcfg.DriftRuns, "seeded runs per shared-drift scenario")
	historyOnly := fs.Bool("history-only", false, "run only the "+canary.HistoryJudge+" judge's scenarios")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	var errs []error
	if cfg.HealthyRuns < 1 || cfg.BadRuns < 1 {
		errs = append(errs, fmt.Errorf("-healthy-runs %d, -bad-runs %d: want at least 1", cfg.HealthyRuns, cfg.BadRuns))
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"-horizon", *horizon}, {"-history-window", *window}, {"-history-horizon", *badHorizon}} {
		if d.v < time.Second || d.v%time.Second != 0 {
			errs = append(errs, fmt.Errorf("%s %s: want whole seconds, at least 1s", d.name, d.v))
		}
	}
	if *recent < 0 || *recent%time.Second != 0 || *recent > *window {
		errs = append(errs, fmt.Errorf("-history-recent %s: want whole seconds, from 0 to -history-window %s", *recent, *window))
	}
	if hcfg.DriftRuns < 1 {
		errs = append(errs, fmt.Errorf("-drift-runs %d: want at least 1", hcfg.DriftRuns))
	}
	var filter *regexp.Regexp
	if *only != "" {
		var err error
		if filter, err = regexp.Compile(*only); err != nil {
			errs = append(errs, fmt.Errorf("-only: %w", err))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%v", errs)
	}
	cfg.Horizon = int(*horizon / time.Second)
	hcfg.GridConfig = cfg
	hcfg.Window, hcfg.Recent, hcfg.BadHorizon = float64(*window/time.Second), float64(*recent/time.Second), int(*badHorizon/time.Second)
	match := func(name string) bool { return filter == nil || filter.MatchString(name) }

	var scenarios []canary.Scenario
	if !*historyOnly {
		for _, s := range canary.Grid(cfg) {
			if match(s.Name) {
				scenarios = append(scenarios, s)
			}
		}
	}
	var hscenarios []canary.HistoryScenario
	for _, s := range canary.HistoryGrid(hcfg) {
		if match(s.Name) {
			hscenarios = append(hscenarios, s)
		}
	}
	if len(scenarios) == 0 && len(hscenarios) == 0 {
		return fmt.Errorf("-only %q matches no scenario", *only)
	}
	judges := canary.Judges()
	start := time.Now()
	var results []canary.Result
	if len(scenarios) > 0 {
		var err error
		if results, err = runJudges(ctx, stdout, stderr, cfg, scenarios, judges, *horizon, *workers); err != nil {
			return err
		}
	}
	hresults, err := runHistory(ctx, stdout, stderr, hscenarios, *workers)
	if err != nil {
		return err
	}
	runs := 0
	for _, s := range scenarios {
		runs += s.Runs
	}
	for _, s := range hscenarios {
		runs += s.Runs
	}
	fmt.Fprintf(stdout, "\n%d scenarios, %d runs, %.0f s on %d workers\n", len(scenarios)+len(hscenarios), runs, time.Since(start).Seconds(), *workers)

	if *jsonOut != "" {
		out := struct {
			Grid        canary.GridConfig        `json:"grid"`
			Judges      []string                 `json:"judges"`
			Results     []canary.Result          `json:"results"`
			Targets     []canary.Target          `json:"targets"`
			HistoryGrid canary.HistoryGridConfig `json:"history_grid"`
			History     []canary.HistoryResult   `json:"history"`
		}{cfg, nil, results, canary.Targets(results), hcfg, hresults}
		for _, j := range judges {
			out.Judges = append(out.Judges, j.Name+": "+j.About)
		}
		b, err := json.MarshalIndent(out, "", "  ")
		if err != nil {
			return fmt.Errorf("encode results: %w", err)
		}
		if err := os.WriteFile(*jsonOut, append(b, '\n'), 0o644); err != nil {
			return fmt.Errorf("write results: %w", err)
		}
	}
	return nil
}

// runJudges runs the scenarios with every judge and prints their tables
// and the known-rate reference.
func runJudges(ctx context.Context, stdout, stderr io.Writer, cfg canary.GridConfig, scenarios []canary.Scenario, judges []canary.JudgeSpec,
	horizon time.Duration, workers int) ([]canary.Result, error) {
	runs := 0
	for _, s := range scenarios {
		runs += s.Runs
	}
	fmt.Fprintf(stderr, "%d scenarios, %d runs of up to %s simulated each, %d workers\n", len(scenarios), runs, horizon, workers)
	start := time.Now()
	results, err := canary.Run(ctx, scenarios, judges, workers, func(done int, r canary.Result) {
		fmt.Fprintf(stderr, "[%d/%d %5.1fs] %s\n", done, len(scenarios), time.Since(start).Seconds(), r.Scenario.Name)
	})
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(stderr, "[%5.1fs] the known-rate reference for the bad canaries\n", time.Since(start).Seconds())
	if err := canary.KnownRates(ctx, results, workers); err != nil {
		return nil, err
	}
	elapsed := time.Since(start)

	fmt.Fprintf(stdout, "Simulation: Poisson requests split at random by the canary's weight (fixed for the run); per request an error with the track's probability "+
		"(stable %g) and a lognormal latency (stable median %g ms, σ %g in log scale; a latency effect multiplies the canary's), "+
		"counted into the splitter's buckets. Seeded PCG per run; %d runs per healthy and %d per bad scenario; every judge sees the same traffic.\n\n",
		canary.StableErrorRate, 1000*canary.StableMedian, canary.LatencySigma, cfg.HealthyRuns, cfg.BadRuns)
	fmt.Fprintln(stdout, "Judges:")
	for _, j := range judges {
		fmt.Fprintf(stdout, "- %s: %s\n", j.Name, j.About)
	}
	fmt.Fprintln(stdout)
	if err := canary.WriteMarkdown(stdout, results, judges); err != nil {
		return nil, err
	}
	fmt.Fprintln(stdout)
	if err := canary.WriteKnownRate(stdout, results); err != nil {
		return nil, err
	}
	fmt.Fprintf(stdout, "\n%d scenarios, %d runs, %.0f s on %d workers\n", len(scenarios), runs, elapsed.Seconds(), workers)
	return results, nil
}

// runHistory runs the Promote+history judge's scenarios per request and
// prints its tables, with the time they took.
func runHistory(ctx context.Context, stdout, stderr io.Writer, scenarios []canary.HistoryScenario, workers int) ([]canary.HistoryResult, error) {
	if len(scenarios) == 0 {
		return nil, nil
	}
	runs := 0
	for _, s := range scenarios {
		runs += s.Runs
	}
	fmt.Fprintf(stderr, "%s: %d scenarios, %d runs simulated per request, %d workers\n", canary.HistoryJudge, len(scenarios), runs, workers)
	start := time.Now()
	results, err := canary.RunHistory(ctx, scenarios, workers, func(done int, r canary.HistoryResult) {
		fmt.Fprintf(stderr, "[%d/%d %5.1fs] %s\n", done, len(scenarios), time.Since(start).Seconds(), r.Scenario.Name)
	})
	if err != nil {
		return nil, err
	}
	fmt.Fprintln(stdout)
	if err := canary.WriteHistory(stdout, results); err != nil {
		return nil, err
	}
	fmt.Fprintf(stdout, "\n%s: %d scenarios, %d runs, %.0f s on %d workers\n", canary.HistoryJudge, len(scenarios), runs, time.Since(start).Seconds(), workers)
	return results, nil
}
