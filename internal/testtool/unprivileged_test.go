package testtool

import (
	"os"
	"path/filepath"
	"testing"
)

// TestUnprivilegedLeavesNothingWorldWritable: the directory the test runs
// in as another user, and the one above it, are that user's or searchable
// only, never writable by every user: a test cut short (a timeout, a
// kill) leaves them behind, where any user could plant files.
func TestUnprivilegedLeavesNothingWorldWritable(t *testing.T) {
	if os.Geteuid() != 0 && os.Getenv(unprivilegedEnv) == "" {
		t.Skip("root alone runs a test as another user")
	}
	if !Unprivileged(t) {
		return
	}
	if uid := os.Geteuid(); uid != nobody {
		t.Fatalf("the test runs as uid %d, want %d", uid, nobody)
	}
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{wd, filepath.Dir(wd)} {
		fi, err := os.Stat(d)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm()&0o002 != 0 {
			t.Errorf("%s has mode %v: every user may write it", d, fi.Mode().Perm())
		}
	}
	// The user may write where it runs, and make temporary directories.
	if err := os.WriteFile(filepath.Join(wd, "probe"), nil, 0o600); err != nil {
		t.Errorf("write in the working directory: %v", err)
	}
	if dir := t.TempDir(); filepath.Dir(filepath.Dir(dir)) != wd {
		t.Errorf("TempDir() = %s, want it under %s", dir, wd)
	}
}
