package overlay

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/promote-ml/promote/internal/testtool"
)

func TestRenderGolden(t *testing.T) {
	dir := scaffold(t)
	all, err := RenderAll(dir, ScaffoldEnvironments)
	if err != nil {
		t.Fatalf("RenderAll: %v", err)
	}
	for _, env := range ScaffoldEnvironments {
		t.Run(env, func(t *testing.T) {
			golden(t, "render/"+env+".yaml", all[env])
		})
	}
}

// TestRenderValuesTakeEffect checks that each overlay's values.yaml reaches
// the rendered manifests, and that the environments differ as Exercise 2
// asks: only prod enables canary and strict SLOs.
func TestRenderValuesTakeEffect(t *testing.T) {
	dir := scaffold(t)
	want := map[string][]string{
		"dev":     {"replicas: 1", "LOG_LEVEL: debug", "ROLLOUT_STRATEGY: direct", `SLO_ENFORCE: "false"`, `SLO_LATENCY_P95_MS: "500"`, "cpu: 100m"},
		"staging": {"replicas: 2", "LOG_LEVEL: info", "ROLLOUT_STRATEGY: direct", `SLO_ENFORCE: "false"`, `SLO_LATENCY_P95_MS: "200"`, "memory: 4Gi"},
		"prod":    {"replicas: 4", "LOG_LEVEL: info", "ROLLOUT_STRATEGY: canary", `SLO_ENFORCE: "true"`, `SLO_LATENCY_P95_MS: "150"`, `SLO_ERROR_RATE: "0.01"`, "memory: 4Gi"},
	}
	for env, lines := range want {
		out, err := Render(dir, env)
		if err != nil {
			t.Fatalf("Render(%s): %v", env, err)
		}
		for _, l := range lines {
			if !strings.Contains(string(out), l) {
				t.Errorf("Render(%s) lacks %q", env, l)
			}
		}
		if strings.Contains(string(out), "kind: Values") {
			t.Errorf("Render(%s) deploys values.yaml; it is local config", env)
		}
	}

	// A change to values.yaml changes the output, and the ConfigMap's name,
	// so the pods roll.
	before, _ := Render(dir, "dev")
	values := filepath.Join(dir, "deploy", "overlays", "dev", "values.yaml")
	replaceInFile(t, values, "logLevel: debug", "logLevel: warn")
	after, err := Render(dir, "dev")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(after), "LOG_LEVEL: warn") {
		t.Errorf("Render(dev) after logLevel: warn lacks LOG_LEVEL: warn")
	}
	if configName(string(before)) == configName(string(after)) {
		t.Errorf("model-server-config kept its name %s after a change", configName(string(after)))
	}
}

// configName returns the rendered name of model-server-config.
func configName(out string) string {
	for line := range strings.Lines(out) {
		if s, ok := strings.CutPrefix(strings.TrimSpace(line), "name: model-server-config-"); ok {
			return s
		}
	}
	return ""
}

func replaceInFile(t *testing.T, path, old, new string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), old) {
		t.Fatalf("%s does not contain %q", path, old)
	}
	if err := os.WriteFile(path, []byte(strings.Replace(string(data), old, new, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestRenderBroken(t *testing.T) {
	tests := []struct {
		name string
		env  string
		edit func(t *testing.T, dir string)
		want []string
	}{
		{"missing resource", "staging", func(t *testing.T, dir string) {
			replaceInFile(t, filepath.Join(dir, "deploy/overlays/staging/kustomization.yaml"), "  - values.yaml", "  - values.yaml\n  - missing.yaml")
		}, []string{"render staging (deploy/overlays/staging)", "missing.yaml"}},
		{"missing base file", "prod", func(t *testing.T, dir string) {
			if err := os.Remove(filepath.Join(dir, "deploy/base/model-service.yaml")); err != nil {
				t.Fatal(err)
			}
		}, []string{"render prod (deploy/overlays/prod)", "model-service.yaml"}},
		{"values field missing", "dev", func(t *testing.T, dir string) {
			replaceInFile(t, filepath.Join(dir, "deploy/overlays/dev/values.yaml"), "  logLevel: debug\n", "")
		}, []string{"render dev (deploy/overlays/dev)", "spec.logLevel"}},
		{"pin disagrees with the image", "prod", func(t *testing.T, dir string) {
			replaceInFile(t, filepath.Join(dir, "deploy/overlays/prod/models/credit-risk.env"), "MODEL_DIGEST=sha256:0ac0", "MODEL_DIGEST=sha256:1ac0")
		}, []string{"render prod", "models/credit-risk.env pins credit-risk at sha256:1ac0", "digest \"sha256:0ac0"}},
		{"model config not generated", "dev", func(t *testing.T, dir string) {
			replaceInFile(t, filepath.Join(dir, "deploy/overlays/dev/kustomization.yaml"), "      - models/credit-risk.env", "      - models/other.env")
			if err := os.WriteFile(filepath.Join(dir, "deploy/overlays/dev/models/other.env"), []byte("A=b\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		}, []string{"render dev", "no configMapGenerator entry reads models/credit-risk.env"}},
		{"model image not in the base", "staging", func(t *testing.T, dir string) {
			replaceInFile(t, filepath.Join(dir, "deploy/base/model-deployment.yaml"), "image: registry.example.com/models/credit-risk", "image: registry.example.com/models/scorer")
		}, []string{"render staging", "no container runs registry.example.com/models/credit-risk@sha256:0ac0"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := scaffold(t)
			tc.edit(t, dir)
			_, err := Render(dir, tc.env)
			var re *RenderError
			if !errors.As(err, &re) {
				t.Fatalf("Render(%s) = %v, want a *RenderError", tc.env, err)
			}
			if re.Env != tc.env || re.Path != OverlayPath(tc.env) {
				t.Errorf("RenderError names %s %s, want %s %s", re.Env, re.Path, tc.env, OverlayPath(tc.env))
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Render(%s) error %q does not contain %q", tc.env, err, w)
				}
			}
		})
	}
}

func TestParseManifests(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"no kind", "apiVersion: v1\nmetadata:\n  name: a\n", "rendered document 1 (/a) has no kind"},
		{"no name", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n---\napiVersion: v1\nkind: Service\nmetadata: {}\n", "rendered document 2 (Service/) has no metadata.name"},
		{"nothing", "kind: X\n", "has no apiVersion, metadata.name"},
		{"not yaml", "a: [b\n", "rendered document 1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseManifests([]byte(tc.in))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("parseManifests(%q) = %v, want an error containing %q", tc.in, err, tc.want)
			}
		})
	}
	docs, err := parseManifests([]byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  namespace: n\n---\napiVersion: v1\nkind: Service\nmetadata:\n  name: b\n"))
	if err != nil {
		t.Fatal(err)
	}
	var ids, texts []string
	for _, d := range docs {
		ids = append(ids, d.ID())
		texts = append(texts, d.Text)
	}
	if diff := cmp.Diff([]string{"ConfigMap/n/a", "Service/b"}, ids); diff != "" {
		t.Errorf("IDs (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  namespace: n\n", "apiVersion: v1\nkind: Service\nmetadata:\n  name: b\n"}, texts); diff != "" {
		t.Errorf("texts (-want +got):\n%s", diff)
	}
}

func TestCheckPins(t *testing.T) {
	pin := Pin{Model: "m", Version: "2", URI: "s3://m/2", Digest: "sha256:" + strings.Repeat("a", 64)}
	other := "sha256:" + strings.Repeat("b", 64)
	workload := func(images ...string) string {
		s := "apiVersion: batch/v1\nkind: CronJob\nmetadata:\n  name: w\nspec:\n  jobTemplate:\n    spec:\n      template:\n        spec:\n          containers:\n"
		for i, img := range images {
			s += "          - name: c" + string(rune('0'+i)) + "\n            image: " + img + "\n"
		}
		return s
	}
	config := func(version, uri, digest string) string {
		return "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: model-m-abc\ndata:\n  MODEL_NAME: m\n  MODEL_VERSION: \"" + version + "\"\n  MODEL_URI: " + uri + "\n  MODEL_DIGEST: " + digest + "\n"
	}
	tests := []struct {
		name, in, want string
	}{
		{"ok", workload("r/m@"+pin.Digest, "r/server@"+other) + config("2", "s3://m/2", pin.Digest), ""},
		{"a container at another digest", workload("r/m@"+pin.Digest, "r/m:latest@"+other) + config("2", "s3://m/2", pin.Digest), "container c1 of CronJob/w runs r/m:latest@" + other},
		{"a container by tag", workload("r/m@"+pin.Digest, "r/m:2") + config("2", "s3://m/2", pin.Digest), "container c1 of CronJob/w runs r/m:2"},
		{"no container", workload("r/server@"+other) + config("2", "s3://m/2", pin.Digest), "no container runs r/m@" + pin.Digest},
		{"no config", workload("r/m@" + pin.Digest), "no ConfigMap has MODEL_NAME=m"},
		{"stale config", workload("r/m@"+pin.Digest) + config("1", "s3://m/1", other), "ConfigMap/model-m-abc has MODEL_DIGEST=" + other},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			docs, err := parseManifests([]byte(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			err = checkPins(docs, map[string]Pin{"m": pin}, map[string]string{"m": "r/m"})
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("checkPins = %v, want nil", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("checkPins = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestRenderBadEnvironment(t *testing.T) {
	dir := scaffold(t)
	for _, env := range []string{"../base", "", "qa"} {
		if _, err := Render(dir, env); err == nil {
			t.Errorf("Render(%q) = nil error", env)
		}
	}
}

// kustomizeCLI finds the kustomize binary: $PROMOTE_KUSTOMIZE, else PATH.
// With neither it skips, except in CI, where the comparison must run.
func kustomizeCLI(t *testing.T) string {
	t.Helper()
	return testtool.Find(t, "PROMOTE_KUSTOMIZE", "kustomize", "put kustomize v5.8.2 on PATH")
}

// TestRenderMatchesKustomizeCLI renders every overlay of the scaffold with
// the kustomize CLI and compares the output with Render's, byte for byte.
func TestRenderMatchesKustomizeCLI(t *testing.T) {
	bin := kustomizeCLI(t)
	version, err := exec.Command(bin, "version").CombinedOutput()
	if err != nil {
		t.Fatalf("%s version: %v\n%s", bin, err, version)
	}
	t.Logf("kustomize %s", strings.TrimSpace(string(version)))
	dir := scaffold(t)
	for _, env := range ScaffoldEnvironments {
		t.Run(env, func(t *testing.T) {
			cmd := exec.Command(bin, "build", filepath.Join(dir, "deploy", "overlays", env))
			var stderr strings.Builder
			cmd.Stderr = &stderr
			want, err := cmd.Output()
			if err != nil {
				t.Fatalf("kustomize build %s: %v\n%s", env, err, stderr.String())
			}
			got, err := Render(dir, env)
			if err != nil {
				t.Fatalf("Render(%s): %v", env, err)
			}
			if diff := cmp.Diff(string(want), string(got)); diff != "" {
				t.Errorf("Render(%s) differs from kustomize build (-cli +render):\n%s", env, diff)
			}
		})
	}
}
