package sqlite_test

import (
	"errors"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/promote-ml/promote/internal/sqlite"
	"github.com/promote-ml/promote/internal/testtool"
)

// tree lists the files under dir with their contents, to show that a
// refused Open changed nothing.
func tree(t *testing.T, dir string) map[string]string {
	t.Helper()
	files := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			files[p] = "dir"
			return err
		}
		b, err := os.ReadFile(p)
		files[p] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// TestOpenNotWritable opens data directories that this user may not write
// to: Open is refused with a *NotWritableError that names the directory or
// file at fault and why, before it creates or changes anything. Root
// passes permission checks, so as root the test runs as another user.
func TestOpenNotWritable(t *testing.T) {
	if !testtool.Unprivileged(t) {
		return
	}
	// store makes a data directory holding a store, closed.
	store := func(t *testing.T, dir string) {
		t.Helper()
		db, err := sqlite.Open(t.Context(), dir)
		if err != nil {
			t.Fatal(err)
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		name string
		// setup prepares root and returns the data directory to open and
		// the path the error must name.
		setup func(t *testing.T, root string) (data, fault string)
	}{
		{"parent of a missing data directory", func(t *testing.T, root string) (string, string) {
			parent := filepath.Join(root, "srv")
			mkdir(t, parent, 0o555)
			return filepath.Join(parent, "promote-data"), parent
		}},
		{"empty data directory", func(t *testing.T, root string) (string, string) {
			data := filepath.Join(root, "data")
			mkdir(t, data, 0o555)
			return data, data
		}},
		{"data directory of a writable database", func(t *testing.T, root string) (string, string) {
			// SQLite would open the file and fail at the first write, as
			// it cannot create promote.db-wal beside it.
			data := filepath.Join(root, "data")
			store(t, data)
			chmod(t, data, 0o555)
			return data, data
		}},
		{"database file", func(t *testing.T, root string) (string, string) {
			data := filepath.Join(root, "data")
			store(t, data)
			db := filepath.Join(data, sqlite.FileName)
			chmod(t, db, 0o400)
			return data, db
		}},
		{"write-ahead log", func(t *testing.T, root string) (string, string) {
			data := filepath.Join(root, "data")
			store(t, data)
			wal := filepath.Join(data, sqlite.FileName+"-wal")
			if err := os.WriteFile(wal, nil, 0o400); err != nil {
				t.Fatal(err)
			}
			return data, wal
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			root := t.TempDir()
			data, fault := c.setup(t, root)
			before := tree(t, root)
			db, err := sqlite.Open(t.Context(), data)
			if err == nil {
				db.Close()
				t.Fatalf("Open(%s) = nil error, want one naming %s", data, fault)
			}
			var nw *sqlite.NotWritableError
			if !errors.As(err, &nw) || nw.Path != fault || !errors.Is(err, syscall.EACCES) {
				t.Fatalf("Open(%s) = %v, want a *NotWritableError of %s, permission denied", data, err, fault)
			}
			for _, want := range []string{fault, "is not writable by this user", "permission denied"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("Open(%s) = %q, want it to say %q", data, err, want)
				}
			}
			if after := tree(t, root); !maps.Equal(before, after) {
				t.Errorf("Open(%s) changed the files under %s: before %v, after %v", data, root, slices.Sorted(maps.Keys(before)), slices.Sorted(maps.Keys(after)))
			}
		})
	}
}

// TestOpenUnderAFile opens a data directory whose path runs through a
// file: refused, naming the file, for root too.
func TestOpenUnderAFile(t *testing.T) {
	root := t.TempDir()
	file := filepath.Join(root, "promote-data")
	if err := os.WriteFile(file, []byte("not a directory\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, data := range []string{file, filepath.Join(file, "data")} {
		db, err := sqlite.Open(t.Context(), data)
		if err == nil {
			db.Close()
			t.Fatalf("Open(%s) = nil error, want one naming %s", data, file)
		}
		var nw *sqlite.NotWritableError
		if !errors.As(err, &nw) || nw.Path != file || !strings.Contains(err.Error(), file+" is a file, not a directory") {
			t.Errorf("Open(%s) = %v, want a *NotWritableError saying that %s is a file", data, err, file)
		}
	}
	if b, err := os.ReadFile(file); err != nil || string(b) != "not a directory\n" {
		t.Errorf("%s after Open = %q, %v; want it unchanged", file, b, err)
	}
}

func mkdir(t *testing.T, dir string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	chmod(t, dir, mode)
}

// chmod sets path's mode, and gives the owner write access back when the
// test ends so that its directory can be removed.
func chmod(t *testing.T, path string, mode os.FileMode) {
	t.Helper()
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(path, 0o700) })
}
