package agent

import (
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/promote-ml/promote/internal/gitclone"
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
	// head, and nothing failed.
	InSync bool `json:"in_sync"`
	// Error says why the environment did not take the last synced commit
	// (kustomize's error, an artifact with no endpoint); it keeps serving
	// Commit's routes meanwhile.
	Error string `json:"error,omitempty"`
	// Routes are the applied routes, sorted by model.
	Routes []Route `json:"routes"`
}

// Status returns what the agent has applied, a copy safe to keep.
func (a *Agent) Status() Status {
	tables := *a.tables.Load()
	a.mu.Lock()
	defer a.mu.Unlock()
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
		es := EnvironmentStatus{Name: env, Routes: []Route{}}
		if e := st.envs[env]; e != nil {
			es.Commit, es.AppliedAt, es.Error = e.commit, e.appliedAt, e.err
		}
		if t := tables[env]; t != nil {
			for _, model := range sortedKeys(t.routes) {
				es.Routes = append(es.Routes, t.routes[model].Route)
			}
		}
		es.InSync = es.Error == "" && s.Error == "" && es.Commit != "" && es.Commit == s.Head
		s.Environments = append(s.Environments, es)
	}
	return s
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
