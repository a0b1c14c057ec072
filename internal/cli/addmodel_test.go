package cli

import (
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/promote-ml/promote/internal/gittest"
	"github.com/promote-ml/promote/internal/overlay"
)

// TestServeGitOpsTwoModels walks the journey of docs/overlays.md "Another
// model": a repository from promote init, promote overlays add-model
// fraud, then promote serve with a GitOps remote promoting both models.
// Every promotion commits, each overlay renders with kustomize, and dev
// pins both models' digests while staging and prod still pin the first
// model alone and declare fraud not yet promoted.
func TestServeGitOpsTwoModels(t *testing.T) {
	dir := t.TempDir()
	bare := filepath.Join(dir, "gitops.git")
	repo := gitopsRemote(t, bare)

	code, out, errOut := run(t, "", "overlays", "add-model", "fraud", "--dir", repo)
	if code != ExitOK || !strings.Contains(out, "Added model fraud to "+repo) || !strings.Contains(out, "fraud is not yet promoted in dev, staging, prod") {
		t.Fatalf("overlays add-model fraud: exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	if code, _, errOut := run(t, "", "overlays", "add-model", "fraud", "--dir", repo); code != ExitUsage || !strings.Contains(errOut, "model-fraud already") {
		t.Errorf("overlays add-model fraud again: exit %d, %q; want exit %d naming model-fraud", code, errOut, ExitUsage)
	}
	if code, out, errOut := run(t, "", "overlays", "check", "--dir", repo); code != ExitOK {
		t.Fatalf("overlays check after add-model: exit %d\n%s%s", code, out, errOut)
	}
	gittest.Run(t, repo, "add", "-A")
	gittest.Run(t, repo, "commit", "-q", "-m", "add model fraud")
	gittest.Run(t, repo, "push", "-q", bare, "main")

	examples, _ := filepath.Abs("../../examples")
	data := filepath.Join(dir, "data")
	pipelineFile := filepath.Join(repo, "promote.yaml")
	ci := submitterToken(t, data, pipelineFile)
	art := t.TempDir()
	pa, da := artifact(t, art, "1")
	fraudArt := filepath.Join(art, "fraud-7.bin")
	if err := os.WriteFile(fraudArt, []byte("weights of fraud 7"), 0o644); err != nil {
		t.Fatal(err)
	}
	server, serveErr := startServe(t, "--data", data, "--pipeline", pipelineFile, "--artifact-root", art,
		"--gitops-remote", bare, "--gitops-interval", "1h")
	_, must := clientOf(t, server)
	start := gittest.Run(t, bare, "rev-parse", "main")

	metrics := filepath.Join(examples, "candidate.json")
	promoteTo := func(model, version, artifactPath string) {
		t.Helper()
		must(0, ci, "models", "create", model)
		must(0, ci, "versions", "register", model, version, "--artifact", artifactPath, "--metrics", metrics)
		if out := must(0, ci, "request", model, version, "--to", "dev"); !strings.Contains(out, "approved") {
			t.Fatalf("request %s %s to dev: %s", model, version, out)
		}
		waitFor(t, 20*time.Second, "the commit of "+model+" "+version, func() (bool, string) {
			out := must(0, ci, "status", model, "-o", "json")
			head := gittest.Run(t, bare, "rev-parse", "main")
			return strings.Contains(out, `"commit": "`+head+`"`) && strings.Contains(out, `"version": "`+version+`"`), out + serveErr.String()
		})
	}
	// The first model first: fraud, declared but not promoted, must not
	// stop its rendering.
	promoteTo("credit-risk", "1", pa)
	promoteTo("fraud", "7", fraudArt)
	if got := gittest.Run(t, bare, "rev-list", "--count", start+"..main"); got != "2" {
		t.Errorf("%s commits for two promotions, want 2", got)
	}
	last := gittest.Run(t, bare, "show", "--stat", "--format=", "main")
	if !strings.Contains(last, "deploy/overlays/dev/kustomization.yaml") || !strings.Contains(last, "deploy/overlays/dev/models/fraud.env") || strings.Contains(last, "staging") {
		t.Errorf("fraud's commit changes:\n%s\nwant dev's kustomization.yaml and models/fraud.env alone", last)
	}

	clone := filepath.Join(t.TempDir(), "clone")
	gittest.Run(t, dir, "clone", "-q", bare, clone)
	fraudDigest := fmt.Sprintf("sha256:%x", sha256.Sum256([]byte("weights of fraud 7")))
	for _, env := range []string{"dev", "staging", "prod"} {
		rendered, err := overlay.Render(clone, env)
		if err != nil {
			t.Fatalf("Render(%s) = %v", env, err)
		}
		pins, err := overlay.Pins(clone, env)
		if err != nil {
			t.Fatalf("Pins(%s) = %v", env, err)
		}
		if env == "dev" {
			if pins["credit-risk"].Digest != da || pins["fraud"].Digest != fraudDigest || pins["fraud"].Version != "7" {
				t.Errorf("dev pins %+v; want credit-risk at %s and fraud 7 at %s", pins, da, fraudDigest)
			}
			for _, want := range []string{"registry.example.com/models/credit-risk@" + da, "registry.example.com/models/fraud@" + fraudDigest} {
				if !strings.Contains(string(rendered), "image: "+want) {
					t.Errorf("dev renders no container of %s", want)
				}
			}
			continue
		}
		if _, ok := pins["fraud"]; ok || len(pins) != 1 {
			t.Errorf("%s pins %+v; want credit-risk alone", env, pins)
		}
		if !strings.Contains(string(rendered), "image: registry.example.com/models/fraud:"+overlay.NotPromotedTag) {
			t.Errorf("%s does not render fraud as not promoted", env)
		}
	}
	if code, out, errOut := run(t, "", "overlays", "check", "--dir", clone); code != ExitOK {
		t.Errorf("overlays check after both promotions: exit %d\n%s%s", code, out, errOut)
	}
}

// TestAddModelPipelineOrder: overlays add-model lists the overlays' files
// in the pipeline's order when promote.yaml is there, and in name order,
// saying why, when it is not.
func TestAddModelPipelineOrder(t *testing.T) {
	for _, tt := range []struct {
		name     string
		pipeline bool
		order    []string
		why      string
	}{
		{"promote.yaml", true, []string{"dev", "staging", "prod"}, ""},
		{"no promote.yaml", false, []string{"dev", "prod", "staging"}, "The overlays are in name order, not the pipeline's: there is no promote.yaml in "},
	} {
		t.Run(tt.name, func(t *testing.T) {
			repo := t.TempDir()
			if code, out, errOut := run(t, "", "init", repo); code != ExitOK {
				t.Fatalf("init: exit %d\n%s%s", code, out, errOut)
			}
			if !tt.pipeline {
				if err := os.Remove(filepath.Join(repo, "promote.yaml")); err != nil {
					t.Fatal(err)
				}
			}
			code, out, errOut := run(t, "", "overlays", "add-model", "fraud", "--dir", repo)
			if code != ExitOK {
				t.Fatalf("overlays add-model fraud: exit %d\n%s%s", code, out, errOut)
			}
			var envs []string
			for _, line := range strings.Split(out, "\n") {
				if env, ok := strings.CutPrefix(strings.TrimSpace(line), overlay.OverlaysDir+"/"); ok && strings.HasSuffix(env, "/kustomization.yaml") {
					envs = append(envs, strings.TrimSuffix(env, "/kustomization.yaml"))
				}
			}
			if strings.Join(envs, ",") != strings.Join(tt.order, ",") {
				t.Errorf("add-model listed the overlays %v, want %v:\n%s", envs, tt.order, out)
			}
			if tt.why == "" && strings.Contains(out, "name order") || tt.why != "" && !strings.Contains(out, tt.why+repo+".") {
				t.Errorf("add-model output:\n%s\nwant it to say %q", out, tt.why)
			}
			if want := "(kustomize build deploy/overlays/{" + strings.Join([]string{"dev", "staging", "prod"}, ",") + "})"; tt.pipeline && !strings.Contains(out, want) {
				t.Errorf("add-model output:\n%s\nwant %q", out, want)
			}
		})
	}
}
