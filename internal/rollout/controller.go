// Package rollout carries out progressive delivery: once a promotion to a
// canary or shadow environment is committed to Git, the Controller moves
// the environment's traffic to the candidate step by step (for example 10%
// → 50% → 100%, each step held for a minimum time and number of requests),
// while the canary analysis (package analysis) compares the candidate with
// the stable version on every tick. When the analysis finds the candidate
// worse, or an SLO guard breaks, the candidate's weight goes to 0 at once
// and the registry rolls the environment back: the live alias returns to
// the stable version, the candidate is put on hold there, and the GitOps
// reconciler commits the rollback. When the last step completes, the
// rollout and its promotion succeed.
//
// The rollout's state (step, weight, times, last verdict) is stored at
// every step, so a restarted controller resumes each rollout at its step.
// The state of its analysis is stored with every sample and step too
// (promote.Rollout.AnalysisState), so that the resumed analysis goes on
// with the evidence gathered so far and the false-rollback rate α holds
// for the whole rollout, restarts and failovers included (package
// analysis, Analyzer.Restore); only a policy edited between the two starts
// the analysis afresh. When the controller cannot
// judge (the metric source failed past its error budget, or had no data
// past its limit, and the policy does not say to roll back then), it
// returns all traffic to stable and pauses the rollout for a person.
//
// Every save names the revision of the rollout it was made from
// (promote.Rollout.Revision) and is refused when another writer saved the
// rollout since: a person's operation through another replica then wins
// over the tick that read the rollout before it, and the controller judges
// the rollout again from the stored state at its next tick.
//
// While it judges, the controller stores samples of each rollout for its
// chart (promote.RolloutSample): what each track served since the previous
// sample, at most one every SampleEvery, and one at every step, pause,
// resumption and end.
package rollout

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/promote-ml/promote/internal/analysis"
	"github.com/promote-ml/promote/internal/metrics"
	"github.com/promote-ml/promote/internal/pipeline"
	"github.com/promote-ml/promote/internal/policy"
	"github.com/promote-ml/promote/internal/registry"
	"github.com/promote-ml/promote/internal/wait"
	"github.com/promote-ml/promote/promote"
)

// Registry is what the controller needs of the registry
// (registry.Service).
type Registry interface {
	PendingRollouts(ctx context.Context) ([]promote.Promotion, error)
	ActiveRollouts(ctx context.Context) ([]promote.Rollout, error)
	Rollout(ctx context.Context, promotionID string) (promote.Rollout, error)
	StartRollout(ctx context.Context, promotionID string) (promote.Rollout, error)
	RecordRollout(ctx context.Context, who promote.Principal, r promote.Rollout, what string) (promote.Rollout, error)
	FinishRollout(ctx context.Context, who promote.Principal, r promote.Rollout, reason string) (promote.Rollout, error)
	RecordRolloutProgress(ctx context.Context, s promote.RolloutSample, revision int64, p promote.RolloutProgress) error
	Rollback(ctx context.Context, who promote.Principal, req registry.RollbackRequest) (registry.RollbackView, error)
	// Pipeline is the pipeline the registry serves: a rollout in an
	// environment it no longer has is one no plan carries on.
	Pipeline() *pipeline.Pipeline
}

// Traffic divides an environment's traffic between the stable version and
// the candidate: the local agent's splitters, or Argo Rollouts or Gateway
// API weights in a cluster.
type Traffic interface {
	// SetWeight gives the candidate of model in env the share weight of
	// the traffic, from 0 to 1.
	SetWeight(ctx context.Context, model, env string, weight float64) error
	// SetShadow mirrors the share of requests to the candidate, which
	// answers none of them (0 stops the mirror).
	SetShadow(ctx context.Context, model, env string, share float64) error
	// Ready reports whether the traffic layer has version of model as
	// env's candidate (the commit is deployed), so its rollout can begin.
	Ready(ctx context.Context, model, env, version string) bool
	// SetPinned says whether requests carrying the policy's candidate
	// header (rollout.traffic.candidateHeader) reach the candidate of
	// model in env: false once its rollout failed, was aborted or was
	// paused with all traffic on stable, true while it may have traffic.
	SetPinned(ctx context.Context, model, env string, on bool) error
}

// Metrics reads a track's counts since a moment (metrics.Poller).
type Metrics interface {
	Read(ctx context.Context, q metrics.Query) metrics.Reading
}

// The tracks the analysis compares.
const (
	trackStable = "stable"
	trackCanary = "canary"
	trackShadow = "shadow"
)

// DefaultInterval is how often the controller judges each rollout when
// the policy's analysis names no interval. The analysis is valid however
// often it looks, so looking often only shortens the time to a decision:
// at 10 s a 20% error-rate canary served four times the bad requests it
// did at 1 s in the simulation of BENCHMARKS.md.
const DefaultInterval = time.Second

// DefaultLookEvery is how soon after the last judgement a Look may bring
// the next: with the splitter's counters as the metric source, the
// controller judges a canary as its requests arrive, up to ten times a
// second, rather than only every Interval. At 1,000 requests/s a 20%
// error-rate canary at 50% weight served about a seventh of the bad
// requests it did when judged every second (BENCHMARKS.md).
const DefaultLookEvery = 100 * time.Millisecond

// Config configures a Controller.
type Config struct {
	Registry Registry
	Traffic  Traffic
	Metrics  Metrics
	// Plans are the policies' rollout sections, by environment.
	Plans map[string]*policy.Rollout
	// Interval is how often Run ticks (DefaultInterval); each rollout is
	// judged at every tick.
	Interval time.Duration
	// LookEvery is the shortest time between a tick and a tick that Look
	// asked for (DefaultLookEvery); it bounds how often the candidates'
	// traffic makes the controller judge.
	LookEvery time.Duration
	// SampleEvery is how often, at most, a judged rollout's counts are
	// stored as a plain sample for its chart (DefaultSampleEvery); events
	// are sampled whenever they happen.
	SampleEvery time.Duration
	// Gauges, when set, receive the active rollouts as they are read:
	// at every tick of Run, and at every look of Follow.
	Gauges *Gauges
	Now    func() time.Time
	Logger *slog.Logger
}

// Controller runs the rollouts of every environment.
type Controller struct {
	cfg Config
	log *slog.Logger

	// op serialises ticks and people's operations in this process, so
	// that a pause is never overwritten by a tick that read the rollout
	// before it; across replicas the rollout's revision does that (a
	// save from a stale read is refused). A tick lets go of it while it
	// reads a rollout's counts (Tick), and ops, the number of people's
	// operations that took it, then tells whether one came meanwhile.
	op  sync.Mutex
	ops uint64
	// ticking serialises ticks, which let go of op at their reads.
	ticking sync.Mutex

	mu   sync.Mutex
	runs map[string]*run // by promotion ID
	kick wait.Cue
	look wait.Cue

	// started is when the controller was created, with the process: a
	// step that began before counts on from what other processes stored.
	started time.Time
	// sinceStart holds, by promotion, the start of the step whose
	// requests counted since the process started (a Builtin's counters)
	// were added to the stored count: later runs of the step in this
	// process count from their own start, or they would add them twice.
	sinceStart map[string]time.Time
}

// run is what the controller keeps in memory about one rollout: the
// analysis, the counts from which the current step's requests are counted,
// and the counts read last and at the last sample. A new run (a start, a
// resumption, a restart) reads counts from zero, so its first sample
// covers only what was served since then; the step's requests count on
// from those stored with the rollout (promote.Rollout.StepRequests), or
// from the source's count of the whole step (countStep).
type run struct {
	since   time.Time // what the analysis counts from
	queries []metrics.Query
	an      *analysis.Analyzer
	// The step has counted stepBase plus what the run read since
	// stepCanary: StepRequests = stepBase + canary read − stepCanary. Both
	// are set at the run's first judged tick in the step (while
	// stepPending), when the run's counts and the step's can be read at
	// the same moment (countStep); at a step this run began, from the
	// counts read then.
	stepCanary  float64
	stepBase    float64
	stepPending bool
	// stepFresh says the run had read no valid counts when the step's
	// counting began, so that all its counts are the step's.
	stepFresh bool
	// judged says the run has read valid counts: until then every request
	// its counts hold was served since it began.
	judged      bool
	lastCanary  float64
	lastVerdict *analysis.Verdict
	read        reading   // the counts read at the last judged tick
	sampled     reading   // the counts at the last sample stored
	sampledAt   time.Time // when it was stored; zero before the first
	// stepStarted is the stored StepStartedAt that stepCanary counts
	// from: a pause and a resumption made through another replica restart
	// the step, and the count with it.
	stepStarted time.Time
	// waitLogged says that the step's wait for requests past its minimum
	// time was logged, so that it is logged once per step.
	waitLogged bool
	// inconclusive is the status of the readings since the last judged
	// tick, when they were inconclusive: a wait for data is logged when it
	// begins, and every failed query the error budget tolerates.
	inconclusive metrics.Status
	// noHistory says why the analysis runs without the history tests the
	// policy asks for (rollout.analysis.history); "" when it runs them or
	// the policy asks for none.
	noHistory string
	// judging says that the splitter judges every canary request by the
	// analysis's history tests (attach), until the run ends (detach).
	judging bool
	// failed, when set, is a failure whose rollback, or pause, could not
	// be stored (the store refused it, or could not be reached): the next
	// ticks try it again before anything else, never giving the
	// candidate its weight back.
	failed *failure
}

// failure is a decision taken on a failure, with the evidence to record:
// a rollback for reason, or, when pause is set, a pause saying pause.
type failure struct {
	reason, pause string
	verdict       *analysis.Verdict
	raw, state    json.RawMessage // the verdict as stored, and the analysis's state
}

// New returns a controller; it does nothing until Run or Tick.
func New(cfg Config) (*Controller, error) {
	var errs []error
	if cfg.Registry == nil {
		errs = append(errs, errors.New("no registry"))
	}
	if cfg.Traffic == nil {
		errs = append(errs, errors.New("no traffic setter"))
	}
	if cfg.Metrics == nil {
		errs = append(errs, errors.New("no metrics reader"))
	}
	for env, p := range cfg.Plans {
		if p == nil || (p.Strategy == policy.StrategyCanary && len(p.Steps) == 0) {
			errs = append(errs, fmt.Errorf("environment %s: a canary plan needs steps", env))
			continue
		}
		for _, slo := range p.Analysis.SLOs {
			if (slo.Metric != "error_rate" && slo.Metric != "latency_p95_ms") || (slo.Threshold.Op != policy.OpLE && slo.Threshold.Op != policy.OpLT) {
				errs = append(errs, fmt.Errorf("environment %s: SLO %s %s: a rollout guards error_rate and latency_p95_ms with <= or <", env, slo.Metric, slo.Threshold))
			}
		}
	}
	if cfg.Interval < 0 {
		errs = append(errs, fmt.Errorf("interval %s is negative", cfg.Interval))
	}
	if cfg.LookEvery < 0 {
		errs = append(errs, fmt.Errorf("look interval %s is negative", cfg.LookEvery))
	}
	if cfg.SampleEvery < 0 {
		errs = append(errs, fmt.Errorf("sample interval %s is negative", cfg.SampleEvery))
	}
	if len(errs) > 0 {
		return nil, promote.Errorf(promote.Invalid, "rollout controller: %v", errors.Join(errs...))
	}
	if cfg.Interval == 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.LookEvery == 0 {
		cfg.LookEvery = DefaultLookEvery
	}
	if cfg.SampleEvery == 0 {
		cfg.SampleEvery = DefaultSampleEvery
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	cfg.Gauges.plan(slices.Sorted(maps.Keys(cfg.Plans)))
	return &Controller{cfg: cfg, log: cfg.Logger, runs: map[string]*run{},
		kick: wait.NewCue(), look: wait.NewCue(), started: cfg.Now(), sinceStart: map[string]time.Time{}}, nil
}

// Trigger asks Run for a tick soon (a promotion was committed); it never
// blocks.
func (c *Controller) Trigger() { c.kick.Send() }

// Look asks Run for a tick once LookEvery has passed since the last one:
// new evidence arrived (a candidate's request was counted). It never
// blocks, and costs a channel send, so a splitter may call it for every
// request (traffic.Metrics.OnCandidate). The analysis is valid however
// often it looks (docs/rollouts.md), so judging as evidence arrives only
// brings the decision sooner.
func (c *Controller) Look() { c.look.Send() }

// Run ticks every Interval, on Trigger and on Look until ctx ends. Errors are
// logged; the next tick tries again. Each Run starts from the stored
// state alone: what an earlier Run kept in memory (a replica that led
// before, lost its leadership and leads again) is dropped, and every
// rollout resumes at its stored step with its stored analysis.
func (c *Controller) Run(ctx context.Context) error {
	for _, id := range c.stale(nil) {
		c.forget(ctx, id)
	}
	// failed is the error of the last tick, while ticks fail: it is
	// logged once as a warning (again when it changes), the repeats at
	// debug level, and the recovery once; looks wait for the interval
	// meanwhile, so that a store that cannot be reached is not asked ten
	// times a second. A look's tick comes LookEvery after the last tick
	// ended, so that looks leave the store and the sources idle for at
	// least LookEvery between ticks.
	var failed error
	loop := wait.Loop{Every: c.cfg.Interval, Now: c.kick, Soon: c.look, Gap: c.cfg.LookEvery}
	loop.Run(ctx, func(ctx context.Context, _ wait.Why) wait.Next {
		err := c.Tick(ctx)
		switch {
		case ctx.Err() != nil:
		case err != nil && (failed == nil || err.Error() != failed.Error()):
			c.log.Warn("rollout: tick failed; retrying every interval", slog.Any("error", err), slog.Duration("interval", c.cfg.Interval))
		case err != nil:
			c.log.Debug("rollout: tick failed again", slog.Any("error", err))
		case failed != nil:
			c.log.Info("rollout: ticks succeed again")
		}
		failed = err
		return wait.Next{Quiet: failed != nil}
	})
	// The splitters' judges go with the runs (attach): a replica that no
	// longer leads judges nothing, and its splitters follow the leader's
	// weights.
	for _, id := range c.stale(nil) {
		c.forget(context.WithoutCancel(ctx), id)
	}
	return nil
}

// Tick starts the rollouts of newly committed promotions and judges every
// active rollout once.
//
// It holds c.op, which people's operations take too, for all but the
// reads of the metric source: each rollout's two tracks (and the step's
// count, countStep) are read without it, so that a pause or an abort
// never waits for a metric source, whose read may take seconds (a
// Prometheus that is slow to answer), nor for the reads of every other
// rollout. The readings are judged once c.op is taken again, and dropped
// when a person's operation changed the rollout meanwhile (current): the
// reads are cumulative counts at one moment (metrics.Query.At), so the
// next tick reads them afresh and loses nothing.
func (c *Controller) Tick(ctx context.Context) error {
	c.ticking.Lock()
	defer c.ticking.Unlock()
	active, ops, errs := c.begin(ctx)
	for _, r := range active {
		if err := c.tickOne(ctx, r, ops); err != nil {
			errs = append(errs, fmt.Errorf("rollout of %s %s in %s: %w", r.Model, r.Version, r.Environment, err))
		}
	}
	return errors.Join(errs...)
}

// begin is the part of a tick that reads no counts, under c.op: it starts
// the pending rollouts, gives the ended ones their end's traffic, and
// returns the active rollouts with the number of people's operations
// (c.ops) as they were read; nil when they could not be read.
func (c *Controller) begin(ctx context.Context) ([]promote.Rollout, uint64, []error) {
	c.op.Lock()
	defer c.op.Unlock()
	var errs []error
	pending, err := c.cfg.Registry.PendingRollouts(ctx)
	if err != nil {
		return nil, 0, []error{fmt.Errorf("read pending rollouts: %w", err)}
	}
	for _, p := range pending {
		if !c.cfg.Traffic.Ready(ctx, p.Model, p.Environment, p.Version) {
			c.log.Debug("rollout: waiting for the candidate to be deployed", slog.String(attrModel, p.Model),
				slog.String(attrVersion, p.Version), slog.String(attrEnv, p.Environment))
			continue
		}
		if err := c.start(ctx, p); err != nil {
			errs = append(errs, err)
		}
	}
	active, err := c.cfg.Registry.ActiveRollouts(ctx)
	if err != nil {
		return nil, 0, append(errs, fmt.Errorf("read active rollouts: %w", err))
	}
	c.cfg.Gauges.count(active)
	// A rollout ended elsewhere (a person's operation served by another
	// replica) leaves its state here behind, and this traffic layer at
	// its last step: it gets the end's traffic, as a follower's does.
	keep := map[string]bool{}
	for _, r := range active {
		keep[r.PromotionID] = true
	}
	for _, id := range c.stale(keep) {
		r, err := c.cfg.Registry.Rollout(ctx, id)
		if err == nil && !r.State.Active() {
			err = c.apply(ctx, r)
		}
		if err != nil {
			// Kept, and tried again at the next tick.
			errs = append(errs, fmt.Errorf("give the traffic of the ended rollout %s: %w", id, err))
			continue
		}
		c.forget(ctx, id)
	}
	return active, c.ops, errs
}

// tickOne judges the active rollout r, as read when people's operations
// numbered ops: it readies the rollout and its counts' queries under
// c.op, reads the counts without it, and judges them under c.op again.
func (c *Controller) tickOne(ctx context.Context, r promote.Rollout, ops uint64) error {
	lk, err := c.ready(ctx, r, ops)
	if lk == nil || err != nil {
		return err
	}
	lk.read(ctx, c.cfg.Metrics)
	c.op.Lock()
	defer c.op.Unlock()
	if !c.current(ctx, lk) {
		c.drop(lk)
		c.log.Debug("rollout: changed by a person's operation while its counts were read; judged again at the next tick", c.attrs(lk.r)...)
		return nil
	}
	return c.judge(ctx, lk)
}

// ready is prepare under c.op, from the stored rollout when a person's
// operation came since r was read (ops): it may have paused or ended it,
// and moving the traffic as r says would undo that.
func (c *Controller) ready(ctx context.Context, r promote.Rollout, ops uint64) (*look, error) {
	c.op.Lock()
	defer c.op.Unlock()
	if c.ops != ops {
		stored, err := c.cfg.Registry.Rollout(ctx, r.PromotionID)
		if err != nil {
			return nil, fmt.Errorf("read the rollout again after a person's operation: %w", err)
		}
		if !stored.State.Active() {
			// Ended by the operation, which gave the traffic the end's;
			// the next tick forgets what is kept about it.
			return nil, nil
		}
		r = stored
	}
	lk, err := c.prepare(ctx, r)
	if lk != nil {
		lk.ops = c.ops
	}
	return lk, err
}

// look is a tick's reading of one rollout's counts: what prepare found
// to read, under c.op, and what read read without it.
type look struct {
	r    promote.Rollout // as prepared: its step's weight given
	ru   *run
	plan *policy.Rollout
	ops  uint64 // people's operations (c.ops) when it was prepared
	// qs and qc read the run's stable and candidate tracks at one moment;
	// step, when set, the canary's requests since the step began at the
	// same moment (countStep).
	qs, qc metrics.Query
	step   *metrics.Query
	// The readings.
	stable, canary metrics.Reading
	stepRead       *metrics.Reading
}

// read reads lk's counts. It touches nothing of the controller's, so that
// it needs no lock: the metrics reader is safe for concurrent use.
func (lk *look) read(ctx context.Context, m Metrics) {
	lk.stable = m.Read(ctx, lk.qs)
	lk.canary = m.Read(ctx, lk.qc)
	if lk.r.Strategy != policy.StrategyShadow && lk.r.Weight >= 1 && (lk.stable.Status == metrics.StatusWaiting || lk.stable.Status == metrics.StatusNoData) {
		// With all the traffic on the candidate the stable version serves
		// nothing: no new stable data is what the step expects, not a
		// lack of evidence. The analysis goes on with the candidate's
		// counts against what stable served before (in this run, or in
		// the stored evidence of a run before a restart, which otherwise
		// waited for stable data until the no-data limit and paused).
		lk.stable.Status = metrics.StatusOK
	}
	if lk.step == nil || lk.stable.Status != metrics.StatusOK || lk.canary.Status != metrics.StatusOK {
		// The step's count is read only at a judged tick.
		return
	}
	rd := m.Read(ctx, *lk.step)
	if f, ok := m.(interface{ Forget(metrics.Query) }); ok {
		f.Forget(*lk.step)
	}
	lk.stepRead = &rd
}

// current reports whether lk, read without c.op, may still be judged: no
// person's operation changed its rollout since it was prepared (a pause
// or an abort ended its run, a resumption began another), so that its
// judgement can store nothing over theirs, nor move the traffic they set.
// Across replicas the rollout's revision does that, as ever.
func (c *Controller) current(ctx context.Context, lk *look) bool {
	if ru := c.run(lk.r.PromotionID); ru != lk.ru || ru.failed != nil {
		return false
	}
	if c.ops == lk.ops {
		return true
	}
	// An operation came meanwhile, on this rollout or on another one.
	stored, err := c.cfg.Registry.Rollout(ctx, lk.r.PromotionID)
	return err == nil && stored.Revision == lk.r.Revision && stored.State == lk.r.State
}

// drop has the metrics reader forget what lk's reads left of queries that
// no run reads any more: the operation that ended lk's run forgot them,
// and a read that was under way may have remembered them again.
func (c *Controller) drop(lk *look) {
	cur := c.run(lk.r.PromotionID)
	f, ok := c.cfg.Metrics.(interface{ Forget(metrics.Query) })
	if cur == lk.ru || !ok {
		return
	}
	for _, q := range lk.ru.queries {
		if cur != nil && slices.ContainsFunc(cur.queries, func(o metrics.Query) bool {
			return o.Model == q.Model && o.Env == q.Env && o.Track == q.Track && o.Since.Equal(q.Since)
		}) {
			continue
		}
		f.Forget(q)
	}
}

// gone says, when r's environment is no longer in the registry's
// pipeline, that it is not and what a person can do: nothing carries the
// rollout on there, and the overlay is no longer Promote's to revert, so
// an abort waits for the environment to be back; a promotion keeps what
// Git deploys. It is empty when the pipeline has the environment.
func (c *Controller) gone(r promote.Rollout) string {
	pl := c.cfg.Registry.Pipeline()
	if pl == nil {
		return ""
	}
	if _, err := pl.Environment(r.Environment); err == nil {
		return ""
	}
	return fmt.Sprintf("environment %s is no longer in the pipeline (it has %s), so nothing carries this rollout on and all its traffic is on stable: "+
		"to abort it or roll it back, put %s back in the pipeline file, restart the server and do it then; "+
		"to keep %s %s there, promote its rollout now (promote rollout promote %s)",
		r.Environment, strings.Join(pl.Names(), ", "), r.Environment, r.Model, r.Version, r.PromotionID)
}

func (c *Controller) plan(env string) (*policy.Rollout, error) {
	p := c.cfg.Plans[env]
	if p == nil {
		return nil, fmt.Errorf("environment %s has no rollout plan in its policy", env)
	}
	return p, nil
}

// start begins a committed promotion's rollout at its first step.
func (c *Controller) start(ctx context.Context, p promote.Promotion) error {
	plan, err := c.plan(p.Environment)
	if err != nil {
		return err
	}
	r, err := c.cfg.Registry.StartRollout(ctx, p.ID)
	if err != nil {
		return fmt.Errorf("start the rollout of %s: %w", p.ID, err)
	}
	if r.Stable == "" {
		// The first version in the environment: nothing to compare it
		// with, so it takes all the traffic at once.
		r.Weight = 1
		if err := c.cfg.Traffic.SetWeight(ctx, r.Model, r.Environment, 1); err != nil && promote.ErrorCode(err) != promote.Conflict {
			return c.cannotJudge(ctx, r, fmt.Sprintf("setting the weight failed: %v", err))
		}
		return c.finish(ctx, r, "the first version in the environment: no stable version to compare it with", "")
	}
	// The run, and the counts' baseline, before the traffic moves: the
	// candidate's first requests count.
	if _, err := c.runOf(ctx, r, plan); err != nil {
		return err
	}
	if plan.Strategy != policy.StrategyShadow {
		r.Weight, r.StepNeeds = stepWeight(plan, 0), needsOf(plan, 0, false, false)
	}
	// The candidate header's route opens with the first step's traffic:
	// an earlier rollout of the same candidate that failed, was aborted
	// or was paused at weight 0 closed it, and the splitter keeps a
	// candidate's route as it is while its version stays.
	if err := c.route(ctx, r, plan); err != nil {
		return err
	}
	c.log.Info("rollout: started", c.attrs(r)...)
	if r, err = c.cfg.Registry.RecordRollout(ctx, registry.RolloutActor, r, stepWords(r)); err != nil {
		return c.changed(ctx, r, err)
	}
	c.sample(ctx, r, nil, "", eventStep)
	return nil
}

// shadowShare is the share of requests a shadow rollout mirrors.
func shadowShare(plan *policy.Rollout) float64 {
	if plan.Shadow != nil && plan.Shadow.Percent > 0 {
		return float64(plan.Shadow.Percent) / 100
	}
	return 1
}

func stepWords(r promote.Rollout) string {
	if r.Strategy == policy.StrategyShadow {
		return "shadow"
	}
	return fmt.Sprintf("step %d: weight %g%%", r.Step+1, r.Weight*100)
}

// at says, for the reason of a failure, the step and weight the canary
// was at: the rollout's record of the rollback stores the weight after it
// (0), and a person reading the reason, in the audit log, a webhook or
// the Git commit, wants to know how much traffic the candidate had. A
// shadow answered no one: its reason says so already.
func at(r promote.Rollout) string {
	if r.Strategy == policy.StrategyShadow {
		return ""
	}
	return "; the canary was at " + stepWords(r)
}

// runOf returns the in-memory state of a rollout, creating it (a start or
// a resumption after a restart) with the analysis stored with the rollout
// (r.AnalysisState), or a fresh one when none is stored or the stored one
// cannot be restored: another configuration (a policy edited between
// the two) or a damaged state. Either way the analysis reads counts from
// now: the first reading is what was served since, none of which the
// stored state saw (analysis.Analyzer.Restore).
func (c *Controller) runOf(ctx context.Context, r promote.Rollout, plan *policy.Rollout) (*run, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ru, ok := c.runs[r.PromotionID]; ok {
		return ru, nil
	}
	// Stable's history is read before the Mark below, which a Builtin's
	// history must precede: it is the stable track's counts then.
	hist, noHistory := c.history(ctx, r, plan)
	an, err := analysis.New(analysisConfig(plan, hist))
	if err != nil {
		return nil, err
	}
	if r.AnalysisState != nil {
		if err := an.Restore(r.AnalysisState); err != nil {
			c.log.Warn("rollout: the stored analysis cannot be resumed; the analysis starts afresh",
				append(c.attrs(r), slog.Any("error", err))...)
			if hist != nil && storedHistory(r.AnalysisState) {
				// The history stood in for the stored one: read it.
				hist, noHistory = c.readHistory(ctx, r, plan)
				if an, err = analysis.New(analysisConfig(plan, hist)); err != nil {
					return nil, err
				}
			}
		} else {
			c.log.Info("rollout: analysis resumed with the stored evidence", c.attrs(r)...)
		}
	}
	if noHistory != "" {
		c.log.Warn("rollout: the canary is judged without the history tests", append(c.attrs(r), slog.String("reason", noHistory))...)
	}
	ru := &run{since: c.cfg.Now(), an: an, noHistory: noHistory}
	ru.queries = queries(r, ru.since)
	if m, ok := c.cfg.Metrics.(interface {
		Mark(context.Context, metrics.Query) error
	}); ok {
		// A source that counts from a baseline (the splitters in
		// process) takes it now, before the weight moves.
		for _, q := range ru.queries {
			if err := m.Mark(ctx, q); err != nil {
				c.log.Debug("rollout: mark the counts' baseline", append(c.attrs(r), slog.Any("error", err))...)
			}
		}
	}
	c.runs[r.PromotionID] = ru
	return ru, nil
}

// queries are the reads of a rollout's stable and candidate (canary, or
// shadow) counts since since.
func queries(r promote.Rollout, since time.Time) []metrics.Query {
	candidate := trackCanary
	if r.Strategy == policy.StrategyShadow {
		candidate = trackShadow
	}
	return []metrics.Query{
		{Model: r.Model, Env: r.Environment, Track: trackStable, Since: since},
		{Model: r.Model, Env: r.Environment, Track: candidate, Since: since},
	}
}

// forget drops the in-memory state of a rollout, the judge it gave its
// splitter (attach), and what the metrics reader remembers about its
// queries when it keeps any (metrics.Poller).
// It returns the state dropped (nil when there was none), whose counts the
// sample of the event that ends the run still needs.
func (c *Controller) forget(ctx context.Context, id string) *run {
	c.mu.Lock()
	ru := c.runs[id]
	delete(c.runs, id)
	c.mu.Unlock()
	c.detach(ctx, ru)
	f, ok := c.cfg.Metrics.(interface{ Forget(metrics.Query) })
	if ru == nil || !ok {
		return ru
	}
	for _, q := range ru.queries {
		f.Forget(q)
	}
	return ru
}

// stale returns the IDs of the rollouts kept in memory but not in keep:
// ended since, here or elsewhere.
func (c *Controller) stale(keep map[string]bool) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for id := range c.runs {
		if !keep[id] {
			out = append(out, id)
		}
	}
	return out
}

// analysisConfig maps a policy's analysis section onto the analysis. The
// policy's alpha is the false-rollback rate of the whole analysis: with
// SLO guards it is split evenly between the comparison with stable
// (Alpha) and the guards (GuardAlpha), so that a healthy canary within
// its SLOs is rolled back with probability at most alpha in all.
//
// With a history (the policy's rollout.analysis.history, as read), the
// history tests run too, at the policy's share of the comparisons' levels.
func analysisConfig(plan *policy.Rollout, history *analysis.History) analysis.Config {
	alpha := plan.Analysis.Alpha
	if alpha == 0 {
		alpha = analysis.DefaultAlpha
	}
	cfg := analysis.Config{Alpha: alpha, ErrorAlphaShare: plan.Analysis.ErrorShare}
	for _, slo := range plan.Analysis.SLOs {
		switch slo.Metric {
		case "error_rate":
			cfg.MaxErrorRate = slo.Threshold.Value
		case "latency_p95_ms":
			cfg.MaxLatencyP95 = time.Duration(slo.Threshold.Value * float64(time.Millisecond))
		}
	}
	if cfg.MaxErrorRate > 0 || cfg.MaxLatencyP95 > 0 {
		cfg.Alpha, cfg.GuardAlpha = alpha/2, alpha/2
	}
	if history != nil && plan.Analysis.History != nil {
		cfg.History, cfg.HistoryShare = history, plan.Analysis.History.Share
	}
	return cfg
}

// step judges one active rollout and moves it on, reading its counts with
// c.op held (failedFirst, whose rollout's run keeps a failure that is
// carried out before anything is read).
func (c *Controller) step(ctx context.Context, r promote.Rollout) error {
	lk, err := c.prepare(ctx, r)
	if lk == nil || err != nil {
		return err
	}
	lk.read(ctx, c.cfg.Metrics)
	return c.judge(ctx, lk)
}

// prepare is what a tick does of an active rollout before it reads its
// counts: it carries out a pause or a failure kept, checks the plan,
// gives the step's weight (the shadow's mirror), and returns what to
// read, nil when nothing is to be judged now.
func (c *Controller) prepare(ctx context.Context, r promote.Rollout) (*look, error) {
	if ru := c.run(r.PromotionID); r.State == promote.RolloutPaused && (ru == nil || ru.failed == nil) {
		// Paused here or by another replica: the analysis starts afresh
		// when it resumes. The traffic is what the stored pause says, at
		// every tick, so that a pause whose weight could not be set when
		// it was recorded gets it. A failure this run keeps (its rollback
		// or pause was refused) is carried out below, paused or not:
		// a pause made through another replica meanwhile must not give
		// the failed candidate its weight back.
		c.forget(ctx, r.PromotionID)
		return nil, c.apply(ctx, r)
	}
	if gone := c.gone(r); gone != "" {
		// promote.yaml no longer has the environment (renamed or removed,
		// and the server restarted): no plan says how to go on, and only
		// a person can end the rollout, so it waits for one at weight 0.
		return nil, errors.Join(c.zero(ctx, r), c.pause(ctx, r, "cannot judge: "+gone, ""))
	}
	plan, err := c.ownPlan(r)
	if err != nil {
		// The environment lost its plan since the rollout began (the
		// pipeline no longer rolls it out by canary or shadow), or its
		// policy rolls out by the other strategy now (an edit and a
		// restart): nothing says how to go on, so a person decides, told
		// why in the words a refused go or resumption uses (carrier).
		return nil, c.cannotJudge(ctx, r, err.Error())
	}
	if r.Strategy != policy.StrategyShadow && r.Step >= len(plan.Steps) {
		// The policy lost steps since the rollout began (an edit and a
		// restart): go on from its last one.
		r.Step = len(plan.Steps) - 1
	}
	if !c.cfg.Traffic.Ready(ctx, r.Model, r.Environment, r.Version) {
		// The traffic layer does not route the candidate (yet): a server
		// that just started, an agent that has not synced. The candidate
		// then has no traffic, so waiting is safe.
		c.log.Debug("rollout: waiting for the traffic layer to route the candidate", c.attrs(r)...)
		return nil, nil
	}
	ru, err := c.runOf(ctx, r, plan)
	if err != nil {
		return nil, err
	}
	if f := ru.failed; f != nil {
		r.Verdict, r.AnalysisState = f.raw, f.state
		if f.pause != "" {
			return nil, c.pauseFailed(ctx, r, plan, f.pause, f.verdict)
		}
		return nil, c.rollBack(ctx, r, plan, f.reason, f.verdict)
	}
	if !ru.stepStarted.Equal(r.StepStartedAt) {
		// A new run, or a step restarted by another replica (a pause and
		// a resumption): where the step counts from is found at the
		// first judged tick (countStep); until then it counts on from
		// what is stored.
		ru.stepCanary, ru.stepStarted, ru.stepBase, ru.stepPending, ru.stepFresh = -1, r.StepStartedAt, r.StepRequests, true, !ru.judged
		ru.waitLogged = r.StepNeeds != nil && r.StepNeeds.WaitingForRequests
	}
	// The step's traffic is given at every tick: after a resumption (a
	// pause stops the mirror, and one at weight 0 closes the candidate
	// header's route, through this replica or another), and after a
	// restart of the controller or of the traffic layer. Not once the
	// history tests have failed: the splitter took the canary's traffic
	// away, and this look judges the failure.
	if ru.tripped() {
		return &look{r: r, ru: ru, plan: plan, qs: ru.queries[0], qc: ru.queries[1]}, nil
	}
	if err := c.route(ctx, r, plan); err != nil {
		return nil, err
	}
	if r.Strategy != policy.StrategyShadow {
		if want := stepWeight(plan, r.Step); r.Weight != want {
			r.Weight = want
			if r, err = c.cfg.Registry.RecordRollout(ctx, registry.RolloutActor, r, stepWords(r)); err != nil {
				return nil, c.changed(ctx, r, err)
			}
		}
	}
	// Both tracks as at one moment (metrics.Query.At), and the step's
	// count with them when countStep needs it.
	lk := &look{r: r, ru: ru, plan: plan, qs: ru.queries[0], qc: ru.queries[1]}
	lk.qs.At = c.cfg.Now()
	lk.qc.At = lk.qs.At
	if ru.stepPending && r.Strategy != policy.StrategyShadow && c.stepReads(r, ru) {
		q := lk.qc
		q.Since = r.StepStartedAt
		lk.step = &q
	}
	return lk, nil
}

// judge judges the rollout of lk with its readings and moves it on, under
// c.op.
func (c *Controller) judge(ctx context.Context, lk *look) error {
	r, ru, plan, stable, canary := lk.r, lk.ru, lk.plan, lk.stable, lk.canary
	var err error
	if ru.tripped() {
		// The history tests failed as the splitter answered (attach):
		// that is the verdict, whatever the reads say now. A track that
		// could not be read is taken at its last counts.
		if stable.Status != metrics.StatusOK {
			stable = metrics.Reading{Status: metrics.StatusOK, Counts: ru.read.stable}
		}
		if canary.Status != metrics.StatusOK {
			canary = metrics.Reading{Status: metrics.StatusOK, Counts: ru.read.canary}
		}
	}
	for i, rd := range []metrics.Reading{stable, canary} {
		switch rd.Status {
		case metrics.StatusFailed:
			if slices.Contains(plan.Rollback.When, "query_errors") {
				return c.rollBack(ctx, r, plan, "the metric source kept failing: "+errText(rd.Err)+at(r), nil)
			}
			return c.cannotJudge(ctx, r, "the metric source kept failing: "+errText(rd.Err))
		case metrics.StatusNoData:
			if slices.Contains(plan.Rollback.When, "no_data") {
				return c.rollBack(ctx, r, plan, "no metric data past the limit"+at(r), nil)
			}
			return c.cannotJudge(ctx, r, "no metric data past the limit: "+errText(rd.Err))
		case metrics.StatusWaiting, metrics.StatusRetrying:
			// Inconclusive: judge at the next tick.
			c.logInconclusive(r, ru, []string{"stable", "canary"}[i], rd)
			return nil
		}
	}
	if ru.inconclusive != "" {
		ru.inconclusive = ""
		c.log.Info("rollout: metric data again; judging", c.attrs(r)...)
	}
	ru.read = reading{stable: stable.Counts, canary: canary.Counts}
	v := ru.an.Observe(analysis.Observation{At: c.cfg.Now(), Stable: stable.Counts, Canary: canary.Counts})
	if ru.noHistory != "" {
		withoutHistory(&v, ru.noHistory)
	}
	if v.Decision != analysis.Fail {
		c.attach(ctx, r, ru)
	}
	ru.lastVerdict = &v
	ru.lastCanary = canary.Counts.Requests
	if ru.stepPending && r.Strategy != policy.StrategyShadow {
		c.countStep(r, ru, lk.stepRead)
	}
	ru.judged = true
	raw, _ := json.Marshal(v)
	r.Verdict = raw
	now := c.cfg.Now()
	if r.Strategy != policy.StrategyShadow {
		c.progress(&r, ru, plan, canary.Counts.Requests, now)
	}
	switch v.Decision {
	case analysis.Fail:
		c.keepAnalysis(&r, ru)
		reason := "the canary analysis failed: " + v.Reason + at(r)
		if r.Strategy == policy.StrategyShadow {
			// The splitter counts a shadow's answer that differs from
			// stable's as an error of the shadow (traffic.OutcomeMismatch).
			reason = "the shadow analysis failed (its errors count its answers that differ from stable's): " + v.Reason
		}
		if found := failTriggers(v); !slices.ContainsFunc(found, func(t string) bool { return slices.Contains(plan.Rollback.When, t) }) {
			// A failure the policy does not roll back for still takes
			// the traffic away: a person decides, as without automatic
			// rollback.
			return c.pauseFailed(ctx, r, plan, fmt.Sprintf("%s; the policy's rollback.when does not list %s: all traffic is back on stable, a person decides",
				reason, strings.Join(found, " or ")), &v)
		}
		return c.rollBack(ctx, r, plan, reason, &v)
	case analysis.Inconclusive:
		c.tickSample(ctx, r, ru, v.Decision)
		return nil
	}
	if r.Strategy == policy.StrategyShadow {
		d := time.Duration(0)
		if plan.Shadow != nil {
			d = plan.Shadow.Duration
		}
		// The duration counts from the resumption, as a canary step's
		// minimum time does: a paused shadow mirrors nothing, so the time
		// it spent paused is no evidence.
		if now.Sub(r.StepStartedAt) < d {
			c.tickSample(ctx, r, ru, v.Decision)
			return nil
		}
		if err := c.cfg.Traffic.SetShadow(ctx, r.Model, r.Environment, 0); err != nil {
			return err
		}
		r.Weight = 1
		if err := c.cfg.Traffic.SetWeight(ctx, r.Model, r.Environment, 1); err != nil {
			return c.cannotJudge(ctx, r, fmt.Sprintf("setting the weight failed: %v", err))
		}
		c.keepAnalysis(&r, ru)
		return c.finish(ctx, r, fmt.Sprintf("the shadow found no regression in %s", d), v.Decision)
	}
	s := plan.Steps[r.Step]
	if now.Sub(r.StepStartedAt) < s.MinDuration || r.StepRequests < float64(s.MinRequests) {
		c.tickSample(ctx, r, ru, v.Decision)
		return nil
	}
	if s.Confirm {
		return c.awaitPerson(ctx, r, ru, plan, v.Decision)
	}
	if r.Step == len(plan.Steps)-1 {
		if c.release(ctx, ru) {
			return nil
		}
		if r.Weight < 1 {
			r.Weight = 1
			if err := c.cfg.Traffic.SetWeight(ctx, r.Model, r.Environment, 1); err != nil {
				return c.weightRefused(ctx, r, ru, err)
			}
		}
		c.keepAnalysis(&r, ru)
		return c.finish(ctx, r, fmt.Sprintf("all %d steps passed", len(plan.Steps)), v.Decision)
	}
	r.Step++
	r.Weight = stepWeight(plan, r.Step)
	r.StepStartedAt = now
	r.StepRequests, r.StepNeeds = 0, needsOf(plan, r.Step, false, false)
	ru.stepCanary, ru.stepStarted, ru.stepBase, ru.stepPending, ru.waitLogged = canary.Counts.Requests, now, 0, false, false
	if err := c.cfg.Traffic.SetWeight(ctx, r.Model, r.Environment, r.Weight); err != nil {
		return c.weightRefused(ctx, r, ru, err)
	}
	c.keepAnalysis(&r, ru)
	if r, err = c.cfg.Registry.RecordRollout(ctx, registry.RolloutActor, r, stepWords(r)); err != nil {
		return c.changed(ctx, r, err)
	}
	c.log.Info("rollout: next step", c.attrs(r)...)
	c.sample(ctx, r, ru, v.Decision, eventStep)
	return nil
}

// awaitPerson holds a canary at a step that has served its minimum time
// and requests and whose plan says a person moves it on (confirm): the
// first time, it records the wait (an audited rollout.step, notified as
// every step is), so that the wait survives a restart and people hear of
// it; then it only samples, the analysis judging on as at any step, able
// to roll back. Resume moves it on, PromoteNow ends it.
func (c *Controller) awaitPerson(ctx context.Context, r promote.Rollout, ru *run, plan *policy.Rollout, d analysis.Decision) error {
	if r.WaitsForPerson() {
		c.tickSample(ctx, r, ru, d)
		return nil
	}
	r.StepNeeds = needsOf(plan, r.Step, false, true)
	c.keepAnalysis(&r, ru)
	r, err := c.cfg.Registry.RecordRollout(ctx, registry.RolloutActor, r, waitWords(r))
	if err != nil {
		return c.changed(ctx, r, err)
	}
	c.log.Info("rollout: the step has served its minimums and waits for a person (promote rollout resume or promote)", c.attrs(r)...)
	c.sample(ctx, r, ru, d, eventWaiting)
	return nil
}

// waitWords says that r waits for a person, and where.
func waitWords(r promote.Rollout) string {
	return fmt.Sprintf("waiting for a person at %s (step %d)", percentOf(r.Weight), r.Step+1)
}

// countStep finds where ru counts the requests of r's step from, at its
// first judged tick in the step: rd is the canary's requests since the
// step began (the query stepReads asks for), read at the same moment as
// the run's canary count (ru.lastCanary), which runs from the run's start.
//
// What the run's counts cannot say is the step's requests before the run
// began, and before the tick that found the step restarted under a live
// run. The sources differ there:
//
//   - Prometheus keeps every replica's counters across their restarts:
//     the canary's requests since the step began, read at the same moment
//     as the run's, are the whole step's, what is stored (counted up to
//     the last sample) and what was served after it, in this process or
//     in one gone since, included.
//   - The splitters' counters in this process (Builtin) hold only what it
//     served: the step's count is what other processes stored plus what
//     this one counted. A run's counts all belong to the step when the
//     run began in it (a restart, a takeover, a resumption), the first
//     reading included; and when the step began before this process, the
//     counters' totals since the process started do, which the Builtin
//     returns for a query since the step's start (its counters were zero
//     then). That is taken once per step in a process: a later run of the
//     step here (a term lost and won again) counts from its own start.
//
// When the step's count cannot be read, the run counts on from what is
// stored (its own counts, or from this tick's under a live run), and
// tries again at the next tick.
func (c *Controller) countStep(r promote.Rollout, ru *run, rd *metrics.Reading) {
	read := ru.lastCanary
	if ru.stepCanary < 0 {
		// The fallback, set at the first judged tick, and the count of
		// a run that cannot see further back.
		ru.stepBase, ru.stepCanary = r.StepRequests, read
		if ru.stepFresh {
			ru.stepCanary = 0
		}
	}
	if !c.stepReads(r, ru) {
		// Nothing before the run's start is this process's and the
		// step's, or it was counted already.
		ru.stepPending = false
		return
	}
	switch {
	case rd == nil:
		c.log.Debug("rollout: the step's requests were not read; counting on from those stored until they are", c.attrs(r)...)
		return
	case rd.Status == metrics.StatusOK, rd.Status == metrics.StatusWaiting, rd.Status == metrics.StatusNoData:
		// Waiting and no data are no requests since the step began.
	default:
		c.log.Debug("rollout: the step's requests could not be read; counting on from those stored until they can",
			append(c.attrs(r), slog.Any("error", rd.Err))...)
		return
	}
	looksBack := c.looksBack()
	ru.stepPending = false
	step := rd.Counts.Requests
	if ru.stepFresh {
		// Every request of the run's counts is the step's, whatever
		// the two readings' rounding.
		step = max(step, read)
	}
	if looksBack {
		// The whole step: what is stored was counted from the same
		// counts, up to the last sample.
		ru.stepBase, ru.stepCanary = 0, read-max(step, r.StepRequests)
		return
	}
	c.sinceStart[r.PromotionID] = r.StepStartedAt
	ru.stepCanary = read - step
}

// stepReads reports whether countStep needs the canary's requests since
// r's step began, besides the run's: with a source that looks back, and
// with the splitters' counters of a step that began before this process
// and was not counted in it yet, when the run began in the step.
func (c *Controller) stepReads(r promote.Rollout, ru *run) bool {
	return c.looksBack() || (ru.stepFresh && !c.sinceStart[r.PromotionID].Equal(r.StepStartedAt) && r.StepStartedAt.Before(c.started))
}

// looksBack reports whether the metrics reader counts everything since a
// query's start, whichever process served it (metrics.Prometheus).
func (c *Controller) looksBack() bool {
	lb, ok := c.cfg.Metrics.(interface{ LooksBack() bool })
	return ok && lb.LooksBack()
}

// progress puts into r the requests its canary step has counted, given
// the canary's requests read now (canaryRead), and what the step needs;
// the first time in the step that it has lasted its minimum time without
// its minimum requests, it logs that the step waits for them.
func (c *Controller) progress(r *promote.Rollout, ru *run, plan *policy.Rollout, canaryRead float64, now time.Time) {
	r.StepRequests = ru.stepBase + max(0, canaryRead-ru.stepCanary)
	s := plan.Steps[r.Step]
	waiting := now.Sub(r.StepStartedAt) >= s.MinDuration && r.StepRequests < float64(s.MinRequests)
	// A wait for a person, once recorded (awaitPerson), lasts until a
	// person ends it: the step's minimums, served, stay served.
	r.StepNeeds = needsOf(plan, r.Step, waiting, r.WaitsForPerson())
	if waiting && !ru.waitLogged {
		ru.waitLogged = true
		c.log.Info("rollout: the step has lasted its minimum time and waits for the canary's requests",
			append(c.attrs(*r), slog.Float64("requests", r.StepRequests), slog.Int("min_requests", s.MinRequests),
				slog.Duration("min_duration", s.MinDuration))...)
	}
}

// logInconclusive logs a reading that leaves the rollout unjudged for now,
// so that on-call sees a source failing or silent before its limit pauses
// the rollout: each failed query within the error budget, at warning level,
// and the start of a wait for data, at info.
func (c *Controller) logInconclusive(r promote.Rollout, ru *run, track string, rd metrics.Reading) {
	attrs := append(c.attrs(r), slog.String("track", track))
	if rd.Err != nil {
		attrs = append(attrs, slog.String("error", rd.Err.Error()))
	}
	switch {
	case rd.Status == metrics.StatusRetrying:
		c.log.Warn("rollout: a metric query failed; judging at the next tick, within the error budget", attrs...)
	case ru.inconclusive != metrics.StatusWaiting:
		c.log.Info("rollout: no new metric data yet; judging when it comes, up to the no-data limit", attrs...)
	}
	ru.inconclusive = rd.Status
}

// needsOf is what step i of a canary plan needs before the rollout moves
// on; waiting says it waits for requests past its minimum time, and
// person that it has served its minimums and waits for a person.
func needsOf(plan *policy.Rollout, i int, waiting, person bool) *promote.StepNeeds {
	s := plan.Steps[i]
	return &promote.StepNeeds{Steps: len(plan.Steps), MinRequests: s.MinRequests, MinDuration: s.MinDuration.Seconds(),
		WaitingForRequests: waiting, Confirm: s.Confirm, WaitingForPerson: person && s.Confirm}
}

// failTriggers names the rollback triggers (policy's rollback.when) of a
// failed verdict's failing tests: regression for a comparison with
// stable, slo_breach for a guard.
func failTriggers(v analysis.Verdict) []string {
	var out []string
	for _, t := range v.Tests {
		trigger := "slo_breach"
		if t.Sequential {
			trigger = "regression"
		}
		if t.Status == analysis.StatusFail && !slices.Contains(out, trigger) {
			out = append(out, trigger)
		}
	}
	return out
}

// keepAnalysis puts the state of ru's analysis into r, so that the record
// of a step or an end stores it with the rollout. A state that cannot be
// taken (it never fails) leaves r's as it was, and is logged.
func (c *Controller) keepAnalysis(r *promote.Rollout, ru *run) {
	if ru == nil || ru.an == nil {
		return
	}
	state, err := ru.an.State()
	if err != nil {
		c.log.Warn("rollout: the analysis state cannot be stored", append(c.attrs(*r), slog.Any("error", err))...)
		return
	}
	r.AnalysisState = state
}

func errText(err error) string {
	if err == nil {
		return "no reason given"
	}
	return err.Error()
}

// finish ends a rollout as a success; d is the analysis's last decision,
// empty when it did not judge.
func (c *Controller) finish(ctx context.Context, r promote.Rollout, reason string, d analysis.Decision) error {
	r, err := c.cfg.Registry.FinishRollout(ctx, registry.RolloutActor, r, reason)
	if err != nil {
		return c.changed(ctx, r, err)
	}
	ru := c.forget(ctx, r.PromotionID)
	c.log.Info("rollout: succeeded", c.attrs(r)...)
	c.sample(ctx, r, ru, d, eventSucceeded)
	return nil
}

// rollBack takes the candidate's traffic away at once, then has the
// registry roll the environment back (alias, hold, Git commit) and record
// the rollout as rolled back with the evidence, in one transaction.
// Without automatic rollback in the policy it pauses at weight 0 for a
// person instead. When the rollback does not go through, the rollout is
// paused at weight 0 with the reason, for a person; when even that cannot
// be stored, the next tick tries the rollback again (run.failed).
func (c *Controller) rollBack(ctx context.Context, r promote.Rollout, plan *policy.Rollout, reason string, v *analysis.Verdict) error {
	if !plan.Rollback.Automatic {
		return c.pauseFailed(ctx, r, plan, reason+"; automatic rollback is off: a person decides", v)
	}
	weightErr := c.zero(ctx, r)
	d := decision(v)
	// The verdict and the analysis's state are recorded with the end even
	// when another writer saved the rollout since it was read (a person's
	// pause): the retry starts from the state stored then.
	raw, state := r.Verdict, r.AnalysisState
	ended, err := c.recordRollback(ctx, registry.RolloutActor, r, 0, reason, "rolled_back", !plan.Rollback.Hold, func(r *promote.Rollout) {
		r.Verdict, r.AnalysisState = raw, state
	})
	if err != nil && c.endedElsewhere(ctx, r) {
		// A person aborted or promoted it (through another replica) since
		// it was read: theirs is the end, and no failure.
		return nil
	}
	if err != nil {
		err = fmt.Errorf("roll back: %w", err)
		c.log.Error("rollout: the rollback failed; pausing with all traffic on stable", append(c.attrs(r), slog.String("reason", reason), slog.Any("error", err))...)
		r.Verdict, r.AnalysisState = raw, state
		if perr := c.pause(ctx, r, fmt.Sprintf("%s; the rollback failed (%v): all traffic is back on stable, a person decides", reason, err), d); perr != nil {
			// Not even the pause was stored: the next tick tries the
			// rollback again rather than judge afresh.
			c.remember(ctx, r, plan, &failure{reason: reason, verdict: v, raw: raw, state: state})
			return errors.Join(weightErr, err, perr)
		}
		return weightErr // the failure is logged, and the pause says it
	}
	c.log.Warn("rollout: rolled back", append(c.attrs(ended), slog.String("reason", reason))...)
	c.rolledBack(ctx, ended, d, weightErr)
	return weightErr
}

// endedElsewhere reports whether r, whose rollback was not stored, has
// ended since it was read (another writer's abort, promotion or
// rollback): the controller then drops what it keeps about it and gives
// the traffic what the stored end says, as for any change by another
// writer (changed).
func (c *Controller) endedElsewhere(ctx context.Context, r promote.Rollout) bool {
	stored, err := c.cfg.Registry.Rollout(ctx, r.PromotionID)
	if err != nil || stored.State.Active() {
		return false
	}
	c.forget(ctx, r.PromotionID)
	c.log.Info("rollout: ended by another writer before its rollback was stored", append(c.attrs(stored), slog.String("state", string(stored.State)),
		slog.String("reason", stored.Reason))...)
	c.apply(ctx, stored)
	return true
}

// pauseFailed takes the traffic away from a candidate that failed (v, nil
// when the analysis did not judge) and pauses the rollout for a person,
// saying why. When the pause cannot be stored, the run remembers it: the
// next ticks try again before anything else, never giving the candidate
// its weight back.
func (c *Controller) pauseFailed(ctx context.Context, r promote.Rollout, plan *policy.Rollout, why string, v *analysis.Verdict) error {
	weightErr := c.zero(ctx, r)
	raw, state := r.Verdict, r.AnalysisState
	if err := c.pause(ctx, r, why, decision(v)); err != nil {
		c.remember(ctx, r, plan, &failure{pause: why, verdict: v, raw: raw, state: state})
		return errors.Join(weightErr, err)
	}
	return weightErr
}

// remember keeps f on r's run (made afresh: the pause that failed forgot
// the old one) for the next tick to carry out.
func (c *Controller) remember(ctx context.Context, r promote.Rollout, plan *policy.Rollout, f *failure) {
	if ru, _ := c.runOf(ctx, r, plan); ru != nil {
		ru.failed = f
	}
}

// decision is v's decision, empty when the analysis did not judge (nil).
func decision(v *analysis.Verdict) analysis.Decision {
	if v == nil {
		return ""
	}
	return v.Decision
}

// recordRollback has the registry roll r's environment back to r's stable
// version and record r's end, rolled back because of why (and as edit
// sets it), in one transaction, audited as what; from the stored rollout
// once more when another writer saved it since it was read, unless seen
// (a person's Op.Revision) is not 0.
func (c *Controller) recordRollback(ctx context.Context, who promote.Principal, r promote.Rollout, seen int64, why, what string, noHold bool,
	edit func(*promote.Rollout)) (promote.Rollout, error) {
	return c.retry(ctx, r, seen, func(r *promote.Rollout) error {
		r.State, r.Reason, r.Weight = promote.RolloutRolledBack, why, 0
		if edit != nil {
			edit(r)
		}
		return nil
	}, func(r promote.Rollout) (promote.Rollout, error) {
		view, err := c.cfg.Registry.Rollback(ctx, who, registry.RollbackRequest{Model: r.Model, Environment: r.Environment,
			To: r.Stable, Reason: why, NoHold: noHold, Rollout: &r, RolloutWhat: what})
		if err != nil {
			return r, err
		}
		return *view.Rollout, nil
	})
}

// rolledBack forgets a rolled-back rollout, unless its traffic could not
// be set (weightErr: Tick then gives it the end's traffic until that
// works), and samples its end.
func (c *Controller) rolledBack(ctx context.Context, ended promote.Rollout, d analysis.Decision, weightErr error) {
	ru := c.run(ended.PromotionID)
	if weightErr == nil {
		c.forget(ctx, ended.PromotionID)
	}
	c.sample(ctx, ended, ru, d, eventRolledBack)
}

// route gives an active rollout's candidate the traffic of its step:
// the candidate header's route, and the step's weight or the shadow's
// mirror, as plan's strategy says. When the traffic layer refuses, all traffic goes back to stable
// and the rollout is paused (cannotJudge).
func (c *Controller) route(ctx context.Context, r promote.Rollout, plan *policy.Rollout) error {
	if err := c.cfg.Traffic.SetPinned(ctx, r.Model, r.Environment, true); err != nil {
		return c.cannotJudge(ctx, r, fmt.Sprintf("setting the candidate header's route failed: %v", err))
	}
	if plan.Strategy == policy.StrategyShadow {
		if err := c.cfg.Traffic.SetShadow(ctx, r.Model, r.Environment, shadowShare(plan)); err != nil {
			return c.cannotJudge(ctx, r, fmt.Sprintf("mirroring traffic failed: %v", err))
		}
		return nil
	}
	if err := c.cfg.Traffic.SetWeight(ctx, r.Model, r.Environment, stepWeight(plan, r.Step)); err != nil {
		return c.cannotJudge(ctx, r, fmt.Sprintf("setting the weight failed: %v", err))
	}
	return nil
}

// stepWeight is the candidate's share of the traffic at step i of plan.
func stepWeight(plan *policy.Rollout, i int) float64 { return float64(plan.Steps[i].Weight) / 100 }

// run returns a rollout's in-memory state, nil when there is none.
func (c *Controller) run(id string) *run {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.runs[id]
}

// zero sends all traffic to stable, requests by the candidate header
// included, and stops any mirror.
func (c *Controller) zero(ctx context.Context, r promote.Rollout) error {
	pinErr := c.cfg.Traffic.SetPinned(ctx, r.Model, r.Environment, false)
	var err error
	if r.Strategy == policy.StrategyShadow {
		err = c.cfg.Traffic.SetShadow(ctx, r.Model, r.Environment, 0)
	} else {
		err = c.cfg.Traffic.SetWeight(ctx, r.Model, r.Environment, 0)
	}
	// Both fail alike when the traffic layer does not route the model:
	// one says it.
	return cmp.Or(err, pinErr)
}

// release takes the history tests' judge off ru's splitter before the
// candidate is given all traffic for good (a success), and reports
// whether they failed before it was off: the splitter then took the
// canary's traffic away, which detaching leaves as it is, and the next
// look, asked for at once, rolls it back. Left on, a judge that tripped
// after the success would leave the succeeded candidate no traffic.
func (c *Controller) release(ctx context.Context, ru *run) bool {
	c.detach(ctx, ru)
	if ru.tripped() {
		c.Look()
		return true
	}
	return false
}

// weightRefused is what a judged tick does when the traffic layer refused
// the weight the rollout moves to: it cannot judge, unless the history
// tests failed since the look observed (the splitter's judge tripped, and
// refuses any weight until the run detaches it): the next look, at once,
// judges that failure.
func (c *Controller) weightRefused(ctx context.Context, r promote.Rollout, ru *run, err error) error {
	if ru.tripped() {
		c.Look()
		return nil
	}
	return c.cannotJudge(ctx, r, fmt.Sprintf("setting the weight failed: %v", err))
}

// cannotJudge returns all traffic to stable and pauses the rollout.
func (c *Controller) cannotJudge(ctx context.Context, r promote.Rollout, why string) error {
	return errors.Join(c.zero(ctx, r), c.pause(ctx, r, "cannot judge: "+why+"; all traffic is back on stable", ""))
}

// pause stops a rollout at weight 0 for a person; d is the analysis's
// decision that led there, empty when it did not judge.
func (c *Controller) pause(ctx context.Context, r promote.Rollout, reason string, d analysis.Decision) error {
	r.State, r.Reason, r.Weight = promote.RolloutPaused, reason, 0
	ru := c.forget(ctx, r.PromotionID)
	r, err := c.cfg.Registry.RecordRollout(ctx, registry.RolloutActor, r, "paused")
	if err != nil {
		return c.changed(ctx, r, err)
	}
	c.log.Warn("rollout: paused", append(c.attrs(r), slog.String("reason", reason))...)
	c.sample(ctx, r, ru, d, eventPaused)
	return nil
}

// active reads a rollout that must be running or paused, and, when seen
// is not 0, still at revision seen: the one a person decided the
// operation on (Op.Revision). People's operations need no plan: a rollout
// whose environment lost its plan (the pipeline changed, and the server
// restarted) can still be paused, resumed, aborted or promoted.
func (c *Controller) active(ctx context.Context, id string, seen int64) (promote.Rollout, error) {
	r, err := c.cfg.Registry.Rollout(ctx, id)
	if err != nil {
		return r, err
	}
	if !r.State.Active() {
		return r, promote.Errorf(promote.Conflict, "the rollout of %s %s in %s has ended: %s", r.Model, r.Version, r.Environment, endedWords(r.State))
	}
	if seen != 0 && r.Revision != seen {
		return r, moved(c.WithNext(r), seen)
	}
	return r, nil
}

// endedWords says how a rollout in state s, which is over, ended: "it
// succeeded", "it was rolled back".
func endedWords(s promote.RolloutState) string {
	switch s {
	case promote.RolloutSucceeded:
		return "it succeeded"
	case promote.RolloutRolledBack:
		return "it was rolled back"
	}
	return "it is " + strings.ReplaceAll(string(s), "_", " ")
}

// changed handles an error of a save of the rollout the controller judged
// (r, as read at the tick): when another writer saved the rollout since
// (a person's operation served by another replica), the controller drops
// what it keeps in memory about it, gives the traffic what the stored
// state says, and judges it again from the stored state at the next tick.
// That is no failure: it is logged once, at info level, and nil returned.
// Any other error is returned as is.
func (c *Controller) changed(ctx context.Context, r promote.Rollout, err error) error {
	var moved *promote.RolloutChangedError
	if !errors.As(err, &moved) {
		return err
	}
	c.forget(ctx, r.PromotionID)
	c.log.Info("rollout: changed by another writer since it was read; judged again at the next tick",
		append(c.attrs(r), slog.Int64("revision", moved.Read), slog.Int64("stored", moved.Stored))...)
	c.applyStored(ctx, r.PromotionID)
	return nil
}

// applyStored gives the traffic what the stored rollout id says, after
// an operation that moved it did not go through (or was overtaken).
func (c *Controller) applyStored(ctx context.Context, id string) {
	if stored, err := c.cfg.Registry.Rollout(ctx, id); err == nil {
		c.apply(ctx, stored)
	}
}

// retry makes a change of a rollout (edit) from r and saves it (save):
// when another writer saved the rollout since r was read (the leader
// recording a step, a person's operation through another replica), it
// reads the stored rollout, which must still be active (and at revision
// seen, when that is not 0: then the change is refused), and makes the
// change once more from it. A person's operation so applies to what is
// stored, never overwriting it with a stale view. edit refuses what does
// not apply (a pause of a paused rollout) with an error, which is
// returned.
func (c *Controller) retry(ctx context.Context, r promote.Rollout, seen int64, edit func(*promote.Rollout) error,
	save func(promote.Rollout) (promote.Rollout, error)) (promote.Rollout, error) {
	for again := false; ; again = true {
		if err := edit(&r); err != nil {
			return r, err
		}
		saved, err := save(r)
		var moved *promote.RolloutChangedError
		if err == nil || again || !errors.As(err, &moved) {
			return saved, err
		}
		c.log.Info("rollout: changed by another writer since it was read; reading it again",
			append(c.attrs(r), slog.Int64("revision", moved.Read), slog.Int64("stored", moved.Stored))...)
		if r, err = c.active(ctx, r.PromotionID, seen); err != nil {
			return r, err
		}
	}
}

// operate takes c.op for a person's operation, and counts it: a tick
// that read a rollout's counts without c.op judges them only if no
// operation changed the rollout meanwhile (current).
func (c *Controller) operate() {
	c.op.Lock()
	c.ops++
}

// Pause holds a running rollout at its step and weight: the candidate
// keeps its share of traffic (a shadow stops mirroring at once), and the
// rollout neither advances nor rolls back until Resume. The analysis resumes with its evidence, as after a
// restart or a failover, unless it had failed (then a person's resumption
// overrides the verdict and the analysis starts afresh).
func (c *Controller) Pause(ctx context.Context, who promote.Principal, id, reason string) (promote.Rollout, error) {
	return c.Operate(ctx, who, Op{Verb: OpPause, ID: id, Reason: reason})
}

// pauseBy is Pause of op, under c.op.
func (c *Controller) pauseBy(ctx context.Context, who promote.Principal, op Op) (promote.Rollout, error) {
	id, reason := op.ID, op.Reason
	if _, err := c.failedFirst(ctx, id); err != nil {
		return promote.Rollout{}, err
	}
	r, err := c.active(ctx, id, op.Revision)
	if err != nil {
		return r, err
	}
	r, err = c.retry(ctx, r, op.Revision, func(r *promote.Rollout) error {
		if r.State == promote.RolloutPaused {
			return promote.Errorf(promote.Conflict, "the rollout of %s %s in %s is paused already", r.Model, r.Version, r.Environment)
		}
		r.State, r.Reason = promote.RolloutPaused, withReason("paused by "+who.Name, reason)
		return nil
	}, func(r promote.Rollout) (promote.Rollout, error) {
		return c.cfg.Registry.RecordRollout(ctx, who, r, "paused")
	})
	if err != nil {
		return r, err
	}
	// A shadow's mirror stops now, not at the next tick (which would
	// stop it too, and sets the traffic at every tick, should this fail).
	c.apply(ctx, r)
	c.sample(ctx, r, c.forget(ctx, id), "", eventPaused)
	return r, nil
}

// failedFirst carries out the failure that the run of rollout id keeps,
// if any: a rollback, or a pause, found by the analysis that the store
// refused, and that the next tick would try again. A person's pause or
// resumption made before it would otherwise store the rollout at its
// step's weight (a confirmation, at the next step's) and drop the
// failure, giving the failed candidate its traffic back.
// When the failure cannot be carried out now either, the error says so
// (Conflict): the traffic stays on stable, and an abort rolls back.
// Otherwise it returns the failure it carried out, nil for none.
//
// A run whose history tests failed as the splitter answered (the
// splitter's judge tripped, and the next look would roll back) is such a
// failure too: the look is taken now, and its failure wins.
func (c *Controller) failedFirst(ctx context.Context, id string) (*failure, error) {
	ru := c.run(id)
	if ru == nil || (ru.failed == nil && !ru.tripped()) {
		return nil, nil
	}
	f := ru.failed
	r, err := c.active(ctx, id, 0)
	if err != nil {
		return nil, nil // ended since: the operation says so
	}
	err = c.step(ctx, r)
	if ru = c.run(id); ru != nil && ru.failed == nil && f == nil {
		// Not judged yet (the traffic layer does not route the
		// candidate): the canary has no traffic, and the look rolls
		// it back once it can.
		return nil, promote.Errorf(promote.Conflict, "the rollout of %s %s in %s failed its history tests as the splitter answered, and the rollback that calls for is not carried out yet: "+
			"all traffic stays on stable and it is tried again at every tick (abort rolls it back now)", r.Model, r.Version, r.Environment)
	}
	if ru == nil || ru.failed == nil {
		if f == nil {
			// The look judged the tripped run: its end, or its pause,
			// says why.
			f = &failure{reason: "the canary analysis failed"}
			if stored, rerr := c.cfg.Registry.Rollout(ctx, id); rerr == nil && stored.Reason != "" {
				f.reason = stored.Reason
			}
			if err != nil {
				f.reason += fmt.Sprintf(" (%v)", err)
			}
		}
		return f, nil
	}
	what, why := ru.failed.what()
	if err != nil {
		why += fmt.Sprintf(" (%v)", err)
	}
	return nil, promote.Errorf(promote.Conflict, "the rollout of %s %s in %s failed, and its %s could not be stored yet: %s; all traffic stays on stable and it is tried again at every tick (abort rolls it back now)",
		r.Model, r.Version, r.Environment, what, why)
}

// what says what f's failure leads to (a rollback, or a pause) and why.
func (f *failure) what() (what, why string) {
	if f.pause != "" {
		return "pause", f.pause
	}
	return "rollback", f.reason
}

// Resume continues a paused rollout at its step, whose minimum time and
// requests (a shadow's duration) count again from now. The step's weight
// (the shadow's mirror) is given back at once and recorded with the
// resumption, so that a rollout the controller paused at weight 0 is
// resumed by one event, not one and a step at the next tick. A reason,
// when given, is recorded with the resumption.
//
// A running rollout that waits for a person (a step with confirm that has
// served its minimums) is moved on instead: to its next step at once, or,
// at its last step, to all traffic and success, as PromoteNow.
func (c *Controller) Resume(ctx context.Context, who promote.Principal, id, reason string) (promote.Rollout, error) {
	return c.Operate(ctx, who, Op{Verb: OpResume, ID: id, Reason: reason})
}

// resumeBy is Resume of op, under c.op.
func (c *Controller) resumeBy(ctx context.Context, who promote.Principal, op Op) (promote.Rollout, error) {
	id, reason := op.ID, op.Reason
	// A failure the store refused to record is carried out first, as
	// for a pause, and wins: neither a resumption nor a confirmation
	// gives the failed candidate a weight back, nor resumes the rollout
	// its failure has just paused, which the person has not seen.
	if f, err := c.failedFirst(ctx, id); err != nil || f != nil {
		return c.failureWins(ctx, id, f, err, "resumed")
	}
	r, err := c.active(ctx, id, op.Revision)
	if err != nil {
		return r, err
	}
	if r.WaitsForPerson() {
		return c.confirm(ctx, who, r, op)
	}
	r, err = c.retry(ctx, r, op.Revision, func(r *promote.Rollout) error {
		if r.State != promote.RolloutPaused {
			if r.StepNeeds != nil && r.StepNeeds.Confirm && r.State == promote.RolloutRunning {
				return promote.Errorf(promote.Conflict, "the rollout of %s %s in %s is running and does not wait for a person yet: "+
					"its step waits for one once it has served its minimum time and requests", r.Model, r.Version, r.Environment)
			}
			return promote.Errorf(promote.Conflict, "the rollout of %s %s in %s is %s, not paused", r.Model, r.Version, r.Environment, r.State)
		}
		// No plan of its strategy carries it on (its environment left
		// the pipeline, or its policy rolls out directly or by the other
		// strategy now): nothing could judge it, and the next tick would
		// pause it again. Refused as a go on a rollout waiting for a
		// person is, saying so now; else it runs again where Next says.
		plan, next, err := c.next(*r)
		if err != nil {
			return err
		}
		// The analysis goes on with its evidence (a pause does not make
		// the data gathered before it any less valid, and starting afresh
		// at every resumption would give each one another chance of a
		// false rollback), unless it had failed: a person who resumes a
		// rollout the analysis failed (with automatic rollback off)
		// overrides that verdict, and the analysis starts afresh.
		r.State, r.Reason, r.StepStartedAt, r.StepRequests = promote.RolloutRunning, "", c.cfg.Now(), 0
		// The step, its weight and what it needs that Next says, by the
		// plan that carries the rollout on (its last step for one past
		// it): its minimums count again, and so does a wait for a person
		// after them. None for a shadow, which has no steps: apply, once
		// the resumption is stored, gives its mirror back.
		if next.Steps > 0 {
			r.Step, r.Weight, r.StepNeeds = next.Step, stepWeight(plan, next.Step), needsOf(plan, next.Step, false, false)
		}
		if verdictFailed(r.Verdict) {
			r.AnalysisState = nil
		}
		return nil
	}, func(r promote.Rollout) (promote.Rollout, error) {
		return c.cfg.Registry.RecordRollout(ctx, who, r, withReason("resumed by "+who.Name, reason))
	})
	if err != nil {
		return r, err
	}
	// A weight that cannot be set now is set at the next tick, which
	// applies the step's weight at every tick.
	c.apply(ctx, r)
	c.sample(ctx, r, c.forget(ctx, id), "", eventResumed)
	c.Trigger()
	return r, nil
}

// confirm moves on r, a running rollout that waits for a person at its
// step, as who says (Resume): to its next step at once, whose weight is
// set and whose minimums count from now, or, at the last step, to all
// traffic and success. The analysis goes on with its evidence: the run
// is kept, and its state is stored with the step.
func (c *Controller) confirm(ctx context.Context, who promote.Principal, r promote.Rollout, op Op) (promote.Rollout, error) {
	why := withReason("confirmed by "+who.Name, op.Reason)
	// The next tick pauses a rollout nothing can move on: say so now.
	plan, next, err := c.next(r)
	if err != nil {
		return r, err
	}
	if next.Last {
		return c.promoteNow(ctx, who, r, op.Revision, why, stillWaits)
	}
	ru := c.run(r.PromotionID)
	now := c.cfg.Now()
	r, err = c.retry(ctx, r, op.Revision, func(r *promote.Rollout) error {
		if err := stillWaits(*r); err != nil {
			return err
		}
		next := nextOf(plan, *r)
		if next.Last {
			// Read again at its last step (another writer moved it
			// on): the next resume ends it.
			return promote.Errorf(promote.Conflict, "the rollout of %s %s in %s is at its last step now: resume it again to end it", r.Model, r.Version, r.Environment)
		}
		r.Step = next.Step
		r.Weight = stepWeight(plan, r.Step)
		r.StepStartedAt, r.StepRequests, r.StepNeeds = now, 0, needsOf(plan, r.Step, false, false)
		c.keepAnalysis(r, ru)
		return nil
	}, func(r promote.Rollout) (promote.Rollout, error) {
		return c.cfg.Registry.RecordRollout(ctx, who, r, stepWords(r)+", "+why)
	})
	if err != nil {
		return r, err
	}
	switch {
	case ru != nil && ru.judged && ru == c.run(r.PromotionID):
		// The step counts from what the run read last, as a step the
		// controller takes does; the run's analysis judges on.
		ru.stepCanary, ru.stepStarted, ru.stepBase, ru.stepPending, ru.waitLogged = ru.lastCanary, r.StepStartedAt, 0, false, false
	case ru != nil:
		// A run that has read nothing yet (a restart) cannot tell the
		// new step's requests from the old one's: the next tick starts
		// afresh, from the evidence stored with the step.
		c.forget(ctx, r.PromotionID)
		ru = nil
	}
	// A weight that cannot be set now is set at the next tick, which
	// applies the step's weight at every tick.
	c.apply(ctx, r)
	c.log.Info("rollout: moved on by a person", append(c.attrs(r), slog.String("by", who.Name))...)
	c.sample(ctx, r, ru, "", eventStep)
	c.Trigger()
	return r, nil
}

// stillWaits is a Conflict unless r, as read again after a change by
// another writer, still waits for a person: a confirmation applies to the
// wait it was given for, not to a rollout paused or moved on since.
func stillWaits(r promote.Rollout) error {
	if !r.WaitsForPerson() {
		return promote.Errorf(promote.Conflict, "the rollout of %s %s in %s is %s and no longer waits for a person", r.Model, r.Version, r.Environment, r.State)
	}
	return nil
}

// Abort ends an active rollout as a failure decided by a person: the
// candidate's traffic goes to 0 at once and the environment is rolled back
// (alias, hold, Git commit).
func (c *Controller) Abort(ctx context.Context, who promote.Principal, id, reason string) (promote.Rollout, error) {
	return c.Operate(ctx, who, Op{Verb: OpAbort, ID: id, Reason: reason})
}

// abortBy is Abort of op, under c.op.
func (c *Controller) abortBy(ctx context.Context, who promote.Principal, op Op) (promote.Rollout, error) {
	id := op.ID
	r, err := c.active(ctx, id, op.Revision)
	if err != nil {
		return r, err
	}
	why := withReason("aborted by "+who.Name, op.Reason)
	weightErr := c.zero(ctx, r)
	ended, err := c.recordRollback(ctx, who, r, op.Revision, why, "aborted", false, nil)
	if err != nil {
		c.applyStored(ctx, id) // nothing was rolled back
		return r, errors.Join(weightErr, err)
	}
	c.rolledBack(ctx, ended, "", weightErr)
	return ended, weightErr
}

// PromoteNow ends an active rollout as a success decided by a person: all
// traffic goes to the candidate, and the rollout and its promotion
// succeed without the remaining steps. A failure of the analysis that the
// store refused to record is carried out first, as for a pause, and wins:
// the promotion is refused, naming it (Conflict), so that a person never
// promotes a failed candidate without having seen the failure. A rollout
// the failure paused may then be promoted, by a person who has.
func (c *Controller) PromoteNow(ctx context.Context, who promote.Principal, id, reason string) (promote.Rollout, error) {
	return c.Operate(ctx, who, Op{Verb: OpPromote, ID: id, Reason: reason})
}

// promoteBy is PromoteNow of op, under c.op.
func (c *Controller) promoteBy(ctx context.Context, who promote.Principal, op Op) (promote.Rollout, error) {
	if f, err := c.failedFirst(ctx, op.ID); err != nil || f != nil {
		return c.failureWins(ctx, op.ID, f, err, "promoted")
	}
	r, err := c.active(ctx, op.ID, op.Revision)
	if err != nil {
		return r, err
	}
	return c.promoteNow(ctx, who, r, op.Revision, withReason("promoted by "+who.Name, op.Reason), nil)
}

// failureWins refuses a person's operation (the rollout is not done, as
// "promoted") when failedFirst could not carry out a failure the store
// refused before (err), or has just carried it out (f): the person
// decided without having seen it. The refusal names the failure and,
// when the rollout can be read, the state it left.
func (c *Controller) failureWins(ctx context.Context, id string, f *failure, err error, done string) (promote.Rollout, error) {
	if err != nil {
		return promote.Rollout{}, err
	}
	what, why := f.what()
	r, rerr := c.cfg.Registry.Rollout(ctx, id)
	if rerr != nil {
		return r, promote.Errorf(promote.Conflict, "the rollout of promotion %s is not %s: its analysis had failed, and the %s that called for is carried out now "+
			"(all traffic on stable): %s", id, done, what, why)
	}
	return r, promote.Errorf(promote.Conflict, "the rollout of %s %s in %s is not %s: its analysis had failed, and the %s that called for is carried out now "+
		"(the rollout is %s, all traffic on stable): %s", r.Model, r.Version, r.Environment, done, what, strings.ReplaceAll(string(r.State), "_", " "), why)
}

// promoteNow gives r's candidate all traffic and ends r as a success, why,
// decided by who, under c.op; seen is Op.Revision; check, when given,
// refuses a rollout that no longer qualifies when it is read again after
// another writer's change.
func (c *Controller) promoteNow(ctx context.Context, who promote.Principal, r promote.Rollout, seen int64, why string, check func(promote.Rollout) error) (promote.Rollout, error) {
	if c.release(ctx, c.run(r.PromotionID)) {
		return r, promote.Errorf(promote.Conflict, "the rollout of %s %s in %s is not promoted: its history tests have just failed as the splitter answered, "+
			"and the rollback that calls for is carried out at the next look (all traffic on stable)", r.Model, r.Version, r.Environment)
	}
	if r.Strategy == policy.StrategyShadow {
		if err := c.cfg.Traffic.SetShadow(ctx, r.Model, r.Environment, 0); err != nil {
			return r, err
		}
	}
	if err := c.cfg.Traffic.SetWeight(ctx, r.Model, r.Environment, 1); err != nil {
		return r, err
	}
	r, err := c.retry(ctx, r, seen, func(r *promote.Rollout) error {
		if check != nil {
			if err := check(*r); err != nil {
				return err
			}
		}
		r.Weight = 1
		return nil
	}, func(r promote.Rollout) (promote.Rollout, error) {
		return c.cfg.Registry.FinishRollout(ctx, who, r, why)
	})
	if err != nil {
		c.applyStored(ctx, r.PromotionID) // not finished
		return r, err
	}
	c.sample(ctx, r, c.forget(ctx, r.PromotionID), "", eventSucceeded)
	return r, nil
}

func withReason(what, reason string) string {
	if reason = strings.TrimSpace(reason); reason != "" {
		return what + ": " + reason
	}
	return what
}

// Log attribute keys.
const (
	attrModel     = "model"
	attrVersion   = "version"
	attrEnv       = "env"
	attrPromotion = "promotion"
	attrStep      = "step"
	attrWeight    = "weight"
	attrEvent     = "event"
)

func (c *Controller) attrs(r promote.Rollout) []any {
	return []any{slog.String(attrModel, r.Model), slog.String(attrVersion, r.Version), slog.String(attrEnv, r.Environment),
		slog.String(attrPromotion, r.PromotionID), slog.Int(attrStep, r.Step+1), slog.Float64(attrWeight, r.Weight)}
}

// verdictFailed reports whether a stored verdict is the analysis's
// failure.
func verdictFailed(raw json.RawMessage) bool {
	var v struct {
		Decision analysis.Decision `json:"decision"`
	}
	return len(raw) > 0 && json.Unmarshal(raw, &v) == nil && v.Decision == analysis.Fail
}
