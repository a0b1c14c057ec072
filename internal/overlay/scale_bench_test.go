package overlay

import (
	"fmt"
	"path"
	"path/filepath"
	"testing"
)

// BenchmarkRenderModels renders the dev overlay of a repository that
// promote init wrote and AddModel extended to n models, one overlay as a
// promotion's commit renders it (BENCHMARKS.md, "GitOps": models per
// overlay). The repository is built with AddModel's edits without its
// render at each step, which would take minutes at 100 models.
func BenchmarkRenderModels(b *testing.B) {
	for _, n := range []int{1, 5, 10, 25, 50, 100} {
		b.Run(fmt.Sprintf("models=%d", n), func(b *testing.B) {
			dir := b.TempDir()
			if _, err := Scaffold(dir, ScaffoldOptions{}); err != nil {
				b.Fatal(err)
			}
			baseFile, err := kustomizationFile(filepath.Join(dir, filepath.FromSlash(BaseDir)))
			if err != nil {
				b.Fatal(err)
			}
			envs, err := Environments(dir)
			if err != nil {
				b.Fatal(err)
			}
			server, err := firstServerImage(dir)
			if err != nil {
				b.Fatal(err)
			}
			for i := 2; i <= n; i++ {
				m := fmt.Sprintf("model-%03d", i)
				opts := ScaffoldOptions{Pin: Pin{Model: m, Version: "1", URI: "none", Digest: DefaultPin.Digest},
					ModelImage: path.Dir(DefaultModelImage) + "/" + m, ServerImage: server}
				if err := opts.defaults(); err != nil {
					b.Fatal(err)
				}
				files, edits, err := addModelFiles(dir, baseFile, envs, opts)
				if err != nil {
					b.Fatal(err)
				}
				if err := writeAll(dir, files, edits); err != nil {
					b.Fatal(err)
				}
			}
			// The repository is what AddModel would have written: it
			// renders, and declares n models.
			r, err := renderOverlay(dir, "dev")
			if err != nil {
				b.Fatal(err)
			}
			if len(r.repos) != n {
				b.Fatalf("the dev overlay renders %d models, want %d", len(r.repos), n)
			}
			for b.Loop() {
				if _, err := Render(dir, "dev"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
