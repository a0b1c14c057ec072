package webui

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/promote-ml/promote/internal/notify"
	"github.com/promote-ml/promote/internal/registry"
	"github.com/promote-ml/promote/internal/webui/webuitest"
	"github.com/promote-ml/promote/promote"
)

// The benchmark's volume: the target.
const (
	benchModels   = 100
	benchVersions = 10_000
	benchEvents   = 100_000
	benchSamples  = 300
)

// benchData is the seeded store, shared by every benchmark of the process.
type benchData struct {
	env     *webuitest.Env
	ui      *UI
	cookie  *http.Cookie
	rollout string // a promotion with a 300-sample rollout
	err     error
}

var (
	benchOnce sync.Once
	bench     benchData
	benchDir  string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if bench.env != nil {
		bench.env.Store.Close()
	}
	if benchDir != "" {
		os.RemoveAll(benchDir)
	}
	os.Exit(code)
}

// seedBench fills a SQLite store directly, in large transactions: 100
// models of 100 versions each, every version promoted to dev, the newest
// ones further, live aliases with their history, holds, a prod promotion
// awaiting approval per model, one rolling out with 300 samples, and audit
// events up to 100,000.
func seedBench(ctx context.Context) (benchData, error) {
	var d benchData
	var err error
	if benchDir, err = os.MkdirTemp("", "webui-bench-"); err != nil {
		return d, err
	}
	if d.env, err = webuitest.New(ctx, benchDir); err != nil {
		return d, err
	}
	store := d.env.Store
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(i int) time.Time { return t0.Add(time.Duration(i) * time.Minute) }
	events := 0
	auditE := func(tx promote.Tx, e promote.AuditEvent) error {
		events++
		_, err := tx.AppendAudit(e)
		return err
	}
	perModel := benchVersions / benchModels
	envs := []string{"dev", "staging", "prod"}
	for m := range benchModels {
		model := fmt.Sprintf("model-%03d", m)
		err := store.Update(ctx, func(tx promote.Tx) error {
			if _, err := tx.CreateModel(promote.Model{Name: model, Description: "benchmark model", CreatedBy: "alice", CreatedAt: at(0)}); err != nil {
				return err
			}
			if err := auditE(tx, promote.AuditEvent{Time: at(0), Actor: "alice", Action: promote.ActionModelCreated, Model: model}); err != nil {
				return err
			}
			for v := 1; v <= perModel; v++ {
				ver := fmt.Sprint(v)
				now := at(m*perModel + v)
				digest := fmt.Sprintf("sha256:%064x", m*perModel+v)
				if err := tx.CreateVersion(promote.Version{Model: model, Version: ver, ArtifactURI: "s3://models/" + model + "/" + ver, Digest: digest, Size: 1 << 20,
					Metrics: map[string]float64{"accuracy": 0.8 + float64(v)/1000, "f1": 0.78, "latency_p95_ms": 150 - float64(v)/10},
					Checks:  map[string]bool{"tests_passed": true}, Lineage: promote.Lineage{TrainingRun: "run-" + ver, CodeCommit: fmt.Sprintf("%040x", v)},
					CreatedBy: "alice", CreatedAt: now}); err != nil {
					return err
				}
				// Every version went to dev; the newest three further.
				targets := envs[:1]
				if v > perModel-3 {
					targets = envs[:perModel-v+1] // 98: dev, staging and prod; 100: dev
				}
				for _, env := range targets {
					id := fmt.Sprintf("pr_%s_%s_%s", model, ver, env)
					p := promote.Promotion{ID: id, Model: model, Version: ver, Environment: env, Digest: digest, State: promote.StateSucceeded,
						RequestedBy: "alice", RequestedAt: now, UpdatedAt: now, Decision: []byte(`{"allowed":true,"has_baseline":true,"results":[],"summary":{"pass":3}}`)}
					if _, err := tx.CreatePromotion(p); err != nil {
						return err
					}
					if err := tx.SetLive(promote.Live{Model: model, Environment: env, Version: ver, PromotionID: id, SetBy: "alice", SetAt: now, Reason: "promoted", Commit: fmt.Sprintf("%040x", m*perModel+v)}); err != nil {
						return err
					}
					for _, a := range []string{promote.ActionPromotionRequested, promote.ActionPromotionState, promote.ActionLiveChanged} {
						if err := auditE(tx, promote.AuditEvent{Time: now, Actor: "alice", Action: a, Model: model, Version: ver, Environment: env, PromotionID: id, Digest: digest, Decision: "succeeded",
							Live: map[string]string{"dev": ver}}); err != nil {
							return err
						}
					}
				}
				if err := auditE(tx, promote.AuditEvent{Time: now, Actor: "alice", Action: promote.ActionVersionRegistered, Model: model, Version: ver, Digest: digest, Decision: "unsigned"}); err != nil {
					return err
				}
			}
			// A prod promotion of the newest version awaits approval, and
			// an older one is on hold.
			id := fmt.Sprintf("pr_%s_await", model)
			if _, err := tx.CreatePromotion(promote.Promotion{ID: id, Model: model, Version: fmt.Sprint(perModel), Environment: "prod", Digest: "sha256:" + fmt.Sprintf("%064x", 1),
				State: promote.StateAwaitingApproval, RequestedBy: "alice", RequestedAt: at(m), UpdatedAt: at(m)}); err != nil {
				return err
			}
			if _, err := tx.AddHold(promote.Hold{Model: model, Version: "1", Environment: "prod", Reason: "rolled back", SetBy: "rollout", SetAt: at(m)}); err != nil {
				return err
			}
			return nil
		})
		if err != nil {
			return d, err
		}
	}
	// One promotion rolling out with 300 samples.
	d.rollout = "pr_model-000_rollout"
	err = store.Update(ctx, func(tx promote.Tx) error {
		if _, err := tx.CreatePromotion(promote.Promotion{ID: d.rollout, Model: "model-000", Version: "50", Environment: "staging", Digest: "sha256:" + fmt.Sprintf("%064x", 50),
			State: promote.StateRollingOut, RequestedBy: "alice", RequestedAt: at(10), UpdatedAt: at(10), Baseline: "49"}); err != nil {
			return err
		}
		r := promote.Rollout{PromotionID: d.rollout, Model: "model-000", Version: "50", Environment: "staging", Stable: "49", Strategy: "canary",
			State: promote.RolloutRunning, Step: 2, Weight: 0.5, StartedAt: at(10), StepStartedAt: at(10), UpdatedAt: at(10)}
		if err := tx.SaveRollout(r); err != nil {
			return err
		}
		for i := range benchSamples {
			s := promote.RolloutSample{PromotionID: d.rollout, At: at(10).Add(time.Duration(i) * 5 * time.Second), Step: i / 100, Weight: []float64{0.1, 0.25, 0.5}[i/100],
				Stable: promote.TrackSample{Requests: 900, Errors: float64(i % 3), LatencyP95: 0.12}, Canary: promote.TrackSample{Requests: 100, Errors: float64(i % 2), LatencyP95: 0.125},
				Decision: "continue"}
			if i%100 == 0 {
				s.Event = "step"
			}
			if err := tx.AppendRolloutSample(s, promote.RolloutSamplesKept); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return d, err
	}
	// Fill the audit log up to benchEvents.
	for events < benchEvents {
		err := store.Update(ctx, func(tx promote.Tx) error {
			for i := 0; i < 10_000 && events < benchEvents; i++ {
				model := fmt.Sprintf("model-%03d", events%benchModels)
				if err := auditE(tx, promote.AuditEvent{Time: at(events), Actor: []string{"ci", "bob", "rollout"}[events%3], Action: promote.ActionRolloutStep,
					Model: model, Version: "50", Environment: "prod", PromotionID: d.rollout, Decision: "continue"}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return d, err
		}
	}
	var ds []promote.WebhookDelivery
	for i := range 1000 {
		ds = append(ds, promote.WebhookDelivery{ID: fmt.Sprint(i), EventID: fmt.Sprint(i), EventType: "promotion.succeeded", Endpoint: "https://hooks.example.com/x",
			Attempt: 1, Status: notify.StatusDelivered, Code: 200, At: at(i)})
	}
	if err := d.env.RecordDeliveries(ctx, ds...); err != nil {
		return d, err
	}
	log := notify.NewStoreLog(d.env.Store)
	if d.ui, err = New(Options{Service: d.env.Service, Deliveries: log}); err != nil {
		return d, err
	}
	s, err := d.ui.createSession(ctx, registry.HashToken(d.env.Tokens["bob"]), d.env.Principals["bob"])
	if err != nil {
		return d, err
	}
	d.cookie = &http.Cookie{Name: sessionCookie, Value: s.id}
	// The first verification of the chain reads it all; later views read
	// only what was appended (BenchmarkChainFull measures the first).
	d.ui.chain.Status(ctx)
	return d, nil
}

func benchSeeded(b *testing.B) *benchData {
	benchOnce.Do(func() {
		start := time.Now()
		bench, bench.err = seedBench(context.Background())
		fmt.Fprintf(os.Stderr, "seeded %d models, %d versions, %d audit events in %s\n", benchModels, benchVersions, benchEvents, time.Since(start).Round(time.Millisecond))
	})
	if bench.err != nil {
		b.Fatal(bench.err)
	}
	return &bench
}

// BenchmarkPages measures each page's server time through the real
// handler with a signed-in session, and reports the median as p50-ms.
func BenchmarkPages(b *testing.B) {
	d := benchSeeded(b)
	h := d.ui.Handler()
	pages := []struct{ name, path string }{
		{"pipeline", "/ui/"},
		{"promotion-300-samples", "/ui/promotions/" + d.rollout},
		{"version", "/ui/models/model-042/versions/77"},
		{"model", "/ui/models/model-042"},
		{"audit-first", "/ui/audit"},
		{"audit-deep", "/ui/audit?before=1000"},
		{"audit-filtered", "/ui/audit?model=model-042&action=live.changed"},
		{"webhooks", "/ui/webhooks"},
	}
	for _, p := range pages {
		b.Run(p.name, func(b *testing.B) {
			var times []time.Duration
			for b.Loop() {
				req := httptest.NewRequest(http.MethodGet, p.path, nil)
				req.AddCookie(d.cookie)
				w := httptest.NewRecorder()
				start := time.Now()
				h.ServeHTTP(w, req)
				times = append(times, time.Since(start))
				if w.Code != http.StatusOK {
					b.Fatalf("GET %s = %d: %s", p.path, w.Code, w.Body.String())
				}
			}
			slices.Sort(times)
			b.ReportMetric(float64(times[len(times)/2])/float64(time.Millisecond), "p50-ms")
		})
	}
}

// BenchmarkChainFull measures a full verification of the 100,000-event
// chain: what Run does at start and every VerifyInterval, never a page.
func BenchmarkChainFull(b *testing.B) {
	d := benchSeeded(b)
	c := newChainVerifier(d.env.Store, time.Now)
	for b.Loop() {
		if err := c.Full(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
}
