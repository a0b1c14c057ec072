package overlay

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/promote-ml/promote/promote"
)

// TestAddModelGolden adds a model to what promote init writes: the files
// it writes and edits match their golden files (the overlays' comment on
// the pins names the model's config too), listed in the pipeline's order,
// the files it does not touch stay byte for byte, and every overlay
// renders and stays in parity.
func TestAddModelGolden(t *testing.T) {
	dir := scaffold(t)
	before := snapshot(t, dir)
	added, err := AddModel(dir, AddModelOptions{Model: "fraud", Environments: ScaffoldEnvironments})
	if err != nil {
		t.Fatalf("AddModel(fraud) = %v", err)
	}
	if diff := cmp.Diff(ScaffoldEnvironments, added.Environments); diff != "" {
		t.Errorf("AddModel(fraud) environments (-want +got):\n%s", diff)
	}
	got := added.Files
	want := []string{
		"deploy/base/kustomization.yaml",
		"deploy/base/model-fraud-deployment.yaml",
		"deploy/base/model-fraud-service.yaml",
		"deploy/components/model-fraud/kustomization.yaml",
		"deploy/overlays/dev/kustomization.yaml",
		"deploy/overlays/dev/models/fraud.env",
		"deploy/overlays/staging/kustomization.yaml",
		"deploy/overlays/staging/models/fraud.env",
		"deploy/overlays/prod/kustomization.yaml",
		"deploy/overlays/prod/models/fraud.env",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("AddModel(fraud) wrote (-want +got):\n%s", diff)
	}
	after := snapshot(t, dir)
	for name, data := range after {
		if slices.Contains(got, name) {
			golden(t, "addmodel/"+name, []byte(data))
		} else if before[name] != data {
			t.Errorf("AddModel changed %s, which it does not report", name)
		}
	}
	if len(after) != len(before)+6 {
		t.Errorf("%d files after AddModel, %d before; want 6 new", len(after), len(before))
	}
	for _, env := range ScaffoldEnvironments {
		out, err := Render(dir, env)
		if err != nil {
			t.Fatalf("Render(%s) = %v", env, err)
		}
		if !strings.Contains(string(out), "image: registry.example.com/models/fraud:"+NotPromotedTag) {
			t.Errorf("Render(%s) does not run fraud's image tagged %s:\n%s", env, NotPromotedTag, out)
		}
		pins, err := Pins(dir, env)
		if err != nil {
			t.Fatalf("Pins(%s) = %v", env, err)
		}
		if diff := cmp.Diff(map[string]Pin{"credit-risk": DefaultPin}, pins); diff != "" {
			t.Errorf("Pins(%s) (-want +got):\n%s", env, diff)
		}
		d, err := DesiredState(out)
		if err != nil || len(d) != 1 || d[0].Model != "credit-risk" {
			t.Errorf("DesiredState(%s) = %+v, %v; want credit-risk alone", env, d, err)
		}
	}
	rep, err := Check(dir, nil, nil)
	if err != nil || !rep.OK() {
		t.Fatalf("Check after AddModel = %v, %v:\n%s", rep.OK(), err, rep)
	}

	// The first promotion pins it, in one overlay; the others still render
	// and parity holds with one environment pinned and the others not.
	fraud := Pin{Model: "fraud", Version: "3", URI: "s3://ml-models/fraud/3/model.bin", Digest: "sha256:" + strings.Repeat("ab", 32)}
	if changed, err := SetPin(dir, "staging", fraud); err != nil || !changed {
		t.Fatalf("SetPin(staging, fraud 3) = %v, %v", changed, err)
	}
	out, err := Render(dir, "staging")
	if err != nil {
		t.Fatalf("Render(staging) after the pin = %v", err)
	}
	if !strings.Contains(string(out), "image: registry.example.com/models/fraud@"+fraud.Digest) {
		t.Errorf("Render(staging) does not run fraud at %s:\n%s", fraud.Digest, out)
	}
	pins, err := Pins(dir, "staging")
	if err != nil || pins["fraud"] != fraud {
		t.Errorf("Pins(staging) = %v, %v; want fraud at %v", pins, err, fraud)
	}
	d, err := DesiredState(out)
	if err != nil || len(d) != 2 || d[1].Pin != fraud || d[1].Workload != "Deployment/model-server-fraud" || d[1].Replicas != 2 {
		t.Errorf("DesiredState(staging) = %+v, %v; want fraud 3 run by Deployment/model-server-fraud with staging's 2 replicas", d, err)
	}
	if rep, err := Check(dir, nil, nil); err != nil || !rep.OK() {
		t.Errorf("Check after pinning fraud in staging = %v, %v:\n%s", rep.OK(), err, rep)
	}
}

// TestAddModelRefuses: bad input and a model that is there already are
// errors that name the problem, and change no file.
func TestAddModelRefuses(t *testing.T) {
	added := func(t *testing.T) string {
		dir := scaffold(t)
		if _, err := AddModel(dir, AddModelOptions{Model: "fraud"}); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	for _, tt := range []struct {
		name  string
		dir   func(t *testing.T) string
		opts  AddModelOptions
		code  promote.Code
		wants []string
	}{
		{"the first model", scaffold, AddModelOptions{Model: "credit-risk"}, promote.Conflict, []string{"credit-risk", "configMapGenerator model-credit-risk already"}},
		{"a model added already", added, AddModelOptions{Model: "fraud"}, promote.Conflict, []string{"fraud", "configMapGenerator model-fraud already"}},
		{"upper case", scaffold, AddModelOptions{Model: "Fraud"}, promote.Invalid, []string{`model name "Fraud"`, "lowercase"}},
		{"a dot", scaffold, AddModelOptions{Model: "fraud.v2"}, promote.Invalid, []string{`model name "fraud.v2"`}},
		{"empty", scaffold, AddModelOptions{Model: ""}, promote.Invalid, []string{"model name"}},
		{"too long", scaffold, AddModelOptions{Model: strings.Repeat("a", 51)}, promote.Invalid, []string{"at most 50 characters"}},
		{"image of another name", scaffold, AddModelOptions{Model: "fraud", ModelImage: "registry.example.com/models/other"}, promote.Invalid, []string{`model image "registry.example.com/models/other"`, `"fraud"`}},
		{"image with a tag", scaffold, AddModelOptions{Model: "fraud", ModelImage: "registry.example.com/models/fraud:1"}, promote.Invalid, []string{"without tag or digest"}},
		{"server image by tag", scaffold, AddModelOptions{Model: "fraud", ServerImage: "ghcr.io/promote-ml/model-server:1"}, promote.Invalid, []string{"pin it by digest"}},
		{"no scaffold", func(t *testing.T) string { return t.TempDir() }, AddModelOptions{Model: "fraud"}, promote.NotFound, []string{"no deploy/base/kustomization.yaml", "promote init"}},
		{"no overlays", func(t *testing.T) string {
			dir := scaffold(t)
			if err := os.RemoveAll(filepath.Join(dir, "deploy", "overlays")); err != nil {
				t.Fatal(err)
			}
			return dir
		}, AddModelOptions{Model: "fraud"}, promote.NotFound, []string{"no overlays under deploy/overlays"}},
		{"an overlay declaring it", func(t *testing.T) string {
			dir := scaffold(t)
			p := filepath.Join(dir, "deploy", "overlays", "prod", "kustomization.yaml")
			data, _ := os.ReadFile(p)
			os.WriteFile(p, []byte(strings.Replace(string(data), "images:\n", "images:\n  - name: example.com/fraud\n    newTag: \"1\"\n", 1)), 0o644)
			return dir
		}, AddModelOptions{Model: "fraud"}, promote.Conflict, []string{"deploy/overlays/prod/kustomization.yaml declares it already"}},
		{"a flow list", func(t *testing.T) string {
			dir := scaffold(t)
			p := filepath.Join(dir, "deploy", "overlays", "staging", "kustomization.yaml")
			data, _ := os.ReadFile(p)
			os.WriteFile(p, []byte(strings.Replace(string(data), "components:\n  - ../../components/values         # copies values.yaml into the manifests\n", "components: [../../components/values]\n", 1)), 0o644)
			return dir
		}, AddModelOptions{Model: "fraud"}, promote.Invalid, []string{"deploy/overlays/staging/kustomization.yaml:", "components is not a list", "../../components/model-fraud"}},
		{"an overlay that does not render", func(t *testing.T) string {
			dir := scaffold(t)
			os.Remove(filepath.Join(dir, "deploy", "overlays", "prod", "values.yaml"))
			return dir
		}, AddModelOptions{Model: "fraud"}, "", []string{"nothing written", "render prod (deploy/overlays/prod)"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := tt.dir(t)
			before := snapshot(t, dir)
			_, err := AddModel(dir, tt.opts)
			if err == nil {
				t.Fatalf("AddModel(%+v) = nil; want an error", tt.opts)
			}
			for _, want := range tt.wants {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("AddModel(%+v) = %q; want %q in it", tt.opts, err, want)
				}
			}
			if tt.code != "" && promote.ErrorCode(err) != tt.code {
				t.Errorf("AddModel(%+v) code = %v, want %v", tt.opts, promote.ErrorCode(err), tt.code)
			}
			if diff := cmp.Diff(before, snapshot(t, dir)); diff != "" {
				t.Errorf("AddModel(%+v) changed files (-before +after):\n%s", tt.opts, diff)
			}
		})
	}
}

// TestPinsNotPromoted: a model config with empty values is a model not
// yet promoted only if its images entry says so; anything in between is
// an error naming the file.
func TestPinsNotPromoted(t *testing.T) {
	for _, tt := range []struct {
		name, from, to, want string
	}{
		{"a digest on the entry", "newTag: not-promoted\n", "digest: sha256:" + strings.Repeat("0", 64) + "\n", `has digest "sha256:`},
		{"no tag", "    newTag: not-promoted\n", "", `newTag ""; want no digest and newTag: not-promoted`},
		{"a version alone", "MODEL_VERSION=\n", "MODEL_VERSION=2\n", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := scaffold(t)
			if _, err := AddModel(dir, AddModelOptions{Model: "fraud"}); err != nil {
				t.Fatal(err)
			}
			for _, f := range []string{"kustomization.yaml", "models/fraud.env"} {
				p := filepath.Join(dir, "deploy", "overlays", "dev", filepath.FromSlash(f))
				data, _ := os.ReadFile(p)
				os.WriteFile(p, []byte(strings.Replace(string(data), tt.from, tt.to, 1)), 0o644)
			}
			_, err := Pins(dir, "dev")
			if err == nil || !strings.Contains(err.Error(), "deploy/overlays/dev") || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Pins(dev) = %v; want an error naming deploy/overlays/dev and %q", err, tt.want)
			}
			if _, err := Render(dir, "dev"); err == nil {
				t.Errorf("Render(dev) = nil error; want the overlay refused")
			}
		})
	}
}

// TestAddModelOrder: without the pipeline the overlays are listed in name
// order; with it, in the pipeline's, and an overlay it does not name after
// its environments. A pipeline environment without an overlay is refused
// and nothing is written.
func TestAddModelOrder(t *testing.T) {
	for _, tt := range []struct {
		name  string
		order []string
		want  []string // the overlays, in the order their files are listed
	}{
		{"no pipeline", nil, []string{"dev", "prod", "qa", "staging"}},
		{"the pipeline", []string{"dev", "qa", "staging", "prod"}, []string{"dev", "qa", "staging", "prod"}},
		{"an overlay outside the pipeline", []string{"dev", "staging", "prod"}, []string{"dev", "staging", "prod", "qa"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := scaffold(t)
			if err := os.CopyFS(filepath.Join(dir, "deploy", "overlays", "qa"), os.DirFS(filepath.Join(dir, "deploy", "overlays", "dev"))); err != nil {
				t.Fatal(err)
			}
			added, err := AddModel(dir, AddModelOptions{Model: "fraud", Environments: tt.order})
			if err != nil {
				t.Fatalf("AddModel(fraud, %v) = %v", tt.order, err)
			}
			if diff := cmp.Diff(tt.want, added.Environments); diff != "" {
				t.Errorf("AddModel(fraud, %v) environments (-want +got):\n%s", tt.order, diff)
			}
			got := added.Files
			var envs []string
			for _, f := range got {
				if env, ok := strings.CutPrefix(f, OverlaysDir+"/"); ok {
					env, _, _ = strings.Cut(env, "/")
					if len(envs) == 0 || envs[len(envs)-1] != env {
						envs = append(envs, env)
					}
				}
			}
			if diff := cmp.Diff(tt.want, envs); diff != "" {
				t.Errorf("AddModel(fraud, %v) listed the overlays (-want +got):\n%s\n%v", tt.order, diff, got)
			}
		})
	}
	t.Run("a pipeline environment without an overlay", func(t *testing.T) {
		dir := scaffold(t)
		before := snapshot(t, dir)
		_, err := AddModel(dir, AddModelOptions{Model: "fraud", Environments: []string{"dev", "qa", "staging", "prod"}})
		if promote.ErrorCode(err) != promote.NotFound || !strings.Contains(err.Error(), "environment qa of the pipeline has no overlay deploy/overlays/qa") {
			t.Errorf("AddModel(fraud) with qa in the pipeline only = %v, want NotFound naming qa's overlay", err)
		}
		if diff := cmp.Diff(before, snapshot(t, dir)); diff != "" {
			t.Errorf("AddModel changed files after an error (-before +after):\n%s", diff)
		}
	})
}

// TestAddModelPinComment: each model added is named in the overlays'
// comment on the pins, after the others; a comment that is not the
// scaffold's is left as it is.
func TestAddModelPinComment(t *testing.T) {
	dir := scaffold(t)
	for _, m := range []string{"fraud", "churn"} {
		if _, err := AddModel(dir, AddModelOptions{Model: m}); err != nil {
			t.Fatalf("AddModel(%s) = %v", m, err)
		}
	}
	k, err := os.ReadFile(filepath.Join(dir, "deploy", "overlays", "prod", "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if want := "\n# models/credit-risk.env, models/fraud.env, models/churn.env.\nimages:\n"; !strings.Contains(string(k), want) {
		t.Errorf("prod's kustomization after adding fraud and churn =\n%s\nwant the comment to end %q", k, want)
	}

	dir = scaffold(t)
	file := filepath.Join(dir, "deploy", "overlays", "dev", "kustomization.yaml")
	src, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	mine := strings.Replace(string(src), "# models/credit-risk.env.\n", "# models/credit-risk.env (see the runbook).\n", 1)
	if mine == string(src) {
		t.Fatal("the scaffold's dev overlay has no comment naming models/credit-risk.env")
	}
	if err := os.WriteFile(file, []byte(mine), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := AddModel(dir, AddModelOptions{Model: "fraud"}); err != nil {
		t.Fatalf("AddModel(fraud) = %v", err)
	}
	got, _ := os.ReadFile(file)
	if !strings.Contains(string(got), "# models/credit-risk.env (see the runbook).\n") || strings.Contains(string(got), "models/fraud.env.") {
		t.Errorf("AddModel rewrote a comment of the user's:\n%s", got)
	}
}
