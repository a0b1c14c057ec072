package gitclone

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/promote-ml/promote/internal/gittest"
)

// TestSyncRepairsInterruptedWrites checks that a clone left half-written
// by a process killed in the middle of a write (go-git rewrites the index
// and references in place) is repaired by the next Sync: the clone is a
// copy of the remote, so nothing in it is worth an error that never ends.
func TestSyncRepairsInterruptedWrites(t *testing.T) {
	truncate := func(name string, keep func(n int64) int64) func(t *testing.T, dir string) {
		return func(t *testing.T, dir string) {
			p := filepath.Join(dir, ".git", name)
			fi, err := os.Stat(p)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.Truncate(p, keep(fi.Size())); err != nil {
				t.Fatal(err)
			}
		}
	}
	pack := func(t *testing.T, dir string) {
		packs, err := filepath.Glob(filepath.Join(dir, ".git", "objects", "pack", "*.pack"))
		if err != nil || len(packs) == 0 {
			t.Fatalf("no pack in the clone (%v)", err)
		}
		for _, p := range packs {
			if err := os.WriteFile(p, []byte("PACK"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	packIndex := func(keep func(n int64) int64) func(t *testing.T, dir string) {
		return func(t *testing.T, dir string) { truncatePackIndexes(t, dir, keep) }
	}
	remove := func(names ...string) func(t *testing.T, dir string) {
		return func(t *testing.T, dir string) {
			for _, n := range names {
				if err := os.RemoveAll(filepath.Join(dir, filepath.FromSlash(n))); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	empty := func(int64) int64 { return 0 }
	half := func(n int64) int64 { return n / 2 }
	tests := []struct {
		name   string
		damage func(t *testing.T, dir string)
		// logged is what the repair logs; "" when none is needed (an
		// empty configuration only loses the origin, which Open sets).
		logged string
	}{
		{"empty index", truncate("index", empty), "index is damaged; dropping it"},
		{"half an index", truncate("index", half), "index is damaged; dropping it"},
		{"empty local branch", truncate("refs/heads/main", empty), "making it afresh"},
		{"empty remote-tracking branch", truncate("refs/remotes/origin/main", empty), "making it afresh"},
		{"empty HEAD", truncate("HEAD", empty), "making it afresh"},
		{"empty config", truncate("config", empty), ""},
		{"a damaged pack", pack, "making it afresh"},
		{"an empty pack index", packIndex(empty), "making it afresh"},
		{"half a pack index", packIndex(half), "making it afresh"},
		// What a repair killed half-way leaves: it removes .git last.
		{"the working files gone", remove("deploy", "promote.yaml"), ""},
		{"the objects gone", remove(".git/objects"), ""}, // fetched again
		{"HEAD gone", remove(".git/HEAD"), "making it afresh"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bare := gittest.Remote(t, nil)
			want := gittest.Run(t, bare, "rev-parse", "main")
			dir := filepath.Join(t.TempDir(), "clone")
			c, err := Open(dir, bare, "main", "writer", Credentials{}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.Sync(context.Background()); err != nil {
				t.Fatalf("first Sync: %v", err)
			}
			tt.damage(t, dir)
			// A restarted process opens the clone again.
			var logs bytes.Buffer
			c, err = Open(dir, bare, "main", "writer", Credentials{}, slog.New(slog.NewTextHandler(&logs, nil)))
			if err != nil {
				t.Fatalf("Open after damage: %v", err)
			}
			head, err := c.Sync(context.Background())
			if err != nil {
				t.Fatalf("Sync after damage: %v", err)
			}
			if tt.logged == "" && logs.Len() > 0 || !strings.Contains(logs.String(), tt.logged) {
				t.Errorf("logged %q, want %q", logs.String(), tt.logged)
			}
			if head.String() != want {
				t.Errorf("Sync = %s, want %s", head, want)
			}
			if _, err := os.Stat(filepath.Join(dir, "promote.yaml")); err != nil {
				t.Errorf("the working directory lacks promote.yaml after Sync: %v", err)
			}
			if got := gittest.Run(t, dir, "status", "--porcelain"); got != "" {
				t.Errorf("git status after Sync:\n%s", got)
			}
		})
	}
}

// TestSyncCleans checks that Sync removes what an interrupted run leaves
// in the working directory beside the commit's files, as git clean -d
// does: untracked files, and directories that hold none.
func TestSyncCleans(t *testing.T) {
	bare := gittest.Remote(t, nil)
	dir := filepath.Join(t.TempDir(), "clone")
	c, err := Open(dir, bare, "main", "writer", Credentials{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	leftovers := []string{"deploy/overlays/dev/.kustomization.yaml.tmp123", "deploy/overlays/qa/models/x.env"}
	for _, name := range leftovers {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("left behind\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(filepath.Join(dir, "deploy", "overlays", "empty", "models"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Sync(context.Background()); err != nil {
		t.Fatalf("Sync: %v", err)
	}
	for _, name := range append(leftovers, "deploy/overlays/qa", "deploy/overlays/empty") {
		if _, err := os.Stat(filepath.Join(dir, filepath.FromSlash(name))); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s after Sync: %v, want it gone", name, err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "deploy", "overlays", "dev", "kustomization.yaml")); err != nil {
		t.Errorf("the commit's own file: %v", err)
	}
	if got := gittest.Run(t, dir, "status", "--porcelain", "--ignored"); got != "" {
		t.Errorf("git status after Sync:\n%s", got)
	}
}
