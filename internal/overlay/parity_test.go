package overlay

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/promote-ml/promote/promote"
)

func TestCheckScaffoldInParity(t *testing.T) {
	dir := scaffold(t)
	rep, err := Check(dir, ScaffoldEnvironments, nil)
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	if !rep.OK() {
		t.Fatalf("Check of the scaffold found drift:\n%s", rep)
	}
	if !strings.HasPrefix(rep.String(), "In parity: dev, staging, prod") {
		t.Errorf("String() = %q", rep.String())
	}
	// Promoting a version to one environment is not drift.
	if _, err := SetPin(dir, "prod", pin2); err != nil {
		t.Fatal(err)
	}
	if rep, err := Check(dir, nil, nil); err != nil || !rep.OK() {
		t.Errorf("Check after SetPin(prod) = %v, %v; want in parity", rep, err)
	}
	// Without @pin, the pin is a difference like any other.
	noPin := []string{}
	for _, a := range DefaultAllow {
		if a != AllowPin {
			noPin = append(noPin, a)
		}
	}
	rep, err = Check(dir, []string{"prod"}, noPin)
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, f := range rep.Findings {
		paths = append(paths, f.Resource+" "+f.Path)
	}
	want := []string{
		"ConfigMap/model-credit-risk data.MODEL_DIGEST",
		"ConfigMap/model-credit-risk data.MODEL_URI",
		"ConfigMap/model-credit-risk data.MODEL_VERSION",
		"Deployment/model-server spec.template.spec.initContainers[model].image",
	}
	if diff := cmp.Diff(want, paths); diff != "" {
		t.Errorf("findings without @pin (-want +got):\n%s", diff)
	}
}

func TestCheckDrift(t *testing.T) {
	otherDigest := "sha256:" + strings.Repeat("1", 64)
	tests := []struct {
		name  string
		edit  func(t *testing.T, dir string)
		allow []string
		want  []string // rule env resource path of each finding
		text  []string // in the report's String
	}{
		{
			name: "other server image in staging",
			edit: func(t *testing.T, dir string) {
				replaceInFile(t, filepath.Join(dir, "deploy/overlays/staging/kustomization.yaml"), "images:\n", "images:\n  - name: ghcr.io/promote-ml/model-server\n    digest: "+otherDigest+"\n")
			},
			want: []string{
				"drift staging Deployment/model-server spec.template.spec.containers[server].image",
				"image  Deployment/model-server spec.template.spec.containers[server].image",
			},
			text: []string{
				"staging: Deployment/model-server spec.template.spec.containers[server].image differs from deploy/base",
				"- base:    ghcr.io/promote-ml/model-server@sha256:feb0",
				"+ staging: ghcr.io/promote-ml/model-server@" + otherDigest,
				"container server of Deployment/model-server runs different images in different environments",
				"+ prod:    ghcr.io/promote-ml/model-server@sha256:feb0",
			},
		},
		{
			name: "a field outside the allowlist",
			edit: func(t *testing.T, dir string) {
				replaceInFile(t, filepath.Join(dir, "deploy/overlays/prod/kustomization.yaml"), "images:\n", `patches:
  - target: {kind: Deployment, name: model-server}
    patch: |
      - op: add
        path: /spec/template/spec/hostNetwork
        value: true
      - op: replace
        path: /spec/template/spec/containers/0/ports/0/containerPort
        value: 9090
images:
`)
			},
			want: []string{
				"drift prod Deployment/model-server spec.template.spec.containers[server].ports[http].containerPort",
				"drift prod Deployment/model-server spec.template.spec.hostNetwork",
			},
			text: []string{
				"prod: Deployment/model-server spec.template.spec.hostNetwork differs from deploy/base\n    - base: (absent)\n    + prod: true\n",
				"    - base: 8080\n    + prod: 9090\n",
			},
		},
		{
			name: "the same field, allowed",
			edit: func(t *testing.T, dir string) {
				replaceInFile(t, filepath.Join(dir, "deploy/overlays/prod/kustomization.yaml"), "images:\n", `patches:
  - target: {kind: Deployment, name: model-server}
    patch: '[{"op": "add", "path": "/spec/template/spec/hostNetwork", "value": true}]'
images:
`)
			},
			allow: append([]string{"Deployment/model-*:spec.template.spec.host*"}, DefaultAllow...),
		},
		{
			name: "an added resource",
			edit: func(t *testing.T, dir string) {
				if err := os.WriteFile(filepath.Join(dir, "deploy/overlays/dev/debug.yaml"), []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: debug\ndata:\n  TRACE: \"1\"\n"), 0o644); err != nil {
					t.Fatal(err)
				}
				replaceInFile(t, filepath.Join(dir, "deploy/overlays/dev/kustomization.yaml"), "  - values.yaml", "  - values.yaml\n  - debug.yaml")
			},
			want: []string{"drift dev ConfigMap/debug "},
			text: []string{"dev: ConfigMap/debug is added (not in deploy/base)\n    - base: (absent)\n    + dev:\n        apiVersion: v1\n"},
		},
		{
			name: "an added resource, allowed whole",
			edit: func(t *testing.T, dir string) {
				if err := os.WriteFile(filepath.Join(dir, "deploy/overlays/dev/debug.yaml"), []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: debug\n"), 0o644); err != nil {
					t.Fatal(err)
				}
				replaceInFile(t, filepath.Join(dir, "deploy/overlays/dev/kustomization.yaml"), "  - values.yaml", "  - values.yaml\n  - debug.yaml")
			},
			allow: append([]string{"ConfigMap/debug"}, DefaultAllow...),
		},
		{
			name: "a dependency pinned differently in prod",
			edit: func(t *testing.T, dir string) {
				if err := os.WriteFile(filepath.Join(dir, "deploy/overlays/prod/requirements.txt"), []byte("numpy==2.0.0\npandas==2.2.3\nscikit_learn==1.5.2  # same, spelt differently\nonnxruntime==1.20.1\nxgboost==2.1.0\n"), 0o644); err != nil {
					t.Fatal(err)
				}
				replaceInFile(t, filepath.Join(dir, "deploy/overlays/prod/kustomization.yaml"), "configMapGenerator:\n", "configMapGenerator:\n  - name: model-server-dependencies\n    behavior: replace\n    files: [requirements.txt]\n")
			},
			want: []string{
				"drift prod ConfigMap/model-server-dependencies data[requirements.txt]",
				"dependency  ConfigMap/model-server-dependencies data[requirements.txt]",
				"dependency  ConfigMap/model-server-dependencies data[requirements.txt]",
			},
			text: []string{
				"dependency numpy in ConfigMap/model-server-dependencies data[requirements.txt] differs between environments\n    - dev:     numpy==2.1.3\n    + staging: numpy==2.1.3\n    + prod:    numpy==2.0.0\n",
				"dependency xgboost in ConfigMap/model-server-dependencies data[requirements.txt] differs between environments\n    - dev:     (absent)\n    + staging: (absent)\n    + prod:    xgboost==2.1.0\n",
			},
		},
		{
			name: "a namespace in prod",
			edit: func(t *testing.T, dir string) {
				replaceInFile(t, filepath.Join(dir, "deploy/overlays/prod/kustomization.yaml"), "resources:", "namespace: ml-prod\nresources:")
			},
			want: []string{
				"drift prod ConfigMap/model-credit-risk metadata.namespace",
				"drift prod ConfigMap/model-server-config metadata.namespace",
				"drift prod ConfigMap/model-server-dependencies metadata.namespace",
				"drift prod Deployment/model-server metadata.namespace",
				"drift prod Service/model-server metadata.namespace",
			},
		},
		{
			name: "a namespace in prod, allowed",
			edit: func(t *testing.T, dir string) {
				replaceInFile(t, filepath.Join(dir, "deploy/overlays/prod/kustomization.yaml"), "resources:", "namespace: ml-prod\nresources:")
			},
			allow: append([]string{"metadata.namespace"}, DefaultAllow...),
		},
		{
			name: "an image by tag everywhere",
			edit: func(t *testing.T, dir string) {
				replaceInFile(t, filepath.Join(dir, "deploy/base/model-deployment.yaml"), "image: ghcr.io/promote-ml/model-server@sha256:feb0eba0cfb01eed42cd21dc496f567013aee061dddde3c8ad14b97ac1d042a6", "image: ghcr.io/promote-ml/model-server:latest")
			},
			want: []string{"unpinned  Deployment/model-server spec.template.spec.containers[server].image"},
			text: []string{"container server of Deployment/model-server runs an image not pinned by digest (IMAGE@sha256:...) in dev, staging, prod"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := scaffold(t)
			tc.edit(t, dir)
			rep, err := Check(dir, ScaffoldEnvironments, tc.allow)
			if err != nil {
				t.Fatalf("Check: %v", err)
			}
			var got []string
			for _, f := range rep.Findings {
				got = append(got, f.Rule+" "+f.Env+" "+f.Resource+" "+f.Path)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("findings (-want +got):\n%s\nreport:\n%s", diff, rep)
			}
			if rep.OK() != (len(tc.want) == 0) {
				t.Errorf("OK() = %v with %d findings", rep.OK(), len(rep.Findings))
			}
			for _, w := range tc.text {
				if !strings.Contains(rep.String(), w) {
					t.Errorf("report lacks %q:\n%s", w, rep)
				}
			}
		})
	}
}

func TestCheckBrokenOverlay(t *testing.T) {
	dir := scaffold(t)
	replaceInFile(t, filepath.Join(dir, "deploy/overlays/staging/kustomization.yaml"), "  - values.yaml", "  - values.yaml\n  - missing.yaml")
	_, err := Check(dir, nil, nil)
	var re *RenderError
	if !errors.As(err, &re) || re.Env != "staging" {
		t.Fatalf("Check with a broken staging overlay = %v, want a *RenderError for staging", err)
	}

	dir = scaffold(t)
	if err := os.Remove(filepath.Join(dir, "deploy/base/requirements.txt")); err != nil {
		t.Fatal(err)
	}
	_, err = Check(dir, nil, nil)
	if !errors.As(err, &re) || re.Path != BaseDir {
		t.Fatalf("Check with a broken base = %v, want a *RenderError for %s", err, BaseDir)
	}

	if _, err := Check(t.TempDir(), nil, nil); err == nil {
		t.Errorf("Check of an empty directory = nil error")
	}
}

func TestAllowlist(t *testing.T) {
	type probe struct {
		kind, name, path string
		want             bool
	}
	tests := []struct {
		entry  string
		probes []probe
	}{
		{"spec.replicas", []probe{
			{"Deployment", "a", "spec.replicas", true},
			{"StatefulSet", "b", "spec.replicas", true},
			{"Deployment", "a", "spec.replicasX", false},
			{"Deployment", "a", "spec", false},
		}},
		{"Deployment/*:spec.template.spec.containers[*].resources", []probe{
			{"Deployment", "model-server", "spec.template.spec.containers[server].resources.limits.cpu", true},
			{"Deployment", "model-server", "spec.template.spec.containers[server].image", false},
			{"StatefulSet", "model-server", "spec.template.spec.containers[server].resources", false},
		}},
		{"ConfigMap/model-*:data.SLO_*", []probe{
			{"ConfigMap", "model-server-config", "data.SLO_ENFORCE", true},
			{"ConfigMap", "other", "data.SLO_ENFORCE", false},
			{"ConfigMap", "model-x", "data.LOG_LEVEL", false},
		}},
		{"ConfigMap:data[requirements.txt]", []probe{
			{"ConfigMap", "deps", "data[requirements.txt]", true},
			{"ConfigMap", "deps", "data.requirements", false},
		}},
		{"metadata.annotations[example.com/*]", []probe{
			{"Service", "s", "metadata.annotations[example.com/owner]", true},
			{"Service", "s", "metadata.annotations[other.com/owner]", false},
		}},
		{"PodDisruptionBudget/model-server", []probe{
			{"PodDisruptionBudget", "model-server", "", true},
			{"PodDisruptionBudget", "model-server", "spec.minAvailable", true},
			{"PodDisruptionBudget", "other", "", false},
		}},
		{"Service/*:spec.ports[0].port", []probe{
			{"Service", "s", "spec.ports[0].port", true},
			{"Service", "s", "spec.ports[1].port", false},
		}},
	}
	for _, tc := range tests {
		rules, err := parseAllow([]string{tc.entry})
		if err != nil {
			t.Fatalf("parseAllow(%q): %v", tc.entry, err)
		}
		for _, p := range tc.probes {
			segs, err := splitPath(p.path)
			if err != nil {
				t.Fatal(err)
			}
			// A probe's [x] is a list element or a key; both match alike.
			if got := rules[0].allows(p.kind, p.name, segs); got != p.want {
				t.Errorf("%q allows %s/%s %s = %v, want %v", tc.entry, p.kind, p.name, p.path, got, p.want)
			}
		}
	}

	bad := map[string]string{
		"":                 "empty",
		"spec..replicas":   "misplaced '.'",
		"spec.containers[": "closing ']'",
		"spec]":            "unbalanced",
		"a.b:spec":         "not KIND or KIND/NAME",
		"x[a]b":            "after ']'",
	}
	var entries []string
	for e := range bad {
		entries = append(entries, e)
	}
	_, err := parseAllow(entries)
	if promote.ErrorCode(err) != promote.Invalid {
		t.Fatalf("parseAllow(bad entries) = %v, want an Invalid error", err)
	}
	for e, want := range bad {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error for %q lacks %q: %v", e, want, err)
		}
	}
	if _, err := Check(scaffold(t), nil, []string{"spec]"}); promote.ErrorCode(err) != promote.Invalid {
		t.Errorf("Check with a bad allowlist = %v, want an Invalid error", err)
	}
}

func TestParseDependencies(t *testing.T) {
	got := parseDependencies("# c\nNumPy==2.1.3\nscikit_learn >= 1.5  # pinned\n\n-r base.txt\ntorch[cpu]==2.4; python_version>'3.9'\npkg @ https://x/y.whl\nbare\n")
	want := map[string]string{
		"numpy":        "NumPy==2.1.3",
		"scikit-learn": "scikit_learn >= 1.5",
		"-r base.txt":  "-r base.txt",
		"torch":        "torch[cpu]==2.4; python_version>'3.9'",
		"pkg":          "pkg @ https://x/y.whl",
		"bare":         "bare",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("parseDependencies (-want +got):\n%s", diff)
	}
}

func TestNormalizeHashedNames(t *testing.T) {
	docs, err := parseManifests([]byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg-6th54mgtgh\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: d-6th54mgtgh\nspec:\n  volumes:\n  - configMap:\n      name: cfg-6th54mgtgh\n"))
	if err != nil {
		t.Fatal(err)
	}
	normalize(docs)
	if docs[0].Name != "cfg" || docs[1].Name != "d-6th54mgtgh" {
		t.Errorf("names = %s, %s; want cfg and the Deployment's unchanged", docs[0].Name, docs[1].Name)
	}
	if !strings.Contains(docs[1].Text, "name: cfg\n") || strings.Contains(docs[1].Text, "cfg-6th54mgtgh") {
		t.Errorf("reference not normalized:\n%s", docs[1].Text)
	}
}
