// Package gittest sets up real Git repositories for tests: the git CLI run
// away from the user's configuration, and a bare repository, the GitOps
// remote, whose main branch holds the repository promote init writes.
package gittest

import (
	"bytes"
	"math/rand/v2"
	"net/http/cgi"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/promote-ml/promote/internal/overlay"
)

// Run runs the git CLI in dir, away from the user's configuration, as
// "Seed <seed@example.com>", and returns its standard output without the
// final new line. A failure fails the test with git's standard error.
func Run(tb testing.TB, dir string, args ...string) string {
	tb.Helper()
	return RunInput(tb, dir, "", args...)
}

// RunInput is Run with stdin as git's standard input.
func RunInput(tb testing.TB, dir, stdin string, args ...string) string {
	tb.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1",
		"GIT_AUTHOR_NAME=Seed", "GIT_AUTHOR_EMAIL=seed@example.com",
		"GIT_COMMITTER_NAME=Seed", "GIT_COMMITTER_EMAIL=seed@example.com")
	cmd.Stdin = strings.NewReader(stdin)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		tb.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return strings.TrimSuffix(string(out), "\n")
}

// Remote returns a bare repository, in a new temporary directory, whose
// main branch holds one commit: the scaffold of promote init, after mutate
// (when not nil) changed it. It skips the test without the git CLI.
func Remote(tb testing.TB, mutate func(dir string)) string {
	tb.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		tb.Skip("the git CLI is not installed")
	}
	root := tb.TempDir()
	bare := filepath.Join(root, "gitops.git")
	Run(tb, root, "init", "-q", "--bare", "-b", "main", bare)
	seed := filepath.Join(root, "seed")
	Run(tb, root, "init", "-q", "-b", "main", seed)
	if _, err := overlay.Scaffold(seed, overlay.ScaffoldOptions{}); err != nil {
		tb.Fatalf("Scaffold: %v", err)
	}
	if mutate != nil {
		mutate(seed)
	}
	Run(tb, seed, "add", "-A")
	Run(tb, seed, "commit", "-q", "-m", "scaffold the GitOps repository")
	Run(tb, seed, "push", "-q", bare, "main")
	return bare
}

// Kills returns the number of kills (or rounds) of a test that kills a
// process writing to a repository at random moments, and the source of
// those moments: PROMOTE_TEST_KILLS, a positive number, or def; and a
// generator seeded with PROMOTE_TEST_KILL_SEED, or with the time. The seed
// is logged, so that a failure's moments can be drawn again (the process's
// own timing still varies from run to run).
func Kills(tb testing.TB, def int) (int, *rand.Rand) {
	tb.Helper()
	n := def
	if s := os.Getenv("PROMOTE_TEST_KILLS"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 1 {
			tb.Fatalf("PROMOTE_TEST_KILLS=%q: want a positive number", s)
		}
		n = v
	}
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("PROMOTE_TEST_KILL_SEED"); s != "" {
		var err error
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			tb.Fatalf("PROMOTE_TEST_KILL_SEED=%q: %v", s, err)
		}
	}
	tb.Logf("PROMOTE_TEST_KILL_SEED=%d", seed)
	return n, rand.New(rand.NewPCG(seed, 0))
}

// HTTPBackend returns git's own git-http-backend serving the bare
// repository bare (and its siblings) over HTTP at /<name>.git, pushes
// included. It skips the test without the git CLI or the backend.
func HTTPBackend(tb testing.TB, bare string) *cgi.Handler {
	tb.Helper()
	out, err := exec.Command("git", "--exec-path").Output()
	if err != nil {
		tb.Skip("the git CLI is not installed")
	}
	backend := filepath.Join(strings.TrimSpace(string(out)), "git-http-backend")
	if _, err := os.Stat(backend); err != nil {
		tb.Skipf("no git-http-backend: %v", err)
	}
	return &cgi.Handler{Path: backend, Env: []string{"GIT_PROJECT_ROOT=" + filepath.Dir(bare), "GIT_HTTP_EXPORT_ALL=1",
		"GIT_CONFIG_COUNT=1", "GIT_CONFIG_KEY_0=http.receivepack", "GIT_CONFIG_VALUE_0=true"}}
}
