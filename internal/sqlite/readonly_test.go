package sqlite_test

import (
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/promote-ml/promote/internal/audit"
	"github.com/promote-ml/promote/internal/sqlite"
	"github.com/promote-ml/promote/internal/sqlstore"
	"github.com/promote-ml/promote/internal/testtool"
	"github.com/promote-ml/promote/promote"
)

// appendEvents appends n audit events to db.
func appendEvents(t *testing.T, db promote.Store, n int) {
	t.Helper()
	at := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	for i := range n {
		err := db.Update(t.Context(), func(tx promote.Tx) error {
			_, err := tx.AppendAudit(promote.AuditEvent{Time: at.Add(time.Duration(i) * time.Second), Actor: "ci",
				Action: promote.ActionHoldSet, Model: "fraud", Version: fmt.Sprintf("%d.0", i)})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

// verify verifies the chain of the store in dir through OpenReadOnly.
func verify(t *testing.T, dir string) (audit.Result, error) {
	t.Helper()
	r, err := sqlite.OpenReadOnly(t.Context(), dir)
	if err != nil {
		return audit.Result{}, err
	}
	defer r.Close()
	return audit.Verify(t.Context(), r)
}

// TestOpenReadOnly verifies stores that this user may read but not write,
// as an auditor may be given them: a copy of a store that was closed, and
// one of a store taken while it was open (a killed server's, whose newest
// events are in promote.db-wal only). Each verifies, with every event, and
// is left byte for byte as it was, with no file added. A store being
// written by a live server verifies too. Root passes permission checks, so
// as root the test runs as another user.
func TestOpenReadOnly(t *testing.T) {
	if !testtool.Unprivileged(t) {
		return
	}
	db, wal, shm := sqlite.FileName, sqlite.FileName+"-wal", sqlite.FileName+"-shm"

	t.Run("closed store", func(t *testing.T) {
		dir := t.TempDir()
		s := open(t, dir)
		appendEvents(t, s, 3)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		testtool.ReadOnlyTree(t, dir)
		before := testtool.FileHashes(t, dir)
		if len(before) != 1 {
			t.Fatalf("a closed store is %v, want %s alone", before, db)
		}
		res, err := verify(t, dir)
		if err != nil || !res.OK || res.Events != 3 {
			t.Errorf("verify a read-only copy = %+v, %v; want OK with 3 events", res, err)
		}
		if diff := cmp.Diff(before, testtool.FileHashes(t, dir)); diff != "" {
			t.Errorf("the verification changed the store (-before +after):\n%s", diff)
		}
	})

	t.Run("copy of an open store", func(t *testing.T) {
		dir := t.TempDir()
		s, err := sqlite.Open(t.Context(), dir)
		if err != nil {
			t.Fatal(err)
		}
		appendEvents(t, s, 5)
		writable := copyFiles(t, dir, db, wal, shm)
		to := copyFiles(t, dir, db, wal, shm)
		s.Close()
		testtool.ReadOnlyTree(t, to)
		// Read-only or not, the copy is read and left as it was.
		for _, dir := range []string{to, writable} {
			before := testtool.FileHashes(t, dir)
			res, err := verify(t, dir)
			if err != nil || !res.OK || res.Events != 5 {
				t.Errorf("verify a copy with its log = %+v, %v; want OK with 5 events", res, err)
			}
			if diff := cmp.Diff(before, testtool.FileHashes(t, dir)); diff != "" {
				t.Errorf("the verification changed the store (-before +after):\n%s", diff)
			}
		}

		// Without its wal-index the log cannot be read without making one:
		// refused, rather than verified without its events.
		bare := copyFiles(t, to, db, wal)
		testtool.ReadOnlyTree(t, bare)
		before := testtool.FileHashes(t, bare)
		_, err = verify(t, bare)
		if err == nil || !strings.Contains(err.Error(), shm+", which SQLite needs to read them, is missing") {
			t.Errorf("verify a copy with a log and no wal-index = %v, want it refused naming %s", err, shm)
		}
		if diff := cmp.Diff(before, testtool.FileHashes(t, bare)); diff != "" {
			t.Errorf("the refusal changed the store (-before +after):\n%s", diff)
		}
	})

	t.Run("live store", func(t *testing.T) {
		dir := t.TempDir()
		s := open(t, dir)
		appendEvents(t, s, 2)
		r, err := sqlite.OpenReadOnly(t.Context(), dir)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		appendEvents(t, s, 2) // after the reader opened
		res, err := audit.Verify(t.Context(), r)
		if err != nil || !res.OK || res.Events != 4 {
			t.Errorf("verify a live store = %+v, %v; want OK with 4 events", res, err)
		}
	})

	t.Run("writer opens it meanwhile", func(t *testing.T) {
		dir := t.TempDir()
		s := open(t, dir)
		appendEvents(t, s, 1)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		r, err := sqlite.OpenReadOnly(t.Context(), dir)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		// A server starting while the closed store is verified: its reads
		// are no longer of a file nobody writes.
		appendEvents(t, open(t, dir), 1)
		if _, err := audit.Verify(t.Context(), r); !errors.Is(err, sqlite.ErrStoreChanged) {
			t.Errorf("verify a store a writer opened meanwhile = %v, want ErrStoreChanged", err)
		}
	})
}

// OpenReadOnly never migrates: a store at an older schema is refused,
// naming its migration and this binary's, and left as it was; so is a
// database file Promote has never opened.
func TestOpenReadOnlyRefusesOtherSchemas(t *testing.T) {
	t.Run("older", func(t *testing.T) {
		dir := fixtureDir(t, schema0010)
		before := testtool.FileHashes(t, dir)
		r, err := sqlite.OpenReadOnly(t.Context(), dir)
		if err == nil {
			r.Close()
			t.Fatal("OpenReadOnly of a store at migration 0010 = nil error, want it refused")
		}
		var se *sqlstore.SchemaError
		if !errors.As(err, &se) || len(se.Missing()) == 0 || len(se.Unknown()) != 0 {
			t.Fatalf("OpenReadOnly of an older store = %v, want a *sqlstore.SchemaError with migrations missing", err)
		}
		for _, want := range []string{"is at migration 0010_", "this promote knows up to " + se.Known[len(se.Known)-1], "has not applied 0011_"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("OpenReadOnly of an older store = %v, want it to say %q", err, want)
			}
		}
		if diff := cmp.Diff(before, testtool.FileHashes(t, dir)); diff != "" {
			t.Errorf("the refusal changed the store (-before +after):\n%s", diff)
		}
	})
	t.Run("newer", func(t *testing.T) {
		dir := t.TempDir()
		s := open(t, dir)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		rawExec(t, dir, "INSERT INTO schema_migrations (name, applied_at) VALUES ('9999_from_the_future.sql', 0)")
		before := testtool.FileHashes(t, dir)
		_, err := sqlite.OpenReadOnly(t.Context(), dir)
		var se *sqlstore.SchemaError
		if !errors.As(err, &se) || !strings.Contains(err.Error(), "is at migration 9999_from_the_future.sql") ||
			!strings.Contains(err.Error(), "9999_from_the_future.sql, which this promote does not know") {
			t.Errorf("OpenReadOnly of a newer store = %v, want it refused naming 9999_from_the_future.sql", err)
		}
		if diff := cmp.Diff(before, testtool.FileHashes(t, dir)); diff != "" {
			t.Errorf("the refusal changed the store (-before +after):\n%s", diff)
		}
	})
	t.Run("no schema", func(t *testing.T) {
		dir := t.TempDir()
		rawExec(t, dir, "CREATE TABLE notes (body TEXT)")
		_, err := sqlite.OpenReadOnly(t.Context(), dir)
		var se *sqlstore.SchemaError
		if !errors.As(err, &se) || len(se.Applied) != 0 || !strings.Contains(err.Error(), "no Promote schema") {
			t.Errorf("OpenReadOnly of a database without Promote's schema = %v, want a *sqlstore.SchemaError saying so", err)
		}
	})
	t.Run("no file", func(t *testing.T) {
		dir := t.TempDir()
		_, err := sqlite.OpenReadOnly(t.Context(), dir)
		if !errors.Is(err, os.ErrNotExist) {
			t.Errorf("OpenReadOnly of an empty directory = %v, want fs.ErrNotExist", err)
		}
		if entries, _ := os.ReadDir(dir); len(entries) != 0 {
			t.Errorf("OpenReadOnly of an empty directory created %v", entries)
		}
	})
}

// rawExec runs stmts on the database file in dir as the sqlite3 shell
// would, creating the file when it is missing.
func rawExec(t *testing.T, dir string, stmts ...string) {
	t.Helper()
	db, err := sql.Open("sqlite", filepath.Join(dir, sqlite.FileName))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, s := range stmts {
		if _, err := db.Exec(s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}
