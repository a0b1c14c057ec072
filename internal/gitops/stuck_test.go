package gitops

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// A remote that takes the connection and never answers fails the change
// after Config.Timeout, counted as unreachable, instead of holding the
// writer, and with it every promotion, for ever.
func TestPromoteToAStuckRemoteTimesOut(t *testing.T) {
	stuck := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-stuck:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(stuck)
	w := newWriter(t, srv.URL+"/gitops.git", func(c *Config) { c.Timeout = 200 * time.Millisecond })
	done := make(chan error, 1)
	go func() {
		_, err := w.Promote(t.Context(), promotion("prod", "2", "pr-1"))
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "the remote did not answer within 200ms") || ReasonOf(err) != ReasonUnreachable {
			t.Errorf("Promote to a stuck remote = %v (reason %s), want an error saying it did not answer, counted as %s", err, ReasonOf(err), ReasonUnreachable)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Promote to a stuck remote still waits after 10s")
	}
}
