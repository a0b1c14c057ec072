package gitops

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/promote-ml/promote/internal/gittest"
	"github.com/promote-ml/promote/internal/overlay"
)

// killChildEnv makes the test binary, run by TestWriterSurvivesKills, a
// writer that promotes version after version until it is killed.
const killChildEnv = "PROMOTE_TEST_WRITER_CHILD"

// killPin is the pin of version v: its digest differs from version to
// version, so that every promotion changes the overlay.
func killPin(v int) overlay.Pin {
	sum := sha256.Sum256([]byte(strconv.Itoa(v)))
	return overlay.Pin{Model: "credit-risk", Version: strconv.Itoa(v), URI: fmt.Sprintf("s3://models/credit-risk/%d/model.onnx", v),
		Digest: "sha256:" + hex.EncodeToString(sum[:])}
}

// TestWriterChild is the child's side: it writes to the clone in
// $PROMOTE_TEST_WRITER_CHILD (dir|remote|first version) until killed.
func TestWriterChild(t *testing.T) {
	spec := os.Getenv(killChildEnv)
	if spec == "" {
		t.Skip("run by TestWriterSurvivesKills")
	}
	var dir, remote string
	var first int
	if _, err := fmt.Sscanf(spec, "%s %s %d", &dir, &remote, &first); err != nil {
		t.Fatalf("%s=%q: %v", killChildEnv, spec, err)
	}
	w, err := New(Config{Remote: remote, Dir: dir, Backoff: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	for v := first; ; v++ {
		if _, err := w.Promote(t.Context(), Change{Environment: "dev", Pin: killPin(v), PromotionID: fmt.Sprintf("pr-%d", v)}); err != nil {
			t.Fatalf("Promote %d: %v", v, err)
		}
		fmt.Println("promoted", v)
	}
}

// TestWriterSurvivesKills kills a process that promotes version after
// version with a writer (kill -9, at a random moment: while it fetches,
// resets, pins, commits or pushes), again and again, each time reopening
// the clone it left. Every reopened writer must promote, and the branch
// must keep every file of the scaffold, each promotion on it once.
// gittest.Kills reads the number of kills (default 20) and the seed of the
// moments from the environment.
func TestWriterSurvivesKills(t *testing.T) {
	kills, rng := gittest.Kills(t, 20)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bare := newRemote(t, nil)
	files := runGit(t, bare, "ls-tree", "-r", "--name-only", "main")
	base := commitCount(t, bare, "main")
	first, _ := strconv.Atoi(pinsOnBranch(t, bare, "dev")["credit-risk"].Version) // the scaffold's
	dir := filepath.Join(t.TempDir(), "clone")
	next := first + 1
	for k := 1; k <= kills; k++ {
		cmd := exec.Command(exe, "-test.run=^TestWriterChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s %s %d", killChildEnv, dir, bare, next))
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		delay := time.Duration(rng.IntN(500_000)) * time.Microsecond
		time.Sleep(delay)
		cmd.Process.Kill()
		buf := make([]byte, 1<<16)
		n, _ := out.Read(buf)
		cmd.Wait()
		t.Logf("kill %d after %v: %q", k, delay, buf[:n])

		// The next writer opens what the killed one left, and promotes.
		w, err := New(Config{Remote: bare, Dir: dir, Backoff: time.Millisecond})
		if err != nil {
			t.Fatalf("kill %d (after %v): New: %v", k, delay, err)
		}
		var pinned int
		if pins, err := w.Pinned(t.Context(), "dev"); err != nil {
			t.Fatalf("kill %d (after %v): Pinned: %v", k, delay, err)
		} else if p, ok := pins["credit-risk"]; ok {
			pinned, _ = strconv.Atoi(p.Version)
		}
		next = pinned + 1
		if _, err := w.Promote(t.Context(), Change{Environment: "dev", Pin: killPin(next), PromotionID: fmt.Sprintf("pr-%d", next)}); err != nil {
			t.Fatalf("kill %d (after %v): Promote %d: %v", k, delay, next, err)
		}
		if got := runGit(t, bare, "ls-tree", "-r", "--name-only", "main"); got != files {
			t.Fatalf("kill %d (after %v): the branch's files are\n%s\nwant\n%s", k, delay, got, files)
		}
		if got, want := commitCount(t, bare, "main"), base+next-first; got != want {
			t.Fatalf("kill %d (after %v): %d commits on main after promoting %d to %d, want %d", k, delay, got, first+1, next, want)
		}
		next++
	}
}

// TestCommitOutsideTheOverlayIsNeverPushed changes a file outside the
// overlay, then removes one inside it, between the writer's reset and its
// commit, as a damaged working directory would: each commit is refused,
// nothing is pushed, and the next Promote, on a clone made afresh,
// changes the overlay's pins alone.
func TestCommitOutsideTheOverlayIsNeverPushed(t *testing.T) {
	// A note in the overlay that kustomize does not read: rendering does
	// not miss it when it is gone.
	gone := "deploy/overlays/dev/NOTES.md"
	bare := newRemote(t, func(dir string) {
		if err := os.WriteFile(filepath.Join(dir, filepath.FromSlash(gone)), []byte("dev runs one replica\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	})
	w := newWriter(t, bare, nil)
	before := runGit(t, bare, "rev-parse", "main")
	if err := w.lock(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := w.sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(w.cfg.Dir, "promote.yaml"), []byte("# damaged\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c := promotion("dev", "2", "pr-7")
	_, _, err := w.apply(&c)
	w.unlock()
	if err == nil || !strings.Contains(err.Error(), "would also change promote.yaml") {
		t.Fatalf("apply with promote.yaml changed = %v, want an error naming promote.yaml", err)
	}
	if got := runGit(t, bare, "rev-parse", "main"); got != before {
		t.Fatalf("main moved to %s after a refused commit", got)
	}
	// A file of the overlay itself gone from the working directory: the
	// commit would delete it.
	if err := w.lock(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := w.sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(w.cfg.Dir, filepath.FromSlash(gone))); err != nil {
		t.Fatal(err)
	}
	_, _, err = w.apply(&c)
	w.unlock()
	if err == nil || !strings.Contains(err.Error(), "would delete "+gone) {
		t.Fatalf("apply with %s gone = %v, want an error naming it", gone, err)
	}
	if got := runGit(t, bare, "rev-parse", "main"); got != before {
		t.Fatalf("main moved to %s after a refused commit", got)
	}
	res, err := w.Promote(t.Context(), c)
	if err != nil {
		t.Fatalf("Promote after the refusals: %v", err)
	}
	for _, f := range strings.Split(runGit(t, bare, "show", "--name-only", "--format=", res.Commit), "\n") {
		if !strings.HasPrefix(f, "deploy/overlays/dev/") {
			t.Errorf("the promotion changed %s, outside deploy/overlays/dev", f)
		}
	}
}
