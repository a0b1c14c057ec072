package overlay

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v3"

	"github.com/promote-ml/promote/promote"
)

var pin2 = Pin{
	Model:   "credit-risk",
	Version: "2",
	URI:     "s3://ml-models/credit-risk/2/model.bin",
	Digest:  "sha256:" + strings.Repeat("2f", 32),
}

// snapshot reads every file under dir.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	files := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		rel, _ := filepath.Rel(dir, p)
		files[filepath.ToSlash(rel)] = string(data)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func TestSetPinRoundTrip(t *testing.T) {
	dir := scaffold(t)
	before := snapshot(t, dir)
	changed, err := SetPin(dir, "prod", pin2)
	if err != nil || !changed {
		t.Fatalf("SetPin(prod, %v) = %v, %v; want true, nil", pin2, changed, err)
	}
	pins, err := Pins(dir, "prod")
	if err != nil {
		t.Fatalf("Pins(prod): %v", err)
	}
	if diff := cmp.Diff(map[string]Pin{"credit-risk": pin2}, pins); diff != "" {
		t.Errorf("Pins(prod) after SetPin (-want +got):\n%s", diff)
	}
	// Only prod's two pin files changed, each in its pinned values only.
	after := snapshot(t, dir)
	var changedFiles []string
	for f := range after {
		if after[f] != before[f] {
			changedFiles = append(changedFiles, f)
		}
	}
	if diff := cmp.Diff([]string{"deploy/overlays/prod/kustomization.yaml", "deploy/overlays/prod/models/credit-risk.env"}, sortedStrings(changedFiles)); diff != "" {
		t.Errorf("changed files (-want +got):\n%s", diff)
	}
	old := DefaultPin
	for _, f := range changedFiles {
		want := strings.NewReplacer(old.Digest, pin2.Digest, "MODEL_VERSION="+old.Version, "MODEL_VERSION="+pin2.Version, old.URI, pin2.URI).Replace(before[f])
		if diff := cmp.Diff(want, after[f]); diff != "" {
			t.Errorf("%s: more than the pin changed (-want +got):\n%s", f, diff)
		}
	}
	out, err := Render(dir, "prod")
	if err != nil {
		t.Fatalf("Render(prod) after SetPin: %v", err)
	}
	for _, want := range []string{"image: registry.example.com/models/credit-risk@" + pin2.Digest, "MODEL_DIGEST: " + pin2.Digest, `MODEL_VERSION: "2"`, "MODEL_URI: " + pin2.URI} {
		if !strings.Contains(string(out), want) {
			t.Errorf("Render(prod) lacks %q", want)
		}
	}
	// Staging still runs version 1.
	if pins, _ := Pins(dir, "staging"); pins["credit-risk"] != DefaultPin {
		t.Errorf("Pins(staging) = %v, want the scaffold's pin", pins)
	}

	// Idempotent: the same pin again changes nothing, not even a file's time.
	stamp := modTimes(t, dir)
	changed, err = SetPin(dir, "prod", pin2)
	if err != nil || changed {
		t.Fatalf("SetPin(prod) again = %v, %v; want false, nil", changed, err)
	}
	if diff := cmp.Diff(after, snapshot(t, dir)); diff != "" {
		t.Errorf("files changed by an idempotent SetPin (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(stamp, modTimes(t, dir)); diff != "" {
		t.Errorf("files rewritten by an idempotent SetPin (-want +got):\n%s", diff)
	}

	// Back to version 1: the files are byte for byte the scaffold's again.
	if changed, err := SetPin(dir, "prod", DefaultPin); err != nil || !changed {
		t.Fatalf("SetPin(prod, DefaultPin) = %v, %v", changed, err)
	}
	if diff := cmp.Diff(before, snapshot(t, dir)); diff != "" {
		t.Errorf("pinning the old version back does not restore the files (-want +got):\n%s", diff)
	}
}

func modTimes(t *testing.T, dir string) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	for f := range snapshot(t, dir) {
		fi, err := os.Stat(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		out[f] = fi.ModTime().UnixNano()
	}
	return out
}

func sortedStrings(s []string) []string {
	m := map[string]bool{}
	for _, x := range s {
		m[x] = true
	}
	return sortedKeys(m)
}

// writeOverlay writes a kustomization (and other files) for env in a new
// repository directory with the scaffold's base.
func writeOverlay(t *testing.T, env string, files map[string]string) string {
	t.Helper()
	dir := scaffold(t)
	od := filepath.Join(dir, "deploy", "overlays", env)
	if err := os.RemoveAll(od); err != nil {
		t.Fatal(err)
	}
	for name, text := range files {
		p := filepath.Join(od, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

const userValues = `apiVersion: promote.dev/v1
kind: Values
metadata:
  name: values
  annotations:
    config.kubernetes.io/local-config: "true"
spec:
  replicas: 3
  resources: {requests: {cpu: 100m}}
  logLevel: info
  rollout: {strategy: direct}
  slo: {enforce: false, latencyP95Ms: 300, errorRate: 0.05}
`

// TestSetPinKeepsTheUsersFile pins into kustomization files written by
// hand: comments, blank lines, indentation, quoting and key order stay as
// they are, and only the digest's text changes or one line is added.
func TestSetPinKeepsTheUsersFile(t *testing.T) {
	d1 := DefaultPin.Digest
	d2 := pin2.Digest
	tests := []struct {
		name      string
		in, want  string
		reencoded bool // the layout forces a re-encode (comments and order kept)
	}{
		{
			name: "digest replaced in place, quotes kept",
			in: `# Team ML's prod overlay.
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization

resources:
- ../../base          # the template
- values.yaml

components: [../../components/values]

images:
# the model
- name: registry.example.com/models/credit-risk   # pinned by Promote
  digest: "` + d1 + `"   # do not edit by hand

# the server
- name: ghcr.io/promote-ml/model-server

configMapGenerator:
- name: model-credit-risk
  behavior: merge
  envs: [models/credit-risk.env]
`,
			want: `# Team ML's prod overlay.
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization

resources:
- ../../base          # the template
- values.yaml

components: [../../components/values]

images:
# the model
- name: registry.example.com/models/credit-risk   # pinned by Promote
  digest: "` + d2 + `"   # do not edit by hand

# the server
- name: ghcr.io/promote-ml/model-server

configMapGenerator:
- name: model-credit-risk
  behavior: merge
  envs: [models/credit-risk.env]
`,
		},
		{
			name: "digest added, newTag removed",
			in: `apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources: [../../base, values.yaml]
components: [../../components/values]
images:
    -   name: registry.example.com/models/credit-risk
        newTag: "1.0"     # replaced by the digest
        newName: registry.example.com/models/credit-risk

configMapGenerator:
    -   name: model-credit-risk
        behavior: merge
        envs:
            - models/credit-risk.env
`,
			want: `apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources: [../../base, values.yaml]
components: [../../components/values]
images:
    -   name: registry.example.com/models/credit-risk
        newName: registry.example.com/models/credit-risk
        digest: ` + d2 + `

configMapGenerator:
    -   name: model-credit-risk
        behavior: merge
        envs:
            - models/credit-risk.env
`,
		},
		{
			name: "single-quoted digest, no final newline",
			in:   "resources: [../../base, values.yaml]\ncomponents: [../../components/values]\nconfigMapGenerator: [{name: model-credit-risk, behavior: merge, envs: [models/credit-risk.env]}]\nimages:\n  - digest: '" + d1 + "'\n    name: registry.example.com/models/credit-risk",
			want: "resources: [../../base, values.yaml]\ncomponents: [../../components/values]\nconfigMapGenerator: [{name: model-credit-risk, behavior: merge, envs: [models/credit-risk.env]}]\nimages:\n  - digest: '" + d2 + "'\n    name: registry.example.com/models/credit-risk",
		},
		{
			name: "name last, no final newline: digest appended",
			in:   "resources: [../../base, values.yaml]\ncomponents: [../../components/values]\nconfigMapGenerator: [{name: model-credit-risk, behavior: merge, envs: [models/credit-risk.env]}]\nimages:\n  - name: registry.example.com/models/credit-risk",
			want: "resources: [../../base, values.yaml]\ncomponents: [../../components/values]\nconfigMapGenerator: [{name: model-credit-risk, behavior: merge, envs: [models/credit-risk.env]}]\nimages:\n  - name: registry.example.com/models/credit-risk\n    digest: " + d2 + "\n",
		},
		{
			name: "flow-style entry with a tag",
			in: `# prod
resources: [../../base, values.yaml]
components: [../../components/values]  # values
images: [{name: registry.example.com/models/credit-risk, newTag: "1"}]
configMapGenerator: [{name: model-credit-risk, behavior: merge, envs: [models/credit-risk.env]}]
`,
			want: `# prod
resources: [../../base, values.yaml]
components: [../../components/values] # values
images: [{name: registry.example.com/models/credit-risk, digest: '` + d2 + `'}]
configMapGenerator: [{name: model-credit-risk, behavior: merge, envs: [models/credit-risk.env]}]
`,
			reencoded: true,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := writeOverlay(t, "prod", map[string]string{"kustomization.yaml": tc.in, "values.yaml": userValues})
			changed, err := SetPin(dir, "prod", pin2)
			if err != nil || !changed {
				t.Fatalf("SetPin = %v, %v; want true, nil", changed, err)
			}
			got, err := os.ReadFile(filepath.Join(dir, "deploy", "overlays", "prod", "kustomization.yaml"))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, string(got)); diff != "" {
				t.Errorf("kustomization.yaml after SetPin (-want +got):\n%s", diff)
			}
			// The overlay renders with the pin, and pinning again is a no-op.
			if _, err := Render(dir, "prod"); err != nil {
				t.Errorf("Render after SetPin: %v", err)
			}
			if changed, err := SetPin(dir, "prod", pin2); err != nil || changed {
				t.Errorf("SetPin again = %v, %v; want false, nil", changed, err)
			}
			// Deterministic: the same input gives the same bytes.
			dir2 := writeOverlay(t, "prod", map[string]string{"kustomization.yaml": tc.in, "values.yaml": userValues})
			if _, err := SetPin(dir2, "prod", pin2); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(snapshot(t, dir), snapshot(t, dir2)); diff != "" {
				t.Errorf("two runs on the same input differ:\n%s", diff)
			}
		})
	}
}

func TestSetPinModelConfigKeepsUserLines(t *testing.T) {
	dir := scaffold(t)
	env := filepath.Join(dir, "deploy", "overlays", "dev", "models", "credit-risk.env")
	in := "# mine\nMODEL_THREADS=4\n  MODEL_VERSION=1\nMODEL_NAME=credit-risk\n\nMODEL_URI=s3://ml-models/credit-risk/1/model.bin\nMODEL_DIGEST=" + DefaultPin.Digest + "\nBATCH=16"
	if err := os.WriteFile(env, []byte(in), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := SetPin(dir, "dev", pin2); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(env)
	want := "# mine\nMODEL_THREADS=4\nMODEL_VERSION=2\nMODEL_NAME=credit-risk\n\nMODEL_URI=" + pin2.URI + "\nMODEL_DIGEST=" + pin2.Digest + "\nBATCH=16\n"
	if diff := cmp.Diff(want, string(got)); diff != "" {
		t.Errorf("models/credit-risk.env (-want +got):\n%s", diff)
	}
	out, err := Render(dir, "dev")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), `MODEL_THREADS: "4"`) {
		t.Errorf("Render(dev) lost the user's MODEL_THREADS")
	}
}

func TestSetPinNewModelConfig(t *testing.T) {
	// An overlay that declares the model but has no config file yet.
	dir := scaffold(t)
	if err := os.Remove(filepath.Join(dir, "deploy", "overlays", "staging", "models", "credit-risk.env")); err != nil {
		t.Fatal(err)
	}
	if changed, err := SetPin(dir, "staging", pin2); err != nil || !changed {
		t.Fatalf("SetPin = %v, %v", changed, err)
	}
	got, _ := os.ReadFile(filepath.Join(dir, "deploy", "overlays", "staging", "models", "credit-risk.env"))
	want := "# The version of credit-risk that staging runs, read into the model's ConfigMap.\n# Promote rewrites the MODEL_* lines on every promotion and rollback.\nMODEL_NAME=credit-risk\nMODEL_VERSION=2\nMODEL_URI=" + pin2.URI + "\nMODEL_DIGEST=" + pin2.Digest + "\n"
	if diff := cmp.Diff(want, string(got)); diff != "" {
		t.Errorf("new models/credit-risk.env (-want +got):\n%s", diff)
	}
}

func TestSetPinBadInput(t *testing.T) {
	good := pin2
	with := func(f func(p *Pin)) Pin {
		p := good
		f(&p)
		return p
	}
	tests := []struct {
		name string
		env  string
		pin  Pin
		edit func(t *testing.T, dir string)
		code promote.Code
		want string
	}{
		{"model name", "prod", with(func(p *Pin) { p.Model = "credit risk" }), nil, promote.Invalid, `model name "credit risk"`},
		{"model path", "prod", with(func(p *Pin) { p.Model = "../x" }), nil, promote.Invalid, "model name"},
		{"version", "prod", with(func(p *Pin) { p.Version = "" }), nil, promote.Invalid, "version is empty"},
		{"short digest", "prod", with(func(p *Pin) { p.Digest = "sha256:abc" }), nil, promote.Invalid, `digest "sha256:abc"`},
		{"upper-case digest", "prod", with(func(p *Pin) { p.Digest = strings.ToUpper(good.Digest) }), nil, promote.Invalid, "digest"},
		{"digest algorithm", "prod", with(func(p *Pin) { p.Digest = "sha512:" + strings.Repeat("a", 64) }), nil, promote.Invalid, "digest"},
		{"empty URI", "prod", with(func(p *Pin) { p.URI = "" }), nil, promote.Invalid, "URI"},
		{"URI with a newline", "prod", with(func(p *Pin) { p.URI = "s3://x\nMODEL_DIGEST=evil" }), nil, promote.Invalid, "URI"},
		{"environment", "../base", good, nil, promote.Invalid, "environment name"},
		{"no overlay", "qa", good, nil, promote.NotFound, "does not exist"},
		{"model not in images", "prod", with(func(p *Pin) { p.Model = "fraud" }), nil, promote.Invalid, "deploy/overlays/prod/kustomization.yaml: no images entry for model fraud"},
		{"no generator", "prod", good, func(t *testing.T, dir string) {
			replaceInFile(t, filepath.Join(dir, "deploy/overlays/prod/kustomization.yaml"), "      - models/credit-risk.env", "      - models/x.env")
		}, promote.Invalid, "no configMapGenerator entry reads models/credit-risk.env"},
		{"two images entries", "prod", good, func(t *testing.T, dir string) {
			replaceInFile(t, filepath.Join(dir, "deploy/overlays/prod/kustomization.yaml"), "images:\n", "images:\n  - name: other.example.com/credit-risk\n")
		}, promote.Invalid, "both name model credit-risk"},
		{"not a mapping", "prod", good, func(t *testing.T, dir string) {
			if err := os.WriteFile(filepath.Join(dir, "deploy/overlays/prod/kustomization.yaml"), []byte("- a\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		}, promote.Invalid, "want a mapping"},
		{"not YAML", "prod", good, func(t *testing.T, dir string) {
			if err := os.WriteFile(filepath.Join(dir, "deploy/overlays/prod/kustomization.yaml"), []byte("a: [\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		}, promote.Invalid, "kustomization.yaml"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := scaffold(t)
			if tc.edit != nil {
				tc.edit(t, dir)
			}
			before := snapshot(t, dir)
			changed, err := SetPin(dir, tc.env, tc.pin)
			if err == nil || changed {
				t.Fatalf("SetPin(%s, %+v) = %v, %v; want false and an error", tc.env, tc.pin, changed, err)
			}
			if code := promote.ErrorCode(err); code != tc.code {
				t.Errorf("SetPin error %q has code %s, want %s", err, code, tc.code)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("SetPin error %q does not contain %q", err, tc.want)
			}
			if diff := cmp.Diff(before, snapshot(t, dir)); diff != "" {
				t.Errorf("a refused SetPin changed files (-before +after):\n%s", diff)
			}
		})
	}
}

func TestPinsBadOverlay(t *testing.T) {
	tests := []struct {
		name, env, want string
	}{
		{"missing key", "MODEL_NAME=credit-risk\nMODEL_VERSION=1\nMODEL_URI=s3://x\n", "MODEL_DIGEST is missing"},
		{"twice", "MODEL_NAME=credit-risk\nMODEL_VERSION=1\nMODEL_VERSION=2\nMODEL_URI=s3://x\nMODEL_DIGEST=" + DefaultPin.Digest + "\n", "deploy/overlays/dev/models/credit-risk.env:3: MODEL_VERSION set twice (first at line 2)"},
		{"other name", "MODEL_NAME=fraud\nMODEL_VERSION=1\nMODEL_URI=s3://x\nMODEL_DIGEST=" + DefaultPin.Digest + "\n", `MODEL_NAME is "fraud"`},
		{"bad version", "MODEL_NAME=credit-risk\nMODEL_VERSION=1 2\nMODEL_URI=s3://x\nMODEL_DIGEST=" + DefaultPin.Digest + "\n", `version "1 2"`},
		{"other digest", "MODEL_NAME=credit-risk\nMODEL_VERSION=2\nMODEL_URI=s3://x\nMODEL_DIGEST=" + pin2.Digest + "\n", "but its images entry (line 15) has digest"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := scaffold(t)
			if err := os.WriteFile(filepath.Join(dir, "deploy/overlays/dev/models/credit-risk.env"), []byte(tc.env), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := Pins(dir, "dev")
			if promote.ErrorCode(err) != promote.Invalid || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Pins = %v, want an Invalid error containing %q", err, tc.want)
			}
		})
	}
	// An overlay without models/ pins nothing.
	dir := scaffold(t)
	if err := os.RemoveAll(filepath.Join(dir, "deploy/overlays/dev/models")); err != nil {
		t.Fatal(err)
	}
	if pins, err := Pins(dir, "dev"); err != nil || len(pins) != 0 {
		t.Errorf("Pins without models/ = %v, %v; want none", pins, err)
	}
}

// FuzzEditModelConfig: whatever a model config file holds, pinning into it
// yields a file that reads back as the pin, and pinning again changes
// nothing.
func FuzzEditModelConfig(f *testing.F) {
	f.Add("MODEL_NAME=x\nMODEL_VERSION=1\n")
	f.Add("# c\n\nA=b\r\nMODEL_URI=u\nMODEL_URI=v")
	f.Add("  MODEL_DIGEST\n=\n")
	f.Fuzz(func(t *testing.T, old string) {
		out := editModelConfig([]byte(old), pin2, "prod")
		p, err := parseModelConfig("x.env", out)
		if err != nil {
			t.Fatalf("parseModelConfig(editModelConfig(%q)) = %v\n%s", old, err, out)
		}
		if p != pin2 {
			t.Fatalf("round trip of %q = %+v, want %+v", old, p, pin2)
		}
		if again := editModelConfig(out, pin2, "prod"); string(again) != string(out) {
			t.Fatalf("second edit of %q changed it:\n%q\n%q", old, out, again)
		}
	})
}

// FuzzPinImage: for any kustomization text that parses, pinning either
// fails cleanly or yields text that parses with the digest pinned.
func FuzzPinImage(f *testing.F) {
	f.Add("images:\n- name: r/credit-risk\n  digest: x\n")
	f.Add("images: [{name: r/credit-risk, newTag: '1'}]\n")
	f.Add("images:\n  - newTag: 1\n    name: r/credit-risk  # c\n")
	f.Add("images:\n- name: \"r/credit-risk\"\n  digest: \"a\\\"b\"\n")
	f.Fuzz(func(t *testing.T, src string) {
		k := &kustomization{rel: "k.yaml", src: []byte(src)}
		if k.parse() != nil {
			return
		}
		out, err := pinImage(k, "credit-risk", pin2.Digest)
		if err != nil {
			return
		}
		check := &kustomization{rel: "k.yaml", src: out}
		if err := check.parse(); err != nil {
			t.Fatalf("pinImage(%q) = %q, which does not parse: %v", src, out, err)
		}
		e, err := check.modelImage("credit-risk")
		if err != nil || scalar(mapValue(e, "digest")) != pin2.Digest || mapValue(e, "newTag") != nil {
			t.Fatalf("pinImage(%q) = %q: digest not pinned (%v)", src, out, err)
		}
		// The text edit means the same as editing the tree, where encoding
		// the tree is faithful (it is not for some anchors and tags).
		k2 := &kustomization{rel: "k.yaml", src: []byte(src)}
		if err := k2.parse(); err != nil {
			t.Fatal(err)
		}
		var orig, reenc any
		plain, err := yaml.Marshal(k2.doc)
		if err != nil || yaml.Unmarshal([]byte(src), &orig) != nil || yaml.Unmarshal(plain, &reenc) != nil || !cmp.Equal(orig, reenc) {
			return
		}
		tree, err := pinImageReencode(k2, "credit-risk", pin2.Digest)
		if err != nil {
			t.Fatalf("pinImageReencode(%q): %v", src, err)
		}
		var want, got any
		if err := yaml.Unmarshal(tree, &want); err != nil {
			t.Fatal(err)
		}
		if err := yaml.Unmarshal(out, &got); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("pinImage(%q) = %q, which means something else than the tree edit %q:\n%s", src, out, tree, diff)
		}
	})
}
