package gitops

import (
	"strings"
	"testing"
)

// A repository holding a submodule takes promotions like any other: the
// commit changes the overlay alone and keeps the submodule.
func TestPromoteInARepositoryWithASubmodule(t *testing.T) {
	bare := newRemote(t, func(dir string) {
		sub := t.TempDir()
		runGit(t, sub, "init", "-q", "-b", "main")
		runGit(t, sub, "commit", "-q", "--allow-empty", "-m", "charts")
		runGit(t, dir, "-c", "protocol.file.allow=always", "submodule", "add", "-q", sub, "vendor/charts")
	})
	w := newWriter(t, bare, nil)
	gitlink := runGit(t, bare, "rev-parse", "main:vendor/charts")
	for i, v := range []string{"2", "3"} {
		before := runGit(t, bare, "rev-parse", "main")
		res, err := w.Promote(t.Context(), promotion("dev", v, "pr-"+v))
		if err != nil {
			t.Fatalf("Promote %d: %v", i, err)
		}
		if res.Commit != runGit(t, bare, "rev-parse", "main") {
			t.Fatalf("Promote %d = %+v; main is not its commit", i, res)
		}
		for _, f := range strings.Split(runGit(t, bare, "diff", "--name-only", before, "main"), "\n") {
			if !strings.HasPrefix(f, "deploy/overlays/dev/") {
				t.Errorf("the promotion of %s changed %s, outside deploy/overlays/dev", v, f)
			}
		}
	}
	if got := runGit(t, bare, "rev-parse", "main:vendor/charts"); got != gitlink {
		t.Errorf("the submodule is at %s, want %s", got, gitlink)
	}
}
