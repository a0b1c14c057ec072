package cli

import (
	"path/filepath"
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
