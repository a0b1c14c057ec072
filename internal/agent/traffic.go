package agent

import (
	"context"
	"fmt"
	"net/url"

	"github.com/promote-ml/promote/internal/overlay"
	"github.com/promote-ml/promote/internal/traffic"
	"github.com/promote-ml/promote/promote"
)

// splitPlan is a route to serve through a splitter: what the commit pins,
// and the route that served before (nil for a new one).
type splitPlan struct {
	env     string
	next    Route
	url     *url.URL
	prev    *route
	resolve func(overlay.Pin) (string, bool)
}

// splitterOf returns the splitter of model in env, creating it.
func (a *Agent) splitterOf(env, model string) (*traffic.Splitter, error) {
	a.splitMu.Lock()
	defer a.splitMu.Unlock()
	key := [2]string{env, model}
	if sp := a.splitters[key]; sp != nil {
		return sp, nil
	}
	cfg := traffic.Config{Model: model, Env: env, Metrics: a.cfg.Traffic, Transport: a.cfg.Transport, Logger: a.log}
	if a.cfg.Splitter != nil {
		a.cfg.Splitter(env, &cfg)
	}
	sp, err := traffic.New(cfg)
	if err != nil {
		return nil, err
	}
	if cfg.HealthPath != "" {
		// Probed until dropSplitters closes it.
		go sp.Run(context.Background())
	}
	if a.splitters == nil {
		a.splitters = map[[2]string]*traffic.Splitter{}
	}
	a.splitters[key] = sp
	return sp, nil
}

// midRollout gives a plan for a route new to this agent, in a progressive
// environment, the stable version of its rollout as the route before it,
// when the version is mid-rollout (Config.Stable), so that the candidate
// gets no traffic the controller did not give it. It changes no splitter:
// applyEnv resolves every plan before it changes any.
func (a *Agent) midRollout(p *splitPlan) error {
	if p.prev != nil || a.cfg.Stable == nil || a.cfg.Progressive == nil || !a.cfg.Progressive(p.env) {
		return nil
	}
	pin, ok := a.cfg.Stable(p.env, p.next.Model, p.next.Version)
	if !ok || pin.Version == p.next.Version {
		return nil
	}
	raw, ok := p.resolve(pin)
	if !ok {
		return fmt.Errorf("no endpoint serves %s %s, the stable version of the rollout of %s (%s)", pin.Model, pin.Version, p.next.Version, pin.Digest)
	}
	su, err := parseEndpointURL(raw)
	if err != nil {
		return fmt.Errorf("the endpoint of %s %s: %w", pin.Model, pin.Version, err)
	}
	p.prev = &route{Route: Route{Model: pin.Model, Version: pin.Version, Digest: pin.Digest, URI: pin.URI, Endpoint: su.String()}}
	return nil
}

// splitRoute points a route's splitter at what the commit pins. In a
// progressive environment a newly pinned version becomes the candidate at
// weight 0 while the version that had the traffic stays stable; a commit
// that pins the stable version again (a rollback) drops the candidate; a
// candidate that took all the traffic (its rollout succeeded) is the
// stable version of the next.
func (a *Agent) splitRoute(p splitPlan) (*route, error) {
	sp, err := a.splitterOf(p.env, p.next.Model)
	if err != nil {
		return nil, err
	}
	next := p.next
	backend := traffic.Backend{Version: next.Version, URL: p.url}
	progressive := a.cfg.Progressive != nil && a.cfg.Progressive(p.env)
	if p.prev == nil || !progressive {
		if err := sp.SetStable(backend); err != nil {
			return nil, err
		}
		return &route{Route: next, proxy: sp}, sp.SetCanary(nil, 0)
	}
	prev := p.prev.Route
	if prev.StableVersion != "" && next.Version == prev.Version {
		// The same candidate: its rollout goes on at its weight, up to and
		// including all the traffic at its last step.
		next.StableVersion, next.StableEndpoint = prev.StableVersion, prev.StableEndpoint
		return &route{Route: next, proxy: sp}, nil
	}
	stable := Route{Version: prev.Version, Endpoint: prev.Endpoint}
	if prev.StableVersion != "" && sp.Weights() < 1 {
		stable = Route{Version: prev.StableVersion, Endpoint: prev.StableEndpoint}
	}
	if next.Version == stable.Version {
		// The stable version is pinned again (a rollback), or a candidate
		// that took all the traffic is pinned still.
		if err := sp.SetStable(backend); err != nil {
			return nil, err
		}
		return &route{Route: next, proxy: sp}, sp.SetCanary(nil, 0)
	}
	su, err := url.Parse(stable.Endpoint)
	if err != nil {
		return nil, err
	}
	if err := sp.SetStable(traffic.Backend{Version: stable.Version, URL: su}); err != nil {
		return nil, err
	}
	if err := sp.SetCanary(&backend, 0); err != nil {
		return nil, err
	}
	next.StableVersion, next.StableEndpoint = stable.Version, stable.Endpoint
	return &route{Route: next, proxy: sp}, nil
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
	return sp.SetWeight(0)
}

// Ready reports whether env routes version of model, as its candidate or
// (the first version there) outright, so that a rollout of it can begin
// (rollout.Traffic).
func (a *Agent) Ready(_ context.Context, model, env, version string) bool {
	rt, _, err := a.routeOf(model, env)
	return err == nil && rt.Version == version
}
