package gitclone

import (
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/promote-ml/promote/internal/gittest"
)

// A push that a hook of the remote refuses fails with what the hook said,
// over HTTP (where a Git host sends it on the side band, as GitHub's
// "protected branch" explanation) as over a local path, whether the
// commit goes by Push's own pack or by go-git's push; and nothing lands.
func TestPushRefusedShowsTheRemotesMessage(t *testing.T) {
	const said = "GH006: Protected branch update failed for refs/heads/main. Changes must be made through a pull request."
	for _, tt := range []struct {
		name string
		http bool
		two  bool // two commits at once: go-git's own push
	}{
		{"local path", false, false},
		{"local path, two commits", false, true},
		{"http", true, false},
		{"http, two commits", true, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			bare := gittest.Remote(t, nil)
			remote := bare
			if tt.http {
				srv := httptest.NewServer(gittest.HTTPBackend(t, bare))
				t.Cleanup(srv.Close)
				remote = srv.URL + "/" + filepath.Base(bare)
			}
			hook := "#!/bin/sh\necho 'error: " + said + "' >&2\nexit 1\n"
			if err := os.WriteFile(filepath.Join(bare, "hooks", "pre-receive"), []byte(hook), 0o755); err != nil {
				t.Fatal(err)
			}
			c, err := Open(filepath.Join(t.TempDir(), "clone"), remote, "main", "writer", Credentials{}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.Sync(context.Background()); err != nil {
				t.Fatal(err)
			}
			before := gittest.Run(t, bare, "rev-parse", "main")
			commit := commitFile(t, c, "deploy/overlays/dev/notes/a.txt", "a\n")
			if tt.two {
				commit = commitFile(t, c, "deploy/overlays/dev/notes/b.txt", "b\n")
			}
			err = c.Push(context.Background(), "main", commit, false)
			if err == nil || !strings.Contains(err.Error(), "pre-receive hook declined") || !strings.Contains(err.Error(), said) {
				t.Errorf("Push refused by a hook = %v, want the refusal with the hook's message %q", err, said)
			}
			if got := gittest.Run(t, bare, "rev-parse", "main"); got != before {
				t.Errorf("main = %s after a refused push, want still %s", got, before)
			}
		})
	}
}

// What the remote said reads as one line: each of its lines as a terminal
// shows it, without progress meters, control characters or blank lines,
// and no more than maxRemoteSaid bytes of it.
func TestRemoteSaidText(t *testing.T) {
	for _, tt := range []struct {
		name, said, want string
	}{
		{"nothing", "", ""},
		{"a hook's lines", "error: GH006: Protected branch update failed for refs/heads/main.\nerror: Changes must be made through a pull request.\n",
			"error: GH006: Protected branch update failed for refs/heads/main.; error: Changes must be made through a pull request."},
		{"progress meters", "Resolving deltas:   0% (0/1)\rResolving deltas: 100% (1/1), completed with 1 local object.\nerror: denied\n", "error: denied"},
		{"a line rewritten", "working\rrefused: \x1b[31mfrozen\x1b[0m\r\n\n", "refused:  [31mfrozen [0m"},
		{"bounded", strings.Repeat("x", maxRemoteSaid+100), strings.Repeat("x", maxRemoteSaid)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var r remoteSaid
			if _, err := r.Write([]byte(tt.said)); err != nil {
				t.Fatal(err)
			}
			if got := r.text(); got != tt.want {
				t.Errorf("text() = %q, want %q", got, tt.want)
			}
		})
	}
}
