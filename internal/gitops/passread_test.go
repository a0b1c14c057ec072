package gitops

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/promote-ml/promote/internal/gittest"
)

// gitServer serves the bare repository over HTTP with git's own
// git-http-backend and counts the fetches: the advertisements of
// git-upload-pack that each one starts with.
func gitServer(t *testing.T, bare string) (remote string, fetches *atomic.Int64) {
	t.Helper()
	git := gittest.HTTPBackend(t, bare)
	fetches = &atomic.Int64{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/info/refs") && r.URL.Query().Get("service") == "git-upload-pack" {
			fetches.Add(1)
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
	remote, fetches := gitServer(t, bare)
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
