package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/promote-ml/promote/internal/gitclone"
	"github.com/promote-ml/promote/internal/overlay"
	"github.com/promote-ml/promote/internal/traffic"
	"github.com/promote-ml/promote/promote"
)

// Route is where an environment sends a model's requests: the version its
// overlay pins, what the rendered workload says about it, and the endpoint
// that serves the pinned artifact.
type Route struct {
	Model   string `json:"model"`
	Version string `json:"version"`
	Digest  string `json:"digest"`
	URI     string `json:"uri"`
	// Image is the model image the rendered workload runs, by digest.
	Image string `json:"image,omitempty"`
	// Replicas is the rendered workload's replica count (0 without one).
	Replicas int `json:"replicas"`
	// Endpoint is the base URL requests are proxied to.
	Endpoint string `json:"endpoint"`
	// Commit is the commit that made the route what it is.
	Commit string `json:"commit"`
	// In a progressive environment, while a rollout runs: the version the
	// commit before pinned, which keeps the traffic the candidate (Version)
	// does not have, and the candidate's share, from 0 to 1.
	StableVersion  string  `json:"stable_version,omitempty"`
	StableEndpoint string  `json:"stable_endpoint,omitempty"`
	Weight         float64 `json:"weight,omitempty"`
}

// same reports whether r and o route the same way, whichever commit set
// them.
func (r Route) same(o Route) bool {
	r.Commit, o.Commit = "", ""
	return r == o
}

// table is an environment's applied routes. It is never changed once
// stored; a sync builds a new one.
type table struct {
	commit string
	routes map[string]*route // by model
}

// route is a Route with its handler: a reverse proxy, or a splitter when
// the agent has Traffic.
type route struct {
	Route
	proxy http.Handler
	// fields are the response fields the agent sets on a splitter's
	// answers (as routeWriter does) for the fast path
	// (traffic.Route.Header), made once.
	fields http.Header
	// stablePin is the pin of StableVersion, by which its endpoint is
	// resolved again at each sync.
	stablePin overlay.Pin
}

// applyEnv renders env's overlay in the checked-out commit, resolves its
// desired state to endpoints and, when everything resolves, swaps env's
// route table. On any failure env's table stays as it was.
func (a *Agent) applyEnv(env, commit string, resolve func(overlay.Pin) (string, bool)) error {
	// kustomize's own message for a missing directory is a symlink
	// failure; say what happened instead.
	if _, err := os.Stat(filepath.Join(a.cfg.Dir, filepath.FromSlash(overlay.OverlayPath(env)))); errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%s does not exist at commit %s", overlay.OverlayPath(env), short(commit))
	}
	rendered, err := overlay.Render(a.cfg.Dir, env)
	if err != nil {
		return err
	}
	desired, err := overlay.DesiredState(rendered)
	if err != nil {
		return fmt.Errorf("render %s (%s): %w", env, overlay.OverlayPath(env), err)
	}
	old := (*a.tables.Load())[env]
	next := &table{commit: commit, routes: make(map[string]*route, len(desired))}
	var problems []string
	var plans []splitPlan
	for _, d := range desired {
		raw, ok := resolve(d.Pin)
		if !ok {
			problems = append(problems, fmt.Sprintf("no endpoint serves %s %s (%s)", d.Model, d.Version, d.Digest))
			continue
		}
		u, err := parseEndpointURL(raw)
		if err != nil {
			problems = append(problems, fmt.Sprintf("the endpoint of %s %s: %v", d.Model, d.Version, err))
			continue
		}
		r := Route{Model: d.Model, Version: d.Version, Digest: d.Digest, URI: d.URI, Image: d.Image,
			Replicas: d.Replicas, Endpoint: u.String(), Commit: commit}
		var prev *route
		if old != nil {
			prev = old.routes[d.Model]
		}
		if a.cfg.Traffic != nil {
			p := splitPlan{env: env, next: r, url: u, prev: prev, resolve: resolve}
			a.midRollout(&p)
			if err := a.decide(&p); err != nil {
				problems = append(problems, err.Error())
				continue
			}
			plans = append(plans, p)
			continue
		}
		if prev != nil && prev.same(r) {
			next.routes[d.Model] = prev
			continue
		}
		next.routes[d.Model] = a.newRoute(env, r, u)
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	for _, p := range plans {
		rt, err := a.splitRoute(p)
		if err != nil {
			return err
		}
		if p.prev != nil && old != nil && old.routes[rt.Model] == p.prev && p.prev.same(rt.Route) && p.prev.stablePin == rt.stablePin {
			// Unchanged: it keeps the commit that made it what it is.
			rt = p.prev
		}
		next.routes[rt.Model] = rt
	}
	a.swap(env, next)
	if a.cfg.Traffic != nil {
		// After the swap: the new table sends no request to the
		// splitters it dropped (one read from the old table a moment
		// before is still served: a closed splitter proxies on).
		a.dropSplitters(env, next)
	}
	a.logChanges(env, old, next)
	return nil
}

// swap replaces env's table. Syncs take turns, so no other writer races.
func (a *Agent) swap(env string, t *table) {
	cur := *a.tables.Load()
	m := make(map[string]*table, len(cur)+1)
	for k, v := range cur {
		m[k] = v
	}
	m[env] = t
	a.tables.Store(&m)
}

// logChanges logs one line per route that changed between old and next.
func (a *Agent) logChanges(env string, old, next *table) {
	for _, model := range sortedKeys(next.routes) {
		r := next.routes[model]
		var prev *route
		if old != nil {
			prev = old.routes[model]
		}
		if prev == r {
			continue
		}
		attrs := []any{slog.String(attrModel, model), slog.String(attrVersion, r.Version), slog.String(attrEnv, env),
			slog.String(attrCommit, r.Commit), slog.String(attrDigest, r.Digest), slog.String(attrEndpoint, r.Endpoint)}
		if prev == nil {
			a.log.Info("agent: route added", attrs...)
		} else {
			a.log.Info("agent: route changed", append(attrs, slog.String("from_version", prev.Version),
				slog.String("from_endpoint", prev.Endpoint))...)
		}
	}
	if old == nil {
		return
	}
	for _, model := range sortedKeys(old.routes) {
		if _, ok := next.routes[model]; !ok {
			a.log.Info("agent: route removed", slog.String(attrModel, model), slog.String(attrVersion, old.routes[model].Version),
				slog.String(attrEnv, env), slog.String(attrCommit, next.commit))
		}
	}
}

// Response headers that say which route served a proxied request.
const (
	HeaderEnvironment = "Promote-Environment"
	HeaderModel       = "Promote-Model"
	HeaderVersion     = "Promote-Version"
	HeaderCommit      = "Promote-Commit"
)

// newRoute builds r's reverse proxy to u.
func (a *Agent) newRoute(env string, r Route, u *url.URL) *route {
	rt := &route{Route: r}
	rt.proxy = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(u)
			pr.SetXForwarded()
		},
		Transport: a.transport,
		ModifyResponse: func(resp *http.Response) error {
			resp.Header.Set(HeaderEnvironment, env)
			resp.Header.Set(HeaderModel, r.Model)
			resp.Header.Set(HeaderVersion, r.Version)
			resp.Header.Set(HeaderCommit, r.Commit)
			return nil
		},
		ErrorHandler: func(w http.ResponseWriter, req *http.Request, err error) {
			writeError(w, http.StatusBadGateway, promote.Internal,
				fmt.Sprintf("the endpoint %s of %s %s in %s did not answer: %v", r.Endpoint, r.Model, r.Version, env, err))
		},
	}
	return rt
}

// parseEndpointURL checks an endpoint's base URL: http or https, a host,
// no credentials, query or fragment.
func parseEndpointURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return nil, fmt.Errorf("%q is not a URL: %w", raw, err)
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Errorf("%q: want an http:// or https:// URL", raw)
	case u.Host == "" || u.Hostname() == "":
		return nil, fmt.Errorf("%q has no host", raw)
	case u.User != nil:
		return nil, fmt.Errorf("%q carries credentials; endpoints are local and take none", gitclone.RedactURL(raw))
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		return nil, fmt.Errorf("%q has a query or fragment; want a base URL", raw)
	}
	return u, nil
}

// ServeHTTP proxies /{env}/{model}/{path...} to the endpoint env's applied
// route for model names, with the rest of the path and the query (see the
// package doc).
func (a *Agent) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	env, rt, u, f := a.target(r)
	if f != nil {
		writeError(w, f.status, f.code, f.msg)
		return
	}
	out := new(http.Request)
	*out = *r
	out.URL = u
	if _, ok := rt.proxy.(*traffic.Splitter); ok {
		// A splitter names the version that answered (Promote-Version);
		// the route names the rest. They are set now, for a protocol
		// upgrade (whose 101 the proxy writes without WriteHeader), and
		// again at WriteHeader: the proxy clears the header after a 1xx
		// such as 103 Early Hints.
		rw := &routeWriter{ResponseWriter: w, env: env, model: rt.Model, commit: rt.Commit}
		rw.set()
		w = rw
	}
	rt.proxy.ServeHTTP(w, out)
}

// FastRoute is the route of a request that a traffic.Server serves on its
// fast path: the splitter of the route r names, r's URL below the route,
// and the route's response fields. It returns false for anything else
// (a route without a splitter, a path no route takes), which ServeHTTP
// answers, and for a path that is not clean (an empty, . or .. segment
// as it came, escapes left alone), which the http.ServeMux in front of
// ServeHTTP redirects to the clean one rather than pass on.
func (a *Agent) FastRoute(r *http.Request) (traffic.Route, bool) {
	if !cleanPath(r.URL.EscapedPath()) {
		return traffic.Route{}, false
	}
	_, rt, u, f := a.target(r)
	if f != nil || rt.fields == nil {
		return traffic.Route{}, false
	}
	sp, ok := rt.proxy.(*traffic.Splitter)
	if !ok {
		return traffic.Route{}, false
	}
	return traffic.Route{Splitter: sp, URL: u, Header: rt.fields}, true
}

// refusal is ServeHTTP's answer to a request no route takes.
type refusal struct {
	status int
	code   promote.Code
	msg    string
}

// target returns the route r's path names and r's URL below it, or the
// answer to r when no route takes it.
func (a *Agent) target(r *http.Request) (env string, rt *route, u *url.URL, f *refusal) {
	env, model, rest, ok := splitPath(r.URL.EscapedPath())
	if !ok {
		return "", nil, nil, &refusal{http.StatusNotFound, promote.NotFound, fmt.Sprintf("no route for %s: want /{env}/{model}/...", r.URL.Path)}
	}
	tables := *a.tables.Load()
	t := tables[env]
	if t == nil {
		// The environment's error is read under the lock a sync writes
		// it under.
		a.mu.Lock()
		var envErr string
		if es := a.state.envs[env]; es != nil {
			envErr = es.err
		}
		ignored := slices.Contains(a.state.ignored, env)
		a.mu.Unlock()
		switch {
		case envErr != "":
			return "", nil, nil, &refusal{http.StatusServiceUnavailable, promote.Internal,
				fmt.Sprintf("environment %s has nothing applied: %s", env, envErr)}
		case ignored:
			return "", nil, nil, &refusal{http.StatusNotFound, promote.NotFound,
				fmt.Sprintf("no environment %q: the agent deploys %s only, and ignores %s", env,
					strings.Join(a.cfg.Environments, ", "), overlay.OverlayPath(env))}
		case len(tables) == 0 || slices.Contains(a.cfg.Environments, env):
			return "", nil, nil, &refusal{http.StatusServiceUnavailable, promote.Internal,
				fmt.Sprintf("environment %s has nothing applied yet", env)}
		default:
			return "", nil, nil, &refusal{http.StatusNotFound, promote.NotFound,
				fmt.Sprintf("no environment %q (the agent serves %s)", env, strings.Join(sortedKeys(tables), ", "))}
		}
	}
	if rt = t.routes[model]; rt == nil {
		serves := "no model"
		if len(t.routes) > 0 {
			serves = strings.Join(sortedKeys(t.routes), ", ")
		}
		return "", nil, nil, &refusal{http.StatusNotFound, promote.NotFound, fmt.Sprintf("environment %s serves no model %q (it serves %s)", env, model, serves)}
	}
	below := *r.URL
	below.Path, below.RawPath = rest, ""
	if unescaped, err := url.PathUnescape(rest); err == nil {
		below.Path = unescaped
		if unescaped != rest {
			below.RawPath = rest
		}
	}
	if dotSegment(below.Path) {
		return "", nil, nil, &refusal{http.StatusBadRequest, promote.Invalid,
			fmt.Sprintf("the path %s has a . or .. segment; the agent forwards paths below the endpoint only", r.URL.EscapedPath())}
	}
	return env, rt, &below, nil
}

// routeWriter is the ResponseWriter of a request a splitter serves: it
// sets the route's Promote-Environment, Promote-Model and Promote-Commit
// at each WriteHeader, so that they are the agent's alone whatever the
// proxy copied or cleared before. It unwraps for http.ResponseController
// (hijacking for protocol upgrades, deadlines, flushes).
type routeWriter struct {
	http.ResponseWriter
	env, model, commit string
	wrote              bool // the final header was written
}

func (w *routeWriter) set() {
	h := w.ResponseWriter.Header()
	h.Set(HeaderEnvironment, w.env)
	h.Set(HeaderModel, w.model)
	h.Set(HeaderCommit, w.commit)
}

// WriteHeader implements http.ResponseWriter.
func (w *routeWriter) WriteHeader(code int) {
	if !w.wrote {
		w.set()
		w.wrote = code >= 200 || code == http.StatusSwitchingProtocols
	}
	w.ResponseWriter.WriteHeader(code)
}

// Write implements http.ResponseWriter.
func (w *routeWriter) Write(p []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(p)
}

// Flush implements http.Flusher.
func (w *routeWriter) Flush() {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	http.NewResponseController(w.ResponseWriter).Flush()
}

// Unwrap returns the ResponseWriter underneath, for
// http.ResponseController.
func (w *routeWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// routeHeaders are the response headers the agent sets for every route,
// whatever a model server sent.
var routeHeaders = []string{HeaderEnvironment, HeaderModel, HeaderVersion, HeaderCommit}

// ownHeaders carries the proxied requests with next and drops from the
// responses the headers the agent sets itself: a model server, or
// another agent in front of one, that sends its own would otherwise have
// them added to the agent's, two values each.
type ownHeaders struct{ next http.RoundTripper }

// RoundTrip implements http.RoundTripper.
func (t ownHeaders) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(r)
	if resp != nil {
		for _, h := range routeHeaders {
			delete(resp.Header, h)
		}
	}
	return resp, err
}

// dotSegment reports whether path, unescaped, has a "." or ".." segment,
// with a backslash taken as a separator too. The mux in front cleans only
// the literal path, so /{env}/{model}/%2e%2e/x arrives here whole; sent on,
// it would climb above the endpoint's base path on a model server that
// decodes and resolves dot segments (nginx, most frameworks), reaching
// other paths of its host.
func dotSegment(path string) bool {
	for seg := range strings.FieldsFuncSeq(path, func(c rune) bool { return c == '/' || c == '\\' }) {
		if seg == "." || seg == ".." {
			return true
		}
	}
	return false
}

// cleanPath reports whether http.ServeMux serves the escaped path p as it
// is rather than redirect it: p is what path.Clean makes of it, but for a
// trailing slash.
func cleanPath(p string) bool {
	if p == "" || p[0] != '/' {
		return false
	}
	c := path.Clean(p)
	if strings.HasSuffix(p, "/") && c != "/" {
		c += "/"
	}
	return c == p
}

// splitPath splits an escaped request path /{env}/{model}/{rest} into the
// environment, the model and /{rest} (still escaped, "/" when empty). Both
// names must be valid names.
func splitPath(escaped string) (env, model, rest string, ok bool) {
	parts := strings.SplitN(strings.TrimPrefix(escaped, "/"), "/", 3)
	if len(parts) < 2 {
		return "", "", "", false
	}
	env, model = parts[0], parts[1]
	if promote.ValidateName("environment", env) != nil || promote.ValidateName("model", model) != nil {
		return "", "", "", false
	}
	rest = "/"
	if len(parts) == 3 {
		rest += parts[2]
	}
	return env, model, rest, true
}

// Lookup returns env's applied route for model, the one ServeHTTP proxies
// to.
func (a *Agent) Lookup(env, model string) (Route, bool) {
	t := (*a.tables.Load())[env]
	if t == nil {
		return Route{}, false
	}
	rt := t.routes[model]
	if rt == nil {
		return Route{}, false
	}
	r := rt.Route
	if sp, ok := rt.proxy.(*traffic.Splitter); ok && r.StableVersion != "" {
		r.Weight = sp.Weights()
	}
	return r, true
}

// errorBody is the JSON body of an error response, the same shape as the
// REST API's: {"error": {"code": "...", "message": "..."}}.
type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    promote.Code `json:"code"`
	Message string       `json:"message"`
}

func writeError(w http.ResponseWriter, status int, code promote.Code, msg string) {
	writeJSON(w, status, errorBody{Error: errorDetail{Code: code, Message: msg}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		status = http.StatusInternalServerError
		body = []byte(`{"error": {"code": "internal", "message": "encode the response"}}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(append(body, '\n'))
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
