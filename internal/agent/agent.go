// Package agent is Promote's local GitOps agent, for the embedded default
// without Kubernetes: it watches the GitOps repository's branch and applies
// each environment's rendered desired state to local model endpoints, so
// that a commit is what changes what serves. It is the contract Argo CD or
// Flux fulfil in a cluster, kept by a process: Promote's writer commits a
// pin, the agent fetches the commit, renders deploy/overlays/<env> with
// kustomize exactly as a cluster would, reads the pinned models from the
// rendered ConfigMaps (overlay.DesiredState) and points each environment's
// route for a model at the endpoint that serves the pinned artifact.
//
// # Sync
//
// Agent.Run polls: every Config.Interval it fetches the branch, and when
// the head moved, the endpoints file changed or Agent.Trigger asked, it
// syncs. A sync checks the head out into the agent's own clone (a hard
// reset and clean), then for each environment renders the overlay, reads
// its desired state, resolves every pin to an endpoint and swaps the
// environment's route table in one step. It fails safe, like Argo CD's
// Degraded and OutOfSync: when an environment's overlay does not render, a
// pinned artifact has no endpoint or the endpoints file is bad, the
// environment keeps serving what it served, and the error shows in
// Agent.Status until a later commit or endpoints file fixes it. The agent
// never switches an environment to something it cannot name.
//
// # Endpoints
//
// A local model endpoint is an HTTP server that serves one model artifact.
// The endpoints file (Config.Endpoints, YAML or JSON, read strictly,
// required to be good by New and reread when it changes) says which one
// serves which artifact, by model and digest, the identity a pin carries:
//
//	endpoints:
//	  - model: credit-risk
//	    digest: sha256:0ac0a2899cf5d92667ac3ba688eca2d686bd542c8e072eb33648d8fa79f60b29
//	    url: http://127.0.0.1:9001
//
// Config.Resolve does the same in-process, for a caller (the demo) that
// starts the model servers itself; the file is asked first.
//
// # HTTP
//
// The Agent is an http.Handler that serves the route tables, relative to
// where it is mounted:
//
//	/{env}/{model}/{path...}   reverse-proxied to {endpoint}/{path...}, query kept;
//	                           the response carries Promote-Environment,
//	                           Promote-Model, Promote-Version (the version
//	                           that answered), Promote-Commit and, through
//	                           a splitter, Promote-Track
//	400                        a path with a . or .. segment, escaped or not:
//	                           requests never climb above the endpoint's URL
//	404                        an unknown environment or a model it does not serve
//	503                        an environment with nothing applied yet
//	502                        the endpoint did not answer
//
// Errors are JSON: {"error": {"code": "...", "message": "..."}}.
// Agent.StatusHandler serves Agent.Status as JSON on GET, wherever it is
// mounted (at /agent/status, for instance).
//
// # The traffic splitter
//
// A route is one backend per model per environment: the whole of the
// environment's traffic for the model goes to the pinned version. The
// built-in traffic splitter (a later piece, internal/traffic) takes the
// route table over rather than replacing it: a route becomes a set of
// weighted backends (the stable version and a canary) behind the same
// /{env}/{model}/ path, still built only from what a commit pins, still
// swapped whole per environment, and still kept as it is when the desired
// state cannot be applied. Lookup is where it reads the applied route;
// the agent remains what decides which versions exist, and the splitter
// only how traffic divides between them.
package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/promote-ml/promote/internal/gitclone"
	"github.com/promote-ml/promote/internal/overlay"
	"github.com/promote-ml/promote/internal/traffic"
	"github.com/promote-ml/promote/internal/wait"
	"github.com/promote-ml/promote/promote"
)

// Defaults of Config.
const (
	DefaultBranch   = gitclone.DefaultBranch
	DefaultInterval = 5 * time.Second
	DefaultTimeout  = traffic.DefaultTimeout
)

// Config configures an Agent.
type Config struct {
	// Remote is the GitOps repository: an https:// or ssh:// URL, or a
	// local path (a bare repository, for instance).
	Remote string
	// Branch is the branch the agent deploys (DefaultBranch).
	Branch string
	// Dir is the agent's own working directory: a clone of Remote that it
	// creates when missing and resets on every sync. One agent per
	// directory, and never a Writer's.
	Dir string
	// Environments are the environments to apply; when empty, every
	// directory under deploy/overlays of the synced commit. When set, the
	// other overlay directories are ignored: the agent says which once,
	// when it first sees them (and again when they change), and shows
	// them in Status.
	Environments []string
	// Credentials authenticate the fetches over HTTPS.
	Credentials gitclone.Credentials
	// Endpoints is the path of the endpoints file (see the package doc).
	Endpoints string
	// Resolve returns the base URL of the endpoint that serves a pin's
	// artifact, for pins the endpoints file does not list. Endpoints or
	// Resolve (or both) must be set.
	Resolve func(p overlay.Pin) (url string, ok bool)
	// Interval is how often Run fetches the branch (DefaultInterval).
	Interval time.Duration
	// Transport carries the proxied requests (http.DefaultTransport).
	Transport http.RoundTripper
	// Timeout bounds a request proxied through a splitter, from receiving
	// it to the end of the answer (DefaultTimeout): an endpoint that has
	// not answered by then gets a 504 sent for it, and counts a timeout
	// against its health (traffic.Config.Timeout). A model that takes
	// longer to answer needs a longer one. Config.Splitter may change it
	// per environment.
	Timeout time.Duration
	// Logger receives one line per changed route and per failed sync.
	Logger *slog.Logger
	// Metrics, when set, receive the sync's health after every poll of
	// Run and every Sync (see NewMetrics).
	Metrics *Metrics
	// Now stamps the syncs (time.Now).
	Now func() time.Time
	// Traffic, when set, serves every route through a traffic.Splitter
	// with these metrics (per model, environment and track), so that a
	// rollout controller can divide an environment's traffic between the
	// stable version and a candidate (see SetWeight). Without it routes
	// are plain reverse proxies.
	Traffic *traffic.Metrics
	// Progressive reports whether env rolls changes out progressively
	// (canary or shadow): there a commit that pins a new version makes it
	// the route's candidate, at weight 0 until the rollout controller
	// gives it traffic, while the version pinned before stays stable. It
	// needs Traffic.
	Progressive func(env string) bool
	// Splitter, when set, adjusts the configuration of env's splitters
	// before they are made: stickiness, health probes, shadow
	// comparison. Every splitter checks its backends every
	// HealthInterval (probing HealthPath when set) from when it is made
	// until its route goes, so that a backend ejected after failures is
	// readmitted when its cool-off ends.
	Splitter func(env string, c *traffic.Config)
	// Stable, when set, returns the pin of the version that keeps the
	// stable traffic while version of model rolls out in env (the
	// registry's active rollout), if one does. The agent asks it for a
	// route it has not served before in a progressive environment (after
	// a restart, say), so that a candidate never gets traffic the rollout
	// controller did not give it, and for a version a commit newly pins
	// there: answered with that version itself (a rollback returned to
	// it), the version takes all the traffic at once instead of becoming
	// a candidate.
	Stable func(env, model, version string) (overlay.Pin, bool)
	// Applied, when set, is called after every sync that checked out a
	// commit and applied its environments (some of which may have
	// failed): the rollout controller then starts a rollout whose
	// candidate was just deployed at once, rather than at its next
	// interval. It must not block.
	Applied func()
}

// LogValue implements slog.LogValuer: the configuration without secrets.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("remote", gitclone.RedactURL(c.Remote)),
		slog.String("branch", c.Branch),
		slog.String("dir", c.Dir),
		slog.Any("environments", c.Environments),
		slog.String("endpoints", c.Endpoints),
		slog.Duration("interval", c.Interval),
		slog.Duration("timeout", c.Timeout),
	)
}

// setDefaults fills in the defaults and reports every problem at once.
func (c *Config) setDefaults() error {
	problems := gitclone.Problems(c.Remote, c.Dir, &c.Branch)
	seen := map[string]bool{}
	for _, env := range c.Environments {
		if err := promote.ValidateName("environment", env); err != nil {
			problems = append(problems, err.Error())
		} else if seen[env] {
			problems = append(problems, fmt.Sprintf("environment %s is listed twice", env))
		}
		seen[env] = true
	}
	if c.Endpoints == "" && c.Resolve == nil {
		problems = append(problems, "no endpoints: set an endpoints file or a resolver")
	}
	switch {
	case c.Interval < 0:
		problems = append(problems, fmt.Sprintf("interval %s is negative", c.Interval))
	case c.Interval == 0:
		c.Interval = DefaultInterval
	}
	switch {
	case c.Timeout < 0:
		problems = append(problems, fmt.Sprintf("timeout %s is negative", c.Timeout))
	case c.Timeout == 0:
		c.Timeout = DefaultTimeout
	}
	if c.Transport == nil {
		c.Transport = http.DefaultTransport
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Progressive != nil && c.Traffic == nil {
		problems = append(problems, "progressive environments need Traffic (the splitters' metrics)")
	}
	if len(problems) > 0 {
		return promote.Errorf(promote.Invalid, "agent configuration: %s", strings.Join(problems, "; "))
	}
	return nil
}

// Agent applies the GitOps repository's desired state to local model
// endpoints and serves the result (see the package doc). Its methods may be
// called from several goroutines; syncs take turns.
type Agent struct {
	cfg     Config
	clone   *gitclone.Clone
	log     *slog.Logger
	turn    chan struct{} // held by the sync in progress
	trigger wait.Cue      // a pending Trigger

	// transport is Config.Transport, without the model servers' own
	// Promote-* response headers (ownHeaders).
	transport http.RoundTripper

	// tables is the applied route table of each environment: an immutable
	// map of immutable tables, replaced whole, so that a request reads a
	// consistent table without a lock.
	tables atomic.Pointer[map[string]*table]

	// Guarded by turn.
	endpoints endpointsFile
	synced    plumbing.Hash // the head the last sync applied
	fetchErr  string        // the last fetch error logged
	syncErr   bool          // the last sync of Run was incomplete, and logged so

	mu    sync.Mutex // guards state
	state state

	// splitters are the routes' splitters by environment and model, kept
	// across syncs (with their weights and health) while the route
	// exists. Guarded by splitMu.
	splitMu   sync.Mutex
	splitters map[[2]string]*traffic.Splitter
	// shadows are the shares SetShadow mirrors to candidates, by the same
	// key, so that a candidate's mirror follows its endpoint when it
	// moves. Guarded by splitMu.
	shadows map[[2]string]float64
}

// state is what Status reports besides the route tables.
type state struct {
	head     string
	lastSync time.Time
	fetchErr string
	syncErr  string
	envs     map[string]*envState
	ignored  []string // overlays of the checked-out commit not in Config.Environments
}

// envState is one environment's outcome of the last sync.
type envState struct {
	commit    string // the commit whose desired state is applied
	appliedAt time.Time
	err       string
}

// New returns an agent for cfg, creating cfg.Dir as an empty repository
// whose origin is cfg.Remote when it does not exist yet. It reads the
// endpoints file, and refuses one it cannot read or that has mistakes. It
// does no network I/O and serves nothing until the first sync.
func New(cfg Config) (*Agent, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	// An endpoints file that is missing or wrong at start is bad input,
	// refused before anything is created: an agent started on it would
	// serve nothing and say so only in its log. Once running, a bad
	// rewrite keeps what was served (see Run).
	if cfg.Endpoints != "" {
		if err := CheckEndpoints(cfg.Endpoints); err != nil {
			return nil, err
		}
	}
	a := &Agent{
		cfg:       cfg,
		transport: ownHeaders{next: cfg.Transport},
		log:       cfg.Logger,
		turn:      make(chan struct{}, 1),
		trigger:   wait.NewCue(),
		endpoints: endpointsFile{path: cfg.Endpoints},
		state:     state{envs: map[string]*envState{}},
	}
	a.tables.Store(&map[string]*table{})
	var err error
	if a.clone, err = gitclone.Open(cfg.Dir, cfg.Remote, cfg.Branch, "agent", cfg.Credentials, cfg.Logger); err != nil {
		return nil, err
	}
	return a, nil
}

// lock takes the agent's turn, or gives up when ctx ends.
func (a *Agent) lock(ctx context.Context) error {
	select {
	case a.turn <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (a *Agent) unlock() { <-a.turn }

// Trigger asks Run for a sync soon, whether or not anything changed (a
// webhook's push notification, a model server that just started). It
// never blocks; triggers that arrive before the sync starts count as one.
func (a *Agent) Trigger() { a.trigger.Send() }

// Run syncs once, then polls the branch every Config.Interval and syncs
// when its head moved, the endpoints file changed or Trigger asked, until
// ctx ends; it then returns nil. Failures are logged and shown in Status,
// and polling goes on: a later commit can repair what an earlier one broke.
func (a *Agent) Run(ctx context.Context) error {
	defer a.closeSplitters()
	wait.Loop{Every: a.cfg.Interval, Now: a.trigger}.Run(ctx, func(ctx context.Context, why wait.Why) wait.Next {
		a.poll(ctx, why != wait.Timer)
		return wait.Next{}
	})
	return nil
}

// poll fetches and syncs when force is set or something changed.
func (a *Agent) poll(ctx context.Context, force bool) {
	if err := a.lock(ctx); err != nil {
		return
	}
	defer a.unlock()
	defer a.observe()
	head, err := a.fetch(ctx)
	if err != nil {
		if ctx.Err() == nil && err.Error() != a.fetchErr {
			a.log.Warn("agent: fetch failed; serving what was applied", slog.String(attrError, err.Error()))
		}
		a.fetchErr = err.Error()
		return
	}
	if a.fetchErr != "" {
		a.log.Info("agent: fetch works again", slog.String(attrCommit, head.String()))
		a.fetchErr = ""
	}
	if !force && head == a.synced && !a.endpoints.changed() {
		return
	}
	if err := a.apply(head); err != nil {
		a.log.Warn("agent: sync incomplete; the environments it names keep serving what they served",
			slog.String(attrCommit, head.String()), slog.String(attrError, err.Error()))
		a.syncErr = true
		return
	}
	if a.syncErr {
		// Said as the fetch's recovery is: whoever saw the warning in the
		// log sees in the log that it is over.
		a.log.Info("agent: sync complete again; every environment serves the head", slog.String(attrCommit, head.String()))
		a.syncErr = false
	}
}

// Sync fetches the branch and applies its head now, whether or not
// anything changed, and returns the status after it. The error joins every
// failure: the fetch, the checkout, the endpoints file and each
// environment that kept its last state.
func (a *Agent) Sync(ctx context.Context) (Status, error) {
	if err := a.lock(ctx); err != nil {
		return a.Status(), err
	}
	defer a.unlock()
	defer a.observe()
	head, err := a.fetch(ctx)
	if err != nil {
		return a.Status(), err
	}
	err = a.apply(head)
	return a.Status(), err
}

// observe sets Config.Metrics from the status after a poll or a sync: a
// poll that finds the head unchanged and everything applied counts as a
// success too, so that the time of the last one tells an agent that
// stopped syncing from one with nothing new to apply.
func (a *Agent) observe() {
	if a.cfg.Metrics != nil {
		a.cfg.Metrics.observe(a.Status(), a.cfg.Now())
	}
}

// fetch fetches the branch and returns its head, recording the outcome for
// Status.
func (a *Agent) fetch(ctx context.Context) (plumbing.Hash, error) {
	head, err := a.fetchHead(ctx)
	a.mu.Lock()
	defer a.mu.Unlock()
	a.state.fetchErr = ""
	if err != nil {
		a.state.fetchErr = err.Error()
		return plumbing.ZeroHash, err
	}
	a.state.head = head.String()
	return head, nil
}

func (a *Agent) fetchHead(ctx context.Context) (plumbing.Hash, error) {
	return a.clone.Fetch(ctx)
}

// checkout resets the working directory, index and local branch to head,
// discarding anything else in the directory.
func (a *Agent) checkout(head plumbing.Hash) error {
	return a.clone.Checkout(head)
}

// apply checks head out and applies each environment's desired state. It
// is called with the turn held.
func (a *Agent) apply(head plumbing.Hash) error {
	a.synced = head
	commit := head.String()
	syncErr := func(err error) error {
		a.mu.Lock()
		a.state.syncErr, a.state.lastSync = err.Error(), a.cfg.Now()
		a.mu.Unlock()
		return err
	}
	if err := a.checkout(head); err != nil {
		return syncErr(fmt.Errorf("check out %s: %w", short(commit), err))
	}
	a.noteIgnored()
	resolve, err := a.resolver()
	if err != nil {
		return syncErr(err)
	}
	envs, err := a.environments()
	if err != nil {
		return syncErr(err)
	}
	var errs []error
	for _, env := range envs {
		err := a.applyEnv(env, commit, resolve)
		a.mu.Lock()
		es := a.state.envs[env]
		if es == nil {
			es = &envState{}
			a.state.envs[env] = es
		}
		es.err = ""
		if err != nil {
			es.err = err.Error()
			errs = append(errs, fmt.Errorf("%s: %w", env, err))
		} else {
			es.commit, es.appliedAt = commit, a.cfg.Now()
		}
		a.mu.Unlock()
	}
	a.mu.Lock()
	a.state.syncErr, a.state.lastSync = "", a.cfg.Now()
	a.mu.Unlock()
	if a.cfg.Applied != nil {
		a.cfg.Applied()
	}
	return errors.Join(errs...)
}

// environments lists the environments to apply: the configured ones, or
// every overlay of the checked-out commit and every environment applied
// before, so that one whose overlay disappeared keeps serving and reports
// why rather than vanishing.
func (a *Agent) environments() ([]string, error) {
	if len(a.cfg.Environments) > 0 {
		return a.cfg.Environments, nil
	}
	envs, err := overlay.Environments(a.cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("find the environments: %w", err)
	}
	for env := range *a.tables.Load() {
		if !slices.Contains(envs, env) {
			envs = append(envs, env)
		}
	}
	slices.Sort(envs)
	return envs, nil
}

// noteIgnored records the overlay directories of the checked-out commit
// whose environments Config.Environments does not name, and logs them when
// they differ from what the last sync saw: once at start for a scaffolded
// overlay the pipeline does not use, rather than an error at every sync.
func (a *Agent) noteIgnored() {
	if len(a.cfg.Environments) == 0 {
		return
	}
	overlays, err := overlay.Environments(a.cfg.Dir)
	if err != nil {
		return // the configured environments' own errors say what is wrong
	}
	var ignored []string
	for _, env := range overlays {
		if !slices.Contains(a.cfg.Environments, env) {
			ignored = append(ignored, env)
		}
	}
	a.mu.Lock()
	before := a.state.ignored
	a.state.ignored = ignored
	a.mu.Unlock()
	if len(ignored) > 0 && !slices.Equal(before, ignored) {
		dirs := make([]string, len(ignored))
		for i, env := range ignored {
			dirs[i] = overlay.OverlayPath(env)
		}
		a.log.Info("agent: ignoring overlays of environments it does not deploy",
			slog.Any("overlays", dirs), slog.Any("environments", a.cfg.Environments))
	}
}

// resolver returns how this sync finds a pin's endpoint: the endpoints
// file (read now), then Config.Resolve.
func (a *Agent) resolver() (func(overlay.Pin) (string, bool), error) {
	var byPin map[endpointKey]string
	if a.cfg.Endpoints != "" {
		eps, err := a.endpoints.load()
		if err != nil {
			return nil, err
		}
		byPin = eps
	}
	return func(p overlay.Pin) (string, bool) {
		if u, ok := byPin[endpointKey{p.Model, p.Digest}]; ok {
			return u, true
		}
		if a.cfg.Resolve != nil {
			return a.cfg.Resolve(p)
		}
		return "", false
	}, nil
}

// short abbreviates a commit hash for messages.
func short(commit string) string {
	if len(commit) > 12 {
		return commit[:12]
	}
	return commit
}

// Log attribute keys.
const (
	attrModel    = "model"
	attrVersion  = "version"
	attrEnv      = "env"
	attrCommit   = "commit"
	attrDigest   = "digest"
	attrEndpoint = "endpoint"
	attrError    = "error"
)
