package registry_test

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	bench "github.com/promote-ml/promote/bench/registry"
	"github.com/promote-ml/promote/internal/audit"
	"github.com/promote-ml/promote/internal/registry"
	"github.com/promote-ml/promote/internal/sqlite"
	"github.com/promote-ml/promote/promote"
)

var (
	ci    = promote.Principal{Name: bench.Submitter, Role: promote.RoleSubmitter}
	start = time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)
)

// models is how many models a benchmark's requests go round.
const models = 100

func openSQLite(tb testing.TB) promote.Store {
	tb.Helper()
	store, err := sqlite.Open(context.Background(), filepath.Join(tb.TempDir(), "data"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { store.Close() })
	return store
}

// newService returns the service over a fresh SQLite store with the
// benchmark's pipeline, and models with versions v1 and v2 registered.
func newService(tb testing.TB) *registry.Service {
	tb.Helper()
	ctx := context.Background()
	pl, gates, err := bench.Pipeline()
	if err != nil {
		tb.Fatal(err)
	}
	svc, err := registry.New(openSQLite(tb), registry.Config{Pipeline: pl, Gates: gates})
	if err != nil {
		tb.Fatal(err)
	}
	for m := range models {
		name := bench.ModelName(m)
		if _, err := svc.CreateModel(ctx, ci, name, ""); err != nil {
			tb.Fatal(err)
		}
		for j := 1; j <= 2; j++ {
			v := bench.VersionName(j)
			if _, err := svc.RegisterVersion(ctx, ci, registry.RegisterRequest{Model: name, Version: v,
				ArtifactURI: bench.ArtifactURI(name, v), Digest: bench.Digest(name, v), Metrics: bench.Metrics(j)}); err != nil {
				tb.Fatal(err)
			}
		}
	}
	return svc
}

func request(tb testing.TB, svc *registry.Service, model, version, env string, want promote.State) {
	tb.Helper()
	v, err := svc.RequestPromotion(context.Background(), ci, registry.PromoteRequest{Model: model, Version: version, Environment: env})
	if err != nil {
		tb.Fatalf("RequestPromotion(%s %s to %s): %v", model, version, env, err)
	}
	if v.State != want {
		tb.Fatalf("RequestPromotion(%s %s to %s) = %s (%s), want %s", model, version, env, v.State, v.Reason, want)
	}
}

// BenchmarkRequestPromotion measures one promotion request through the
// service on SQLite: its gate evaluation, its transaction and its audit
// events. "complete" requests dev, where the version goes live (five audit
// events); "await" requests prod, where it waits for an approval and
// supersedes the model's previous prod request (four audit events). Each
// request alternates the model's two versions, so every one is a real
// change.
func BenchmarkRequestPromotion(b *testing.B) {
	b.Run("complete", func(b *testing.B) {
		svc := newService(b)
		i := 0
		for b.Loop() {
			request(b, svc, bench.ModelName(i%models), bench.VersionName(i/models%2+1), "dev", promote.StateSucceeded)
			i++
		}
	})
	b.Run("await", func(b *testing.B) {
		svc := newService(b)
		for m := range models {
			for j := 1; j <= 2; j++ {
				request(b, svc, bench.ModelName(m), bench.VersionName(j), "dev", promote.StateSucceeded)
				request(b, svc, bench.ModelName(m), bench.VersionName(j), "staging", promote.StateSucceeded)
			}
		}
		i := 0
		for b.Loop() {
			request(b, svc, bench.ModelName(i%models), bench.VersionName(i/models%2+1), "prod", promote.StateAwaitingApproval)
			i++
		}
	})
}

// BenchmarkStatus measures what a status read costs the server besides
// HTTP, on SQLite: authenticating its token and reading the model's status
// (live versions, active promotions, holds), each in a read transaction.
// The models have live versions in dev and staging and a promotion
// awaiting approval in prod.
func BenchmarkStatus(b *testing.B) {
	svc := newService(b)
	ctx := context.Background()
	secret, _, err := svc.CreateToken(ctx, promote.Principal{Name: "ada", Role: promote.RoleAdmin},
		registry.TokenRequest{Name: "dashboard", Role: promote.RoleViewer})
	if err != nil {
		b.Fatal(err)
	}
	for m := range models {
		request(b, svc, bench.ModelName(m), "v1", "dev", promote.StateSucceeded)
		request(b, svc, bench.ModelName(m), "v1", "staging", promote.StateSucceeded)
		request(b, svc, bench.ModelName(m), "v1", "prod", promote.StateAwaitingApproval)
	}
	i := 0
	for b.Loop() {
		who, err := svc.Authenticate(ctx, secret)
		if err != nil || who.Name != "dashboard" {
			b.Fatalf("Authenticate = %+v, %v; want dashboard", who, err)
		}
		st, err := svc.Status(ctx, bench.ModelName(i%models))
		if err != nil || len(st.Live) != 2 || len(st.Promotions) != 1 {
			b.Fatalf("Status = %+v, %v; want 2 live versions and 1 promotion", st, err)
		}
		i++
	}
}

// auditStore is a SQLite store holding n generated audit events.
func auditStore(tb testing.TB, n int) promote.Store {
	tb.Helper()
	store := openSQLite(tb)
	gen, err := bench.NewAuditEvents(500, start)
	if err != nil {
		tb.Fatal(err)
	}
	if err := bench.SeedAudit(context.Background(), store, gen, n, 10_000, nil); err != nil {
		tb.Fatal(err)
	}
	return store
}

// verifyEvents is the chain length the verification benchmarks read: long
// enough that per-event costs dominate, short enough to seed in seconds.
const verifyEvents = 100_000

// BenchmarkVerify measures audit.Verify over a SQLite store, per event
// (ns/event), and splits it in two: "scan" only reads the records from the
// store (ScanAudit), "chain" only checks records already in memory (the
// Verifier: sequence, body prefix, SHA-256, link). Verify ≈ scan + chain.
func BenchmarkVerify(b *testing.B) {
	store := auditStore(b, verifyEvents)
	ctx := context.Background()
	perEvent := func(b *testing.B, n int) {
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/event")
		b.ReportMetric(0, "ns/op")
	}
	b.Run("store", func(b *testing.B) {
		for b.Loop() {
			res, err := audit.Verify(ctx, store)
			if err != nil || !res.OK || res.Events != verifyEvents {
				b.Fatalf("Verify = %+v, %v; want OK with %d events", res, err, verifyEvents)
			}
		}
		perEvent(b, verifyEvents)
	})
	var records []promote.AuditRecord
	b.Run("scan", func(b *testing.B) {
		for b.Loop() {
			records = records[:0]
			if err := store.ScanAudit(ctx, 0, func(r promote.AuditRecord) error {
				records = append(records, r)
				return nil
			}); err != nil {
				b.Fatal(err)
			}
		}
		perEvent(b, verifyEvents)
	})
	var body int
	for _, r := range records {
		body += len(r.Body)
	}
	b.Run("chain", func(b *testing.B) {
		b.SetBytes(int64(body))
		for b.Loop() {
			v := audit.NewVerifier()
			for _, r := range records {
				v.Add(r)
			}
			if res := v.Result(); !res.OK {
				b.Fatalf("Verifier: %+v", res.Broken)
			}
		}
		perEvent(b, len(records))
	})
}

// TestSeedAuditVerifies checks that the seeding helpers leave a chain that
// verifies — in the store and as an export — with the events a registry
// writes, and that the chain is real: changing one byte of one event in the
// export breaks it at that event.
func TestSeedAuditVerifies(t *testing.T) {
	const n = 2_345
	ctx := t.Context()
	store := openSQLite(t)
	gen, err := bench.NewAuditEvents(7, start)
	if err != nil {
		t.Fatal(err)
	}
	// Batches that do not divide n, so that the last one is short.
	var batches []int
	if err := bench.SeedAudit(ctx, store, gen, n, 1000, func(done int) { batches = append(batches, done) }); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]int{1000, 2000, n}, batches); diff != "" {
		t.Errorf("SeedAudit progress (-want +got):\n%s", diff)
	}

	res, err := audit.Verify(ctx, store)
	if err != nil {
		t.Fatal(err)
	}
	want := audit.Result{OK: true, Events: n, HeadSeq: n}
	if diff := cmp.Diff(want, res, cmpopts.IgnoreFields(audit.Result{}, "HeadHash")); diff != "" {
		t.Errorf("Verify (-want +got):\n%s", diff)
	}

	var events []promote.AuditEvent
	if err := store.ScanAudit(ctx, 0, func(r promote.AuditRecord) error {
		e, err := r.Event()
		events = append(events, e)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if got := events[len(events)-1].Hash; got != res.HeadHash {
		t.Errorf("Verify head hash = %s, want the last event's hash %s", res.HeadHash, got)
	}
	// The first lifecycle: a version registered, then promoted through
	// dev, staging and prod.
	var actions []string
	for _, e := range events[:18] {
		actions = append(actions, e.Action+" "+e.Environment+" "+e.Decision)
	}
	wantActions := []string{
		"version.registered  unsigned",
		"promotion.requested dev requested", "promotion.state dev gated", "promotion.state dev approved", "live.changed dev promoted", "promotion.state dev succeeded",
		"promotion.requested staging requested", "promotion.state staging gated", "promotion.state staging approved", "live.changed staging promoted", "promotion.state staging succeeded",
		"promotion.requested prod requested", "promotion.state prod gated", "promotion.state prod awaiting_approval", "promotion.approval prod approved",
		"promotion.state prod approved", "live.changed prod promoted", "promotion.state prod succeeded",
	}
	if diff := cmp.Diff(wantActions, actions); diff != "" {
		t.Errorf("first events (-want +got):\n%s", diff)
	}
	// 2,345 events are 130 lifecycles (of 18 events) and 5 events of the
	// 131st: model 4's v19 has just gone live in dev.
	last := events[len(events)-1]
	gotLast := fmt.Sprintf("%s %s %s %s %v", last.Action, last.Model, last.Version, last.Environment, last.Live)
	if wantLast := "live.changed model-00004 v19 dev map[dev:v19 prod:v18 staging:v18]"; gotLast != wantLast {
		t.Errorf("last event = %s, want %s", gotLast, wantLast)
	}
	if !bytes.Contains(events[2].Reasons, []byte(`"rule":"latency_p95_ms"`)) {
		t.Errorf("dev's gated event has reasons %s, want the gate's results", events[2].Reasons)
	}

	var export bytes.Buffer
	if _, err := audit.Export(ctx, store, &export, 0); err != nil {
		t.Fatal(err)
	}
	if res, err := audit.VerifyExport(bytes.NewReader(export.Bytes())); err != nil || !res.OK || res.Events != n {
		t.Fatalf("VerifyExport = %+v, %v; want OK with %d events", res, err, n)
	}
	lines := strings.SplitAfter(export.String(), "\n")
	const tampered = 1_000
	lines[tampered-1] = strings.Replace(lines[tampered-1], `\"actor\":\"ci\"`, `\"actor\":\"cj\"`, 1)
	if lines[tampered-1] == strings.SplitAfter(export.String(), "\n")[tampered-1] {
		t.Fatalf("line %d has no actor ci to change: %s", tampered, lines[tampered-1])
	}
	res, err = audit.VerifyExport(strings.NewReader(strings.Join(lines, "")))
	if err != nil {
		t.Fatal(err)
	}
	if res.OK || res.Broken == nil || res.Broken.Seq != tampered || res.Broken.Kind != audit.BreakModified {
		t.Errorf("VerifyExport after changing event %d = %+v, want broken at %d (%s)", tampered, res, tampered, audit.BreakModified)
	}
}

// TestMetricsPassEveryGate checks that each version's evidence passes every
// environment's gate against the version before it, approvals aside, so
// that the load's requests complete (dev, staging) or wait (prod).
func TestMetricsPassEveryGate(t *testing.T) {
	svc := newService(t)
	m := bench.ModelName(0)
	for _, v := range []string{"v1", "v2"} {
		request(t, svc, m, v, "dev", promote.StateSucceeded)
		request(t, svc, m, v, "staging", promote.StateSucceeded)
		request(t, svc, m, v, "prod", promote.StateAwaitingApproval)
	}
	st, err := svc.Status(t.Context(), m)
	if err != nil {
		t.Fatal(err)
	}
	live := map[string]string{}
	for env, l := range st.Live {
		live[env] = l.Version
	}
	if diff := cmp.Diff(map[string]string{"dev": "v2", "staging": "v2"}, live); diff != "" {
		t.Errorf("live versions (-want +got):\n%s", diff)
	}
	var active []string
	for _, p := range st.Promotions {
		active = append(active, fmt.Sprintf("%s %s %s", p.Environment, p.Version, p.State))
	}
	if diff := cmp.Diff([]string{"prod v2 awaiting_approval"}, active); diff != "" {
		t.Errorf("active promotions (-want +got):\n%s", diff)
	}
}
