package agent

import (
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/promote-ml/promote/internal/gitclone"
	"github.com/promote-ml/promote/internal/traffic"
	"github.com/promote-ml/promote/promote"
)

// Status is what the agent has applied and what stands in its way, as
// Agent.StatusHandler serves it.
type Status struct {
	// Remote and Branch are what the agent watches (the remote without a
	// password).
	Remote string `json:"remote"`
	Branch string `json:"branch"`
	// Head is the branch's head at the last successful fetch.
	Head string `json:"head,omitempty"`
	// LastSync is when the last sync ended, successful or not.
	LastSync time.Time `json:"last_sync,omitzero"`
	// Error is a failure that held back every environment: the fetch, the
	// checkout or the endpoints file.
	Error string `json:"error,omitempty"`
	// Environments are sorted by name.
	Environments []EnvironmentStatus `json:"environments"`
	// Ignored are the environments whose overlay directories the synced
	// commit has but the agent does not deploy (Config.Environments names
	// others), sorted by name.
	Ignored []string `json:"ignored,omitempty"`
}

// EnvironmentStatus is one environment's applied state.
type EnvironmentStatus struct {
	Name string `json:"name"`
	// Commit is the commit whose desired state the environment serves;
	// "" when nothing was applied yet.
	Commit string `json:"commit,omitempty"`
	// AppliedAt is when that state was last applied.
	AppliedAt time.Time `json:"applied_at,omitzero"`
	// InSync is set when the environment serves the desired state of the
	// head, and nothing failed. It says what the agent routes to, not
	// whether the endpoints answer: see each route's Backends.
	InSync bool `json:"in_sync"`
	// Error says why the environment did not take the last synced commit
	// (kustomize's error, an artifact with no endpoint); it keeps serving
	// Commit's routes meanwhile.
	Error string `json:"error,omitempty"`
	// Routes are the applied routes, sorted by model.
	Routes []RouteStatus `json:"routes"`
}

// RouteStatus is an applied route and the health of its endpoints.
type RouteStatus struct {
	Route
	// Backends are the endpoints the route's splitter sends requests to:
	// the stable version's and, while a rollout runs, the candidate's
	// (canary, and shadow while its requests are mirrored). None without
	// splitters (Config.Traffic).
	Backends []BackendStatus `json:"backends,omitempty"`
}

// BackendStatus is one endpoint of a route as its splitter sees it.
type BackendStatus struct {
	Track    traffic.Track `json:"track"`
	Version  string        `json:"version"`
	Endpoint string        `json:"endpoint"`
	// Healthy is false while the splitter keeps the endpoint out of
	// rotation: ejected after timeouts or connection errors in a row,
	// until its cool-off ends, or failing its health checks.
	Healthy bool `json:"healthy"`
}

// Status returns what the agent has applied, a copy safe to keep.
func (a *Agent) Status() Status {
	tables := *a.tables.Load()
	a.mu.Lock()
	st := a.state
	s := Status{Remote: gitclone.RedactURL(a.cfg.Remote), Branch: a.cfg.Branch, Head: st.head, LastSync: st.lastSync,
		Environments: []EnvironmentStatus{}}
	var errs []string
	for _, e := range []string{st.fetchErr, st.syncErr} {
		if e != "" {
			errs = append(errs, e)
		}
	}
	s.Error = strings.Join(errs, "; ")
	s.Ignored = slices.Clone(st.ignored)
	names := sortedKeys(st.envs)
	for env := range tables {
		if st.envs[env] == nil {
			names = append(names, env)
		}
	}
	slices.Sort(names)
	for _, env := range names {
		es := EnvironmentStatus{Name: env, Routes: []RouteStatus{}}
		if e := st.envs[env]; e != nil {
			es.Commit, es.AppliedAt, es.Error = e.commit, e.appliedAt, e.err
		}
		if t := tables[env]; t != nil {
			for _, model := range sortedKeys(t.routes) {
				es.Routes = append(es.Routes, RouteStatus{Route: t.routes[model].Route})
			}
		}
		es.InSync = es.Error == "" && s.Error == "" && es.Commit != "" && es.Commit == s.Head
		s.Environments = append(s.Environments, es)
	}
	a.mu.Unlock()
	// The splitters' health is read outside the lock: it takes theirs.
	for _, es := range s.Environments {
		for i, r := range es.Routes {
			es.Routes[i].Backends = a.backends(es.Name, tables[es.Name].routes[r.Model])
		}
	}
	return s
}

// backends returns the health of rt's endpoints in env, as its splitter
// sees them; nil without one.
func (a *Agent) backends(env string, rt *route) []BackendStatus {
	sp, ok := rt.proxy.(*traffic.Splitter)
	if !ok {
		return nil
	}
	b := func(track traffic.Track, version, endpoint string) BackendStatus {
		return BackendStatus{Track: track, Version: version, Endpoint: endpoint, Healthy: sp.Healthy(track)}
	}
	if rt.StableVersion == "" {
		return []BackendStatus{b(traffic.TrackStable, rt.Version, rt.Endpoint)}
	}
	bs := []BackendStatus{b(traffic.TrackStable, rt.StableVersion, rt.StableEndpoint), b(traffic.TrackCanary, rt.Version, rt.Endpoint)}
	a.splitMu.Lock()
	mirrored := a.shadows[[2]string{env, rt.Model}] > 0
	a.splitMu.Unlock()
	if mirrored {
		bs = append(bs, b(traffic.TrackShadow, rt.Version, rt.Endpoint))
	}
	return bs
}

// StatusHandler serves Status as JSON on GET and HEAD, wherever it is
// mounted.
func (a *Agent) StatusHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			writeError(w, http.StatusMethodNotAllowed, promote.Invalid, r.Method+" is not allowed; use GET")
			return
		}
		writeJSON(w, http.StatusOK, a.Status())
	})
}
