package gitops

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestReconcileSaysWhyItCommitsAgain checks the warning the reconciler
// logs before committing a delivered version again: an overlay a person
// pinned elsewhere "no longer pins" it; one that cannot be read at all is
// said to be unreadable, with the overlay's error, not to pin something
// else.
func TestReconcileSaysWhyItCommitsAgain(t *testing.T) {
	bare := newRemote(t, nil)
	f := newRegistry(t)
	f.register(t, "2", "0.91")
	f.register(t, "3", "0.92")
	var logs bytes.Buffer
	r, err := NewReconciler(ReconcilerConfig{Writer: newWriter(t, bare, nil), Registry: f.svc, RetryDelay: 10 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	f.promote(t, "2", "dev")
	reconcile(t, r, "credit-risk", "dev")
	f.promote(t, "3", "dev")
	reconcile(t, r, "credit-risk", "dev")
	pinned3 := runGit(t, bare, "rev-parse", "main")

	edit := func(t *testing.T, msg string, change func(overlay string)) {
		t.Helper()
		work := filepath.Join(t.TempDir(), "edit")
		runGit(t, t.TempDir(), "clone", "-q", bare, work)
		change(filepath.Join(work, "deploy", "overlays", "dev"))
		runGit(t, work, "add", "-A")
		runGit(t, work, "commit", "-q", "-m", msg)
		runGit(t, work, "push", "-q", "origin", "main")
	}

	// The kustomization gone: the overlay cannot be read.
	edit(t, "remove the dev kustomization", func(overlay string) {
		if err := os.Remove(filepath.Join(overlay, "kustomization.yaml")); err != nil {
			t.Fatal(err)
		}
	})
	logs.Reset()
	reconcile(t, r, "credit-risk", "dev")
	got := logs.String()
	if !strings.Contains(got, "the overlay cannot be read") || !strings.Contains(got, "has no kustomization.yaml") {
		t.Errorf("an unreadable overlay logged:\n%s\nwant it called unreadable, with the overlay's error", got)
	}
	if strings.Contains(got, "no longer pins") {
		t.Errorf("an unreadable overlay logged:\n%s\nwhich says that it pins something else", got)
	}

	// A person's pin of the version before: the overlay no longer pins
	// the live one.
	runGit(t, bare, "update-ref", "refs/heads/main", pinned3+"~1")
	logs.Reset()
	reconcile(t, r, "credit-risk", "dev")
	if got := logs.String(); !strings.Contains(got, "the overlay no longer pins the registry's live version") || strings.Contains(got, "cannot be read") {
		t.Errorf("a pin changed by hand logged:\n%s\nwant \"no longer pins\"", got)
	}
}
