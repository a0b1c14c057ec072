package gitops

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/promote-ml/promote/internal/gittest"
)

// However the remote fails a change — a hook refuses the push, the
// credentials may read but not write, they are refused outright, it does
// not answer, it is gone — the writer's error and its log name the remote
// without the token written into its URL, and the hook's reason shows.
func TestRemoteFailuresNeverShowTheToken(t *testing.T) {
	const token = "ghp_urlsecret0123456789"
	bare := newRemote(t, nil)
	if err := os.WriteFile(filepath.Join(bare, "hooks", "pre-receive"), []byte("#!/bin/sh\necho 'main is protected' >&2\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	git := gittest.HTTPBackend(t, bare)
	stuck := make(chan struct{})
	defer close(stuck)
	isPush := func(r *http.Request) bool {
		return r.URL.Query().Get("service") == "git-receive-pack" || strings.HasSuffix(r.URL.Path, "/git-receive-pack")
	}
	for _, tt := range []struct {
		name    string
		handler http.HandlerFunc
		want    string
	}{
		{"a hook refuses the push", func(w http.ResponseWriter, r *http.Request) { git.ServeHTTP(w, r) }, "the remote said: main is protected"},
		{"the token may not write", func(w http.ResponseWriter, r *http.Request) {
			if isPush(r) {
				http.Error(w, "Permission to acme/gitops.git denied to deploy-bot.", http.StatusForbidden)
				return
			}
			git.ServeHTTP(w, r)
		}, "denied to deploy-bot"},
		{"the token is refused", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("WWW-Authenticate", `Basic realm="git"`)
			http.Error(w, "Invalid username or token.", http.StatusUnauthorized)
		}, "authentication required"},
		{"the remote does not answer", func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-stuck:
			case <-r.Context().Done():
			}
		}, "did not answer within"},
		{"the remote is gone", nil, "connection refused"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(tt.handler)
			host := strings.TrimPrefix(srv.URL, "http://")
			if tt.handler == nil {
				srv.Close()
			} else {
				defer srv.Close()
			}
			var logged bytes.Buffer
			w := newWriter(t, "http://"+token+"@"+host+"/gitops.git", func(c *Config) {
				c.Timeout = 300 * time.Millisecond
				c.Logger = slog.New(slog.NewTextHandler(&logged, &slog.HandlerOptions{Level: slog.LevelDebug}))
			})
			_, err := w.Promote(t.Context(), promotion("prod", "2", "pr-1"))
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), host) {
				t.Errorf("Promote = %v, want an error naming %s and saying %q", err, host, tt.want)
			}
			if err != nil && strings.Contains(err.Error(), token) || strings.Contains(logged.String(), token) {
				t.Errorf("the token shows in the error %v or the log:\n%s", err, logged.String())
			}
		})
	}
}
