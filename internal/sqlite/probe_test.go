package sqlite

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/promote-ml/promote/internal/testtool"
)

// TestProbeWritable: where there is no access(2) (Windows), a data
// directory or database file that cannot be written is found by trying
// to: the error names it as checkWritable's does, and a writable one is
// left as it was, without the file made to try it.
func TestProbeWritable(t *testing.T) {
	if !testtool.Unprivileged(t) {
		return
	}
	// data makes a data directory holding a database file (and its log)
	// of the given modes.
	data := func(t *testing.T, dirMode, fileMode os.FileMode) (dir, db string) {
		t.Helper()
		dir = filepath.Join(t.TempDir(), "data")
		db = filepath.Join(dir, FileName)
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		for _, p := range []string{db, db + "-wal"} {
			if err := os.WriteFile(p, nil, fileMode); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.Chmod(dir, dirMode); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.Chmod(dir, 0o700) })
		return dir, db
	}
	for _, c := range []struct {
		name              string
		dirMode, fileMode os.FileMode
		fault             func(dir, db string) string // "" when writable
	}{
		{"writable", 0o700, 0o600, func(string, string) string { return "" }},
		{"data directory", 0o500, 0o600, func(dir, _ string) string { return dir }},
		{"database file", 0o700, 0o400, func(_, db string) string { return db }},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir, db := data(t, c.dirMode, c.fileMode)
			before := names(t, dir)
			err := probeWritable(dir, db)
			fault := c.fault(dir, db)
			var nw *NotWritableError
			switch {
			case fault == "" && err != nil:
				t.Errorf("probeWritable(%s) = %v, want nil", dir, err)
			case fault != "" && (!errors.As(err, &nw) || nw.Path != fault || !errors.Is(err, fs.ErrPermission)):
				t.Errorf("probeWritable(%s) = %v, want a *NotWritableError of %s, permission denied", dir, err, fault)
			}
			if after := names(t, dir); !slices.Equal(before, after) {
				t.Errorf("probeWritable(%s) changed the directory: %v, then %v", dir, before, after)
			}
		})
	}
}

// names lists the names in dir.
func names(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var n []string
	for _, e := range entries {
		n = append(n, e.Name())
	}
	return n
}
