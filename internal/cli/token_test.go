package cli

import (
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The first admin token is made on the store alone, as docs/concepts.md
// says: no pipeline file is needed (there is none yet where an operator
// starts), and none is read.
func TestTokenCreateNeedsNoPipeline(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("PROMOTE_PIPELINE", "")
	code, out, errOut := run(t, dir, "token", "create", "--name", "ada", "--role", "admin", "--quiet", "--data", filepath.Join(dir, "data"))
	if code != ExitOK || !strings.HasPrefix(out, "prm_") || errOut != "" {
		t.Fatalf("token create without a pipeline = exit %d, stdout %q, stderr %q; want 0 and a secret", code, out, errOut)
	}
	// A pipeline file given, even a broken one, changes nothing.
	code, out, errOut = run(t, dir, "token", "create", "--name", "lena", "--role", "approver", "--quiet", "--data", filepath.Join(dir, "data"),
		"--pipeline", filepath.Join(dir, "nope.yaml"))
	if code != ExitOK || !strings.HasPrefix(out, "prm_") {
		t.Errorf("token create with a missing pipeline file = exit %d, stdout %q, stderr %q; want 0", code, out, errOut)
	}
	if code, _, errOut := run(t, dir, "token", "create", "--name", "x", "--role", "viewr", "--data", filepath.Join(dir, "data")); code != ExitUsage || !strings.Contains(errOut, `role "viewr"`) {
		t.Errorf("token create with a wrong role = exit %d, %q; want %d naming it", code, errOut, ExitUsage)
	}
}

// The command serve's help gives for the first token works as written.
func TestServeHelpFirstTokenCommandRuns(t *testing.T) {
	long := newServeCmd(&streams{}).Long
	m := regexp.MustCompile(`'promote (token create[^']*)'`).FindStringSubmatch(long)
	if m == nil {
		t.Fatalf("serve's help names no 'promote token create …' command:\n%s", long)
	}
	dir := t.TempDir()
	args := append(strings.Fields(m[1]), "--quiet", "--data", filepath.Join(dir, "data"))
	if code, out, errOut := run(t, dir, args...); code != ExitOK || !strings.HasPrefix(out, "prm_") {
		t.Errorf("promote %s (from serve's help) = exit %d, stdout %q, stderr %q; want 0 and a secret", m[1], code, out, errOut)
	}
}
