//go:build unix

package cli

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// audit export -f creates its file as a shell's redirection would, with
// the permissions the umask leaves (an audit log may be for few eyes), and
// keeps those of a file it replaces.
func TestAuditExportFilePermissions(t *testing.T) {
	_, must, ci := threeModels(t)
	dir := t.TempDir()
	fresh, kept := filepath.Join(dir, "audit.jsonl"), filepath.Join(dir, "kept.jsonl")
	if err := os.WriteFile(kept, []byte("yesterday's export\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(kept, 0o640); err != nil {
		t.Fatal(err)
	}
	old := syscall.Umask(0o077)
	must(0, ci, "audit", "export", "-f", fresh)
	syscall.Umask(0o022)
	must(0, ci, "audit", "export", "-f", kept)
	syscall.Umask(old)
	for path, want := range map[string]os.FileMode{fresh: 0o600, kept: 0o640} {
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if got := st.Mode().Perm(); got != want {
			t.Errorf("audit export -f %s: mode %v, want %v", filepath.Base(path), got, want)
		}
	}
}
