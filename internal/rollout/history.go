package rollout

import (
	"context"
	"encoding/json"
	"log/slog"
	"time"

	"github.com/promote-ml/promote/internal/analysis"
	"github.com/promote-ml/promote/internal/metrics"
	"github.com/promote-ml/promote/internal/policy"
	"github.com/promote-ml/promote/internal/traffic"
	"github.com/promote-ml/promote/promote"
)

// HistoryReader is a metric source (Config.Metrics) that reads stable's
// past (metrics.Poller over a Builtin or Prometheus), for the history
// tests of a policy's rollout.analysis.history; without it they do not
// run, and the verdicts say so.
type HistoryReader interface {
	History(ctx context.Context, q metrics.Query, window time.Duration) (analysis.History, error)
}

// JudgeSetter is a traffic layer (Config.Traffic) whose splitters, in
// this process, tell a judge of every request they answer and take the canary's traffic away
// when it trips (the local agent): the history tests then judge every
// canary request as it is answered, not only at the controller's looks.
// A nil judge detaches it.
type JudgeSetter interface {
	SetJudge(ctx context.Context, model, env string, j traffic.Judge) error
}

// history returns the history the analysis of r judges the canary against
// (nil for none), and, when plan asks for one and the analysis runs
// without it, why: the history tests are an extra test, not a gate, so
// that a history that cannot be read leaves the comparisons and guards to
// judge alone.
//
// A run that resumes the stored analysis takes its history from the
// stored state (Analyzer.Restore replaces the baseline New builds), so
// that any history stands in for it here; an analysis stored without one
// (it could not be read when the rollout began) goes on without, saying
// why as its stored verdict did. Otherwise stable's history is read over
// the window before the rollout's start.
func (c *Controller) history(ctx context.Context, r promote.Rollout, plan *policy.Rollout) (h *analysis.History, why string) {
	if plan.Analysis.History == nil {
		return nil, ""
	}
	if r.AnalysisState != nil {
		if storedHistory(r.AnalysisState) {
			return &analysis.History{}, ""
		}
		if why := skippedHistory(r.Verdict); why != "" {
			return nil, why
		}
	}
	return c.readHistory(ctx, r, plan)
}

// readHistory reads stable's history over plan's window before r's start.
func (c *Controller) readHistory(ctx context.Context, r promote.Rollout, plan *policy.Rollout) (*analysis.History, string) {
	hr, ok := c.cfg.Metrics.(HistoryReader)
	if !ok {
		return nil, "the metric source reads no history of stable"
	}
	start := r.StartedAt
	if start.IsZero() {
		start = c.cfg.Now()
	}
	h, err := hr.History(ctx, metrics.Query{Model: r.Model, Env: r.Environment, Track: trackStable, Since: start}, plan.Analysis.History.Window)
	if err != nil {
		return nil, "stable's history could not be read, so the canary is judged without it: " + err.Error()
	}
	return &h, ""
}

// storedHistory reports whether a stored analysis state holds the history
// tests' state.
func storedHistory(state json.RawMessage) bool {
	var s struct {
		History json.RawMessage `json:"history"`
	}
	return json.Unmarshal(state, &s) == nil && len(s.History) > 0 && string(s.History) != "null"
}

// skippedHistory returns why a stored verdict says its analysis ran
// without the history tests, "" when it does not.
func skippedHistory(verdict json.RawMessage) string {
	var v analysis.Verdict
	if len(verdict) == 0 || json.Unmarshal(verdict, &v) != nil {
		return ""
	}
	for _, t := range v.Tests {
		if t.Name == analysis.TestHistoryErrorRate && t.Status == analysis.StatusSkipped && t.CanaryRequests == 0 && t.Detail != "" {
			return t.Detail
		}
	}
	return ""
}

// withoutHistory adds to v the two history tests, skipped for why: the
// verdicts of an analysis whose policy asks for them but that runs
// without them say so, in promote rollout show and watch and the web UI.
func withoutHistory(v *analysis.Verdict, why string) {
	for _, name := range []string{analysis.TestHistoryErrorRate, analysis.TestHistoryLatency} {
		v.Tests = append(v.Tests, analysis.TestResult{Name: name, Sequential: true, Status: analysis.StatusSkipped,
			Statistic: 1, PValue: 1, Detail: why})
	}
}

// tripped reports whether ru's history tests have failed: the splitter's
// judge (or an observation) found the canary worse than stable's past.
func (ru *run) tripped() bool {
	if ru == nil || ru.an == nil {
		return false
	}
	b := ru.an.Baseline()
	return b != nil && b.Failed()
}

// attach hands ru's history tests to the splitter of r's model and
// environment, to judge every request as it is answered, once the run has
// observed (Baseline.Inline counts on from the observation's counts). It
// does so only when the counts come from the splitters in this process
// too: Prometheus counts every replica's requests, which this splitter
// does not see. A refusal is logged, and the observations go on counting
// (Inline is called only once the splitter took the judge); it is tried
// again at the next look.
func (c *Controller) attach(ctx context.Context, r promote.Rollout, ru *run) {
	b := ru.an.Baseline()
	js, ok := c.cfg.Traffic.(JudgeSetter)
	if ru.judging || b == nil || !ok || c.looksBack() || r.Strategy == policy.StrategyShadow {
		return
	}
	if err := js.SetJudge(ctx, r.Model, r.Environment, lookingJudge{Baseline: b, look: c.Look}); err != nil {
		c.log.Warn("rollout: the splitter does not take the history tests' judge; they judge at each look", append(c.attrs(r), slog.Any("error", err))...)
		return
	}
	b.Inline()
	ru.judging = true
}

// detach takes ru's history tests' judge off its splitter, when it has
// one: the run is over (an end, a pause, a change by another writer).
func (c *Controller) detach(ctx context.Context, ru *run) {
	if ru == nil || !ru.judging || len(ru.queries) == 0 {
		return
	}
	q := ru.queries[0]
	if err := c.cfg.Traffic.(JudgeSetter).SetJudge(ctx, q.Model, q.Env, nil); err != nil {
		c.log.Warn("rollout: the history tests' judge could not be detached from the splitter", slog.String(attrModel, q.Model),
			slog.String(attrEnv, q.Env), slog.Any("error", err))
		return
	}
	ru.judging = false
}

// lookingJudge is a Baseline that asks the controller for a look when it
// trips: the splitter has taken the canary's traffic away, and the look
// carries out the rollback without waiting for the interval (no canary
// request, which would ask for one, comes any more).
type lookingJudge struct {
	*analysis.Baseline
	look func()
}

// Canary counts a canary request and asks for a look when the canary
// fails.
func (j lookingJudge) Canary(failed bool, seconds float64) bool {
	trip := j.Baseline.Canary(failed, seconds)
	if trip {
		j.look()
	}
	return trip
}

var _ traffic.Judge = lookingJudge{}
