package overlay

import (
	"errors"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/promote-ml/promote/internal/pipeline"
	"github.com/promote-ml/promote/internal/policy"
	"github.com/promote-ml/promote/promote"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata")

// golden compares got with the file testdata/name, or rewrites it with
// -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", filepath.FromSlash(name))
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/overlay -run %s -update to create it)", err, t.Name())
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s differs from %s (-want +got):\n%s", name, path, diff)
	}
}

// scaffold writes the default scaffold into a new temporary directory.
func scaffold(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if _, err := Scaffold(dir, ScaffoldOptions{}); err != nil {
		t.Fatalf("Scaffold: %v", err)
	}
	return dir
}

var scaffoldFileList = []string{
	"deploy/base/kustomization.yaml",
	"deploy/base/model-deployment.yaml",
	"deploy/base/model-server.env",
	"deploy/base/model-service.yaml",
	"deploy/base/requirements.txt",
	"deploy/components/values/kustomization.yaml",
	"deploy/overlays/dev/kustomization.yaml",
	"deploy/overlays/dev/models/credit-risk.env",
	"deploy/overlays/dev/values.yaml",
	"deploy/overlays/prod/kustomization.yaml",
	"deploy/overlays/prod/models/credit-risk.env",
	"deploy/overlays/prod/values.yaml",
	"deploy/overlays/staging/kustomization.yaml",
	"deploy/overlays/staging/models/credit-risk.env",
	"deploy/overlays/staging/values.yaml",
	"policies/dev.yaml",
	"policies/dev_test.yaml",
	"policies/prod.yaml",
	"policies/prod_test.yaml",
	"policies/staging.yaml",
	"policies/staging_test.yaml",
	"policies/testdata/cosign.pub",
	"policies/testdata/model.bin",
	"policies/testdata/model.bin.sig",
	"promote.yaml",
}

func TestScaffoldGolden(t *testing.T) {
	dir := t.TempDir()
	files, err := Scaffold(dir, ScaffoldOptions{})
	if err != nil {
		t.Fatalf("Scaffold: %v", err)
	}
	if diff := cmp.Diff(scaffoldFileList, files); diff != "" {
		t.Errorf("Scaffold wrote (-want +got):\n%s", diff)
	}
	// Every file on disk is one Scaffold reported, and matches its golden.
	var onDisk []string
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		onDisk = append(onDisk, filepath.ToSlash(rel))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(files, onDisk); diff != "" {
		t.Errorf("files on disk (-reported +on disk):\n%s", diff)
	}
	for _, f := range files {
		data, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(f)))
		if err != nil {
			t.Fatal(err)
		}
		golden(t, "scaffold/"+f, data)
	}
}

func TestScaffoldPipelineAndPoliciesLoad(t *testing.T) {
	dir := scaffold(t)
	data, err := os.ReadFile(filepath.Join(dir, "promote.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := pipeline.Parse("promote.yaml", data)
	if err != nil {
		t.Fatalf("pipeline.Parse(promote.yaml): %v", err)
	}
	if diff := cmp.Diff(ScaffoldEnvironments, p.Names()); diff != "" {
		t.Errorf("environments (-want +got):\n%s", diff)
	}
	want := map[string]struct{ from, strategy string }{
		"dev": {"", "direct"}, "staging": {"dev", "direct"}, "prod": {"staging", "canary"},
	}
	for _, e := range p.Environments {
		if e.From != want[e.Name].from || e.Strategy != want[e.Name].strategy {
			t.Errorf("%s: from %q rollout %q, want from %q rollout %q", e.Name, e.From, e.Strategy, want[e.Name].from, want[e.Name].strategy)
		}
		if e.Overlay != OverlayPath(e.Name) {
			t.Errorf("%s: overlay %q, want %q", e.Name, e.Overlay, OverlayPath(e.Name))
		}
		if e.From != "" && e.Soak <= 0 {
			t.Errorf("%s: soak %v, want a soak time", e.Name, e.Soak)
		}
		src, err := os.ReadFile(filepath.Join(dir, e.Policy))
		if err != nil {
			t.Fatalf("%s: policy: %v", e.Name, err)
		}
		pol, err := policy.Load(e.Policy, src)
		if err != nil {
			t.Fatalf("policy.Load(%s): %v", e.Policy, err)
		}
		if _, err := pol.Gate(e.Name); err != nil {
			t.Errorf("%s: Gate: %v", e.Policy, err)
		}
		if _, err := os.Stat(filepath.Join(dir, filepath.FromSlash(e.Overlay), "kustomization.yaml")); err != nil {
			t.Errorf("%s: overlay: %v", e.Name, err)
		}
	}
}

// evidence builds a metrics file's evidence.
func evidence(t *testing.T, json string) *policy.Evidence {
	t.Helper()
	e, err := policy.ParseEvidence("metrics.json", []byte(json))
	if err != nil {
		t.Fatalf("ParseEvidence(%s): %v", json, err)
	}
	return e
}

// TestScaffoldProdPolicyIsExercise1 evaluates the scaffold's prod policy:
// the seed's Exercise 1.
func TestScaffoldProdPolicyIsExercise1(t *testing.T) {
	dir := scaffold(t)
	src, err := os.ReadFile(filepath.Join(dir, "policies", "prod.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	pol, err := policy.Load("policies/prod.yaml", src)
	if err != nil {
		t.Fatal(err)
	}
	gate, err := pol.Gate("prod")
	if err != nil {
		t.Fatal(err)
	}
	baseline := evidence(t, `{"f1": 0.88, "demographic_parity_difference": 0.02, "latency_p95_ms": 120}`)
	approved := []policy.Approver{{Name: "alice"}}
	tests := []struct {
		name      string
		candidate string
		approvers []policy.Approver
		blockedBy []string
	}{
		{"good", `{"f1": 0.875, "demographic_parity_difference": 0.04, "latency_p95_ms": 140, "checks": {"tests_passed": true}}`, approved, nil},
		{"f1 drop over 0.01", `{"f1": 0.865, "demographic_parity_difference": 0.04, "latency_p95_ms": 140, "checks": {"tests_passed": true}}`, approved, []string{"f1-regression"}},
		{"fairness gap", `{"f1": 0.88, "demographic_parity_difference": 0.06, "latency_p95_ms": 140, "checks": {"tests_passed": true}}`, approved, []string{"fairness-gap"}},
		{"slow", `{"f1": 0.88, "demographic_parity_difference": 0.04, "latency_p95_ms": 151, "checks": {"tests_passed": true}}`, approved, []string{"latency-p95"}},
		{"no approval", `{"f1": 0.88, "demographic_parity_difference": 0.04, "latency_p95_ms": 140, "checks": {"tests_passed": true}}`, nil, []string{"approvals"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := gate.Evaluate(policy.Input{Candidate: evidence(t, tc.candidate), Baseline: baseline, Signed: true, SignatureChecked: true, Approvers: tc.approvers, RequestedBy: "bob"})
			var blocked []string
			for _, r := range d.Blocking() {
				blocked = append(blocked, r.Rule)
			}
			if diff := cmp.Diff(tc.blockedBy, blocked); diff != "" {
				t.Errorf("blocking rules (-want +got):\n%s", diff)
			}
		})
	}
	ro := pol.Rollout("prod")
	if ro == nil || ro.Strategy != policy.StrategyCanary || !ro.Rollback.Automatic {
		t.Fatalf("Rollout(prod) = %+v, want a canary with automatic rollback", ro)
	}
	var weights []int
	for _, s := range ro.Steps {
		weights = append(weights, s.Weight)
	}
	if diff := cmp.Diff([]int{10, 50, 100}, weights); diff != "" {
		t.Errorf("canary steps (-want +got):\n%s", diff)
	}
}

func TestScaffoldRefusesToOverwrite(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"promote.yaml", "deploy/overlays/prod/values.yaml"} {
		p := filepath.Join(dir, filepath.FromSlash(f))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("mine\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	_, err := Scaffold(dir, ScaffoldOptions{})
	if promote.ErrorCode(err) != promote.Conflict {
		t.Fatalf("Scaffold over existing files = %v, want a Conflict error", err)
	}
	for _, f := range []string{"promote.yaml", "deploy/overlays/prod/values.yaml", "--force"} {
		if !strings.Contains(err.Error(), f) {
			t.Errorf("error %q does not mention %s", err, f)
		}
	}
	// Nothing was written.
	if _, err := os.Stat(filepath.Join(dir, "policies")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("policies/ exists after a refusal: %v", err)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "promote.yaml")); string(got) != "mine\n" {
		t.Errorf("promote.yaml = %q after a refusal", got)
	}
	if _, err := Scaffold(dir, ScaffoldOptions{Force: true}); err != nil {
		t.Fatalf("Scaffold with Force: %v", err)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "promote.yaml")); string(got) == "mine\n" {
		t.Errorf("promote.yaml not overwritten with Force")
	}
}

func TestScaffoldOptions(t *testing.T) {
	pin := Pin{Model: "fraud", Version: "7", URI: "gs://models/fraud/7", Digest: "sha256:" + strings.Repeat("ab", 32)}
	dir := t.TempDir()
	files, err := Scaffold(dir, ScaffoldOptions{Name: "fraud", Pin: pin, ModelImage: "ghcr.io/acme/fraud"})
	if err != nil {
		t.Fatalf("Scaffold: %v", err)
	}
	if !slices.Contains(files, "deploy/overlays/prod/models/fraud.env") {
		t.Errorf("files = %v, want the fraud model's config", files)
	}
	for _, env := range ScaffoldEnvironments {
		pins, err := Pins(dir, env)
		if err != nil {
			t.Fatalf("Pins(%s): %v", env, err)
		}
		if diff := cmp.Diff(map[string]Pin{"fraud": pin}, pins); diff != "" {
			t.Errorf("Pins(%s) (-want +got):\n%s", env, diff)
		}
		out, err := Render(dir, env)
		if err != nil {
			t.Fatalf("Render(%s): %v", env, err)
		}
		if !strings.Contains(string(out), "image: ghcr.io/acme/fraud@"+pin.Digest) {
			t.Errorf("Render(%s) does not run the fraud image by digest:\n%s", env, out)
		}
	}

	bad := []struct {
		name string
		opts ScaffoldOptions
		want string
	}{
		{"image not named after the model", ScaffoldOptions{Pin: pin, ModelImage: "ghcr.io/acme/other"}, "last element"},
		{"model image with tag", ScaffoldOptions{ModelImage: "registry.example.com/models/credit-risk:1"}, "without tag"},
		{"server image by tag", ScaffoldOptions{ServerImage: "ghcr.io/acme/server:latest"}, "pin it by digest"},
		{"bad pin", ScaffoldOptions{Pin: Pin{Model: "x", Version: "1", URI: "s3://x", Digest: "sha256:short"}}, "digest"},
		{"bad name", ScaffoldOptions{Name: "a b"}, "pipeline name"},
		// The model's name is in the overlays' Kubernetes names (the
		// ConfigMap model-<model>): what the registry takes is not enough.
		{"model name in upper case", ScaffoldOptions{Pin: Pin{Model: "Fraud", Version: "1", URI: "s3://x", Digest: pin.Digest}},
			`model name "Fraud": it names Kubernetes objects in the overlays (the ConfigMap model-Fraud, the Deployment model-server-Fraud), so it must be a DNS label`},
		{"model name with an underscore", ScaffoldOptions{Pin: Pin{Model: "fraud_eu", Version: "1", URI: "s3://x", Digest: pin.Digest}},
			"lowercase letters, digits and '-'"},
		{"model name with a dot", ScaffoldOptions{Pin: Pin{Model: "fraud.eu", Version: "1", URI: "s3://x", Digest: pin.Digest}},
			`model name "fraud.eu"`},
		{"model name too long", ScaffoldOptions{Pin: Pin{Model: strings.Repeat("a", 51), Version: "1", URI: "s3://x", Digest: pin.Digest}},
			"at most 50 characters"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			_, err := Scaffold(dir, tc.opts)
			if promote.ErrorCode(err) != promote.Invalid || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Scaffold = %v, want an Invalid error mentioning %q", err, tc.want)
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 0 {
				t.Errorf("Scaffold wrote %d entries after an error", len(entries))
			}
		})
	}
}
