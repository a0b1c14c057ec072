package analysis

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"
)

// StateVersion is the version of the snapshots State writes; Restore
// refuses any other. Version 2 (capped bets near the level, the weighted
// split of α, the grids 2 to 60 and 1.2 to 5) computes other statistics
// from the same counts than version 1 did.
const StateVersion = 2

// The errors Restore wraps.
var (
	// ErrIncompatibleState means a snapshot of another version, or of an
	// analyzer with another configuration (a policy edited since).
	ErrIncompatibleState = errors.New("incompatible analysis state")
	// ErrInvalidState means a snapshot that is not one State writes:
	// malformed JSON, a value that is not a finite number, counts or
	// statistics that contradict each other.
	ErrInvalidState = errors.New("invalid analysis state")
)

// A persisted analysis.
//
// A rollout outlives the process that judges it: a server restarts, or
// another replica becomes the leader and resumes the rollout at its stored
// step. An analysis started afresh there would lose the evidence gathered
// so far, and give a healthy canary another chance of α to be rolled back
// at every restart. State and Restore carry the analysis over instead.
//
// What is carried over are the products of the likelihood ratios of the
// increments judged up to the snapshot (per alternative, with their running
// maximum, which the always-valid p-value needs) and the counts since the
// rollout's start that the guards judge. The restored analyzer multiplies
// them by the ratios of the increments it observes itself, which start at
// its first observation: a restarted process, or another replica, reads
// counts that start elsewhere, so the last observation is not carried
// over, and the first observation after Restore is taken as increments
// from zero, as a new analyzer takes its first. The rollout controller
// reads each track's counts since the moment it took the rollout up
// (run.since), which are zero then: its first reading after a resumption
// is exactly what was served since, none of which the snapshot saw.
// (Taking the first reading as an origin only would throw that interval
// away: still valid, but slower.)
//
// Why the guarantee holds over the whole rollout, restarts included: each
// test's statistic is, per alternative, a product of per-increment
// likelihood ratios, each of conditional expectation at most 1 under the
// null given the past. The increments a restored test multiplies are those
// up to the snapshot and those after the resumption; which increments are
// left out (those served between the snapshot and the resumption) is fixed
// by when the process stopped, not by their outcomes. A product over such
// a predictable subset of the increments is still a nonnegative
// supermartingale with mean at most 1 (each left-out factor is replaced by
// 1), and so is the mixture over the alternatives; Ville's inequality
// (Ville 1939) then bounds by α the probability that it ever reaches 1/α.
// That product leaves out the increments between the last snapshot and the
// stop, which were judged before the stop: a crossing there rolled back.
// Strictly, each restart so adds the chance of a crossing within its
// dropped stretch (a few seconds' evidence, started from the snapshot's
// value; at most α in the worst case, so that k restarts bound the rate by
// (k+1)·α), where a fresh start adds a whole new chance of α from 1;
// TestRestartFalseRollbackRate measures no inflation. The increments left out are simply not used, which costs
// a little power and nothing else. The guards' statistic depends only on
// the cumulative counts (x, n), and the same argument applies to their
// per-request factors: the restored guard judges the counts up to the
// snapshot plus those since the resumption.
//
// One caveat is kept in docs/analysis-statistics.md: the verdicts of the
// observations after the last snapshot were seen (a failure there would
// have rolled back), then forgotten; snapshots with every sample keep that
// stretch to seconds, and the simulations measure its effect.

// snapshot is the JSON form of an Analyzer's state, version StateVersion.
type snapshot struct {
	Version int `json:"version"`
	// Fingerprint identifies the configuration and the fixed grids of
	// alternatives; Config is the configuration in words, to name what
	// changed.
	Fingerprint string         `json:"fingerprint"`
	Config      snapshotConfig `json:"config"`
	// The comparisons with stable; Latency is absent until the latency
	// test fixed its threshold LatencyBound (seconds).
	ErrorRate    ratioState  `json:"error_rate"`
	Latency      *ratioState `json:"latency,omitempty"`
	LatencyBound float64     `json:"latency_bound,omitempty"`
	LatencyError string      `json:"latency_error,omitempty"`
	// The guards, absent when off, and the p95 guard's bucket bound.
	ErrorGuard *limitState `json:"slo_error_rate,omitempty"`
	P95Guard   *limitState `json:"slo_latency_p95,omitempty"`
	P95Bound   float64     `json:"p95_bound,omitempty"`
	P95Error   string      `json:"p95_error,omitempty"`
	// Counts are the counts since the rollout's start the guards judge.
	Counts carried `json:"counts"`
	// History is the history tests' state, absent without them.
	History *baselineState `json:"history,omitempty"`
	// Failed names the tests that have failed, which Restore checks
	// against the statistics.
	Failed []string `json:"failed,omitempty"`
}

// snapshotConfig is a Config with its defaults applied, and the grids of
// alternatives the tests mix over, which the code fixes.
type snapshotConfig struct {
	Alpha            float64   `json:"alpha"`
	ErrorAlphaShare  float64   `json:"error_alpha_share"`
	GuardAlpha       float64   `json:"guard_alpha"`
	MaxErrorRate     float64   `json:"max_error_rate"`
	MaxLatencyP95    string    `json:"max_latency_p95"`
	MinRequests      float64   `json:"min_requests"`
	LatencyThreshold string    `json:"latency_threshold"`
	LatencyQuantile  float64   `json:"latency_quantile"`
	ErrorRatios      []float64 `json:"error_ratios"`
	LatencyRatios    []float64 `json:"latency_ratios"`
	GuardRatios      []float64 `json:"guard_ratios"`
	P95Tail          float64   `json:"p95_tail"`
	// The history tests, absent without a history, so that snapshots of
	// analyzers without them keep their fingerprint.
	History      bool    `json:"history,omitempty"`
	HistoryShare float64 `json:"history_share,omitempty"`
}

// ratioState is a ratioTest's accumulated evidence.
type ratioState struct {
	LogLR          []float64 `json:"log_lr"`
	LogE           float64   `json:"log_e"`
	LogMaxE        float64   `json:"log_max_e"`
	CanaryEvents   float64   `json:"canary_events"`
	StableEvents   float64   `json:"stable_events"`
	CanaryRequests float64   `json:"canary_requests"`
	StableRequests float64   `json:"stable_requests"`
}

// limitState is a limitTest's state at its last evaluation.
type limitState struct {
	LogE     float64 `json:"log_e"`
	LogMaxE  float64 `json:"log_max_e"`
	Events   float64 `json:"events"`
	Requests float64 `json:"requests"`
}

func (a *Analyzer) snapshotConfig() snapshotConfig {
	return snapshotConfig{
		Alpha: a.cfg.Alpha, ErrorAlphaShare: a.cfg.ErrorAlphaShare, GuardAlpha: a.cfg.GuardAlpha, MaxErrorRate: a.cfg.MaxErrorRate,
		MaxLatencyP95: a.cfg.MaxLatencyP95.String(), MinRequests: a.cfg.MinRequests,
		LatencyThreshold: a.cfg.LatencyThreshold.String(), LatencyQuantile: a.cfg.LatencyQuantile,
		ErrorRatios: errorRatios, LatencyRatios: latencyRatios, GuardRatios: guardRatios, P95Tail: p95Tail,
		History: a.cfg.History != nil, HistoryShare: a.cfg.historyShare(),
	}
}

// fingerprint is the SHA-256 of the configuration's JSON with the state's
// version: equal fingerprints mean tests that compute the same statistics
// from the same counts.
func (c snapshotConfig) fingerprint() string {
	raw, err := json.Marshal(struct {
		Version int            `json:"version"`
		Config  snapshotConfig `json:"config"`
	}{StateVersion, c})
	if err != nil {
		panic(err) // the grids and the defaulted config are finite
	}
	sum := sha256.Sum256(raw)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// Fingerprint identifies the analyzer's configuration, with its defaults
// applied, and the alternatives its tests mix over: a snapshot restores
// only into an analyzer with the same fingerprint.
func (a *Analyzer) Fingerprint() string { return a.snapshotConfig().fingerprint() }

func (t *ratioTest) state() ratioState {
	return ratioState{LogLR: slices.Clone(t.logLR), LogE: t.logE, LogMaxE: t.logMaxE,
		CanaryEvents: t.canary, StableEvents: t.stable, CanaryRequests: t.canaryReq, StableRequests: t.stableReq}
}

func (t *limitTest) state() *limitState {
	return &limitState{LogE: t.logE, LogMaxE: t.logMaxE, Events: t.events, Requests: t.requests}
}

// State returns a versioned JSON snapshot of everything the tests have
// accumulated, with the fingerprint of the configuration, for Restore.
// It fails only when a statistic is not finite, which the tests never
// produce.
func (a *Analyzer) State() ([]byte, error) {
	cfg := a.snapshotConfig()
	s := snapshot{
		Version: StateVersion, Fingerprint: cfg.fingerprint(), Config: cfg,
		ErrorRate: a.errors.state(), LatencyError: a.latencyErr,
		P95Bound: a.p95Bound, P95Error: a.p95Err, Counts: a.totals(),
	}
	if a.latency != nil {
		l := a.latency.state()
		s.Latency, s.LatencyBound = &l, a.latencyBound
	}
	if a.errGuard != nil {
		s.ErrorGuard = a.errGuard.state()
	}
	if a.p95Guard != nil {
		s.P95Guard = a.p95Guard.state()
	}
	if a.baseline != nil {
		s.History = a.baseline.state()
	}
	for _, t := range a.results() {
		if t.Status == StatusFail {
			s.Failed = append(s.Failed, t.Name)
		}
	}
	raw, err := json.Marshal(s)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidState, err)
	}
	return raw, nil
}

// Restore loads a snapshot from State into a new analyzer, one that has
// observed nothing. It refuses, with an error wrapping
// ErrIncompatibleState, a snapshot of another version or of another
// configuration (naming the fields that differ), and, with one wrapping
// ErrInvalidState, a malformed snapshot: bad JSON, unknown fields, values
// that are not finite, negative counts, statistics that do not match the
// counts or the failed tests. A refused snapshot leaves the analyzer as it
// was.
//
// The next Observe takes its counts as increments from zero: see the
// comment "A persisted analysis" above for why, and why the guarantee
// holds across restarts.
func (a *Analyzer) Restore(state []byte) error {
	if a.seen || a.base != (carried{}) {
		return fmt.Errorf("%w: restore into an analyzer that has observed or restored already", ErrInvalidState)
	}
	var probe struct {
		Version     *int   `json:"version"`
		Fingerprint string `json:"fingerprint"`
	}
	if err := json.Unmarshal(state, &probe); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidState, err)
	}
	switch {
	case probe.Version == nil:
		return fmt.Errorf("%w: no version", ErrInvalidState)
	case *probe.Version != StateVersion:
		return fmt.Errorf("%w: version %d, this analyzer reads version %d", ErrIncompatibleState, *probe.Version, StateVersion)
	}
	dec := json.NewDecoder(bytes.NewReader(state))
	dec.DisallowUnknownFields()
	var s snapshot
	if err := dec.Decode(&s); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidState, err)
	}
	want := a.snapshotConfig()
	if s.Fingerprint != want.fingerprint() {
		return fmt.Errorf("%w: configuration fingerprint %s, this analyzer's is %s (%s)",
			ErrIncompatibleState, s.Fingerprint, want.fingerprint(), configDiff(s.Config, want))
	}
	if s.Config.fingerprint() != s.Fingerprint {
		return fmt.Errorf("%w: the configuration does not match the fingerprint", ErrInvalidState)
	}
	b := *a
	if err := b.load(s); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidState, err)
	}
	*a = b
	return nil
}

// configDiff names the fields in which two configurations differ, by
// their JSON names: every field, so that one added later is not missed.
func configDiff(got, want snapshotConfig) string {
	var d []string
	g, w := reflect.ValueOf(got), reflect.ValueOf(want)
	for i := range g.NumField() {
		gv, wv := fmt.Sprint(g.Field(i).Interface()), fmt.Sprint(w.Field(i).Interface())
		if gv != wv {
			name, _, _ := strings.Cut(g.Type().Field(i).Tag.Get("json"), ",")
			d = append(d, fmt.Sprintf("%s %v, want %v", name, gv, wv))
		}
	}
	if len(d) == 0 {
		return "the snapshot's configuration does not match its fingerprint"
	}
	return strings.Join(d, "; ")
}

// load checks s and puts it into a, whose configuration matches s's.
func (a *Analyzer) load(s snapshot) error {
	var err error
	a.errors, err = loadRatio("error_rate", s.ErrorRate, errorRatios, a.cfg.errorLevel())
	if err != nil {
		return err
	}
	switch {
	case s.Latency != nil:
		if !finite(s.LatencyBound) || s.LatencyBound <= 0 {
			return fmt.Errorf("latency_bound: %v is not a latency threshold", s.LatencyBound)
		}
		if a.latency, err = loadRatio("latency", *s.Latency, latencyRatios, a.cfg.latencyLevel()); err != nil {
			return err
		}
		a.latencyBound = s.LatencyBound
	case s.LatencyBound != 0:
		return fmt.Errorf("latency_bound: %v without the latency test's state", s.LatencyBound)
	}
	a.latencyErr = s.LatencyError
	if (s.ErrorGuard != nil) != (a.errGuard != nil) || (s.P95Guard != nil) != (a.p95Guard != nil) {
		return errors.New("the guards present do not match the configuration")
	}
	// The guards are copied, so that a refused snapshot changes nothing.
	if s.ErrorGuard != nil {
		g := *a.errGuard
		a.errGuard = &g
		if err := loadLimit("slo_error_rate", a.errGuard, *s.ErrorGuard); err != nil {
			return err
		}
	}
	if s.P95Guard != nil {
		g := *a.p95Guard
		a.p95Guard = &g
		if err := loadLimit("slo_latency_p95", a.p95Guard, *s.P95Guard); err != nil {
			return err
		}
	}
	if !finite(s.P95Bound) || s.P95Bound < 0 {
		return fmt.Errorf("p95_bound: %v is not a bucket bound", s.P95Bound)
	}
	a.p95Bound, a.p95Err = s.P95Bound, s.P95Error
	c := s.Counts
	for _, f := range []struct {
		name          string
		events, count float64
	}{{"canary errors", c.CanaryErrors, c.CanaryRequests}, {"canary slow", c.CanarySlow, c.CanaryLatency},
		{"stable errors", c.StableErrors, c.StableRequests}, {"stable slow", c.StableSlow, c.StableLatency}} {
		if err := countPair("counts: "+f.name, f.events, f.count); err != nil {
			return err
		}
	}
	a.base = c
	if (s.History != nil) != (a.baseline != nil) {
		return errors.New("the history tests present do not match the configuration")
	}
	if s.History != nil {
		et, err := loadHistory(TestHistoryErrorRate, s.History.ErrorRate, a.cfg.historyErrorLevel(), errorRatios, false)
		if err != nil {
			return err
		}
		lt, err := loadHistory(TestHistoryLatency, s.History.Latency, a.cfg.historyLatencyLevel(), latencyRatios, true)
		if err != nil {
			return err
		}
		a.baseline = &Baseline{errors: et, latency: lt}
	}
	var failed []string
	for _, t := range a.results() {
		if t.Status == StatusFail {
			failed = append(failed, t.Name)
		}
	}
	if !slices.Equal(failed, s.Failed) {
		return fmt.Errorf("failed: the snapshot names %v, its statistics %v", s.Failed, failed)
	}
	return nil
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// countPair checks events among requests: finite, not negative, and no
// more events than requests.
func countPair(name string, events, requests float64) error {
	switch {
	case !finite(events) || !finite(requests):
		return fmt.Errorf("%s: %v among %v is not finite", name, events, requests)
	case events < 0 || requests < 0:
		return fmt.Errorf("%s: %v among %v is negative", name, events, requests)
	case exceeds(events, requests):
		return fmt.Errorf("%s: %v events among only %v requests", name, events, requests)
	}
	return nil
}

// statTolerance is how far a stored ln M may be from the one its products
// give: float rounding only (a platform that fuses multiply-adds).
const statTolerance = 1e-9

func near(a, b float64) bool { return math.Abs(a-b) <= statTolerance*max(1, math.Abs(a), math.Abs(b)) }

// loadRatio returns a ratio test with the state s, checked.
func loadRatio(name string, s ratioState, rho []float64, level float64) (*ratioTest, error) {
	t := newRatioTest(rho, level)
	if len(s.LogLR) != len(rho) {
		return nil, fmt.Errorf("%s: %d log likelihood ratios for %d alternatives", name, len(s.LogLR), len(rho))
	}
	for k, v := range s.LogLR {
		if !finite(v) {
			return nil, fmt.Errorf("%s: log_lr[%d] %v is not finite", name, k, v)
		}
	}
	if err := countPair(name+": canary", s.CanaryEvents, s.CanaryRequests); err != nil {
		return nil, err
	}
	if err := countPair(name+": stable", s.StableEvents, s.StableRequests); err != nil {
		return nil, err
	}
	copy(t.logLR, s.LogLR)
	switch {
	case !finite(s.LogE) || !finite(s.LogMaxE):
		return nil, fmt.Errorf("%s: log e-value %v or its maximum %v is not finite", name, s.LogE, s.LogMaxE)
	case s.LogMaxE < 0 || s.LogMaxE < s.LogE && !near(s.LogMaxE, s.LogE):
		return nil, fmt.Errorf("%s: the maximum log e-value %v is below 0 or the current one %v", name, s.LogMaxE, s.LogE)
	case !near(t.logMixture(), s.LogE):
		return nil, fmt.Errorf("%s: log e-value %v, its likelihood ratios give %v", name, s.LogE, t.logMixture())
	}
	t.logE, t.logMaxE = s.LogE, s.LogMaxE
	t.canary, t.stable, t.canaryReq, t.stableReq = s.CanaryEvents, s.StableEvents, s.CanaryRequests, s.StableRequests
	return t, nil
}

// loadLimit puts the state s into the guard t, checked.
func loadLimit(name string, t *limitTest, s limitState) error {
	if err := countPair(name, s.Events, s.Requests); err != nil {
		return err
	}
	switch {
	case !finite(s.LogE) || !finite(s.LogMaxE):
		return fmt.Errorf("%s: log e-value %v or its maximum %v is not finite", name, s.LogE, s.LogMaxE)
	case s.LogMaxE < 0 || s.LogMaxE < s.LogE && !near(s.LogMaxE, s.LogE):
		return fmt.Errorf("%s: the maximum log e-value %v is below 0 or the current one %v", name, s.LogMaxE, s.LogE)
	}
	if s.Requests > 0 {
		c := *t
		c.observe(s.Events, s.Requests)
		if !near(c.logE, s.LogE) {
			return fmt.Errorf("%s: log e-value %v, its counts give %v", name, s.LogE, c.logE)
		}
	}
	t.logE, t.logMaxE, t.events, t.requests = s.LogE, s.LogMaxE, s.Events, s.Requests
	return nil
}
