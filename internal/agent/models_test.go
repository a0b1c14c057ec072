package agent

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/promote-ml/promote/internal/overlay"
	"github.com/promote-ml/promote/internal/telemetry"
	"github.com/promote-ml/promote/internal/traffic"
)

// The versions of fraud, a second model, that the tests pin.
var (
	fraud1 = overlay.Pin{Model: "fraud", Version: "1", URI: "s3://ml-models/fraud/1/model.bin", Digest: "sha256:" + strings.Repeat("a", 64)}
	fraud2 = overlay.Pin{Model: "fraud", Version: "2", URI: "s3://ml-models/fraud/2/model.bin", Digest: "sha256:" + strings.Repeat("b", 64)}
)

// addModel adds p's model to env's overlay, pinned at p and run by a
// workload of its own, and commits.
func (g *gitops) addModel(env string, p overlay.Pin) string {
	g.t.Helper()
	g.editModel(env, p)
	return g.commit("add " + p.Model + " to " + env)
}

// editModel adds p's model to env's overlay without committing.
func (g *gitops) editModel(env string, p overlay.Pin) {
	g.t.Helper()
	dir := "deploy/overlays/" + env
	g.write(dir+"/models/"+p.Model+".env", "MODEL_NAME="+p.Model+"\nMODEL_VERSION="+p.Version+"\nMODEL_URI="+p.URI+"\nMODEL_DIGEST="+p.Digest+"\n")
	g.write(dir+"/"+p.Model+".yaml", "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: "+p.Model+"\nspec:\n  template:\n    spec:\n"+
		"      containers:\n        - name: model\n          image: registry.example.com/models/"+p.Model+"\n"+
		"          envFrom:\n            - configMapRef:\n                name: model-"+p.Model+"\n")
	g.replace(dir+"/kustomization.yaml", "  - values.yaml", "  - values.yaml\n  - "+p.Model+".yaml")
	g.replace(dir+"/kustomization.yaml", "images:\n", "images:\n  - name: registry.example.com/models/"+p.Model+"\n    digest: "+p.Digest+"\n")
	g.replace(dir+"/kustomization.yaml", "configMapGenerator:\n", "configMapGenerator:\n  - name: model-"+p.Model+"\n    envs:\n      - models/"+p.Model+".env\n")
}

// removeModel takes model out of env's overlay, which addModel put there
// at p, and commits.
func (g *gitops) removeModel(env string, p overlay.Pin) string {
	g.t.Helper()
	dir := "deploy/overlays/" + env
	g.replace(dir+"/kustomization.yaml", "  - values.yaml\n  - "+p.Model+".yaml", "  - values.yaml")
	g.replace(dir+"/kustomization.yaml", "  - name: registry.example.com/models/"+p.Model+"\n    digest: "+p.Digest+"\n", "")
	g.replace(dir+"/kustomization.yaml", "  - name: model-"+p.Model+"\n    envs:\n      - models/"+p.Model+".env\n", "")
	for _, f := range []string{dir + "/models/" + p.Model + ".env", dir + "/" + p.Model + ".yaml"} {
		if err := os.Remove(filepath.Join(g.work, filepath.FromSlash(f))); err != nil {
			g.t.Fatal(err)
		}
	}
	return g.commit("remove " + p.Model + " from " + env)
}

// split is what a route's splitter does: the versions of its tracks, its
// canary's weight, and which splitter it is (to tell a new one apart).
type split struct {
	Stable, Canary string
	Weight         float64
	Splitter       string // its address, "" for none
}

// splitOf reads the splitter of model in env through requests: at weight
// 0 the stable version answers, at weight 1 the canary. It puts the
// weight back before it returns.
func splitOf(t *testing.T, a *Agent, env, model string) split {
	t.Helper()
	a.splitMu.Lock()
	sp := a.splitters[[2]string{env, model}]
	a.splitMu.Unlock()
	if sp == nil {
		return split{}
	}
	version := func() string {
		rec := httptest.NewRecorder()
		sp.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
		return rec.Header().Get(traffic.HeaderVersion)
	}
	s := split{Weight: sp.Weights(), Splitter: fmt.Sprintf("%p", sp)}
	if err := sp.SetWeight(0); err != nil {
		t.Fatal(err)
	}
	s.Stable = version()
	if err := sp.SetWeight(1); err == nil {
		s.Canary = version()
	}
	if err := sp.SetWeight(s.Weight); err != nil {
		t.Fatal(err)
	}
	return s
}

// splits returns splitOf of every model prod routes.
func splits(t *testing.T, a *Agent, models ...string) map[string]split {
	t.Helper()
	m := map[string]split{}
	for _, model := range models {
		m[model] = splitOf(t, a, "prod", model)
	}
	return m
}

// multiModel is a fixture whose prod runs credit-risk and, when withFraud,
// fraud too, with backends for v1, v2, v3, fraud1 and fraud2; its
// endpoints file lists all of them but fraud2 until endpointsFor says
// otherwise.
type multiModel struct {
	*fixture
	b3, f1, f2 *httptest.Server
}

func newMultiModel(t *testing.T, withFraud bool) *multiModel {
	m := &multiModel{fixture: newFixture(t), b3: newBackend(t, "v3"), f1: newBackend(t, "fraud-1"), f2: newBackend(t, "fraud-2")}
	m.endpointsFor(v1, v2, v3, fraud1)
	if withFraud {
		m.g.addModel("prod", fraud1)
	}
	return m
}

// endpointsFor rewrites the endpoints file to list pins only.
func (m *multiModel) endpointsFor(pins ...overlay.Pin) {
	all := map[overlay.Pin]string{v1: m.b1.URL, v2: m.b2.URL, v3: m.b3.URL, fraud1: m.f1.URL, fraud2: m.f2.URL}
	urls := map[overlay.Pin]string{}
	for _, p := range pins {
		urls[p] = all[p]
	}
	writeEndpoints(m.g.t, m.endpoints, urls)
}

// With two models in a progressive environment, one mid-canary, a commit
// that also pins a version of the other that no endpoint serves changes no
// splitter: the environment keeps serving what it served, the candidate
// at its weight included, until the endpoint appears.
func TestUnresolvableModelChangesNoSplitter(t *testing.T) {
	m := newMultiModel(t, true)
	a := progressiveAgent(t, m.g, m.endpoints, func(env string) bool { return env == "prod" }, nil)
	ctx := t.Context()
	withCandidate(t, a, m.g, "prod", 0.5)
	before := splits(t, a, "credit-risk", "fraud")
	want := map[string]split{
		"credit-risk": {Stable: "1", Canary: "2", Weight: 0.5, Splitter: before["credit-risk"].Splitter},
		"fraud":       {Stable: "1", Splitter: before["fraud"].Splitter},
	}
	if diff := cmp.Diff(want, before); diff != "" {
		t.Fatalf("splitters before (-want +got):\n%s", diff)
	}

	if changed, err := overlay.SetPin(m.g.work, "prod", v3); err != nil || !changed {
		t.Fatal(changed, err)
	}
	m.g.pin("prod", fraud2) // one commit: credit-risk 3 and fraud 2, which nothing serves
	_, err := a.Sync(ctx)
	if err == nil || !strings.Contains(err.Error(), "no endpoint serves fraud 2") {
		t.Fatalf("Sync = %v, want an error saying no endpoint serves fraud 2", err)
	}
	if diff := cmp.Diff(want, splits(t, a, "credit-risk", "fraud")); diff != "" {
		t.Errorf("splitters after the failed sync (-before +after):\n%s", diff)
	}
	if r, _ := a.Lookup("prod", "credit-risk"); r.Version != "2" || r.StableVersion != "1" || r.Weight != 0.5 {
		t.Errorf("credit-risk's route after the failed sync = %+v, want candidate 2 against 1 at 0.5", r)
	}

	m.endpointsFor(v1, v2, v3, fraud1, fraud2)
	if _, err := a.Sync(ctx); err != nil {
		t.Fatalf("Sync once fraud 2 has an endpoint: %v", err)
	}
	after := splits(t, a, "credit-risk", "fraud")
	want = map[string]split{
		// The candidate had half the traffic: 1 stays stable, and 3
		// replaces 2 as the candidate at weight 0.
		"credit-risk": {Stable: "1", Canary: "3", Splitter: before["credit-risk"].Splitter},
		"fraud":       {Stable: "1", Canary: "2", Splitter: before["fraud"].Splitter},
	}
	if diff := cmp.Diff(want, after); diff != "" {
		t.Errorf("splitters after the endpoint appeared (-want +got):\n%s", diff)
	}
}

// A model added while another is mid-rollout, itself mid-rollout by the
// registry (a restart in between, say), whose stable version no endpoint
// serves: midRollout fails before any splitter changes, so the other
// model's candidate keeps its weight and no splitter is made for the new
// one.
func TestUnresolvableStableOfAddedModelChangesNoSplitter(t *testing.T) {
	m := newMultiModel(t, false)
	m.endpointsFor(v1, v2, v3, fraud2)
	a := progressiveAgent(t, m.g, m.endpoints, func(env string) bool { return env == "prod" }, func(c *Config) {
		c.Stable = func(env, model, version string) (overlay.Pin, bool) {
			return fraud1, env == "prod" && model == "fraud" && version == "2"
		}
	})
	ctx := t.Context()
	withCandidate(t, a, m.g, "prod", 0.5)
	before := splitOf(t, a, "prod", "credit-risk")

	if changed, err := overlay.SetPin(m.g.work, "prod", v3); err != nil || !changed {
		t.Fatal(changed, err)
	}
	m.g.addModel("prod", fraud2)
	_, err := a.Sync(ctx)
	if err == nil || !strings.Contains(err.Error(), "no endpoint serves fraud 1, the stable version of the rollout of 2") {
		t.Fatalf("Sync = %v, want an error saying no endpoint serves fraud 1, the stable version", err)
	}
	if got := splitOf(t, a, "prod", "credit-risk"); got != before {
		t.Errorf("credit-risk's splitter after the failed sync = %+v, want %+v unchanged", got, before)
	}
	if got := splitOf(t, a, "prod", "fraud"); got.Splitter != "" {
		t.Errorf("fraud has a splitter after the failed sync: %+v", got)
	}
	if code, _, body := get(t, a, "/prod/fraud/predict"); code != http.StatusNotFound {
		t.Errorf("GET /prod/fraud/predict after the failed sync = %d %s, want 404", code, body)
	}

	m.endpointsFor(v1, v2, v3, fraud1, fraud2)
	if _, err := a.Sync(ctx); err != nil {
		t.Fatalf("Sync once fraud 1 has an endpoint: %v", err)
	}
	want := map[string]split{
		"credit-risk": {Stable: "1", Canary: "3", Splitter: before.Splitter},
		"fraud":       {Stable: "1", Canary: "2"},
	}
	got := splits(t, a, "credit-risk", "fraud")
	want["fraud"] = split{Stable: "1", Canary: "2", Splitter: got["fraud"].Splitter}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("splitters after the endpoint appeared (-want +got):\n%s", diff)
	}
}

// A model taken out of an environment's overlay loses its route and its
// splitter, whose weight and health series go; the other model's
// candidate keeps its weight.
func TestRemovedModelDropsItsSplitter(t *testing.T) {
	m := newMultiModel(t, true)
	reg := telemetry.NewRegistry()
	tm, err := traffic.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	a := newAgent(t, m.g, m.endpoints, nil, func(c *Config) {
		c.Traffic, c.Progressive = tm, func(env string) bool { return env == "prod" }
	})
	withCandidate(t, a, m.g, "prod", 0.5)
	before := splitOf(t, a, "prod", "credit-risk")
	series := func() map[string]bool {
		t.Helper()
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]bool{}
		for _, mf := range mfs {
			if mf.GetName() != traffic.MetricCanaryWeight && mf.GetName() != traffic.MetricBackendHealthy {
				continue
			}
			for _, s := range mf.GetMetric() {
				var labels []string
				for _, l := range s.GetLabel() {
					labels = append(labels, l.GetValue())
				}
				got[mf.GetName()+"{"+strings.Join(labels, ",")+"}"] = true
			}
		}
		return got
	}
	if s := series(); !s[traffic.MetricCanaryWeight+"{prod,fraud}"] {
		t.Fatalf("series before the removal = %v, want fraud's weight in prod", s)
	}

	m.g.removeModel("prod", fraud1)
	if _, err := a.Sync(t.Context()); err != nil {
		t.Fatalf("Sync: %v", err)
	}
	if code, _, body := get(t, a, "/prod/fraud/predict"); code != http.StatusNotFound {
		t.Errorf("GET /prod/fraud/predict after the removal = %d %s, want 404", code, body)
	}
	if got := splitOf(t, a, "prod", "fraud"); got.Splitter != "" {
		t.Errorf("fraud still has a splitter after its removal: %+v", got)
	}
	for s := range series() {
		if strings.Contains(s, "fraud") && strings.Contains(s, "prod") {
			t.Errorf("series %s is still exported after fraud left prod", s)
		}
	}
	if got := splitOf(t, a, "prod", "credit-risk"); got != before {
		t.Errorf("credit-risk's splitter after fraud's removal = %+v, want %+v unchanged", got, before)
	}
}

// answering returns the backends that answer model's requests in env at
// weight 0 (stable) and at weight 1 (the candidate), by their names, and
// puts the weight back.
func answering(t *testing.T, a *Agent, env, model string) (stable, canary string) {
	t.Helper()
	_, sp, err := a.routeOf(model, env)
	if err != nil {
		t.Fatal(err)
	}
	w := sp.Weights()
	defer sp.SetWeight(w)
	name := func(weight float64) string {
		t.Helper()
		if err := sp.SetWeight(weight); err != nil {
			t.Fatal(err)
		}
		code, e, body := get(t, a, "/"+env+"/"+model+"/predict")
		if code != http.StatusOK {
			return fmt.Sprintf("%d %s", code, body)
		}
		return e.Backend
	}
	return name(0), name(1)
}

// An endpoint that moves (a model server restarted on another port)
// while a candidate rolls out is followed by the splitter, for the
// candidate, its mirror and the stable version alike, and the candidate
// keeps its weight. A stable version the endpoints file no longer lists
// keeps the endpoint it had.
func TestEndpointMovesMidRollout(t *testing.T) {
	m := newMultiModel(t, false)
	a := progressiveAgent(t, m.g, m.endpoints, func(env string) bool { return env == "prod" }, func(c *Config) {
		c.Environments = []string{"prod"}
	})
	ctx := t.Context()
	withCandidate(t, a, m.g, "prod", 0.5)
	if s, c := answering(t, a, "prod", "credit-risk"); s != "v1" || c != "v2" {
		t.Fatalf("before the move: stable answered by %s, candidate by %s; want v1 and v2", s, c)
	}
	moved2, mirrored := mirrorCounting(t, "v2-moved")
	moved1 := newBackend(t, "v1-moved")

	writeEndpoints(t, m.endpoints, map[overlay.Pin]string{v1: m.b1.URL, v2: moved2.URL})
	if _, err := a.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if s, c := answering(t, a, "prod", "credit-risk"); s != "v1" || c != "v2-moved" {
		t.Errorf("after the candidate moved: stable answered by %s, candidate by %s; want v1 and v2-moved", s, c)
	}
	if r, _ := a.Lookup("prod", "credit-risk"); r.Endpoint != moved2.URL || r.Weight != 0.5 {
		t.Errorf("route after the candidate moved = %+v, want endpoint %s at weight 0.5", r, moved2.URL)
	}

	writeEndpoints(t, m.endpoints, map[overlay.Pin]string{v1: moved1.URL, v2: moved2.URL})
	if _, err := a.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if s, c := answering(t, a, "prod", "credit-risk"); s != "v1-moved" || c != "v2-moved" {
		t.Errorf("after the stable version moved: stable answered by %s, candidate by %s; want v1-moved and v2-moved", s, c)
	}
	if r, _ := a.Lookup("prod", "credit-risk"); r.StableEndpoint != moved1.URL || r.Weight != 0.5 {
		t.Errorf("route after the stable version moved = %+v, want stable endpoint %s at weight 0.5", r, moved1.URL)
	}

	// The stable version leaves the endpoints file: it keeps its endpoint.
	writeEndpoints(t, m.endpoints, map[overlay.Pin]string{v2: moved2.URL})
	if _, err := a.Sync(ctx); err != nil {
		t.Fatalf("Sync without the stable version's endpoint: %v", err)
	}
	if s, c := answering(t, a, "prod", "credit-risk"); s != "v1-moved" || c != "v2-moved" {
		t.Errorf("without the stable version's endpoint: stable answered by %s, candidate by %s; want v1-moved and v2-moved", s, c)
	}

	// A mirror to the candidate follows it too.
	if err := a.SetShadow(ctx, "credit-risk", "prod", 1); err != nil {
		t.Fatal(err)
	}
	moved2b, mirroredAgain := mirrorCounting(t, "v2-moved-again")
	writeEndpoints(t, m.endpoints, map[overlay.Pin]string{v1: moved1.URL, v2: moved2b.URL})
	if _, err := a.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		servedBy(t, a, "/prod/credit-risk/predict")
	}
	a.closeSplitters() // waits for the mirrors in flight
	if n, again := mirrored.Load(), mirroredAgain.Load(); n != 0 || again != 5 {
		t.Errorf("after the candidate moved, %d requests were mirrored to its old endpoint and %d to its new one, want 0 and 5", n, again)
	}
}

// mirrorCounting is newBackend counting the mirrored requests it gets.
func mirrorCounting(t *testing.T, name string) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var n atomic.Int32
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get(traffic.HeaderShadow) != "" {
			n.Add(1)
		}
		json.NewEncoder(w).Encode(echo{Backend: name})
	}))
	t.Cleanup(s.Close)
	return s, &n
}
