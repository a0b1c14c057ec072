package gitops

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/promote-ml/promote/internal/overlay"
	"github.com/promote-ml/promote/promote"
)

// Registry is what the Reconciler needs of the registry: what each
// environment should run, and where to report what became of it.
// registry.Service implements it.
type Registry interface {
	// Deployments lists the live versions of model (every model when "")
	// in env (every environment when "").
	Deployments(ctx context.Context, model, env string) ([]promote.Deployment, error)
	// Delivered records that d is on the deployed branch at commit.
	Delivered(ctx context.Context, d promote.Deployment, commit string) error
	// Undeliverable records that d cannot be carried out, with why.
	Undeliverable(ctx context.Context, d promote.Deployment, reason string) error
	// SetCommitError records why the last attempt to commit d failed,
	// where a person reads it; "" clears it.
	SetCommitError(ctx context.Context, d promote.Deployment, message string) error
	// Version returns a registered version; NotFound when there is none.
	Version(ctx context.Context, model, version string) (promote.Version, error)
}

// Defaults of ReconcilerConfig.
const (
	DefaultInterval      = 30 * time.Second
	DefaultRetryDelay    = 5 * time.Second
	DefaultMaxRetryDelay = time.Minute
)

// ReconcilerConfig configures a Reconciler.
type ReconcilerConfig struct {
	Writer   *Writer
	Registry Registry
	// Interval is the period of the full sweep that repairs whatever a
	// missed cue or a crash left behind (DefaultInterval).
	Interval time.Duration
	// RetryDelay is the pause before a change that hit a passing error
	// (the remote unreachable, the branch racing) is tried again
	// (DefaultRetryDelay); it doubles at each retry while passes keep
	// failing, up to MaxRetryDelay (DefaultMaxRetryDelay, and at least
	// RetryDelay), or until the sweep's Interval takes over.
	RetryDelay    time.Duration
	MaxRetryDelay time.Duration
	// Committed, when set, is called after each change that reached the
	// branch, e.g. to cue the local agent.
	Committed func(d promote.Deployment, commit string)
	// Metrics, when set, receive what waits for its commit, each failed
	// attempt and each commit, per environment (NewMetrics). Run removes
	// their series when it returns: a replica that does not reconcile
	// shows none.
	Metrics *Metrics
	// Now stamps the commits for Metrics (time.Now).
	Now    func() time.Time
	Logger *slog.Logger
}

// Reconciler makes the GitOps repository pin what the registry says is
// live. It compares each environment's live versions in the registry with
// what the environment's overlay pins on the branch and commits only the
// differences, so it is idempotent: run again, or after a crash between
// the registry's update and the push, it commits what is missing and
// nothing twice. A change already pinned is recorded as delivered with the
// commit that carries it.
type Reconciler struct {
	cfg ReconcilerConfig
	log *slog.Logger

	mu sync.Mutex
	// cue holds the (model, environment) pairs asked for by Trigger;
	// kick wakes Run.
	cue  map[[2]string]bool
	kick chan struct{}
	// reviews remembers the pull request open for each pending change in
	// ModePullRequest, by change (Live.PromotionID).
	reviews map[string]PullRequest
}

// NewReconciler returns a reconciler; it does nothing until Run or
// Reconcile.
func NewReconciler(cfg ReconcilerConfig) (*Reconciler, error) {
	var problems []error
	if cfg.Writer == nil {
		problems = append(problems, errors.New("no writer"))
	}
	if cfg.Registry == nil {
		problems = append(problems, errors.New("no registry"))
	}
	if cfg.Interval < 0 || cfg.RetryDelay < 0 || cfg.MaxRetryDelay < 0 {
		problems = append(problems, fmt.Errorf("interval %s, retry delay %s and maximum retry delay %s may not be negative",
			cfg.Interval, cfg.RetryDelay, cfg.MaxRetryDelay))
	}
	if len(problems) > 0 {
		return nil, promote.Errorf(promote.Invalid, "gitops reconciler: %v", errors.Join(problems...))
	}
	if cfg.Interval == 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.RetryDelay == 0 {
		cfg.RetryDelay = DefaultRetryDelay
	}
	if cfg.MaxRetryDelay == 0 {
		cfg.MaxRetryDelay = DefaultMaxRetryDelay
	}
	cfg.MaxRetryDelay = max(cfg.MaxRetryDelay, cfg.RetryDelay)
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Reconciler{cfg: cfg, log: cfg.Logger, cue: map[[2]string]bool{}, kick: make(chan struct{}, 1),
		reviews: map[string]PullRequest{}}, nil
}

// Trigger asks Run to reconcile model in env soon. It never blocks; cues
// that arrive while Run is busy are coalesced.
func (r *Reconciler) Trigger(model, env string) {
	r.mu.Lock()
	r.cue[[2]string{model, env}] = true
	r.mu.Unlock()
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// Run reconciles everything at once, then each cue from Trigger, then
// everything again Interval after the last full pass, until ctx ends. A
// change that hit a passing error is tried again after RetryDelay, then
// after twice as long at each failing retry, up to MaxRetryDelay (or
// Interval, when the sweep comes first); a full pass that goes through
// starts that over. It returns nil when ctx ends: errors are logged,
// never fatal, since the next sweep repairs them.
// Its metrics' series are removed when it returns.
func (r *Reconciler) Run(ctx context.Context) error {
	defer r.cfg.Metrics.reset()
	sweep := time.NewTicker(r.cfg.Interval)
	defer sweep.Stop()
	retry := time.NewTimer(r.cfg.RetryDelay)
	retry.Stop()
	defer retry.Stop()
	armed := false
	// delay is the pause before the next retry: RetryDelay, doubled at
	// each retry while passes keep failing, so that a remote refusing
	// the credentials is not asked again every few seconds for as long as
	// that lasts. From Interval on the sweep alone tries again.
	delay := r.cfg.RetryDelay
	passOver := func(scopes [][2]string) {
		again := r.logOutcome(r.reconcile(ctx, scopes))
		if len(scopes) == 1 && scopes[0] == [2]string{} {
			// A full pass: the next sweep comes Interval after it, and
			// after one that went through, a failure is tried again
			// soon.
			sweep.Reset(r.cfg.Interval)
			if !again {
				delay = r.cfg.RetryDelay
			}
		}
		if again && !armed && delay < r.cfg.Interval {
			retry.Reset(delay)
			armed = true
			delay = min(2*delay, r.cfg.MaxRetryDelay)
		}
	}
	everything := [][2]string{{"", ""}}
	passOver(everything)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-sweep.C:
			passOver(everything)
		case <-retry.C:
			armed = false
			passOver(everything)
		case <-r.kick:
			r.mu.Lock()
			keys := make([][2]string, 0, len(r.cue))
			for k := range r.cue {
				keys = append(keys, k)
			}
			clear(r.cue)
			r.mu.Unlock()
			sort.Slice(keys, func(i, j int) bool {
				return keys[i][0] < keys[j][0] || keys[i][0] == keys[j][0] && keys[i][1] < keys[j][1]
			})
			// One pass for every cue: the branch is read once, then
			// each change committed.
			passOver(keys)
		}
	}
}

// logOutcome logs a pass's failures and reports whether it should be
// tried again.
func (r *Reconciler) logOutcome(out Outcome, err error) bool {
	if err != nil {
		if !errors.Is(err, context.Canceled) {
			r.log.Warn("gitops: reconcile", slog.Any("error", err))
		}
		return true
	}
	again := false
	for _, a := range out.Actions {
		if a.Kind == ActionRetry {
			again = true
		}
	}
	return again
}

// ActionKind is what the reconciler did about one deployment.
type ActionKind string

// The kinds of Action.
const (
	// ActionCommitted: the change was committed and pushed to the branch.
	ActionCommitted ActionKind = "committed"
	// ActionRecorded: the branch pinned the change already (a crash after
	// the push, or someone else committed it); it was recorded as
	// delivered.
	ActionRecorded ActionKind = "recorded"
	// ActionReview: a pull request carries the change; it waits for a
	// merge.
	ActionReview ActionKind = "review"
	// ActionFailed: the change cannot be carried out (the overlay does not
	// render or declares no such model, the pull request was closed); the
	// registry was told.
	ActionFailed ActionKind = "failed"
	// ActionRetry: a passing error; the change is tried again later.
	ActionRetry ActionKind = "retry"
)

// Action is the reconciler's outcome for one deployment that was not in
// sync (or whose delivery was not yet recorded).
type Action struct {
	Kind       ActionKind
	Deployment promote.Deployment
	// Commit is the commit that carries the change (committed, recorded,
	// review).
	Commit      string
	PullRequest *PullRequest
	// Err is why the change failed or is tried again.
	Err error
}

// Outcome is what one pass of Reconcile did. Deployments already pinned
// and recorded are counted, not listed.
type Outcome struct {
	InSync  int
	Actions []Action
}

// Reconcile compares what the registry wants in env (every environment
// when "") for model (every model when "") with what the overlays pin on
// the branch, and commits, records or fails each difference once. The
// error is for a pass that could not look at all (the registry or the
// remote unreachable); a change's own trouble is an Action.
func (r *Reconciler) Reconcile(ctx context.Context, model, env string) (Outcome, error) {
	return r.reconcile(ctx, [][2]string{{model, env}})
}

// reconcile is Reconcile over several (model, environment) scopes at once,
// as Run's cues come: the branch is read once for the whole pass, not once
// per scope and environment, and each change is then committed on its own.
// A scope the registry could not be read for is left out, and its error
// returned once the others are done.
func (r *Reconciler) reconcile(ctx context.Context, scopes [][2]string) (Outcome, error) {
	var out Outcome
	var deps []promote.Deployment
	var errs []error
	// waiting says which changes wait for their commit after the pass,
	// by scope; a scope that could not be read reports nothing.
	waiting := make([]map[[2]string]bool, len(scopes))
	taken := map[[2]string]bool{}
	for i, s := range scopes {
		ds, err := r.cfg.Registry.Deployments(ctx, s[0], s[1])
		if err != nil {
			errs = append(errs, fmt.Errorf("read the registry's live versions: %w", err))
			continue
		}
		waiting[i] = map[[2]string]bool{}
		for _, d := range ds {
			k := [2]string{d.Model, d.Environment}
			waiting[i][k] = d.Pending()
			if !taken[k] {
				taken[k] = true
				deps = append(deps, d)
			}
		}
	}
	defer func() {
		for i, s := range scopes {
			if waiting[i] != nil {
				r.cfg.Metrics.seen(s[0], s[1], waiting[i])
			}
		}
	}()
	byEnv := map[string][]promote.Deployment{}
	var envs []string
	for _, d := range deps {
		if _, ok := byEnv[d.Environment]; !ok {
			envs = append(envs, d.Environment)
		}
		byEnv[d.Environment] = append(byEnv[d.Environment], d)
	}
	if len(envs) == 0 {
		return out, errors.Join(errs...)
	}
	each, head, err := r.cfg.Writer.PinnedEach(ctx, envs)
	if err != nil {
		// The branch could not be read: each environment meets the
		// same error, without waiting for it again.
		for _, e := range envs {
			r.attempted(ctx, e, byEnv[e], err)
		}
		return out, errors.Join(append(errs, err)...)
	}
	for i, e := range envs {
		// An overlay that cannot be read pins nothing: each change then
		// meets the overlay's error on its own.
		for _, d := range byEnv[e] {
			a, done := r.reconcileOne(ctx, d, each[i], head)
			if done {
				out.InSync++
				continue
			}
			r.logAction(a)
			r.observe(ctx, a)
			still := d.Pending() && a.Kind != ActionCommitted && a.Kind != ActionRecorded && a.Kind != ActionFailed
			for j, s := range scopes {
				if k := [2]string{d.Model, d.Environment}; waiting[j] != nil && inScope(s, k) {
					waiting[j][k] = still
				}
			}
			out.Actions = append(out.Actions, a)
		}
	}
	return out, errors.Join(errs...)
}

// inScope reports whether the (model, environment) pair k is in scope s,
// where "" stands for every model or every environment.
func inScope(s, k [2]string) bool {
	return (s[0] == "" || s[0] == k[0]) && (s[1] == "" || s[1] == k[1])
}

// maxCommitError bounds the error text recorded for a person, in bytes.
const maxCommitError = 1000

// commitErrorText is err as a person reads it beside a change: one line,
// valid UTF-8, bounded.
func commitErrorText(err error) string {
	s := oneLine(strings.ToValidUTF8(err.Error(), "\uFFFD"))
	if len(s) <= maxCommitError {
		return s
	}
	s = s[:maxCommitError]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s + "…"
}

// failure reports whether a's error is a failed attempt to deliver its
// change, to be counted and shown: not a pass interrupted by its end, nor
// a merge that is read at the next pass.
func failure(a Action) bool {
	return a.Err != nil && (a.Kind == ActionRetry || a.Kind == ActionFailed) &&
		!errors.Is(a.Err, context.Canceled) && !errors.Is(a.Err, errMerged)
}

// observe counts a's outcome in the metrics and records or clears its
// change's commit error in the registry.
func (r *Reconciler) observe(ctx context.Context, a Action) {
	d := a.Deployment
	switch {
	case a.Kind == ActionCommitted || a.Kind == ActionRecorded:
		// Recording the commit cleared the change's error.
		r.cfg.Metrics.committed(d.Environment, r.cfg.Now())
	case failure(a):
		r.cfg.Metrics.failed(d.Environment, a.Err)
		if d.Pending() && a.Kind == ActionRetry {
			r.setCommitError(ctx, d, commitErrorText(a.Err))
		}
	case a.Kind == ActionReview:
		// The pull request carries the change: nothing failed.
		r.setCommitError(ctx, d, "")
	}
}

// attempted counts a failed attempt at env, whose branch could not be
// read, and records err for each of deps that waits for its commit.
func (r *Reconciler) attempted(ctx context.Context, env string, deps []promote.Deployment, err error) {
	if errors.Is(err, context.Canceled) {
		return
	}
	r.cfg.Metrics.failed(env, err)
	for _, d := range deps {
		if d.Pending() {
			r.setCommitError(ctx, d, commitErrorText(err))
		}
	}
}

// setCommitError records msg as d's commit error when it differs from
// the one d carries: an unchanged error is not written again at every
// retry.
func (r *Reconciler) setCommitError(ctx context.Context, d promote.Deployment, msg string) {
	was := ""
	if d.CommitError != nil {
		was = d.CommitError.Message
	}
	if msg == was {
		return
	}
	if err := r.cfg.Registry.SetCommitError(ctx, d, msg); err != nil && !errors.Is(err, context.Canceled) {
		r.log.Warn("gitops: record the commit error", slog.String(attrModel, d.Model), slog.String(attrEnv, d.Environment),
			slog.String(attrPromotion, d.PromotionID), slog.Any("error", err))
	}
}

// reconcileOne brings one deployment in line with what the branch pins in
// its environment (env). done is true when there was nothing to do.
func (r *Reconciler) reconcileOne(ctx context.Context, d promote.Deployment, env EnvPins, head string) (Action, bool) {
	a := Action{Deployment: d}
	p, ok := env.Pins[d.Model]
	inSync := ok && p.Version == d.Version && p.Digest == d.Digest
	switch {
	case inSync && !d.Pending():
		return a, true
	case inSync:
		// The branch has it and the registry does not know: a crash
		// after the push, a merge, or another writer. Record it with the
		// commit that carries it.
		commit, found, err := r.cfg.Writer.FindCommit(ctx, d.PromotionID)
		if err == nil && !found {
			// No commit has its Promotion-Id (a squash merge that kept
			// the title alone, a person's pin): the one that brought the
			// pin carries it, not what came on top since.
			commit, err = r.cfg.Writer.PinnedSince(ctx, head, d.Environment, d.Model)
		}
		if err != nil {
			return r.retry(a, err), false
		}
		return r.delivered(ctx, a, ActionRecorded, commit), false
	}
	if pr, ok := r.review(d); ok {
		merged, closed, err := r.cfg.Writer.PRStatus(ctx, fmt.Sprint(pr.Number))
		switch {
		case err != nil:
			return r.retry(a, err), false
		case closed && !merged:
			r.forget(d)
			c := change(d)
			return r.failed(ctx, a, closedError(pr, c.reviewBranch(), r.cfg.Writer.Branch(), d.Version, d.RollbackOf != "")), false
		case !merged:
			return r.updateReview(ctx, a, pr)
		}
		// Merged, but the branch read before the merge: the next pass
		// finds it pinned.
		r.forget(d)
		return r.retry(a, fmt.Errorf("pull request %s %w", prRef(pr), errMerged)), false
	}
	if ok {
		if err := r.unknownPin(ctx, d, p); err != nil {
			if !d.Pending() {
				return r.retry(a, err), false
			}
			// A change still waiting for its commit over an unknown pin:
			// usually the first promotion over a scaffold's placeholder.
			// But if its commit is on the branch, the branch has moved
			// past it (a store restored from a backup taken while it
			// waited): it is recorded as delivered, and the next pass
			// leaves the newer pin alone as above.
			commit, found, ferr := r.cfg.Writer.FindCommit(ctx, d.PromotionID)
			if ferr != nil {
				return r.retry(a, ferr), false
			}
			if found {
				return r.delivered(ctx, a, ActionRecorded, commit), false
			}
		}
	}
	switch {
	case d.Pending():
	case env.Err != nil:
		// Not that it pins something else: it cannot be read at all,
		// and the commit below meets the same error.
		r.log.Warn("gitops: the overlay cannot be read; trying to commit the registry's live version again",
			slog.String(attrModel, d.Model), slog.String(attrVersion, d.Version), slog.String(attrEnv, d.Environment), slog.Any("error", env.Err))
	default:
		r.log.Warn("gitops: the overlay no longer pins the registry's live version; committing it again",
			slog.String(attrModel, d.Model), slog.String(attrVersion, d.Version), slog.String(attrEnv, d.Environment))
	}
	res, err := r.cfg.Writer.Promote(ctx, change(d))
	switch {
	case err != nil && permanent(err):
		return r.failed(ctx, a, err), false
	case err != nil:
		return r.retry(a, err), false
	case res.NoChange:
		commit := res.Commit
		if commit == "" {
			commit = res.Head
		}
		return r.delivered(ctx, a, ActionRecorded, commit), false
	case res.PullRequest != nil:
		r.remember(d, *res.PullRequest)
		a.Kind, a.Commit, a.PullRequest = ActionReview, res.Commit, res.PullRequest
		return a, false
	}
	return r.delivered(ctx, a, ActionCommitted, res.Commit), false
}

// unknownPin returns an error when the overlay pins, in place of d's
// version, an artifact the registry does not have: a version it never
// registered, or one of another digest. That is a branch ahead of the
// store — a store restored from an older backup, or a pin a person wrote —
// and committing the registry's live version over it would take
// production back to what the backup knew. The overlay is left alone until
// a person makes the pinned version live (registered and promoted while
// the reconciler is off: registered alone, it is a known version that is
// not the live one, and is committed over) or puts the overlay back; each
// pass logs the error and counts it as a conflict in the delivery failures
// metric.
func (r *Reconciler) unknownPin(ctx context.Context, d promote.Deployment, p overlay.Pin) error {
	v, err := r.cfg.Registry.Version(ctx, d.Model, p.Version)
	switch {
	case promote.ErrorCode(err) == promote.NotFound:
		// Registering the version is not enough to keep it: once the
		// registry has it, the overlay is a known version that is not
		// the live one, and the next pass commits the live one over it.
		return fmt.Errorf("the %s overlay pins %s %s (%s), a version the registry does not have, where the registry's live version is %s: "+
			"the store may be older than the branch (restored from a backup?), or the branch was rewritten to an older commit; Promote does not commit over it. "+
			"To keep %s, register it and promote it to %s with the server started without --gitops-remote, then start it with GitOps again "+
			"(registered but not live, it is committed over at the next pass); to go back to %s, pin it in the overlay by hand: %w",
			d.Environment, d.Model, p.Version, p.Digest, d.Version, p.Version, d.Environment, d.Version, errUnknownPin)
	case err != nil:
		return fmt.Errorf("read version %s %s, which the %s overlay pins: %w", d.Model, p.Version, d.Environment, err)
	case p.Digest != "" && v.Digest != p.Digest:
		return fmt.Errorf("the %s overlay pins %s %s with digest %s, but the registry has that version with %s: "+
			"Promote does not commit over it; fix the overlay or the registration by hand: %w", d.Environment, d.Model, p.Version, p.Digest, v.Digest, errUnknownPin)
	}
	return nil
}

// updateReview rebuilds the review branch of a's open pull request pr on
// the branch's head when the branch moved under it, so that the pull
// request stays the same one and merges cleanly.
func (r *Reconciler) updateReview(ctx context.Context, a Action, pr PullRequest) (Action, bool) {
	d := a.Deployment
	res, err := r.cfg.Writer.UpdateReview(ctx, change(d))
	switch {
	case err != nil && permanent(err):
		// The change no longer applies to the branch: the pull request
		// would not render once merged either.
		r.forget(d)
		return r.failed(ctx, a, err), false
	case err != nil:
		a.PullRequest = &pr
		return r.retry(a, fmt.Errorf("update the review branch of pull request %s: %w", prRef(pr), err)), false
	case res.NoChange:
		commit := res.Commit
		if commit == "" {
			commit = res.Head
		}
		return r.delivered(ctx, a, ActionRecorded, commit), false
	}
	a.Kind, a.Commit, a.PullRequest = ActionReview, res.Commit, &pr
	return a, false
}

// errMerged marks a pull request that merged after the branch was read:
// the next pass reads it again. It is no failure.
var errMerged = errors.New("merged; the branch is read again")

// permanent reports whether a writer's error will not go away by trying
// again: the overlay does not render, the pin or overlay is invalid, or a
// person closed the change's pull request.
func permanent(err error) bool {
	if errors.Is(err, ErrRender) || errors.Is(err, ErrOverlay) || errors.Is(err, errPRClosed) {
		return true
	}
	var pe *promote.Error
	return errors.As(err, &pe) && pe.Code == promote.Invalid
}

// change is the commit that carries d. A promotion's alias reason
// ("promoted") says nothing the subject does not; a rollback's is the
// person's or the controller's reason, and its trailer.
func change(d promote.Deployment) Change {
	reason := ""
	if d.RollbackOf != "" {
		reason = d.Reason
	}
	return Change{
		Environment: d.Environment,
		Pin:         overlay.Pin{Model: d.Model, Version: d.Version, URI: d.URI, Digest: d.Digest},
		PromotionID: d.PromotionID,
		ApprovedBy:  d.ApprovedBy,
		Gate:        d.Gate,
		Reason:      reason,
		RollbackOf:  d.RollbackOf,
	}
}

func (r *Reconciler) delivered(ctx context.Context, a Action, kind ActionKind, commit string) Action {
	a.Kind, a.Commit = kind, commit
	// The branch carries the change: a pull request that was open for it
	// is done with, however it merged.
	r.forget(a.Deployment)
	// A change recorded already is recorded again only when it was
	// committed anew: the branch had stopped pinning it (a hand edit, or
	// its history rewritten and its commit gone), and the new commit is
	// the one that carries it now, and is audited like any other.
	if !a.Deployment.Pending() && (kind != ActionCommitted || commit == a.Deployment.Commit) {
		return a
	}
	if err := r.cfg.Registry.Delivered(ctx, a.Deployment, commit); err != nil {
		return r.retry(a, fmt.Errorf("record commit %s: %w", commit, err))
	}
	if r.cfg.Committed != nil {
		r.cfg.Committed(a.Deployment, commit)
	}
	return a
}

func (r *Reconciler) failed(ctx context.Context, a Action, why error) Action {
	a.Kind, a.Err = ActionFailed, why
	if !a.Deployment.Pending() {
		// A change the registry recorded as delivered is not undone by a
		// later overlay problem; it is logged and tried again.
		return r.retry(a, why)
	}
	if err := r.cfg.Registry.Undeliverable(ctx, a.Deployment, why.Error()); err != nil {
		return r.retry(a, fmt.Errorf("record the failure (%v): %w", why, err))
	}
	if a.Deployment.RollbackOf != "" {
		// A rollback is not undone by an overlay problem: the registry
		// keeps it live, and it is tried again until a person repairs
		// the overlay.
		return r.retry(a, why)
	}
	return a
}

func (r *Reconciler) retry(a Action, err error) Action {
	a.Kind, a.Err = ActionRetry, err
	return a
}

func (r *Reconciler) review(d promote.Deployment) (PullRequest, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	pr, ok := r.reviews[d.PromotionID]
	return pr, ok
}

func (r *Reconciler) remember(d promote.Deployment, pr PullRequest) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reviews[d.PromotionID] = pr
}

func (r *Reconciler) forget(d promote.Deployment) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.reviews, d.PromotionID)
}

func prRef(pr PullRequest) string {
	if pr.URL != "" {
		return pr.URL
	}
	return fmt.Sprintf("#%d", pr.Number)
}

func (r *Reconciler) logAction(a Action) {
	attrs := []any{slog.String(attrModel, a.Deployment.Model), slog.String(attrVersion, a.Deployment.Version),
		slog.String(attrEnv, a.Deployment.Environment), slog.String(attrPromotion, a.Deployment.PromotionID),
		slog.String("action", string(a.Kind))}
	if a.Commit != "" {
		attrs = append(attrs, slog.String(attrCommit, a.Commit))
	}
	if a.Err != nil {
		r.log.Warn("gitops: reconcile", append(attrs, slog.Any("error", a.Err))...)
		return
	}
	r.log.Info("gitops: reconcile", attrs...)
}
