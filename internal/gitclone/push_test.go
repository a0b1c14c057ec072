package gitclone

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/promote-ml/promote/internal/gittest"
)

// commitFile commits content as name on the clone's checked-out head.
func commitFile(tb testing.TB, c *Clone, name, content string) plumbing.Hash {
	tb.Helper()
	p := filepath.Join(c.Dir, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		tb.Fatal(err)
	}
	wt, err := c.Repo.Worktree()
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := wt.Add(name); err != nil {
		tb.Fatal(err)
	}
	sig := &object.Signature{Name: "Promote", Email: "promote@localhost", When: time.Unix(1700000000, 0)}
	h, err := wt.Commit("change "+name, &git.CommitOptions{Author: sig, Committer: sig})
	if err != nil {
		tb.Fatal(err)
	}
	return h
}

func openSynced(tb testing.TB, bare string) *Clone {
	tb.Helper()
	c, err := Open(filepath.Join(tb.TempDir(), "clone"), bare, "main", "writer", Credentials{}, nil)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := c.Sync(context.Background()); err != nil {
		tb.Fatal(err)
	}
	return c
}

// TestPush checks Push's outcomes: a commit on the remote's branch lands
// with every object it needs (git fsck finds none missing), again is no
// error, over another writer's commit is refused as a non-fast-forward
// and changes nothing, forced onto a review branch lands, and a commit
// whose parent the remote does not advertise (two commits at once) lands
// through go-git's own push.
func TestPush(t *testing.T) {
	ctx := context.Background()
	bare := gittest.Remote(t, nil)
	c := openSynced(t, bare)
	other := filepath.Join(t.TempDir(), "other")
	gittest.Run(t, t.TempDir(), "clone", "-q", bare, other)

	first := commitFile(t, c, "deploy/overlays/dev/notes/a.txt", "a\n")
	if err := c.Push(ctx, "main", first, false); err != nil {
		t.Fatalf("Push: %v", err)
	}
	if got := gittest.Run(t, bare, "rev-parse", "main"); got != first.String() {
		t.Fatalf("main = %s after Push, want %s", got, first)
	}
	if got := gittest.Run(t, bare, "show", "main:deploy/overlays/dev/notes/a.txt"); got != "a" {
		t.Errorf("the pushed file reads %q", got)
	}
	if ref, err := c.Repo.Reference(RemoteRef("main"), true); err != nil || ref.Hash() != first {
		t.Errorf("origin/main = %v, %v; want %s", ref, err, first)
	}
	if err := c.Push(ctx, "main", first, false); err != nil {
		t.Errorf("Push again: %v, want nothing to do", err)
	}

	gittest.Run(t, other, "pull", "-q", "--no-rebase", "origin", "main")
	gittest.Run(t, other, "commit", "-q", "--allow-empty", "-m", "someone else")
	gittest.Run(t, other, "push", "-q", "origin", "main")
	moved := gittest.Run(t, bare, "rev-parse", "main")
	second := commitFile(t, c, "deploy/overlays/dev/notes/b.txt", "b\n")
	if err := c.Push(ctx, "main", second, false); err == nil || !strings.Contains(err.Error(), "non-fast-forward") {
		t.Errorf("Push over another writer's commit = %v, want a non-fast-forward error", err)
	}
	if got := gittest.Run(t, bare, "rev-parse", "main"); got != moved {
		t.Errorf("main = %s, want still the other writer's %s", got, moved)
	}

	head, err := c.Sync(ctx)
	if err != nil {
		t.Fatal(err)
	}
	review := commitFile(t, c, "deploy/overlays/prod/notes/c.txt", "c\n")
	for range 2 {
		if err := c.Push(ctx, "promote/review", review, true); err != nil {
			t.Fatalf("Push of the review branch: %v", err)
		}
	}
	if got := gittest.Run(t, bare, "rev-parse", "promote/review"); got != review.String() {
		t.Errorf("promote/review = %s, want %s", got, review)
	}

	if err := c.Checkout(head); err != nil {
		t.Fatal(err)
	}
	commitFile(t, c, "deploy/overlays/dev/notes/d.txt", "d\n")
	two := commitFile(t, c, "deploy/overlays/dev/notes/e.txt", "e\n")
	if err := c.Push(ctx, "main", two, false); err != nil {
		t.Fatalf("Push of two commits: %v", err)
	}
	if got := gittest.Run(t, bare, "rev-parse", "main"); got != two.String() {
		t.Errorf("main = %s, want %s", got, two)
	}
	gittest.Run(t, bare, "fsck", "--strict", "--no-dangling")
}

// BenchmarkPushLongHistory pushes one commit at a time to a branch with a
// long history, as the GitOps writer does: the cost of a push should not
// grow with the history.
func BenchmarkPushLongHistory(b *testing.B) {
	for _, bm := range []struct {
		name string
		push func(c *Clone, h plumbing.Hash) error
	}{
		{"Push", func(c *Clone, h plumbing.Hash) error { return c.Push(context.Background(), "main", h, false) }},
		{"go-git", func(c *Clone, _ plumbing.Hash) error {
			return c.pushSlowly(context.Background(), plumbing.NewBranchReferenceName("main"), false, &remoteSaid{})
		}},
	} {
		b.Run(bm.name, func(b *testing.B) {
			bare := gittest.Remote(b, nil)
			work := filepath.Join(b.TempDir(), "work")
			gittest.Run(b, b.TempDir(), "clone", "-q", bare, work)
			var in strings.Builder
			fmt.Fprintf(&in, "reset refs/heads/main\nfrom refs/heads/main^0\n")
			for i := range 10000 {
				data := fmt.Sprintf("line %d\n", i)
				fmt.Fprintf(&in, "commit refs/heads/main\ncommitter X <x@example.com> %d +0000\ndata 1\nc\nM 644 inline notes/n%d.txt\ndata %d\n%s\n",
					1700000000+i, i%500, len(data), data)
			}
			gittest.RunInput(b, work, in.String(), "fast-import", "--quiet")
			gittest.Run(b, work, "push", "-q", "origin", "main")
			c := openSynced(b, bare)
			b.ResetTimer()
			for i := range b.N {
				h := commitFile(b, c, "deploy/overlays/dev/notes/bench.txt", fmt.Sprintf("%d\n", i))
				if err := bm.push(c, h); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
