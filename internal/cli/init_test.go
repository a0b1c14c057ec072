package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/promote-ml/promote/internal/report"
)

// goldenAt compares got with testdata/path (relative to this package), or
// rewrites it with -update.
func goldenAt(t *testing.T, path, got string) {
	t.Helper()
	path = filepath.Join(testdataDir, filepath.FromSlash(path))
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/cli -run %s -update to create it)", err, t.Name())
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("output differs from %s (-want +got):\n%s", path, diff)
	}
}

var testdataDir, _ = filepath.Abs("testdata")

func TestInit(t *testing.T) {
	dir := t.TempDir()
	code, out, errOut := run(t, dir, "init", "repo")
	if code != ExitOK {
		t.Fatalf("init: exit %d, stderr %s", code, errOut)
	}
	goldenAt(t, "init/stdout.golden", out)
	for _, f := range []string{"promote.yaml", "policies/prod.yaml", "deploy/base/kustomization.yaml", "deploy/overlays/prod/values.yaml", "deploy/overlays/dev/models/credit-risk.env"} {
		if _, err := os.Stat(filepath.Join(dir, "repo", filepath.FromSlash(f))); err != nil {
			t.Errorf("init did not write %s: %v", f, err)
		}
	}

	// A second init refuses, names the files, and changes nothing.
	values := filepath.Join(dir, "repo", "deploy", "overlays", "prod", "values.yaml")
	if err := os.WriteFile(values, []byte("# mine\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errOut = run(t, dir, "init", "repo")
	if code != ExitUsage || out != "" {
		t.Fatalf("init over a repository: exit %d, stdout %q; want 2 and nothing", code, out)
	}
	for _, want := range []string{"repo already has", "deploy/overlays/prod/values.yaml", "promote.yaml", "--force"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr %q lacks %q", errOut, want)
		}
	}
	if got, _ := os.ReadFile(values); string(got) != "# mine\n" {
		t.Errorf("values.yaml = %q after a refused init", got)
	}

	code, _, errOut = run(t, dir, "init", "repo", "--force")
	if code != ExitOK {
		t.Fatalf("init --force: exit %d, stderr %s", code, errOut)
	}
	if got, _ := os.ReadFile(values); string(got) == "# mine\n" {
		t.Errorf("init --force did not overwrite values.yaml")
	}
}

// TestInitPolicyTests runs the policy tests init writes through promote
// policy test: they pass against the policies init writes, and each
// environment has an allowed case and a blocked one.
func TestInitPolicyTests(t *testing.T) {
	dir := t.TempDir()
	if code, _, errOut := run(t, dir, "init", "repo"); code != ExitOK {
		t.Fatalf("init: exit %d, stderr %s", code, errOut)
	}
	code, out, errOut := run(t, dir, "policy", "test", "repo", "-o", "json")
	if code != ExitOK {
		t.Fatalf("policy test repo: exit %d, stdout %s, stderr %s", code, out, errOut)
	}
	var got report.TestRun
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatal(err)
	}
	verdicts := map[string][]string{}
	for _, c := range got.Cases {
		if !c.Passed {
			t.Errorf("%s:%d %s: %v", c.File, c.Line, c.Name, c.Differences)
		}
		policy := filepath.Base(c.PolicyFile)
		if !slices.Contains(verdicts[policy], c.Verdict) {
			verdicts[policy] = append(verdicts[policy], c.Verdict)
		}
	}
	want := map[string][]string{"dev.yaml": {"allowed", "blocked"}, "staging.yaml": {"allowed", "blocked"}, "prod.yaml": {"allowed", "blocked"}}
	if diff := cmp.Diff(want, verdicts); diff != "" {
		t.Errorf("verdicts of the scaffolded cases by policy (-want +got):\n%s", diff)
	}
	if code, out, _ := run(t, dir, "policy", "check", "repo/policies/prod.yaml"); code != ExitOK || !strings.HasPrefix(out, "ok  repo/policies/prod.yaml (prod)\n") {
		t.Errorf("policy check: exit %d, stdout %q", code, out)
	}
}

func TestInitCurrentDirectory(t *testing.T) {
	dir := t.TempDir()
	code, out, errOut := run(t, dir, "init")
	if code != ExitOK || !strings.HasPrefix(out, "Wrote a Promote repository to .:\n") {
		t.Fatalf("init: exit %d, stdout %q, stderr %s", code, out, errOut)
	}
	if _, err := os.Stat(filepath.Join(dir, "promote.yaml")); err != nil {
		t.Error(err)
	}
	if code, _, _ := run(t, dir, "init", "a", "b"); code != ExitUsage {
		t.Errorf("init a b: exit %d, want 2", code)
	}
}
