package sqlite_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/promote-ml/promote/internal/sqlite"
	"github.com/promote-ml/promote/promote"
)

// copyFiles copies the files named from dir into a new directory, as they
// are now.
func copyFiles(t *testing.T, dir string, names ...string) string {
	t.Helper()
	to := t.TempDir()
	for _, n := range names {
		b, err := os.ReadFile(filepath.Join(dir, n))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(to, n), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return to
}

// TestMissingWALRefused opens copies of a store taken while it is open, as
// a killed server leaves it: the transactions since the last checkpoint are
// in promote.db-wal only. Without that file (deleted, emptied, or not
// copied), the store is refused and left as it was, rather than opened
// without them; with it, or once promote.db-shm is deleted too, it opens.
func TestMissingWALRefused(t *testing.T) {
	dir := t.TempDir()
	live := open(t, dir)
	m := promote.Model{Name: "fraud", CreatedBy: "alice", CreatedAt: time.Unix(1700000000, 0).UTC()}
	if err := live.Update(t.Context(), func(tx promote.Tx) error { _, err := tx.CreateModel(m); return err }); err != nil {
		t.Fatal(err)
	}
	db, shm, wal := sqlite.FileName, sqlite.FileName+"-shm", sqlite.FileName+"-wal"
	hasModel := func(t *testing.T, dir string) bool {
		t.Helper()
		s := open(t, dir)
		err := s.View(t.Context(), func(tx promote.Tx) error {
			_, err := tx.Model("fraud")
			return err
		})
		if err != nil && promote.ErrorCode(err) != promote.NotFound {
			t.Fatal(err)
		}
		return err == nil
	}

	t.Run("with its log", func(t *testing.T) {
		if !hasModel(t, copyFiles(t, dir, db, wal, shm)) {
			t.Fatal("the copy with promote.db-wal has no model fraud: the test does not copy a killed server's files")
		}
	})
	for _, c := range []struct {
		name  string
		files []string
		wal   []byte // the -wal file's content, when there is one
	}{
		{name: "log deleted", files: []string{db, shm}},
		{name: "log emptied", files: []string{db, shm}, wal: []byte{}},
	} {
		t.Run(c.name, func(t *testing.T) {
			to := copyFiles(t, dir, c.files...)
			if c.wal != nil {
				if err := os.WriteFile(filepath.Join(to, wal), c.wal, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			before, err := os.ReadFile(filepath.Join(to, db))
			if err != nil {
				t.Fatal(err)
			}
			s, err := sqlite.Open(t.Context(), to)
			if err == nil {
				s.Close()
				t.Fatalf("Open(%s) without its write-ahead log = nil error, want it refused", to)
			}
			for _, want := range []string{filepath.Join(to, wal), "is missing or empty", "committed transactions", "delete " + filepath.Join(to, shm)} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("Open(%s) = %v, want it to say %q", to, err, want)
				}
			}
			after, err := os.ReadFile(filepath.Join(to, db))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(before, after) {
				t.Errorf("Open(%s) changed %s although it refused the store", to, db)
			}
			if _, err := os.Stat(filepath.Join(to, wal)); c.wal == nil && !errors.Is(err, os.ErrNotExist) {
				t.Errorf("Open(%s) created %s although it refused the store (stat: %v)", to, wal, err)
			}

			// Deleting the wal-index as well, as the error says, gives up
			// the transactions and opens the database file as it is.
			if err := os.Remove(filepath.Join(to, shm)); err != nil {
				t.Fatal(err)
			}
			if hasModel(t, to) {
				t.Errorf("%s alone has model fraud: it was checkpointed, and the test shows nothing", db)
			}
		})
	}
}
