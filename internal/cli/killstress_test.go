package cli

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/promote-ml/promote/internal/gittest"
)

// TestServeGitOpsSurvivesKills promotes one version after another, each
// time killing the server (kill -9) a random moment after the request,
// while it gates, commits, pushes or records, and restarting it on the
// same data. Every promotion must end up committed exactly once, and the
// audit chain must verify. gittest.Kills reads the number of rounds
// (default 6) and the seed of the moments from the environment.
func TestServeGitOpsSurvivesKills(t *testing.T) {
	rounds, rng := gittest.Kills(t, 6)

	dir := t.TempDir()
	bare := filepath.Join(dir, "gitops.git")
	repo := gitopsRemote(t, bare)
	start := gittest.Run(t, bare, "rev-parse", "main")
	files := gittest.Run(t, bare, "ls-tree", "-r", "--name-only", "main")
	data := filepath.Join(dir, "data")
	pipelineFile := filepath.Join(repo, "promote.yaml")
	ci := submitterToken(t, data, pipelineFile)
	art := t.TempDir()
	metrics, _ := filepath.Abs("../../examples/candidate.json")
	serve := func() (*child, string) {
		return startServer(t, "--data", data, "--pipeline", pipelineFile, "--artifact-root", art, "--gitops-remote", bare, "--gitops-interval", "1s")
	}

	srv, server := serve()
	_, must := clientOf(t, server)
	must(0, ci, "models", "create", "credit-risk")
	for i := 1; i <= rounds; i++ {
		v := strconv.Itoa(i)
		p, _ := artifact(t, art, v)
		must(0, ci, "versions", "register", "credit-risk", v, "--artifact", p, "--metrics", metrics)
		must(0, ci, "request", "credit-risk", v, "--to", "dev")
		delay := time.Duration(rng.IntN(60_000)) * time.Microsecond
		time.Sleep(delay)
		srv.kill(t)
		logs := srv.stderr.String()
		srv, server = serve()
		_, must = clientOf(t, server)
		subject := fmt.Sprintf("promote credit-risk %s to dev", v)
		waitFor(t, 60*time.Second, fmt.Sprintf("round %d (killed %v after the request): the commit of version %s", i, delay, v), func() (bool, string) {
			got := gittest.Run(t, bare, "log", "-1", "--format=%s", "main")
			return got == subject, got + "\nbefore the kill:\n" + logs + "\nafter:\n" + srv.stderr.String()
		})
		// The restarted server may have found the commit already pushed:
		// it records it, and the promotion succeeds, in its next pass.
		waitFor(t, 60*time.Second, fmt.Sprintf("round %d: promotion %d to succeed", i, i), func() (bool, string) {
			out := must(0, ci, "promotions", "list", "--model", "credit-risk", "-o", "json")
			return strings.Count(out, `"state": "succeeded"`) == i, out + "\n" + srv.stderr.String()
		})
		if got := gittest.Run(t, bare, "rev-list", "--count", start+"..main"); got != v {
			t.Fatalf("round %d (killed %v after the request): %s commits after %d promotions, want %d", i, delay, got, i, i)
		}
		// A promotion changes one file's content, never the set of files.
		if got := gittest.Run(t, bare, "ls-tree", "-r", "--name-only", "main"); got != files {
			t.Fatalf("round %d (killed %v after the request): the branch's files are\n%s\nwant\n%s", i, delay, got, files)
		}
	}
	if out := must(0, ci, "audit", "verify"); !strings.HasPrefix(out, "OK: ") {
		t.Errorf("audit verify: %s", out)
	}
}
