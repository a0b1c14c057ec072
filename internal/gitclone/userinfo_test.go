package gitclone

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/promote-ml/promote/internal/gittest"
)

// A token written into an http(s) remote (https://TOKEN@host/repo.git, as
// git takes it) authenticates the clone against a real Git server over
// HTTP, and is never stored in the clone's configuration nor shown in an
// error or in RedactURL.
func TestTokenInRemoteURL(t *testing.T) {
	bare := gittest.Remote(t, nil)
	const token = "ghp_secret0123456789"
	git := gittest.HTTPBackend(t, bare)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if user, _, ok := r.BasicAuth(); !ok || user != token {
			w.Header().Set("WWW-Authenticate", `Basic realm="git"`)
			http.Error(w, "authentication required", http.StatusUnauthorized)
			return
		}
		git.ServeHTTP(w, r)
	}))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")

	dir := t.TempDir()
	c, err := Open(dir, "http://"+token+"@"+host+"/gitops.git", "main", "writer", Credentials{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	head, err := c.Fetch(t.Context())
	if err != nil {
		t.Fatalf("Fetch with the token in the remote's URL: %v", err)
	}
	if want := gittest.Run(t, bare, "rev-parse", "main"); head.String() != want {
		t.Errorf("fetched %s, want %s", head, want)
	}
	cfg, err := os.ReadFile(filepath.Join(dir, ".git", "config"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(cfg), token) || !strings.Contains(string(cfg), "http://"+host+"/gitops.git") {
		t.Errorf("the clone's configuration holds the token, or not the remote:\n%s", cfg)
	}
	if got := RedactURL("https://" + token + "@github.com/acme/gitops.git"); strings.Contains(got, token) {
		t.Errorf("RedactURL kept the token: %s", got)
	}
	if got := RedactURL("ssh://git@github.com/acme/gitops.git"); got != "ssh://git@github.com/acme/gitops.git" {
		t.Errorf("RedactURL of an SSH remote = %s, want it unchanged", got)
	}

	// A wrong token: the error names the remote, never the token.
	const wrong = "ghp_wrong9876543210"
	c, err = Open(t.TempDir(), "http://"+wrong+"@"+host+"/gitops.git", "main", "writer", Credentials{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Fetch(t.Context()); err == nil || strings.Contains(err.Error(), wrong) {
		t.Errorf("Fetch with a wrong token = %v, want an error without the token", err)
	}
	// Credentials given apart win over the URL's.
	c, err = Open(t.TempDir(), "http://"+wrong+"@"+host+"/gitops.git", "main", "writer", Credentials{Username: token, Password: "x"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Fetch(t.Context()); err != nil {
		t.Errorf("Fetch with credentials given apart: %v", err)
	}
}
