package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/promote-ml/promote/internal/overlay"
	"github.com/promote-ml/promote/internal/testtool"
)

var testNow = time.Date(2026, 5, 4, 12, 30, 0, 0, time.UTC)

// The versions of credit-risk the tests pin: v1 is what the scaffold pins.
var (
	v1 = overlay.DefaultPin
	v2 = overlay.Pin{Model: "credit-risk", Version: "2", URI: "s3://ml-models/credit-risk/2/model.bin",
		Digest: "sha256:" + strings.Repeat("2", 64)}
	v3 = overlay.Pin{Model: "credit-risk", Version: "3", URI: "s3://ml-models/credit-risk/3/model.bin",
		Digest: "sha256:" + strings.Repeat("3", 64)}
)

// runGit runs the git CLI in dir, away from the user's configuration, and
// returns its standard output without the final new line.
func runGit(t testing.TB, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1",
		"GIT_AUTHOR_NAME=Seed", "GIT_AUTHOR_EMAIL=seed@example.com",
		"GIT_COMMITTER_NAME=Seed", "GIT_COMMITTER_EMAIL=seed@example.com")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return strings.TrimSuffix(string(out), "\n")
}

// gitops is a GitOps repository for a test: a bare remote whose main
// branch holds the scaffold, and a work clone that pushes to it.
type gitops struct {
	t      *testing.T
	remote string // the bare repository
	work   string // a clone with the main branch checked out
}

func newGitOps(t *testing.T) *gitops {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("the git CLI is not installed")
	}
	root := t.TempDir()
	g := &gitops{t: t, remote: filepath.Join(root, "gitops.git"), work: filepath.Join(root, "work")}
	runGit(t, root, "init", "-q", "--bare", "-b", "main", g.remote)
	runGit(t, root, "init", "-q", "-b", "main", g.work)
	if _, err := overlay.Scaffold(g.work, overlay.ScaffoldOptions{}); err != nil {
		t.Fatalf("Scaffold: %v", err)
	}
	g.commit("scaffold the GitOps repository")
	return g
}

// commit commits everything in the work clone, pushes it and returns the
// commit's hash.
func (g *gitops) commit(msg string) string {
	g.t.Helper()
	runGit(g.t, g.work, "add", "-A")
	runGit(g.t, g.work, "commit", "-q", "-m", msg)
	runGit(g.t, g.work, "push", "-q", g.remote, "main")
	return runGit(g.t, g.work, "rev-parse", "HEAD")
}

// pin pins p in env's overlay and commits it.
func (g *gitops) pin(env string, p overlay.Pin) string {
	g.t.Helper()
	if changed, err := overlay.SetPin(g.work, env, p); err != nil || !changed {
		g.t.Fatalf("SetPin(%s, %s %s) = %v, %v; want a change", env, p.Model, p.Version, changed, err)
	}
	return g.commit("pin " + p.Model + " " + p.Version + " in " + env)
}

// write writes a file of the work clone (without committing it).
func (g *gitops) write(rel, content string) {
	g.t.Helper()
	p := filepath.Join(g.work, filepath.FromSlash(rel))
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		g.t.Fatal(err)
	}
}

// replace replaces old with new in a file of the work clone.
func (g *gitops) replace(rel, old, new string) {
	g.t.Helper()
	p := filepath.Join(g.work, filepath.FromSlash(rel))
	data, err := os.ReadFile(p)
	if err != nil {
		g.t.Fatal(err)
	}
	if !strings.Contains(string(data), old) {
		g.t.Fatalf("%s does not contain %q", rel, old)
	}
	g.write(rel, strings.Replace(string(data), old, new, 1))
}

// echo is what a test backend answers: who it is and what it was asked.
type echo struct {
	Backend  string `json:"backend"`
	Method   string `json:"method"`
	Path     string `json:"path"`
	RawPath  string `json:"raw_path"`
	RawQuery string `json:"raw_query"`
	Body     string `json:"body"`
}

// newBackend starts a model endpoint that answers every request with its
// name and the request it got.
func newBackend(t *testing.T, name string) *httptest.Server {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(echo{Backend: name, Method: r.Method, Path: r.URL.Path, RawPath: r.URL.RawPath,
			RawQuery: r.URL.RawQuery, Body: string(body)})
	}))
	t.Cleanup(s.Close)
	return s
}

// writeEndpoints writes an endpoints file mapping each pin to a URL and
// returns its path.
func writeEndpoints(t *testing.T, path string, urls map[overlay.Pin]string) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("endpoints:\n")
	for _, p := range sortedPins(urls) {
		if u, ok := urls[p]; ok {
			b.WriteString("  - model: " + p.Model + "\n    digest: " + p.Digest + "\n    url: " + u + "\n")
		}
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// logBuffer collects JSON log lines; it is safe for concurrent use.
type logBuffer struct{ testtool.Buffer }

// lines returns the logged records whose message is msg.
func (b *logBuffer) lines(t *testing.T, msg string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for line := range strings.Lines(b.String()) {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if rec["msg"] == msg {
			delete(rec, "time")
			delete(rec, "level")
			out = append(out, rec)
		}
	}
	return out
}

// newAgent returns an agent on g's remote with a fresh directory, an
// endpoints file at endpoints (unless configure sets something else) and a
// logger writing into logs (when not nil).
func newAgent(t *testing.T, g *gitops, endpoints string, logs *logBuffer, configure func(*Config)) *Agent {
	t.Helper()
	cfg := Config{
		Remote:    g.remote,
		Dir:       filepath.Join(t.TempDir(), "agent"),
		Endpoints: endpoints,
		Now:       func() time.Time { return testNow },
	}
	if logs != nil {
		cfg.Logger = slog.New(slog.NewJSONHandler(logs, nil))
	}
	if configure != nil {
		configure(&cfg)
	}
	a, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return a
}

// get asks the agent's handler for path and returns the status and the
// decoded echo (zero when the body is not one).
func get(t *testing.T, h http.Handler, path string) (int, echo, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	var e echo
	json.Unmarshal(rec.Body.Bytes(), &e)
	return rec.Code, e, rec.Body.String()
}

// servedBy returns the backend that serves path, failing the test when
// none does.
func servedBy(t *testing.T, h http.Handler, path string) string {
	t.Helper()
	code, e, body := get(t, h, path)
	if code != http.StatusOK {
		t.Fatalf("GET %s = %d %s, want 200", path, code, body)
	}
	return e.Backend
}

func envStatus(t *testing.T, s Status, env string) EnvironmentStatus {
	t.Helper()
	for _, e := range s.Environments {
		if e.Name == env {
			return e
		}
	}
	t.Fatalf("Status has no environment %s: %+v", env, s)
	return EnvironmentStatus{}
}

// fixture is a repository, two backends serving v1 and v2, and an
// endpoints file that maps both.
type fixture struct {
	g         *gitops
	b1, b2    *httptest.Server
	endpoints string
	logs      *logBuffer
}

func newFixture(t *testing.T) *fixture {
	f := &fixture{g: newGitOps(t), b1: newBackend(t, "v1"), b2: newBackend(t, "v2"), logs: &logBuffer{}}
	f.endpoints = writeEndpoints(t, filepath.Join(t.TempDir(), "endpoints.yaml"),
		map[overlay.Pin]string{v1: f.b1.URL, v2: f.b2.URL})
	return f
}

func TestSyncAppliesACommit(t *testing.T) {
	f := newFixture(t)
	first := runGit(t, f.g.work, "rev-parse", "HEAD")
	a := newAgent(t, f.g, f.endpoints, f.logs, nil)
	ctx := context.Background()

	st, err := a.Sync(ctx)
	if err != nil {
		t.Fatalf("Sync: %v", err)
	}
	for _, env := range overlay.ScaffoldEnvironments {
		if got := servedBy(t, a, "/"+env+"/credit-risk/predict"); got != "v1" {
			t.Errorf("after the scaffold, /%s/credit-risk/predict is served by %s, want v1", env, got)
		}
	}
	wantProd := EnvironmentStatus{Name: "prod", Commit: first, AppliedAt: testNow, InSync: true, Routes: []RouteStatus{{Route: Route{
		Model: "credit-risk", Version: "1", Digest: v1.Digest, URI: v1.URI,
		Image: overlay.DefaultModelImage + "@" + v1.Digest, Replicas: 4, Endpoint: f.b1.URL, Commit: first,
	}}}}
	if diff := cmp.Diff(wantProd, envStatus(t, st, "prod")); diff != "" {
		t.Errorf("Status of prod after the first sync (-want +got):\n%s", diff)
	}

	second := f.g.pin("prod", v2)
	st, err = a.Sync(ctx)
	if err != nil {
		t.Fatalf("Sync: %v", err)
	}
	if got := servedBy(t, a, "/prod/credit-risk/predict"); got != "v2" {
		t.Errorf("after pinning v2 in prod, /prod/credit-risk/predict is served by %s, want v2", got)
	}
	if got := servedBy(t, a, "/staging/credit-risk/predict"); got != "v1" {
		t.Errorf("after pinning v2 in prod, /staging/credit-risk/predict is served by %s, want v1", got)
	}
	if st.Head != second {
		t.Errorf("Status.Head = %s, want %s", st.Head, second)
	}
	prod, staging := envStatus(t, st, "prod"), envStatus(t, st, "staging")
	if prod.Commit != second || !prod.InSync || prod.Routes[0].Version != "2" || prod.Routes[0].Commit != second || prod.Routes[0].Endpoint != f.b2.URL {
		t.Errorf("Status of prod after pinning v2 = %+v, want v2 at %s, in sync", prod, second)
	}
	// staging's route did not change: it keeps the commit that set it.
	if staging.Commit != second || !staging.InSync || staging.Routes[0].Commit != first {
		t.Errorf("Status of staging = %+v, want commit %s, in sync, its route set by %s", staging, second, first)
	}

	rec := httptest.NewRecorder()
	a.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/prod/credit-risk/predict", nil))
	gotHeaders := map[string]string{}
	for _, h := range []string{HeaderEnvironment, HeaderModel, HeaderVersion, HeaderCommit} {
		gotHeaders[h] = rec.Header().Get(h)
	}
	wantHeaders := map[string]string{HeaderEnvironment: "prod", HeaderModel: "credit-risk", HeaderVersion: "2", HeaderCommit: second}
	if diff := cmp.Diff(wantHeaders, gotHeaders); diff != "" {
		t.Errorf("response headers (-want +got):\n%s", diff)
	}

	wantLogs := []map[string]any{{"msg": "agent: route changed", "model": "credit-risk", "version": "2", "env": "prod",
		"commit": second, "digest": v2.Digest, "endpoint": f.b2.URL, "from_version": "1", "from_endpoint": f.b1.URL}}
	if diff := cmp.Diff(wantLogs, f.logs.lines(t, "agent: route changed")); diff != "" {
		t.Errorf("route changed log lines (-want +got):\n%s", diff)
	}
	if got := len(f.logs.lines(t, "agent: route added")); got != 3 {
		t.Errorf("logged %d route added lines, want 3 (one per environment)", got)
	}

	// Syncing the same head again changes nothing and logs nothing.
	if _, err := a.Sync(ctx); err != nil {
		t.Fatalf("Sync: %v", err)
	}
	if got := len(f.logs.lines(t, "agent: route changed")); got != 1 {
		t.Errorf("after a sync of the same head, %d route changed lines, want still 1", got)
	}
}

func TestSyncFailsSafe(t *testing.T) {
	tests := []struct {
		name string
		// change changes the repository (and may commit) after the first
		// sync; the environment env must then keep serving v1.
		change  func(f *fixture)
		env     string
		wantErr []string
		// fix repairs it; env must then serve want.
		fix  func(f *fixture)
		want string
	}{
		{
			name: "overlay does not render",
			change: func(f *fixture) {
				f.g.replace("deploy/overlays/prod/kustomization.yaml", "  - values.yaml", "  - values.yaml\n  - missing.yaml")
				f.g.replace("deploy/overlays/prod/models/credit-risk.env", v1.Digest, v2.Digest)
				f.g.replace("deploy/overlays/prod/kustomization.yaml", v1.Digest, v2.Digest)
				f.g.commit("break prod")
			},
			env:     "prod",
			wantErr: []string{"render prod (deploy/overlays/prod)", "missing.yaml"},
			fix: func(f *fixture) {
				f.g.replace("deploy/overlays/prod/kustomization.yaml", "\n  - missing.yaml", "")
				f.g.commit("repair prod")
			},
			want: "v2",
		},
		{
			name: "pin has no endpoint",
			change: func(f *fixture) {
				f.g.pin("staging", v3)
			},
			env:     "staging",
			wantErr: []string{"staging: no endpoint serves credit-risk 3 (" + v3.Digest + ")"},
			fix: func(f *fixture) {
				b3 := newBackend(f.g.t, "v3")
				writeEndpoints(f.g.t, f.endpoints, map[overlay.Pin]string{v1: f.b1.URL, v2: f.b2.URL, v3: b3.URL})
			},
			want: "v3",
		},
		{
			name: "overlay removed",
			change: func(f *fixture) {
				if err := os.RemoveAll(filepath.Join(f.g.work, "deploy", "overlays", "dev")); err != nil {
					f.g.t.Fatal(err)
				}
				f.g.commit("remove dev")
			},
			env:     "dev",
			wantErr: []string{"dev: deploy/overlays/dev does not exist at commit "},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			first := runGit(t, f.g.work, "rev-parse", "HEAD")
			a := newAgent(t, f.g, f.endpoints, nil, nil)
			ctx := context.Background()
			if _, err := a.Sync(ctx); err != nil {
				t.Fatalf("Sync: %v", err)
			}

			tc.change(f)
			st, err := a.Sync(ctx)
			if err == nil {
				t.Fatalf("Sync after the change: no error, want one")
			}
			for _, want := range tc.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("Sync() error = %q, want it to contain %q", err, want)
				}
			}
			if got := servedBy(t, a, "/"+tc.env+"/credit-risk/predict"); got != "v1" {
				t.Errorf("after the change, /%s/credit-risk/predict is served by %s, want v1 still", tc.env, got)
			}
			es := envStatus(t, st, tc.env)
			if es.InSync || es.Commit != first || es.Error == "" || len(es.Routes) != 1 || es.Routes[0].Version != "1" {
				t.Errorf("Status of %s = %+v, want out of sync at %s with an error, still routing v1", tc.env, es, first)
			}
			if !strings.Contains(err.Error(), es.Error) {
				t.Errorf("Status error of %s = %q, not part of Sync's error %q", tc.env, es.Error, err)
			}
			for _, other := range st.Environments {
				if other.Name != tc.env && (!other.InSync || other.Commit != st.Head) {
					t.Errorf("Status of %s = %+v, want in sync at %s", other.Name, other, st.Head)
				}
			}

			if tc.fix == nil {
				return
			}
			tc.fix(f)
			st, err = a.Sync(ctx)
			if err != nil {
				t.Fatalf("Sync after the fix: %v", err)
			}
			if got := servedBy(t, a, "/"+tc.env+"/credit-risk/predict"); got != tc.want {
				t.Errorf("after the fix, /%s/credit-risk/predict is served by %s, want %s", tc.env, got, tc.want)
			}
			if es := envStatus(t, st, tc.env); !es.InSync || es.Error != "" {
				t.Errorf("Status of %s after the fix = %+v, want in sync without error", tc.env, es)
			}
		})
	}
}

func TestSyncBadEndpointsFileKeepsServing(t *testing.T) {
	f := newFixture(t)
	a := newAgent(t, f.g, f.endpoints, nil, nil)
	ctx := context.Background()
	if _, err := a.Sync(ctx); err != nil {
		t.Fatalf("Sync: %v", err)
	}
	f.g.pin("prod", v2)
	bad := "endpoints:\n  - model: credit-risk\n    digest: " + v2.Digest + "\n    url: " + f.b2.URL + "\n    weight: 1\n"
	if err := os.WriteFile(f.endpoints, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	st, err := a.Sync(ctx)
	want := f.endpoints + `:5:5: endpoints[0]: unknown key "weight" (known keys: model, digest, url)`
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("Sync() error = %v, want one containing %q", err, want)
	}
	if !strings.Contains(st.Error, want) {
		t.Errorf("Status.Error = %q, want it to contain %q", st.Error, want)
	}
	for _, es := range st.Environments {
		if es.InSync {
			t.Errorf("Status of %s is in sync; want no environment in sync while the endpoints file is bad", es.Name)
		}
	}
	if got := servedBy(t, a, "/prod/credit-risk/predict"); got != "v1" {
		t.Errorf("with a bad endpoints file, /prod/credit-risk/predict is served by %s, want v1 still", got)
	}

	writeEndpoints(t, f.endpoints, map[overlay.Pin]string{v1: f.b1.URL, v2: f.b2.URL})
	if st, err = a.Sync(ctx); err != nil {
		t.Fatalf("Sync after fixing the endpoints file: %v", err)
	}
	if st.Error != "" {
		t.Errorf("Status.Error = %q after the fix, want none", st.Error)
	}
	if got := servedBy(t, a, "/prod/credit-risk/predict"); got != "v2" {
		t.Errorf("after fixing the endpoints file, /prod/credit-risk/predict is served by %s, want v2", got)
	}
}

func TestSyncConfiguredEnvironmentsAndResolve(t *testing.T) {
	g := newGitOps(t)
	b1 := newBackend(t, "resolved-v1")
	var asked []overlay.Pin
	a := newAgent(t, g, "", nil, func(c *Config) {
		c.Environments = []string{"staging"}
		c.Resolve = func(p overlay.Pin) (string, bool) {
			asked = append(asked, p)
			return b1.URL, p == v1
		}
	})
	st, err := a.Sync(context.Background())
	if err != nil {
		t.Fatalf("Sync: %v", err)
	}
	if diff := cmp.Diff([]overlay.Pin{v1}, asked); diff != "" {
		t.Errorf("Resolve was asked (-want +got):\n%s", diff)
	}
	if got := servedBy(t, a, "/staging/credit-risk/x"); got != "resolved-v1" {
		t.Errorf("/staging/credit-risk/x is served by %s, want resolved-v1", got)
	}
	var names []string
	for _, e := range st.Environments {
		names = append(names, e.Name)
	}
	if diff := cmp.Diff([]string{"staging"}, names); diff != "" {
		t.Errorf("Status environments (-want +got):\n%s", diff)
	}
	if code, _, body := get(t, a, "/prod/credit-risk/x"); code != http.StatusNotFound {
		t.Errorf("GET /prod/credit-risk/x of an agent that applies staging only = %d %s, want 404", code, body)
	}
}

func TestSyncFetchError(t *testing.T) {
	g := newGitOps(t)
	a := newAgent(t, g, "", nil, func(c *Config) {
		c.Remote = filepath.Join(t.TempDir(), "nowhere.git")
		c.Resolve = func(overlay.Pin) (string, bool) { return "", false }
	})
	st, err := a.Sync(context.Background())
	if err == nil {
		t.Fatal("Sync of a missing remote: no error")
	}
	if st.Error == "" || !strings.Contains(st.Error, "nowhere.git") {
		t.Errorf("Status.Error = %q, want the fetch error naming the remote", st.Error)
	}
	if code, _, body := get(t, a, "/prod/credit-risk/x"); code != http.StatusServiceUnavailable {
		t.Errorf("GET before anything was applied = %d %s, want 503", code, body)
	}
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// serves reports whether path is served by backend now.
func serves(a *Agent, path, backend string) bool {
	rec := httptest.NewRecorder()
	a.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	var e echo
	return rec.Code == http.StatusOK && json.Unmarshal(rec.Body.Bytes(), &e) == nil && e.Backend == backend
}

// run runs a.Run until the test ends and checks that it returns nil.
func run(t *testing.T, a *Agent) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run() = %v after its context ended, want nil", err)
		}
	})
}

func TestRunPolls(t *testing.T) {
	f := newFixture(t)
	a := newAgent(t, f.g, f.endpoints, nil, func(c *Config) { c.Interval = 20 * time.Millisecond })
	run(t, a)
	waitFor(t, "the first sync to serve v1 in prod", func() bool { return serves(a, "/prod/credit-risk/p", "v1") })

	head := f.g.pin("prod", v2)
	waitFor(t, "polling to pick up v2 in prod", func() bool { return serves(a, "/prod/credit-risk/p", "v2") })
	if es := envStatus(t, a.Status(), "prod"); es.Commit != head || !es.InSync {
		t.Errorf("Status of prod = %+v, want in sync at %s", es, head)
	}

	// A change of the endpoints file alone is picked up too.
	b2b := newBackend(t, "v2-moved")
	writeEndpoints(t, f.endpoints, map[overlay.Pin]string{v1: f.b1.URL, v2: b2b.URL})
	waitFor(t, "polling to pick up the moved endpoint", func() bool { return serves(a, "/prod/credit-risk/p", "v2-moved") })
}

func TestTrigger(t *testing.T) {
	f := newFixture(t)
	// An interval far longer than the test: only Trigger can cause the
	// second sync.
	a := newAgent(t, f.g, f.endpoints, nil, func(c *Config) { c.Interval = time.Hour })
	run(t, a)
	waitFor(t, "the first sync to serve v1 in prod", func() bool { return serves(a, "/prod/credit-risk/p", "v1") })

	f.g.pin("prod", v2)
	a.Trigger()
	a.Trigger() // coalesces; must not block
	waitFor(t, "Trigger to sync v2 in prod", func() bool { return serves(a, "/prod/credit-risk/p", "v2") })
}

func TestNewValidates(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{
			name: "everything wrong",
			cfg: Config{Branch: "a..b", Environments: []string{"prod", "bad/env", "prod"}, Interval: -time.Second,
				Timeout: -time.Minute},
			want: `agent configuration: remote is empty; dir is empty; branch "a..b" is not a valid branch name; ` +
				`environment "bad/env": only letters, digits, '.', '_' and '-' are allowed, starting with a letter or digit; ` +
				`environment prod is listed twice; no endpoints: set an endpoints file or a resolver; interval -1s is negative; ` +
				`timeout -1m0s is negative`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.cfg)
			if err == nil {
				t.Fatalf("New(%+v): no error, want %q", tc.cfg, tc.want)
			}
			if diff := cmp.Diff(tc.want, err.Error()); diff != "" {
				t.Errorf("New() error (-want +got):\n%s", diff)
			}
		})
	}

	t.Run("foreign directory", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "x"), nil, 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := New(Config{Remote: "/r.git", Dir: dir, Resolve: func(overlay.Pin) (string, bool) { return "", false }})
		if err == nil || !strings.Contains(err.Error(), "neither empty nor a Git repository") {
			t.Errorf("New on a non-empty directory: %v, want it refused", err)
		}
	})
}

func TestStatusHandler(t *testing.T) {
	f := newFixture(t)
	a := newAgent(t, f.g, f.endpoints, nil, nil)
	want, err := a.Sync(context.Background())
	if err != nil {
		t.Fatalf("Sync: %v", err)
	}
	srv := httptest.NewServer(a.StatusHandler())
	defer srv.Close()

	resp, err := http.Get(srv.URL + "/agent/status")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got Status
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
		t.Fatalf("decode status: %v", err)
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" {
		t.Errorf("GET status = %d %s, want 200 application/json", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("GET status (-Sync's +served):\n%s", diff)
	}
	if len(got.Environments) != 3 || got.LastSync != testNow || got.Head == "" {
		t.Errorf("status = %+v, want three environments, last sync at %s and a head", got, testNow)
	}

	resp, err = http.Post(srv.URL+"/agent/status", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST status = %d, want 405", resp.StatusCode)
	}
}

// sortedPins returns the pins of urls by model and version.
func sortedPins(urls map[overlay.Pin]string) []overlay.Pin {
	pins := make([]overlay.Pin, 0, len(urls))
	for p := range urls {
		pins = append(pins, p)
	}
	slices.SortFunc(pins, func(a, b overlay.Pin) int {
		if c := strings.Compare(a.Model, b.Model); c != 0 {
			return c
		}
		return strings.Compare(a.Version, b.Version)
	})
	return pins
}

// TestAppliedAfterEverySync checks that Applied is called once per sync
// that applied a commit, with the commit's routes already in place, so
// that the rollout controller it wakes finds the candidate deployed.
func TestAppliedAfterEverySync(t *testing.T) {
	f := newFixture(t)
	var a *Agent
	var served []string
	a = newAgent(t, f.g, f.endpoints, nil, func(c *Config) {
		c.Applied = func() { served = append(served, servedBy(t, a, "/prod/credit-risk/predict")) }
	})
	if _, err := a.Sync(t.Context()); err != nil {
		t.Fatalf("Sync: %v", err)
	}
	f.g.pin("prod", v2)
	if _, err := a.Sync(t.Context()); err != nil {
		t.Fatalf("Sync: %v", err)
	}
	if diff := cmp.Diff([]string{"v1", "v2"}, served); diff != "" {
		t.Errorf("prod's backend when Applied was called, per sync (-want +got):\n%s", diff)
	}
}

// TestNewRefusesBadEndpointsFile: an endpoints file that cannot be read or
// has mistakes when the agent starts is bad input, refused before anything
// is created, rather than an agent that starts and serves nothing.
func TestNewRefusesBadEndpointsFile(t *testing.T) {
	tmp := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(tmp, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	subdir := filepath.Join(tmp, "a-directory")
	if err := os.Mkdir(subdir, 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, path, want string
	}{
		{"missing", filepath.Join(tmp, "nope.yaml"), "nope.yaml: no such file or directory"},
		{"directory", subdir, "is a directory"},
		{"empty", write("empty.yaml", ""), "empty.yaml: file is empty"},
		{"tabs", write("tabs.yaml", "endpoints:\n\t- model: m\n"), "tabs.yaml:2:1: found character that cannot start any token"},
		{"unknown key", write("typo.yaml", "endpoints:\n  - model: credit-risk\n    digest: "+v1.Digest+"\n    url: http://127.0.0.1:9001\n    ulr: x\n"),
			`typo.yaml:5:5: endpoints[0]: unknown key "ulr"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "agent")
			_, err := New(Config{Remote: "/r.git", Dir: dir, Endpoints: tc.path})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New(Endpoints: %s) = %v, want an error containing %q", tc.path, err, tc.want)
			}
			if _, err := os.Stat(dir); !os.IsNotExist(err) {
				t.Errorf("New with a bad endpoints file created %s (stat: %v), want nothing created", dir, err)
			}
		})
	}
}

// TestSyncIgnoresOverlaysNotConfigured: an agent given its environments
// (the pipeline's, in promote serve) leaves the other overlay directories
// alone — a dev overlay that promote init scaffolded for a pipeline of
// staging and prod, say, whose pin no endpoint serves — says so once
// rather than failing at every sync, shows them in Status and answers a
// request for one with a 404 that says why.
func TestSyncIgnoresOverlaysNotConfigured(t *testing.T) {
	f := newFixture(t)
	f.g.pin("dev", v3) // no endpoint serves v3
	a := newAgent(t, f.g, f.endpoints, f.logs, func(c *Config) { c.Environments = []string{"staging", "prod"} })
	ctx := context.Background()
	if _, err := a.Sync(ctx); err != nil {
		t.Fatalf("first Sync: %v", err)
	}
	f.g.pin("prod", v2)
	st, err := a.Sync(ctx)
	if err != nil {
		t.Fatalf("second Sync: %v", err)
	}
	var names []string
	for _, e := range st.Environments {
		names = append(names, e.Name)
	}
	if diff := cmp.Diff([]string{"prod", "staging"}, names); diff != "" {
		t.Errorf("Status environments (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"dev"}, st.Ignored); diff != "" {
		t.Errorf("Status.Ignored (-want +got):\n%s", diff)
	}
	want := []map[string]any{{"msg": "agent: ignoring overlays of environments it does not deploy",
		"overlays": []any{"deploy/overlays/dev"}, "environments": []any{"staging", "prod"}}}
	if diff := cmp.Diff(want, f.logs.lines(t, "agent: ignoring overlays of environments it does not deploy")); diff != "" {
		t.Errorf("log after two syncs (-want +got):\n%s", diff)
	}
	code, _, body := get(t, a, "/dev/credit-risk/x")
	if code != http.StatusNotFound || !strings.Contains(body, "ignores deploy/overlays/dev") {
		t.Errorf("GET /dev/credit-risk/x = %d %s, want 404 saying the agent ignores deploy/overlays/dev", code, body)
	}
	if got := servedBy(t, a, "/prod/credit-risk/x"); got != "v2" {
		t.Errorf("/prod/credit-risk/x is served by %s, want v2", got)
	}
}

// A sync that fails is logged as a warning, and the first sync that
// succeeds after it says so: a log-based alert on the warning has a line
// that resolves it, as a fetch that works again has.
func TestRunLogsWhenSyncIsCompleteAgain(t *testing.T) {
	f := newFixture(t)
	a := newAgent(t, f.g, f.endpoints, f.logs, func(c *Config) { c.Interval = 20 * time.Millisecond })
	run(t, a)
	waitFor(t, "the first sync to serve v1 in prod", func() bool { return serves(a, "/prod/credit-risk/p", "v1") })
	const incomplete, complete = "agent: sync incomplete; the environments it names keep serving what they served",
		"agent: sync complete again; every environment serves the head"

	writeEndpoints(t, f.endpoints, map[overlay.Pin]string{v2: f.b2.URL}) // v1, pinned everywhere, has no endpoint
	waitFor(t, "the incomplete sync's warning", func() bool { return len(f.logs.lines(t, incomplete)) == 1 })
	if n := len(f.logs.lines(t, complete)); n != 0 {
		t.Fatalf("%d lines say the sync is complete again while it is not", n)
	}
	writeEndpoints(t, f.endpoints, map[overlay.Pin]string{v1: f.b1.URL, v2: f.b2.URL})
	waitFor(t, "a line saying the sync is complete again", func() bool { return len(f.logs.lines(t, complete)) == 1 })
	time.Sleep(100 * time.Millisecond) // a few more polls, with nothing to say
	head := runGit(t, f.g.work, "rev-parse", "HEAD")
	want := []map[string]any{{"msg": complete, "commit": head}}
	if diff := cmp.Diff(want, f.logs.lines(t, complete)); diff != "" {
		t.Errorf("log (-want +got):\n%s", diff)
	}
}
