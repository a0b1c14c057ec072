package gitops

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/promote-ml/promote/internal/gittest"
	"github.com/promote-ml/promote/promote"
)

// gitServer serves the bare repository over HTTP with git's own
// git-http-backend and counts the fetches: the advertisements of
// git-upload-pack that each one starts with. onFetch, when not nil, is
// called at each fetch, once counted, before git answers it.
func gitServer(t *testing.T, bare string, onFetch func()) (remote string, fetches *atomic.Int64) {
	t.Helper()
	git := gittest.HTTPBackend(t, bare)
	fetches = &atomic.Int64{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/info/refs") && r.URL.Query().Get("service") == "git-upload-pack" {
			fetches.Add(1)
			if onFetch != nil {
				onFetch()
			}
		}
		git.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/" + filepath.Base(bare), fetches
}

// A pass reads the branch once, whatever the number of environments it
// looks at, and then each change fetches once more to commit on the
// branch's head: here dev and prod wait for their commits and staging is
// in sync, so the pass fetches three times, not once more per
// environment (five).
func TestReconcileReadsTheBranchOncePerPass(t *testing.T) {
	bare := newRemote(t, nil)
	remote, fetches := gitServer(t, bare, nil)
	f := newRegistry(t)
	for i, v := range []string{"2", "3", "4"} {
		f.register(t, v, fmt.Sprintf("0.9%d", i+1))
	}
	r := newReconciler(t, newWriter(t, remote, nil), f.svc)
	for _, p := range [][2]string{{"2", "dev"}, {"2", "staging"}, {"2", "prod"}, {"3", "dev"}, {"3", "staging"}} {
		f.promote(t, p[0], p[1])
		reconcile(t, r, "", "")
	}
	f.promote(t, "4", "dev")
	f.promote(t, "3", "prod")
	n := commitCount(t, bare, "main")

	before := fetches.Load()
	out := reconcile(t, r, "", "")
	if got := fetches.Load() - before; got != 3 {
		t.Errorf("the pass fetched %d times, want 3: once to read the branch, once for each of its two commits", got)
	}
	if diff := cmp.Diff([]string{"dev/4:committed", "prod/3:committed"}, kinds(out)); diff != "" || out.InSync != 1 {
		t.Errorf("Reconcile = %v with %d in sync, want dev and prod committed and staging in sync (-want +got):\n%s", kinds(out), out.InSync, diff)
	}
	if got := commitCount(t, bare, "main"); got != n+2 {
		t.Errorf("main has %d commits, want %d, one per promotion", got, n+2)
	}
	wantVersions(t, bare, map[string]string{"dev": "4", "staging": "3", "prod": "3"})
	f.verify(t)
}

// Cues that arrive while Run is busy are taken together at its next
// wake-up: here promotions to dev and prod are cued while Run's first
// pass reads the branch, and the pass that follows reads the branch once
// for both and then commits each, three fetches in all, not a pass with
// its own read per cue (four).
func TestRunTakesTheCuesQueuedTogetherInOnePass(t *testing.T) {
	bare := newRemote(t, nil)
	// The first fetch after hold is set waits for release, and says so
	// on held: Run's first pass is then busy reading the branch.
	var hold atomic.Bool
	held, release := make(chan struct{}), make(chan struct{})
	remote, fetches := gitServer(t, bare, func() {
		if hold.CompareAndSwap(true, false) {
			close(held)
			<-release
		}
	})
	var once sync.Once
	unblock := func() { once.Do(func() { close(release) }) }
	f := newRegistry(t)
	for i, v := range []string{"2", "3", "4"} {
		f.register(t, v, fmt.Sprintf("0.9%d", i+1))
	}
	committed := make(chan [2]string, 8)
	r, err := NewReconciler(ReconcilerConfig{Writer: newWriter(t, remote, nil), Registry: f.svc, Interval: time.Hour,
		Committed: func(d promote.Deployment, commit string) { committed <- [2]string{d.Environment, commit} }})
	if err != nil {
		t.Fatal(err)
	}
	// Each environment pins a version the registry has: a first commit
	// over the scaffold's placeholder would look for the change's commit
	// on the branch, a fetch more.
	for _, p := range [][2]string{{"2", "dev"}, {"2", "staging"}, {"2", "prod"}, {"3", "dev"}, {"3", "staging"}} {
		f.promote(t, p[0], p[1])
		if diff := cmp.Diff([]string{p[1] + "/" + p[0] + ":committed"}, kinds(reconcile(t, r, "", ""))); diff != "" {
			t.Fatalf("Reconcile before Run (-want +got):\n%s", diff)
		}
		<-committed
	}
	n := commitCount(t, bare, "main")
	f.mu.Lock()
	f.cues = nil
	f.mu.Unlock()

	hold.Store(true)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	defer func() {
		unblock()
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run = %v, want nil when its context ends", err)
		}
	}()
	select {
	case <-held:
	case <-time.After(30 * time.Second):
		t.Fatal("Run's first pass did not read the branch within 30 s")
	}
	before := fetches.Load()
	f.promote(t, "4", "dev")
	f.promote(t, "3", "prod")
	f.mu.Lock()
	cues := slices.Clone(f.cues)
	f.mu.Unlock()
	if diff := cmp.Diff([]string{"credit-risk/dev", "credit-risk/prod"}, cues); diff != "" {
		t.Fatalf("the registry's cues (-want +got):\n%s", diff)
	}
	for _, c := range cues {
		model, env, _ := strings.Cut(c, "/")
		r.Trigger(model, env)
	}
	unblock()

	got := map[string]string{}
	for len(got) < 2 {
		select {
		case c := <-committed:
			got[c[0]] = c[1]
		case <-time.After(30 * time.Second):
			t.Fatalf("commits after the cues = %v, want dev's and prod's within 30 s", got)
		}
	}
	if got := fetches.Load() - before; got != 3 {
		t.Errorf("Run fetched %d times after the cues, want 3: one pass that reads the branch once, then once for each of its two commits", got)
	}
	// The pass takes its changes in order, each on the head the one
	// before it pushed.
	want := map[string]string{"dev": runGit(t, bare, "rev-parse", "main^"), "prod": runGit(t, bare, "rev-parse", "main")}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("commits by environment (-want +got):\n%s", diff)
	}
	if got := commitCount(t, bare, "main"); got != n+2 {
		t.Errorf("main has %d commits, want %d, one per promotion", got, n+2)
	}
	wantVersions(t, bare, map[string]string{"dev": "4", "staging": "3", "prod": "3"})
	for env, commit := range want {
		if l, _ := f.live(t, env); l.Commit != commit {
			t.Errorf("live in %s = %+v, want delivered in commit %s", env, l, commit)
		}
	}
	f.verify(t)
}
