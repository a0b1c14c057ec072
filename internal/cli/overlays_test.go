package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// initRepo scaffolds a repository with promote init and returns its
// directory.
func initRepo(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if code, _, errOut := run(t, dir, "init"); code != ExitOK {
		t.Fatalf("init: exit %d, stderr %s", code, errOut)
	}
	return dir
}

func editFile(t *testing.T, path, old, new string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), old) {
		t.Fatalf("%s lacks %q", path, old)
	}
	if err := os.WriteFile(path, []byte(strings.Replace(string(data), old, new, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
}

// injectDrift gives staging another server image and prod a field no
// other environment has.
func injectDrift(t *testing.T, dir string) {
	t.Helper()
	editFile(t, filepath.Join(dir, "deploy/overlays/staging/kustomization.yaml"), "images:\n",
		"images:\n  - name: ghcr.io/promote-ml/model-server\n    digest: sha256:"+strings.Repeat("1", 64)+"\n")
	editFile(t, filepath.Join(dir, "deploy/overlays/prod/kustomization.yaml"), "images:\n",
		"patches:\n  - target: {kind: Deployment, name: model-server}\n    patch: '[{\"op\": \"add\", \"path\": \"/spec/template/spec/hostNetwork\", \"value\": true}]'\nimages:\n")
}

func TestOverlaysCheck(t *testing.T) {
	dir := initRepo(t)
	code, out, errOut := run(t, dir, "overlays", "check")
	if code != ExitOK || errOut != "" {
		t.Fatalf("overlays check: exit %d, stderr %q", code, errOut)
	}
	goldenAt(t, "overlays/check-ok.golden", out)

	injectDrift(t, dir)
	code, out, errOut = run(t, dir, "overlays", "check")
	if code != ExitBlocked || errOut != "" {
		t.Fatalf("overlays check with drift: exit %d, stderr %q; want 1 and nothing", code, errOut)
	}
	goldenAt(t, "overlays/check-drift.golden", out)

	// JSON for scripts.
	code, out, _ = run(t, dir, "overlays", "check", "--output", "json")
	var rep struct {
		OK       bool `json:"ok"`
		Findings []struct {
			Rule, Env, Resource, Path string
		} `json:"findings"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("--output json: %v\n%s", err, out)
	}
	if code != ExitBlocked || rep.OK || len(rep.Findings) != 3 {
		t.Errorf("--output json: exit %d, ok %v, %d findings; want 1, false, 3", code, rep.OK, len(rep.Findings))
	}

	// Allowing the prod field leaves the image drift, which no allowlist
	// excuses.
	code, out, _ = run(t, dir, "overlays", "check", "--allow", "Deployment/model-server:spec.template.spec.hostNetwork", "--allow", "Deployment/*:spec.template.spec.containers[server].image")
	if code != ExitBlocked || strings.Contains(out, "hostNetwork differs") || !strings.Contains(out, "runs different images in different environments") {
		t.Errorf("check --allow: exit %d\n%s", code, out)
	}
}

func TestOverlaysCheckBadInput(t *testing.T) {
	tests := []struct {
		name string
		edit func(t *testing.T, dir string)
		args []string
		want string
	}{
		{"broken overlay", func(t *testing.T, dir string) {
			editFile(t, filepath.Join(dir, "deploy/overlays/staging/kustomization.yaml"), "  - values.yaml", "  - values.yaml\n  - missing.yaml")
		}, nil, "render staging (deploy/overlays/staging): "},
		{"bad allow entry", nil, []string{"--allow", "spec..x"}, "allowlist"},
		{"bad output", nil, []string{"--output", "xml"}, `--output "xml"`},
		{"overlay elsewhere", func(t *testing.T, dir string) {
			editFile(t, filepath.Join(dir, "promote.yaml"), "overlay: deploy/overlays/prod", "overlay: clusters/prod")
		}, nil, `environments[2].overlay: "clusters/prod": Promote keeps each environment's overlay at deploy/overlays/prod`},
		{"bad pipeline", func(t *testing.T, dir string) {
			editFile(t, filepath.Join(dir, "promote.yaml"), "kind: Pipeline", "kind: Pipe")
		}, nil, "promote.yaml"},
		{"no repository", func(t *testing.T, dir string) {
			for _, p := range []string{"promote.yaml", "deploy"} {
				if err := os.RemoveAll(filepath.Join(dir, p)); err != nil {
					t.Fatal(err)
				}
			}
		}, nil, "list overlays"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := initRepo(t)
			if tc.edit != nil {
				tc.edit(t, dir)
			}
			code, out, errOut := run(t, dir, append([]string{"overlays", "check"}, tc.args...)...)
			if code != ExitUsage || out != "" {
				t.Fatalf("exit %d, stdout %q; want 2 and nothing", code, out)
			}
			if !strings.Contains(errOut, tc.want) {
				t.Errorf("stderr %q lacks %q", errOut, tc.want)
			}
		})
	}
}

func TestOverlaysCheckWithoutPipeline(t *testing.T) {
	dir := initRepo(t)
	if err := os.Remove(filepath.Join(dir, "promote.yaml")); err != nil {
		t.Fatal(err)
	}
	code, out, _ := run(t, ".", "overlays", "check", "--dir", dir)
	if code != ExitOK || !strings.HasPrefix(out, "In parity: dev, prod, staging") {
		t.Errorf("check without promote.yaml: exit %d\n%s", code, out)
	}
}

func TestOverlaysDiff(t *testing.T) {
	dir := initRepo(t)
	code, out, errOut := run(t, dir, "overlays", "diff", "dev", "prod")
	if code != ExitOK || errOut != "" {
		t.Fatalf("overlays diff: exit %d, stderr %q", code, errOut)
	}
	goldenAt(t, "overlays/diff-dev-prod.golden", out)

	code, out, _ = run(t, dir, "overlays", "diff", "prod", "prod")
	if code != ExitOK || out != "prod and prod render the same.\n" {
		t.Errorf("diff prod prod: exit %d, %q", code, out)
	}
	for _, args := range [][]string{{"dev", "qa"}, {"dev"}, {"dev", "../base"}} {
		if code, _, errOut := run(t, dir, append([]string{"overlays", "diff"}, args...)...); code != ExitUsage {
			t.Errorf("diff %v: exit %d (%s), want 2", args, code, errOut)
		}
	}
	if code, _, _ := run(t, dir, "overlays"); code != ExitUsage {
		t.Errorf("overlays without a subcommand: exit %d, want 2", code)
	}
}
