package gitclone

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/promote-ml/promote/internal/gittest"
)

// A remote that takes the connection and then never answers — a stuck
// proxy, a black-holed route — fails a fetch or a push after the clone's
// Timeout, with an error that says so, instead of
// holding its caller (and every caller after it) for ever.
func TestExchangesWithAStuckRemoteTimeOut(t *testing.T) {
	bare := gittest.Remote(t, nil)
	git := gittest.HTTPBackend(t, bare)
	stuck := make(chan struct{})
	var stuckFetch, stuckPush atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		push := strings.Contains(r.URL.RawQuery, "git-receive-pack") || strings.HasSuffix(r.URL.Path, "/git-receive-pack")
		if push && stuckPush.Load() || !push && stuckFetch.Load() {
			select {
			case <-stuck:
			case <-r.Context().Done():
			}
			return
		}
		git.ServeHTTP(w, r)
	}))
	defer srv.Close()
	defer close(stuck)

	c, err := Open(filepath.Join(t.TempDir(), "clone"), srv.URL+"/gitops.git", "main", "writer", Credentials{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	c.Timeout = 200 * time.Millisecond
	if _, err := c.Sync(context.Background()); err != nil {
		t.Fatalf("Sync while the remote answers: %v", err)
	}
	commit := commitFile(t, c, "deploy/overlays/dev/notes/a.txt", "a\n")

	for _, tt := range []struct {
		name string
		call func() error
		set  *atomic.Bool
	}{
		{"fetch", func() error { _, err := c.Fetch(context.Background()); return err }, &stuckFetch},
		{"push", func() error { return c.Push(context.Background(), "main", commit, false) }, &stuckPush},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tt.set.Store(true)
			defer tt.set.Store(false)
			done := make(chan error, 1)
			go func() { done <- tt.call() }()
			select {
			case err := <-done:
				if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "the remote did not answer within 200ms") {
					t.Errorf("%s from a stuck remote = %v, want a deadline error that says so", tt.name, err)
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("%s from a stuck remote still waits after 10s", tt.name)
			}
		})
	}
	if got := gittest.Run(t, bare, "rev-parse", "main"); got == commit.String() {
		t.Errorf("the push that timed out landed")
	}
}
