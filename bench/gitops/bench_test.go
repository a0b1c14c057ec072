package gitops_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/promote-ml/promote/bench/internal/durations"
	"github.com/promote-ml/promote/internal/cli"
	"github.com/promote-ml/promote/internal/gitops"
	"github.com/promote-ml/promote/internal/gittest"
	"github.com/promote-ml/promote/internal/overlay"
	"github.com/promote-ml/promote/internal/registry"
	"github.com/promote-ml/promote/internal/registrytest"
	"github.com/promote-ml/promote/promote"
)

// env is the environment the promotion benchmarks pin in: prod, whose
// overlay is the largest of the scaffold's.
const env = "prod"

// pins are the two versions the promotion benchmarks alternate between, so
// that every operation changes the overlay and pushes a commit: the
// scaffold's own pin, and a version 2.
var pins = [2]overlay.Pin{
	{
		Model:   overlay.DefaultPin.Model,
		Version: "2",
		URI:     "s3://ml-models/credit-risk/2/model.bin",
		Digest:  "sha256:5f0c6a2d3e8b4a1c9d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c",
	},
	overlay.DefaultPin,
}

// change is the i-th promotion of a benchmark: the version that is not
// pinned yet (pins[0] first, as the scaffold pins pins[1]), approved, with a
// promotion id of its own.
func change(i int) gitops.Change {
	return gitops.Change{
		Environment: env,
		Pin:         pins[i%2],
		PromotionID: fmt.Sprintf("bench-%06d", i),
		ApprovedBy:  []string{"alice"},
		Gate:        "allowed: 6 passed",
	}
}

// scaffold writes the repository `promote init` writes into a new
// directory and returns it.
func scaffold(tb testing.TB) string {
	tb.Helper()
	dir := tb.TempDir()
	if _, err := overlay.Scaffold(dir, overlay.ScaffoldOptions{}); err != nil {
		tb.Fatalf("Scaffold: %v", err)
	}
	return dir
}

func runGit(tb testing.TB, dir string, args ...string) string {
	tb.Helper()
	return gittest.Run(tb, dir, args...)
}

// newRemote returns a local bare repository whose main branch holds one
// commit: the scaffolded repository.
func newRemote(tb testing.TB) string {
	tb.Helper()
	return gittest.Remote(tb, nil)
}

// newWriter returns a writer that pushes to remote's main branch, with a
// working directory of its own that it has not cloned yet.
func newWriter(tb testing.TB, remote string) *gitops.Writer {
	tb.Helper()
	w, err := gitops.New(gitops.Config{
		Remote:      remote,
		Dir:         filepath.Join(tb.TempDir(), "clone"),
		Mode:        gitops.ModePush,
		AuthorName:  "Promote",
		AuthorEmail: "promote@example.com",
	})
	if err != nil {
		tb.Fatalf("gitops.New: %v", err)
	}
	return w
}

// promoteWith delivers change(i) through w and fails unless it pushed a
// commit on the first attempt.
func promoteWith(tb testing.TB, w *gitops.Writer, i int) gitops.Result {
	tb.Helper()
	c := change(i)
	res, err := w.Promote(tb.Context(), c)
	if err != nil {
		tb.Fatalf("Promote(%s %s in %s): %v", c.Pin.Model, c.Pin.Version, c.Environment, err)
	}
	if res.NoChange || res.Commit == "" || res.Attempts != 1 {
		tb.Fatalf("Promote(%s %s in %s) = %+v, want one commit pushed on the first attempt", c.Pin.Model, c.Pin.Version, c.Environment, res)
	}
	return res
}

// latencies are the wall times of a benchmark's operations, one by one, so
// that it can report their median and 90th percentile besides testing's
// mean (ns/op). run.sh reads median-ns/op.
type latencies []time.Duration

func (l latencies) report(b *testing.B) {
	if len(l) == 0 {
		return
	}
	b.ReportMetric(float64(durations.Median(l).Nanoseconds()), "median-ns/op")
	b.ReportMetric(float64(durations.Percentile(l, 90).Nanoseconds()), "p90-ns/op")
}

// TestHarness checks what the benchmarks measure: the scaffold's three
// overlays render, pinned at the scaffold's version, and each promotion
// through the writer lands on the bare remote as one commit that pins its
// version, alternating, so that no benchmark operation is a no-op.
func TestHarness(t *testing.T) {
	t.Run("render", func(t *testing.T) {
		out, err := overlay.RenderAll(scaffold(t), overlay.ScaffoldEnvironments)
		if err != nil {
			t.Fatalf("RenderAll: %v", err)
		}
		if len(out) != 3 {
			t.Fatalf("RenderAll rendered %d overlays, want 3", len(out))
		}
		for _, e := range overlay.ScaffoldEnvironments {
			if !bytes.Contains(out[e], []byte(overlay.DefaultPin.Digest)) {
				t.Errorf("the %s overlay renders without the pinned digest %s", e, overlay.DefaultPin.Digest)
			}
		}
		if bytes.Equal(out["dev"], out["prod"]) {
			t.Error("dev and prod render the same manifests; the overlays should differ")
		}
	})
	t.Run("promote", func(t *testing.T) {
		bare := newRemote(t)
		seed := runGit(t, bare, "rev-parse", "main")
		w := newWriter(t, bare)
		for i := range 2 {
			res := promoteWith(t, w, i)
			if got := runGit(t, bare, "rev-parse", "main"); got != res.Commit {
				t.Fatalf("promotion %d: the remote's main is at %s, want the pushed %s", i, got, res.Commit)
			}
			c := change(i)
			if got, want := runGit(t, bare, "log", "-1", "--format=%s", "main"), c.Subject(); got != want {
				t.Errorf("promotion %d: git log subject = %q, want %q", i, got, want)
			}
			check := filepath.Join(t.TempDir(), "check")
			runGit(t, t.TempDir(), "clone", "-q", bare, check)
			got, err := overlay.Pins(check, env)
			if err != nil {
				t.Fatalf("Pins(%s): %v", env, err)
			}
			if diff := cmp.Diff(map[string]overlay.Pin{c.Pin.Model: c.Pin}, got); diff != "" {
				t.Errorf("promotion %d: the remote's %s pins (-want +got):\n%s", i, env, diff)
			}
		}
		if got := runGit(t, bare, "rev-list", "--count", "main"); got != "3" {
			t.Errorf("the remote's main has %s commits, want 3 (the scaffold and two promotions)", got)
		}
		if got := runGit(t, bare, "rev-parse", "main~2"); got != seed {
			t.Errorf("main~2 = %s, want the scaffold's commit %s", got, seed)
		}
	})
}

// TestRenderMatchesCLI checks that the in-process render produces what the
// kustomize CLI that run.sh compares it with prints, byte for byte, so that
// both do the same work. It runs when BENCH_KUSTOMIZE names the CLI, as
// run.sh sets it.
func TestRenderMatchesCLI(t *testing.T) {
	cli := os.Getenv("BENCH_KUSTOMIZE")
	if cli == "" {
		t.Skip("BENCH_KUSTOMIZE is not set (run.sh sets it to the kustomize it compares with)")
	}
	dir := scaffold(t)
	out, err := overlay.RenderAll(dir, overlay.ScaffoldEnvironments)
	if err != nil {
		t.Fatalf("RenderAll: %v", err)
	}
	for _, e := range overlay.ScaffoldEnvironments {
		t.Run(e, func(t *testing.T) {
			cmd := exec.Command(cli, "build", filepath.Join(dir, filepath.FromSlash(overlay.OverlayPath(e))))
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			want, err := cmd.Output()
			if err != nil {
				t.Fatalf("%s build %s: %v\n%s", cli, overlay.OverlayPath(e), err, stderr.String())
			}
			if diff := cmp.Diff(string(want), string(out[e])); diff != "" {
				t.Errorf("Render(%s) differs from kustomize build (-cli +in-process):\n%s", e, diff)
			}
		})
	}
}

// The benchmarks below cover longer and longer stretches of the path from
// an approved promotion to the pushed commit: rendering alone, the GitOps
// writer, then the whole way from a person's approval through the registry
// and the reconciler. Each checks its operation's outcome, records the
// operation's latency and reports its median (median-ns/op), which run.sh
// prints against the targets.

// BenchmarkRenderThreeOverlays renders the scaffold's three overlays in
// process, as `promote init` and `promote overlays check` do; one operation
// is all three. run.sh compares it with three `kustomize build` runs.
func BenchmarkRenderThreeOverlays(b *testing.B) {
	dir := scaffold(b)
	var lat latencies
	b.ReportAllocs()
	for b.Loop() {
		start := time.Now()
		out, err := overlay.RenderAll(dir, overlay.ScaffoldEnvironments)
		lat = append(lat, time.Since(start))
		if err != nil {
			b.Fatalf("RenderAll: %v", err)
		}
		if len(out) != 3 {
			b.Fatalf("RenderAll rendered %d overlays, want 3", len(out))
		}
	}
	lat.report(b)
}

// BenchmarkWriterPromote is what happens once a promotion is approved and
// allowed: gitops.Writer fetches from a local bare remote, resets its
// working directory, pins the version in prod's overlay, renders the
// overlay, commits and pushes. The writer's clone is made by one promotion
// before the timing, as a running server keeps its working directory; the
// operations then alternate between two versions, so each pushes a commit.
// For a local path, go-git's transport runs git's own git-upload-pack and
// git-receive-pack, so each operation starts two git processes, whose time
// counts and whose allocations (B/op, allocs/op) do not.
func BenchmarkWriterPromote(b *testing.B) {
	bare := newRemote(b)
	w := newWriter(b, bare)
	promoteWith(b, w, 0)
	var lat latencies
	i := 1
	b.ReportAllocs()
	for b.Loop() {
		start := time.Now()
		promoteWith(b, w, i)
		lat = append(lat, time.Since(start))
		i++
	}
	lat.report(b)
}

// TestMain runs the benchmarks with the garbage collector set as the
// promote binary sets it (cli.TuneGC).
func TestMain(m *testing.M) {
	cli.TuneGC()
	os.Exit(m.Run())
}

// The registry of BenchmarkApprovalToPush: prod alone, one approval.
const (
	benchPipeline = `apiVersion: promote.dev/v1
kind: Pipeline
environments:
  - name: prod
    policy: policy.yaml
`
	benchPolicy = `apiVersion: promote.dev/v1
kind: Policy
gate:
  require: [tests_passed]
  noBaseline: pass
  metrics:
    accuracy_delta: ">= 0"
  approvals:
    min: 1
`
)

var (
	submitter = promote.Principal{Name: "ci", Role: promote.RoleSubmitter}
	approver  = promote.Principal{Name: "lena", Role: promote.RoleApprover}
)

// newRegistry returns a registry service on SQLite in GitOps mode, with
// credit-risk and its versions 2 and 3 registered.
func newRegistry(tb testing.TB) *registry.Service {
	tb.Helper()
	dir := tb.TempDir()
	svc := registrytest.Load(tb, benchPipeline, benchPolicy).New(tb, registrytest.SQLite(tb, dir),
		registry.Config{ArtifactRoots: []string{dir}, GitOps: true})
	if _, err := svc.CreateModel(tb.Context(), submitter, "credit-risk", ""); err != nil {
		tb.Fatal(err)
	}
	for _, v := range []string{"2", "3"} {
		path := filepath.Join(dir, "model-"+v+".bin")
		if err := os.WriteFile(path, []byte("weights of "+v), 0o644); err != nil {
			tb.Fatal(err)
		}
		if _, err := svc.RegisterVersion(tb.Context(), submitter, registry.RegisterRequest{Model: "credit-risk", Version: v,
			ArtifactURI: "file://" + path, Metrics: []byte(`{"accuracy": 0.9, "checks": {"tests_passed": true}}`)}); err != nil {
			tb.Fatal(err)
		}
	}
	return svc
}

// approveAndPush requests version in prod (untimed), approves it and
// reconciles, and returns how long the approval and the reconciliation
// took: a person's click to the pushed, recorded commit.
func approveAndPush(tb testing.TB, svc *registry.Service, rec *gitops.Reconciler, version string) time.Duration {
	tb.Helper()
	view, err := svc.RequestPromotion(tb.Context(), submitter, registry.PromoteRequest{Model: "credit-risk", Version: version, Environment: "prod"})
	if err != nil || view.Promotion.State != promote.StateAwaitingApproval {
		tb.Fatalf("RequestPromotion(%s) = %s, %v; want awaiting approval", version, view.Promotion.State, err)
	}
	start := time.Now()
	if _, err := svc.Approve(tb.Context(), approver, view.Promotion.ID, registry.ApproveRequest{Digest: view.Promotion.Digest}); err != nil {
		tb.Fatalf("Approve(%s): %v", version, err)
	}
	out, err := rec.Reconcile(tb.Context(), "credit-risk", "prod")
	took := time.Since(start)
	if err != nil || len(out.Actions) != 1 || out.Actions[0].Kind != gitops.ActionCommitted {
		tb.Fatalf("Reconcile after approving %s = %+v, %v; want one commit", version, out, err)
	}
	return took
}

// BenchmarkApprovalToPush is the "approval → pushed commit": an
// approver's Approve on a promotion awaiting it (the gate runs again, the
// live alias moves, the audit chain grows, all in one SQLite transaction),
// then the reconciler's pass for that model and environment (fetch, pin,
// render, commit, push to a local bare remote) and its record of the
// commit in the registry. Requesting the promotion is not timed.
func BenchmarkApprovalToPush(b *testing.B) {
	bare := newRemote(b)
	svc := newRegistry(b)
	rec, err := gitops.NewReconciler(gitops.ReconcilerConfig{Writer: newWriter(b, bare), Registry: svc})
	if err != nil {
		b.Fatal(err)
	}
	approveAndPush(b, svc, rec, "2") // the clone, before the timing
	var lat latencies
	i := 1
	b.ReportAllocs()
	for b.Loop() {
		lat = append(lat, approveAndPush(b, svc, rec, []string{"2", "3"}[i%2]))
		i++
	}
	lat.report(b)
}

// TestApprovalToPushHarness checks BenchmarkApprovalToPush's operation:
// each approval lands on the remote as one commit with its trailers.
func TestApprovalToPushHarness(t *testing.T) {
	bare := newRemote(t)
	svc := newRegistry(t)
	rec, err := gitops.NewReconciler(gitops.ReconcilerConfig{Writer: newWriter(t, bare), Registry: svc})
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range []string{"2", "3", "2"} {
		approveAndPush(t, svc, rec, v)
		if got := runGit(t, bare, "rev-list", "--count", "main"); got != fmt.Sprint(i+2) {
			t.Errorf("after approval %d the remote has %s commits, want %d", i+1, got, i+2)
		}
		trailers := runGit(t, bare, "log", "-1", "--format=%(trailers:only,unfold)", "main")
		for _, want := range []string{"Version: " + v, "Environment: prod", "Approved-By: lena"} {
			if !strings.Contains(trailers, want) {
				t.Errorf("approval %d: commit lacks %q:\n%s", i+1, want, trailers)
			}
		}
	}
}
