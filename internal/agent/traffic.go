package agent

import (
	"context"
	"fmt"
	"net/http"
	"net/url"

	"github.com/promote-ml/promote/internal/overlay"
	"github.com/promote-ml/promote/internal/traffic"
	"github.com/promote-ml/promote/promote"
)

// splitPlan is a route to serve through a splitter: what the commit pins,
// the route that served before (nil for a new one), and, once decide has
// run, what the splitter must become.
type splitPlan struct {
	env     string
	next    Route
	url     *url.URL
	prev    *route
	resolve func(overlay.Pin) (string, bool)
	// asked: midRollout asked Config.Stable about next already.
	asked bool

	// Set by decide.
	stable     traffic.Backend
	stablePin  overlay.Pin      // the stable version's pin, while a candidate rolls out
	canary     *traffic.Backend // nil: no candidate
	sameCanary bool             // the candidate goes on at its weight
}

// splitterOf returns the splitter of model in env, creating it.
func (a *Agent) splitterOf(env, model string) (*traffic.Splitter, error) {
	a.splitMu.Lock()
	defer a.splitMu.Unlock()
	key := [2]string{env, model}
	if sp := a.splitters[key]; sp != nil {
		return sp, nil
	}
	cfg := traffic.Config{Model: model, Env: env, Metrics: a.cfg.Traffic, Transport: a.transport,
		Timeout: a.cfg.Timeout, Logger: a.log}
	if a.cfg.Transport == http.DefaultTransport {
		// The splitter's own transport, which its fast path (a
		// traffic.Server in front, FastRoute) stands in for, dropping the
		// fields the agent sets as ownHeaders does.
		cfg.Transport, cfg.DropResponseFields = nil, routeHeaders
	}
	if a.cfg.Splitter != nil {
		a.cfg.Splitter(env, &cfg)
	}
	sp, err := traffic.New(cfg)
	if err != nil {
		return nil, err
	}
	// Checked until dropSplitters or closeSplitters closes it, with or
	// without a health path: a backend ejected after failures is
	// readmitted only by a health check or by a request that weighs its
	// health, and a route with no candidate sends none of those, so its
	// only backend, back up, would stay ejected for good (its gauge at 0,
	// its probation never ended).
	go sp.Run(context.Background())
	if a.splitters == nil {
		a.splitters = map[[2]string]*traffic.Splitter{}
	}
	a.splitters[key] = sp
	return sp, nil
}

// midRollout gives a plan for a route new to this agent, in a progressive
// environment, the stable version of its rollout as the route before it,
// when the version is mid-rollout (Config.Stable), so that the candidate
// gets no traffic the controller did not give it. decide then resolves
// the stable version's endpoint; neither changes a splitter: applyEnv
// plans every route before it changes any.
func (a *Agent) midRollout(p *splitPlan) {
	if p.prev != nil || a.cfg.Stable == nil || a.cfg.Progressive == nil || !a.cfg.Progressive(p.env) {
		return
	}
	p.asked = true
	pin, ok := a.cfg.Stable(p.env, p.next.Model, p.next.Version)
	if !ok || pin.Version == p.next.Version {
		return
	}
	p.prev = &route{Route: Route{Model: pin.Model, Version: pin.Version, Digest: pin.Digest, URI: pin.URI}}
}

// decide works out what the route's splitter becomes, resolving every
// version it keeps to the endpoint that serves it now (an endpoint may
// have moved since the route was made), and changes nothing. In a
// progressive environment a newly pinned version becomes the candidate at
// weight 0 while the version that had the traffic stays stable; a commit
// that pins the stable version again (a rollback) drops the candidate; a
// candidate that took all the traffic (its rollout succeeded) is the
// stable version of the next.
func (a *Agent) decide(p *splitPlan) error {
	next := p.next
	p.stable, p.canary, p.sameCanary = traffic.Backend{Version: next.Version, URL: p.url}, nil, false
	progressive := a.cfg.Progressive != nil && a.cfg.Progressive(p.env)
	if p.prev == nil || !progressive {
		return nil
	}
	prev := p.prev
	if next.Version != prev.Version && a.stableOutright(p) {
		// A rollback returned to next's version: it takes all the traffic
		// at once, as a rollback does, rather than wait as a candidate
		// for weights no rollout will give it.
		return nil
	}
	candidate := &traffic.Backend{Version: next.Version, URL: p.url}
	if prev.StableVersion != "" && next.Version == prev.Version {
		// The same candidate: its rollout goes on at its weight, up to and
		// including all the traffic at its last step.
		p.canary, p.sameCanary = candidate, true
		return a.keepStable(p, prev.stablePin, prev.StableEndpoint)
	}
	stable, was := overlay.Pin{Model: prev.Model, Version: prev.Version, URI: prev.URI, Digest: prev.Digest}, prev.Endpoint
	if prev.StableVersion != "" && a.weight(p.env, next.Model) < 1 {
		stable, was = prev.stablePin, prev.StableEndpoint
	}
	if next.Version == stable.Version {
		// The stable version is pinned again (a rollback), or a candidate
		// that took all the traffic is pinned still.
		return nil
	}
	p.canary = candidate
	return a.keepStable(p, stable, was)
}

// stableOutright reports whether the registry names the version p's
// commit newly pins the stable version of its environment itself
// (Config.Stable answers with that version): the version a rollback
// returned to. A person's rollback after a canary took all the traffic
// pins the version before it, which would otherwise become a candidate at
// weight 0 against the rolled-back version, and no rollout would ever
// move the traffic.
func (a *Agent) stableOutright(p *splitPlan) bool {
	if p.asked || a.cfg.Stable == nil {
		return false
	}
	p.asked = true
	pin, ok := a.cfg.Stable(p.env, p.next.Model, p.next.Version)
	return ok && pin.Version == p.next.Version
}

// keepStable makes pin, a version the commit no longer pins, the plan's
// stable version, at the endpoint that serves it now: an endpoint that
// moved is followed. One the endpoints no longer name keeps was, the
// endpoint it had, if any: the stable version keeps serving what it
// served.
func (a *Agent) keepStable(p *splitPlan, pin overlay.Pin, was string) error {
	raw, ok := p.resolve(pin)
	switch {
	case !ok && was != "":
		raw = was
	case !ok:
		return fmt.Errorf("no endpoint serves %s %s, the stable version of the rollout of %s (%s)", pin.Model, pin.Version, p.next.Version, pin.Digest)
	}
	u, err := parseEndpointURL(raw)
	if err != nil {
		return fmt.Errorf("the endpoint of %s %s: %w", pin.Model, pin.Version, err)
	}
	p.stable, p.stablePin = traffic.Backend{Version: pin.Version, URL: u}, pin
	return nil
}

// weight returns the candidate's weight in the splitter of model in env (0
// without one).
func (a *Agent) weight(env, model string) float64 {
	a.splitMu.Lock()
	sp := a.splitters[[2]string{env, model}]
	a.splitMu.Unlock()
	if sp == nil {
		return 0
	}
	return sp.Weights()
}

// splitRoute makes a route's splitter what decide planned.
func (a *Agent) splitRoute(p splitPlan) (*route, error) {
	sp, err := a.splitterOf(p.env, p.next.Model)
	if err != nil {
		return nil, err
	}
	next := p.next
	if err := sp.SetStable(p.stable); err != nil {
		return nil, err
	}
	rt := &route{Route: next, proxy: sp,
		fields: http.Header{HeaderEnvironment: {p.env}, HeaderModel: {next.Model}, HeaderCommit: {next.Commit}}}
	if !p.sameCanary {
		a.setShadowShare(p.env, next.Model, 0) // a share mirrored to the candidate that was
	}
	switch {
	case p.canary == nil:
		return rt, sp.SetCanary(nil, 0)
	case p.sameCanary:
		// Only an endpoint that moved is set, at the weight the candidate
		// has: the controller's weight is not written over.
		if p.prev.Endpoint != next.Endpoint {
			if err := sp.MoveCanary(p.canary); err != nil {
				return nil, err
			}
			if err := a.moveShadow(p.env, next.Model, sp, p.canary); err != nil {
				return nil, err
			}
		}
	default:
		if err := sp.SetCanary(p.canary, 0); err != nil {
			return nil, err
		}
	}
	rt.StableVersion, rt.StableEndpoint, rt.stablePin = p.stable.Version, p.stable.URL.String(), p.stablePin
	return rt, nil
}

// moveShadow points the mirror of model's splitter in env at the
// candidate's new endpoint, when SetShadow set one.
func (a *Agent) moveShadow(env, model string, sp *traffic.Splitter, candidate *traffic.Backend) error {
	a.splitMu.Lock()
	share := a.shadows[[2]string{env, model}]
	a.splitMu.Unlock()
	if share == 0 {
		return nil
	}
	return sp.SetShadow(candidate, share)
}

// dropSplitters closes the splitters of env's models that next no longer
// routes.
func (a *Agent) dropSplitters(env string, next *table) {
	a.splitMu.Lock()
	defer a.splitMu.Unlock()
	for key, sp := range a.splitters {
		if key[0] == env && next.routes[key[1]] == nil {
			sp.Close()
			delete(a.splitters, key)
			delete(a.shadows, key)
		}
	}
}

// closeSplitters closes every splitter: their probes and mirrors stop.
// Requests still arriving are proxied, without a mirror.
func (a *Agent) closeSplitters() {
	a.splitMu.Lock()
	defer a.splitMu.Unlock()
	for _, sp := range a.splitters {
		sp.Close()
	}
}

// route returns env's applied route for model and its splitter.
func (a *Agent) routeOf(model, env string) (*route, *traffic.Splitter, error) {
	if a.cfg.Traffic == nil {
		return nil, nil, promote.Errorf(promote.Conflict, "the agent runs without splitters: it cannot divide traffic")
	}
	t := (*a.tables.Load())[env]
	if t == nil || t.routes[model] == nil {
		return nil, nil, promote.Errorf(promote.NotFound, "the agent routes no %s in %s", model, env)
	}
	a.splitMu.Lock()
	sp := a.splitters[[2]string{env, model}]
	a.splitMu.Unlock()
	if sp == nil {
		return nil, nil, promote.Errorf(promote.NotFound, "the agent routes no %s in %s", model, env)
	}
	return t.routes[model], sp, nil
}

// SetWeight gives the candidate of model in env the share weight of its
// traffic (rollout.Traffic). A Conflict when the route has no candidate.
func (a *Agent) SetWeight(_ context.Context, model, env string, weight float64) error {
	_, sp, err := a.routeOf(model, env)
	if err != nil {
		return err
	}
	return sp.SetWeight(weight)
}

// SetShadow mirrors the share of model's requests in env to its candidate,
// which then answers none (rollout.Traffic).
func (a *Agent) SetShadow(_ context.Context, model, env string, share float64) error {
	rt, sp, err := a.routeOf(model, env)
	if err != nil {
		return err
	}
	if share == 0 {
		a.setShadowShare(env, model, 0)
		return sp.SetShadow(nil, 0)
	}
	if rt.StableVersion == "" {
		return promote.Errorf(promote.Conflict, "%s in %s has no candidate to mirror traffic to", model, env)
	}
	u, err := url.Parse(rt.Endpoint)
	if err != nil {
		return err
	}
	// The shadow first: it checks the share, so that a bad one changes
	// nothing. The candidate of a shadow answers no request.
	if err := sp.SetShadow(&traffic.Backend{Version: rt.Version, URL: u}, share); err != nil {
		return err
	}
	a.setShadowShare(env, model, share)
	return sp.SetWeight(0)
}

// SetPinned says whether requests carrying the candidate header reach the
// candidate of model in env (rollout.Traffic). A candidate of another
// version, deployed by a later commit, opens the route again.
func (a *Agent) SetPinned(_ context.Context, model, env string, on bool) error {
	_, sp, err := a.routeOf(model, env)
	if err != nil {
		return err
	}
	sp.SetPinned(on)
	return nil
}

// SetJudge attaches j to the splitter of model in env, or detaches the
// one attached when j is nil (traffic.Splitter.SetJudge): it is told of
// every stable and canary request as it is answered, and takes the
// canary's traffic away at the request that fails it. NotFound when the
// agent routes no such model in env.
func (a *Agent) SetJudge(_ context.Context, model, env string, j traffic.Judge) error {
	_, sp, err := a.routeOf(model, env)
	if err != nil {
		return err
	}
	sp.SetJudge(j)
	return nil
}

// Tripped reports whether the judge attached to the splitter of model in
// env has taken the canary's traffic away (false without a judge).
// NotFound when the agent routes no such model in env.
func (a *Agent) Tripped(_ context.Context, model, env string) (bool, error) {
	_, sp, err := a.routeOf(model, env)
	if err != nil {
		return false, err
	}
	return sp.Tripped(), nil
}

// setShadowShare records the share SetShadow mirrors of model in env.
func (a *Agent) setShadowShare(env, model string, share float64) {
	a.splitMu.Lock()
	defer a.splitMu.Unlock()
	key := [2]string{env, model}
	if share == 0 {
		delete(a.shadows, key)
		return
	}
	if a.shadows == nil {
		a.shadows = map[[2]string]float64{}
	}
	a.shadows[key] = share
}

// Ready reports whether env routes version of model, as its candidate or
// (the first version there) outright, so that a rollout of it can begin
// (rollout.Traffic).
func (a *Agent) Ready(_ context.Context, model, env, version string) bool {
	rt, _, err := a.routeOf(model, env)
	return err == nil && rt.Version == version
}
