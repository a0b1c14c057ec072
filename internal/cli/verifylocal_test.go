package cli

import (
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/promote-ml/promote/internal/storetest"
)

// promote audit verify --local of a store that is not there (a mistyped
// --data, a database Promote has never used) is a usage error that names
// it, and creates nothing: opening it would make an empty store that
// verifies as intact. An empty store that is there verifies.
func TestAuditVerifyLocalNeedsAStore(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		missing := filepath.Join(t.TempDir(), "promote-dta")
		code, stdout, stderr := run(t, "", "audit", "verify", "--local", "--data", missing)
		if code != ExitUsage || !strings.Contains(stderr, "no Promote store in "+missing) {
			t.Errorf("audit verify --local --data %s = %d\n%s%s\nwant exit %d naming the directory", missing, code, stdout, stderr, ExitUsage)
		}
		if _, err := os.Stat(missing); !os.IsNotExist(err) {
			t.Errorf("the directory was created: %v", err)
		}
		empty := t.TempDir() // a directory, without a store
		if code, _, stderr := run(t, "", "audit", "verify", "--local", "--data", empty); code != ExitUsage || !strings.Contains(stderr, "promote.db does not exist") {
			t.Errorf("audit verify --local of a directory without a store = %d %s, want exit %d", code, stderr, ExitUsage)
		}
		if entries, _ := os.ReadDir(empty); len(entries) != 0 {
			t.Errorf("files were created in %s: %v", empty, entries)
		}
		// A store that is there, with no events yet, is intact.
		if code, _, stderr := run(t, "", "token", "create", "--data", empty, "--name", "ci", "--role", "submitter"); code != ExitOK {
			t.Fatalf("token create = %d %s", code, stderr)
		}
		if code, stdout, stderr := run(t, "", "audit", "verify", "--local", "--data", empty); code != ExitOK || !strings.HasPrefix(stdout, "OK:") {
			t.Errorf("audit verify --local of a store = %d\n%s%s\nwant OK", code, stdout, stderr)
		}
	})
	t.Run("postgres", func(t *testing.T) {
		dsn := storetest.PostgresDSN(t) // a schema of its own, empty
		code, stdout, stderr := run(t, "", "audit", "verify", "--local", "--database", dsn)
		if code != ExitUsage || !strings.Contains(stderr, "no Promote store in the PostgreSQL database") {
			t.Errorf("audit verify --local of an empty database = %d\n%s%s\nwant exit %d", code, stdout, stderr, ExitUsage)
		}
		db, err := sql.Open("pgx", dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		var tables int
		if err := db.QueryRowContext(t.Context(), "SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema()").Scan(&tables); err != nil {
			t.Fatal(err)
		}
		if tables != 0 {
			t.Errorf("the refused verification left %d tables in the database", tables)
		}
	})
}
