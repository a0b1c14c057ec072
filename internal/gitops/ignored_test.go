package gitops

import (
	"os"
	"path/filepath"
	"testing"
)

// A repository whose .gitignore ignores *.env (as one shared with people
// who keep secrets in such files may) still gets every file a pin writes:
// the first promotion of a model to an environment writes its
// models/<model>.env, which the commit must carry, or the branch would
// pin a version whose overlay does not render.
func TestPromoteCommitsAModelConfigThatGitIgnores(t *testing.T) {
	bare := newRemote(t, func(dir string) {
		if err := os.WriteFile(filepath.Join(dir, ".gitignore"), []byte("*.env\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Remove(filepath.Join(dir, "deploy", "overlays", "staging", "models", "credit-risk.env")); err != nil {
			t.Fatal(err)
		}
		runGit(t, dir, "add", "-f", "deploy/base/model-server.env", "deploy/overlays/dev/models/credit-risk.env",
			"deploy/overlays/prod/models/credit-risk.env")
	})
	w := newWriter(t, bare, nil)
	c := promotion("staging", "2", "pr-1")
	for i := range 2 {
		res, err := w.Promote(t.Context(), c)
		if err != nil {
			t.Fatalf("Promote %d: %v", i, err)
		}
		if i == 1 && !res.NoChange {
			t.Errorf("Promote again = %+v, want no change", res)
		}
	}
	if got := pinsOnBranch(t, bare, "staging")["credit-risk"]; got != c.Pin {
		t.Errorf("staging pins %+v on the branch, want %+v", got, c.Pin)
	}
}
