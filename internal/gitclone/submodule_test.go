package gitclone

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/promote-ml/promote/internal/gittest"
)

// TestSyncKeepsSubmodules checks that a repository holding a submodule, as
// a repository shared with other teams may, is checked out as it is: the
// submodule's directory stays (empty, since the clone does not fetch
// submodules), so that the directory is exactly the commit and a commit
// made from it keeps the submodule.
func TestSyncKeepsSubmodules(t *testing.T) {
	bare := gittest.Remote(t, func(dir string) {
		sub := t.TempDir()
		gittest.Run(t, sub, "init", "-q", "-b", "main")
		gittest.Run(t, sub, "commit", "-q", "--allow-empty", "-m", "charts")
		gittest.Run(t, dir, "-c", "protocol.file.allow=always", "submodule", "add", "-q", sub, "vendor/charts")
	})
	dir := filepath.Join(t.TempDir(), "clone")
	c, err := Open(dir, bare, "main", "writer", Credentials{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := c.Sync(context.Background()); err != nil {
			t.Fatalf("Sync: %v", err)
		}
		if fi, err := os.Stat(filepath.Join(dir, "vendor", "charts")); err != nil || !fi.IsDir() {
			t.Fatalf("the submodule's directory after Sync: %v, want it there", err)
		}
		wt, err := c.Repo.Worktree()
		if err != nil {
			t.Fatal(err)
		}
		st, err := wt.Status()
		if err != nil || !st.IsClean() {
			t.Fatalf("status after Sync = %v, %v; want clean", st, err)
		}
	}
}
