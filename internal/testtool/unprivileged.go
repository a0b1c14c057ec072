package testtool

import (
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// unprivilegedEnv marks the process that Unprivileged started.
const unprivilegedEnv = "PROMOTE_TESTTOOL_UNPRIVILEGED"

// nobody is the user and group ID the test runs as when it started as
// root: the conventional nobody/nogroup.
const nobody = 65534

// Unprivileged makes a top-level test about file permissions run as a user
// that permission bits bind. Root passes every permission check (but a
// read-only file system's), so such a test, run as root, would pass on code
// that ignores permissions. It returns true when the caller is to go on in
// this process: the user is not root, or this is the process it started.
// As root it runs the test again in a copy of the test binary as user and
// group 65534, in a directory that user may write (its working directory,
// TMPDIR and HOME: not the package's, so no testdata), reports that
// run's failure or skip as the test's own, and returns false: the caller
// returns at once.
//
// A root that cannot switch user (no CAP_SETUID, as in some rootless
// containers) skips the test, and fails it with CI set.
func Unprivileged(t *testing.T) bool {
	t.Helper()
	if os.Geteuid() != 0 {
		return true
	}
	if os.Getenv(unprivilegedEnv) != "" {
		t.Fatalf("%s is set but the test runs as root", unprivilegedEnv)
	}
	if strings.Contains(t.Name(), "/") {
		t.Fatalf("Unprivileged(%s): only a top-level test can run again in another process", t.Name())
	}
	// A directory of that user's own, which every directory above it
	// lets it search: TempDir's parent is the test's own, made 0700, and
	// is opened for search only. Neither is writable by every user, so a
	// run cut short (a timeout, a kill) leaves nothing another user could
	// plant files in; the test's cleanup, as root, removes both.
	dir := t.TempDir()
	if err := os.Chown(dir, nobody, nobody); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Dir(dir), 0o711); err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "test.bin")
	if err := copyFile(bin, self); err != nil {
		t.Fatalf("copy the test binary: %v", err)
	}
	cmd := exec.Command(bin, "-test.run=^"+regexp.QuoteMeta(t.Name())+"$", "-test.v", "-test.count=1")
	cmd.Dir = dir // the package's directory may be closed to that user
	cmd.Env = append(os.Environ(), unprivilegedEnv+"=1", "TMPDIR="+dir, "HOME="+dir)
	runAsNobody(cmd)
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	switch {
	case err != nil && !errors.As(err, &exit):
		if os.Getenv("CI") != "" {
			t.Fatalf("run %s as uid %d: %v: in CI this test must run", t.Name(), nobody, err)
		}
		t.Skipf("run %s as uid %d, which permission bits bind (root passes them): %v", t.Name(), nobody, err)
	case err != nil:
		t.Fatalf("%s as uid %d: %v\n%s", t.Name(), nobody, err, out)
	case strings.Contains(string(out), "--- SKIP: "+t.Name()+" "):
		t.Skipf("%s as uid %d skipped:\n%s", t.Name(), nobody, out)
	case !strings.Contains(string(out), "--- PASS: "+t.Name()+" "):
		t.Fatalf("%s as uid %d did not run:\n%s", t.Name(), nobody, out)
	}
	t.Logf("%s ran as uid %d:\n%s", t.Name(), nobody, out)
	return false
}

func copyFile(dst, src string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
