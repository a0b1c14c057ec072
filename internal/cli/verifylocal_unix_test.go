//go:build unix

package cli

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/promote-ml/promote/internal/postgres"
	"github.com/promote-ml/promote/internal/storetest"
	"github.com/promote-ml/promote/internal/testtool"
)

// nobody is the user and group an auditor's process runs as here, when
// the test runs as root: root passes every permission check.
const nobody = 65534

// auditor runs promote (this test binary, as promote) with args as a user
// who may read the stores the test makes but, once readOnlyTree has
// made them so, not write them: nobody when the test runs as root, else
// the test's own user, whom file modes bind. It returns the exit code and
// the output.
type auditor struct {
	bin, home string
}

// newAuditor copies this test binary where nobody may run it, and makes
// the test's temporary directory searchable by every user.
func newAuditor(t *testing.T) *auditor {
	t.Helper()
	home := t.TempDir()
	// The test's own temporary directory, above every t.TempDir, is 0700.
	if err := os.Chmod(filepath.Dir(home), 0o711); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(home, 0o755); err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(home, "promote")
	in, err := os.Open(self)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(bin, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	return &auditor{bin: bin, home: home}
}

func (a *auditor) run(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	cmd := exec.Command(a.bin, args...)
	cmd.Dir = a.home
	// Only the flags name the store.
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PROMOTE_DATA=") && !strings.HasPrefix(kv, "PROMOTE_DATABASE=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, childEnv+"=1", "HOME="+a.home)
	if os.Geteuid() == 0 {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
	}
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		code = exit.ExitCode()
	case err != nil:
		t.Skipf("run promote as uid %d, which permission bits bind: %v", nobody, err)
	}
	return code, out.String(), errOut.String()
}

// readOnlyTree makes the data directory dir and its files readable by
// every user and writable by none (root aside), and checks that a file
// cannot be made in it, as the auditor, when the test cannot make it so.
func readOnlyTree(t *testing.T, dir string) {
	t.Helper()
	testtool.ReadOnlyTree(t, dir)
	if os.Geteuid() != 0 {
		f, err := os.CreateTemp(dir, "probe")
		if err == nil {
			f.Close()
			os.Remove(f.Name())
			t.Skipf("%s stays writable after chmod 0555 (a file system that ignores modes): the test cannot show a read-only verification", dir)
		}
	}
}

// copyStore copies the files of the data directory from into a new one
// under parent.
func copyStore(t *testing.T, from, parent, name string) string {
	t.Helper()
	to := filepath.Join(parent, name)
	if err := os.Mkdir(to, 0o755); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(from)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(from, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(to, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return to
}

// promote audit verify --local reads the store and writes nothing, so an
// auditor may verify a copy they cannot write (a read-only mount, files
// of another user): it verifies, and leaves every file byte for byte as
// it was, with none added. A tampered copy is reported broken, exit 1; an
// older store is refused naming its migration and this binary's, not
// migrated.
func TestAuditVerifyLocalReadOnly(t *testing.T) {
	a := newAuditor(t)
	stores := a.home

	t.Run("intact", func(t *testing.T) {
		data := copyStore(t, populatedDataDir(t), stores, "intact")
		readOnlyTree(t, data)
		before := testtool.FileHashes(t, data)
		code, stdout, stderr := a.run(t, "audit", "verify", "--local", "--data", data)
		if code != ExitOK || !strings.HasPrefix(stdout, "OK: 4 events, the chain is intact\n") {
			t.Errorf("audit verify --local of a store this user cannot write = %d\n%s%s\nwant exit 0, OK with 4 events", code, stdout, stderr)
		}
		if diff := cmp.Diff(before, testtool.FileHashes(t, data)); diff != "" {
			t.Errorf("the verification changed the store's files (-before +after):\n%s", diff)
		}
	})

	t.Run("tampered", func(t *testing.T) {
		data := copyStore(t, populatedDataDir(t), stores, "tampered")
		rawSQLite(t, data, "UPDATE audit_events SET body = replace(body, '\"actor\":\"', '\"actor\":\"x') WHERE seq = 2")
		readOnlyTree(t, data)
		before := testtool.FileHashes(t, data)
		code, stdout, stderr := a.run(t, "audit", "verify", "--local", "--data", data)
		if code != ExitBlocked || !strings.HasPrefix(stdout, "BROKEN at event 2 ") {
			t.Errorf("audit verify --local of a tampered store = %d\n%s%s\nwant exit 1, BROKEN at event 2", code, stdout, stderr)
		}
		if diff := cmp.Diff(before, testtool.FileHashes(t, data)); diff != "" {
			t.Errorf("the verification changed the store's files (-before +after):\n%s", diff)
		}
	})

	t.Run("older", func(t *testing.T) {
		data := filepath.Join(stores, "older")
		if err := os.Mkdir(data, 0o755); err != nil {
			t.Fatal(err)
		}
		writeOlderStore(t, data, 0o644)
		readOnlyTree(t, data)
		before := testtool.FileHashes(t, data)
		code, stdout, stderr := a.run(t, "audit", "verify", "--local", "--data", data)
		if code != ExitUsage {
			t.Errorf("audit verify --local of an older store = %d\n%s%s\nwant exit %d", code, stdout, stderr, ExitUsage)
		}
		for _, want := range []string{"the store is at migration 0010_", "this promote knows up to 0", "has not applied 0011_", "verify it with the promote that wrote it"} {
			if !strings.Contains(stderr, want) {
				t.Errorf("audit verify --local of an older store: stderr %q, want it to say %q", stderr, want)
			}
		}
		if diff := cmp.Diff(before, testtool.FileHashes(t, data)); diff != "" {
			t.Errorf("the refusal changed the store's files (-before +after):\n%s", diff)
		}
	})
}

// promote audit verify --local --database verifies with a role that may
// only SELECT, as an auditor's: it migrates nothing and locks nothing,
// either of which that role may not do.
func TestAuditVerifyLocalPostgresReader(t *testing.T) {
	dsn := storetest.PostgresDSN(t)
	s, err := postgres.Open(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	storetest.Populate(t, s)
	s.Close()
	reader := storetest.PostgresReaderDSN(t, dsn)
	code, stdout, stderr := run(t, "", "audit", "verify", "--local", "--database", reader)
	if code != ExitOK || !strings.HasPrefix(stdout, "OK: 4 events, the chain is intact\n") {
		t.Errorf("audit verify --local with a role that may only SELECT = %d\n%s%s\nwant exit 0, OK with 4 events", code, stdout, stderr)
	}
}
