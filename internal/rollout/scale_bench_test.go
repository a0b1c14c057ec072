package rollout

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/promote-ml/promote/internal/metrics"
	"github.com/promote-ml/promote/internal/policy"
	"github.com/promote-ml/promote/internal/registry"
	"github.com/promote-ml/promote/internal/registrytest"
	"github.com/promote-ml/promote/internal/telemetry"
	"github.com/promote-ml/promote/internal/testtool"
	"github.com/promote-ml/promote/internal/traffic"
	"github.com/promote-ml/promote/promote"
)

// BenchmarkTick measures what one Tick costs with n canary rollouts
// running at once (n models in prod, each at its first step), on SQLite
// and, when PROMOTE_TEST_POSTGRES_DSN is set, on PostgreSQL
// (BENCHMARKS.md, "Rollout controller"). The metric source is promote
// serve's with the splitters in process: a Poller over a Builtin reading
// the two families of the registry that n real splitters count on, each
// of which served requests to both tracks. The controller's clock moves
// 100 ms per tick, the rate at which looks (DefaultLookEvery) judge while
// candidates get traffic, so that each rollout stores a sample every 50
// ticks as it would every 5 s (DefaultSampleEvery). It reports the store's
// transactions per tick beside the time.
func BenchmarkTick(b *testing.B) {
	stores := []struct {
		name string
		open func(b *testing.B, dir string) promote.Store
	}{
		{"sqlite", func(b *testing.B, dir string) promote.Store { return registrytest.SQLite(b, dir) }},
		{"postgres", func(b *testing.B, _ string) promote.Store { return registrytest.Postgres(b) }},
	}
	for _, st := range stores {
		for _, n := range []int{1, 10, 100} {
			b.Run(fmt.Sprintf("store=%s/rollouts=%d", st.name, n), func(b *testing.B) {
				f := newFleet(b, n, st.open(b, b.TempDir()))
				views, updates := f.store.views.Load(), f.store.updates.Load()
				ticks := 0
				for b.Loop() {
					f.clock.Advance(DefaultLookEvery)
					if err := f.ctl.Tick(b.Context()); err != nil {
						b.Fatal(err)
					}
					ticks++
				}
				b.ReportMetric(float64(f.store.views.Load()-views)/float64(ticks), "views/op")
				b.ReportMetric(float64(f.store.updates.Load()-updates)/float64(ticks), "updates/op")
				f.check(b)
			})
		}
	}
}

// fleet is n models, each with a canary rollout at its first step in
// prod, behind a splitter of its own.
type fleet struct {
	svc       *registry.Service
	store     *countingStore
	ctl       *Controller
	clock     *testtool.Clock
	splitters map[string]*traffic.Splitter // by model
	n         int
}

// newFleet registers n models with versions 1 and 2 on store, has the
// controller give each model's 1 all of prod's traffic (the first
// version), then starts the rollout of each 2, sends requests through
// every splitter and judges them once.
func newFleet(b *testing.B, n int, store promote.Store) *fleet {
	b.Helper()
	ctx := b.Context()
	dir := b.TempDir()
	setup := registrytest.Load(b, testPipeline, testPolicy)
	f := &fleet{store: &countingStore{Store: store}, clock: testtool.NewClock(time.Now()), splitters: map[string]*traffic.Splitter{}, n: n}
	f.svc = setup.New(b, f.store, registry.Config{ArtifactRoots: []string{dir}, GitOps: true, Rollouts: true})

	backend := func(version string) *url.URL {
		srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, _ *http.Request) {
			fmt.Fprintf(rw, "version %s", version)
		}))
		b.Cleanup(srv.Close)
		u, _ := url.Parse(srv.URL)
		return u
	}
	v1, v2 := backend("1"), backend("2")
	reg := telemetry.NewRegistry()
	tm, err := traffic.NewMetrics(reg)
	if err != nil {
		b.Fatal(err)
	}
	models := make([]string, n)
	for i := range models {
		m := fmt.Sprintf("model-%03d", i)
		models[i] = m
		sp, err := traffic.New(traffic.Config{Model: m, Env: "prod", Metrics: tm})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { sp.Close() })
		if err := sp.SetStable(traffic.Backend{Version: "1", URL: v1}); err != nil {
			b.Fatal(err)
		}
		f.splitters[m] = sp
	}
	// The source promote serve gives the controller with the splitters in
	// process (internal/cli, serve.go).
	poller, err := metrics.NewPoller(metrics.NewBuiltin(reg.Only(metrics.RequestsMetric, metrics.DurationMetric)), metrics.PollerOptions{})
	if err != nil {
		b.Fatal(err)
	}
	if f.ctl, err = New(Config{Registry: f.svc, Traffic: f, Metrics: poller, Now: f.clock.Now,
		Plans: map[string]*policy.Rollout{"prod": setup.Policy.Rollout("prod")}}); err != nil {
		b.Fatal(err)
	}

	// promote delivers version v of every model to prod: requested,
	// approved by the policy, and its commit recorded as the GitOps
	// reconciler records it.
	promoteAll := func(v string) {
		for _, m := range models {
			view, err := f.svc.RequestPromotion(ctx, submitter, registry.PromoteRequest{Model: m, Version: v, Environment: "prod"})
			if err != nil || view.Promotion.State != promote.StateApproved {
				b.Fatalf("request %s %s: %s, %v", m, v, view.Promotion.State, err)
			}
			ds, err := f.svc.Deployments(ctx, m, "prod")
			if err != nil || len(ds) != 1 {
				b.Fatalf("deployments of %s = %+v, %v", m, ds, err)
			}
			if err := f.svc.Delivered(ctx, ds[0], strings.Repeat(v, 40)); err != nil {
				b.Fatal(err)
			}
		}
	}
	for _, m := range models {
		if _, err := f.svc.CreateModel(ctx, submitter, m, ""); err != nil {
			b.Fatal(err)
		}
		for _, v := range []string{"1", "2"} {
			path := filepath.Join(dir, m+"-"+v+".bin")
			if err := os.WriteFile(path, []byte("weights "+m+" "+v), 0o644); err != nil {
				b.Fatal(err)
			}
			if _, err := f.svc.RegisterVersion(ctx, submitter, registry.RegisterRequest{Model: m, Version: v,
				ArtifactURI: "file://" + path, Metrics: []byte(`{"checks": {"tests_passed": true}}`)}); err != nil {
				b.Fatal(err)
			}
		}
	}
	// Each 1 is the first version in prod: the tick gives it all traffic.
	promoteAll("1")
	if err := f.ctl.Tick(ctx); err != nil {
		b.Fatal(err)
	}
	for _, m := range models {
		if err := f.splitters[m].SetCanary(&traffic.Backend{Version: "2", URL: v2}, 0); err != nil {
			b.Fatal(err)
		}
	}
	// Each 2 starts at its first step (10%), then serves requests: about
	// ten canary requests per model, below the step's minimum of 100, so
	// that every rollout stays at its step while the benchmark ticks.
	promoteAll("2")
	if err := f.ctl.Tick(ctx); err != nil {
		b.Fatal(err)
	}
	for _, m := range models {
		for range 100 {
			rec := httptest.NewRecorder()
			f.splitters[m].ServeHTTP(rec, httptest.NewRequestWithContext(ctx, http.MethodGet, "/predict", nil))
			if rec.Code != http.StatusOK {
				b.Fatalf("%s: a request answered %d", m, rec.Code)
			}
		}
	}
	f.clock.Advance(DefaultLookEvery)
	if err := f.ctl.Tick(ctx); err != nil {
		b.Fatal(err)
	}
	f.check(b)
	return f
}

// check fails b unless every rollout is running at its first step and was
// judged on both tracks' counts.
func (f *fleet) check(b *testing.B) {
	b.Helper()
	active, err := f.svc.ActiveRollouts(b.Context())
	if err != nil {
		b.Fatal(err)
	}
	if len(active) != f.n {
		b.Fatalf("%d active rollouts, want %d", len(active), f.n)
	}
	for _, r := range active {
		if r.State != promote.RolloutRunning || r.Version != "2" || r.Step != 0 {
			b.Fatalf("the rollout of %s = %s of %s at step %d (%s), want 2 running at step 1", r.Model, r.State, r.Version, r.Step+1, r.Reason)
		}
		ru := f.ctl.run(r.PromotionID)
		if ru == nil || !ru.judged || ru.read.stable.Requests == 0 || ru.read.canary.Requests == 0 {
			b.Fatalf("the rollout of %s was not judged on both tracks' requests", r.Model)
		}
	}
}

// SetWeight, SetShadow, Ready and SetPinned make the fleet's splitters the
// controller's traffic, as the local agent's are in promote serve.
func (f *fleet) SetWeight(_ context.Context, model, _ string, weight float64) error {
	return f.splitters[model].SetWeight(weight)
}

func (f *fleet) SetShadow(context.Context, string, string, float64) error { return nil }

func (f *fleet) Ready(context.Context, string, string, string) bool { return true }

func (f *fleet) SetPinned(_ context.Context, model, _ string, on bool) error {
	f.splitters[model].SetPinned(on)
	return nil
}

// countingStore counts the transactions run on a store.
type countingStore struct {
	promote.Store
	views, updates atomic.Int64
}

func (s *countingStore) View(ctx context.Context, fn func(promote.Tx) error) error {
	s.views.Add(1)
	return s.Store.View(ctx, fn)
}

func (s *countingStore) Update(ctx context.Context, fn func(promote.Tx) error) error {
	s.updates.Add(1)
	return s.Store.Update(ctx, fn)
}
