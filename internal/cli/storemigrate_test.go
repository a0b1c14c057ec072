package cli

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/promote-ml/promote/internal/postgres"
	"github.com/promote-ml/promote/internal/sqlite"
	"github.com/promote-ml/promote/internal/storetest"
	"github.com/promote-ml/promote/internal/testtool"
)

// olderStore writes the SQLite store of an earlier Promote (schema 0010)
// into a new data directory and returns the directory.
func olderStore(t *testing.T) string {
	t.Helper()
	data := filepath.Join(t.TempDir(), "promote-data")
	if err := os.MkdirAll(data, 0o700); err != nil {
		t.Fatal(err)
	}
	writeOlderStore(t, data, 0o600)
	return data
}

// writeOlderStore writes the SQLite store of an earlier Promote (schema
// 0010, internal/sqlite/testdata) into the data directory data, with mode.
func writeOlderStore(t *testing.T, data string, mode os.FileMode) {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "sqlite", "testdata", "schema-0010.db.gz"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if _, err := b.ReadFrom(zr); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(data, sqlite.FileName), b.Bytes(), mode); err != nil {
		t.Fatal(err)
	}
}

// promote store migrate: a dry run names the migrations an older store
// lacks and changes nothing; the migration applies them, after which
// audit verify --local (which never migrates) verifies the store, and a
// second run has nothing to do. A store a server runs on is refused, a
// directory without a store too, and neither is changed.
func TestStoreMigrate(t *testing.T) {
	known, err := sqlite.MigrationNames()
	if err != nil {
		t.Fatal(err)
	}
	data := olderStore(t)
	dir := filepath.Dir(data)
	before := migrations(t, data)
	pending := slices.DeleteFunc(slices.Clone(known), func(n string) bool { return slices.Contains(before, n) })
	if len(pending) == 0 || before[len(before)-1] != "0010_ui_sessions.sql" {
		t.Fatalf("the fixture is at %v; want 0010 with migrations pending of %v", before, known)
	}
	sums := testtool.FileHashes(t, data)

	code, out, errOut := run(t, dir, "store", "migrate", "--data", data, "--dry-run")
	if code != 0 || !strings.Contains(out, "is at 0010_ui_sessions.sql") || !strings.Contains(out, fmt.Sprintf("would apply %d migrations: %s", len(pending), strings.Join(pending, ", "))) ||
		!strings.Contains(out, "Nothing was changed") {
		t.Errorf("store migrate --dry-run = exit %d, %q %q; want the %d pending migrations named", code, out, errOut, len(pending))
	}
	code, out, errOut = run(t, dir, "store", "migrate", "--data", data, "--dry-run", "-o", "json")
	var rep migrateReport
	if code != 0 || json.Unmarshal([]byte(out), &rep) != nil || rep.Was != "0010_ui_sessions.sql" || rep.At != rep.Was || !rep.DryRun || !slices.Equal(rep.Pending, pending) {
		t.Errorf("store migrate --dry-run -o json = exit %d, %q %q", code, out, errOut)
	}
	if got := testtool.FileHashes(t, data); !maps.Equal(got, sums) {
		t.Fatalf("a dry run changed the data directory: %v, was %v", got, sums)
	}

	// Refused while a server runs on the directory.
	unlock, err := lockDataDir(data)
	if err != nil {
		t.Fatal(err)
	}
	code, _, errOut = run(t, dir, "store", "migrate", "--data", data)
	unlock()
	if code != ExitBlocked || !strings.Contains(errOut, "in use by promote serve") || !strings.Contains(errOut, fmt.Sprintf("process %d", os.Getpid())) {
		t.Errorf("store migrate under a server = exit %d, %q; want 1 naming the server", code, errOut)
	}
	if got := migrations(t, data); !slices.Equal(got, before) {
		t.Fatalf("store migrate under a server migrated: %v", got)
	}

	// audit verify --local refuses the older store; once migrated, it
	// verifies it.
	if code, _, errOut := run(t, dir, "audit", "verify", "--local", "--data", data); code != ExitUsage || !strings.Contains(errOut, "promote store migrate") {
		t.Errorf("audit verify --local of the older store = exit %d, %q; want 2 naming promote store migrate", code, errOut)
	}
	code, out, errOut = run(t, dir, "store", "migrate", "--data", data)
	if want := fmt.Sprintf("Migrated the store in %s from 0010_ui_sessions.sql to %s: applied %s.", data, known[len(known)-1], strings.Join(pending, ", ")); code != 0 || !strings.Contains(out, want) {
		t.Errorf("store migrate = exit %d, %q %q; want %q", code, out, errOut, want)
	}
	if got := migrations(t, data); !slices.Equal(got, known) {
		t.Errorf("after store migrate the store records %v, want %v", got, known)
	}
	if code, out, errOut := run(t, dir, "audit", "verify", "--local", "--data", data); code != 0 || !strings.HasPrefix(out, "OK: ") {
		t.Errorf("audit verify --local of the migrated store = exit %d, %q %q", code, out, errOut)
	}
	code, out, errOut = run(t, dir, "store", "migrate", "--data", data)
	if code != 0 || !strings.Contains(out, "nothing to migrate") || !strings.Contains(out, known[len(known)-1]) {
		t.Errorf("store migrate of a migrated store = exit %d, %q %q; want nothing to migrate", code, out, errOut)
	}

	// No store there: a usage error, and nothing is created.
	empty := filepath.Join(dir, "nothing-here")
	if code, _, errOut := run(t, dir, "store", "migrate", "--data", empty); code != ExitUsage || !strings.Contains(errOut, "no SQLite store there") {
		t.Errorf("store migrate of a directory without a store = exit %d, %q; want 2", code, errOut)
	}
	if _, err := os.Stat(empty); !os.IsNotExist(err) {
		t.Errorf("store migrate created %s: %v", empty, err)
	}
	if code, _, errOut := run(t, dir, "store", "migrate", "--data", data, "-o", "yaml"); code != ExitUsage || !strings.Contains(errOut, `--output "yaml"`) {
		t.Errorf("store migrate -o yaml = exit %d, %q; want 2 naming --output", code, errOut)
	}
}

// On PostgreSQL a store at this binary's schema has nothing to migrate,
// and a database Promote never used is refused without creating a schema.
func TestStoreMigratePostgres(t *testing.T) {
	dsn := storetest.PostgresDSN(t)
	dir := t.TempDir()
	code, _, errOut := run(t, dir, "store", "migrate", "--database", dsn, "--dry-run")
	if code != ExitUsage || !strings.Contains(errOut, "no Promote store") {
		t.Errorf("store migrate of an empty database = exit %d, %q; want 2, no Promote store", code, errOut)
	}
	code, _, errOut = run(t, dir, "store", "migrate", "--database", dsn)
	if code != ExitUsage {
		t.Errorf("store migrate of an empty database = exit %d, %q; want 2", code, errOut)
	}
	db, err := postgres.Open(t.Context(), dsn) // creates the schema
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	known, err := postgres.MigrationNames()
	if err != nil {
		t.Fatal(err)
	}
	code, out, errOut := run(t, dir, "store", "migrate", "--database", dsn)
	if code != 0 || !strings.Contains(out, "nothing to migrate") || !strings.Contains(out, known[len(known)-1]) {
		t.Errorf("store migrate of a current PostgreSQL store = exit %d, %q %q", code, out, errOut)
	}
}
