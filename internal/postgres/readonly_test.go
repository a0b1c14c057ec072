package postgres_test

import (
	"database/sql"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/promote-ml/promote/internal/audit"
	"github.com/promote-ml/promote/internal/postgres"
	"github.com/promote-ml/promote/internal/sqlstore"
	"github.com/promote-ml/promote/internal/storetest"
	"github.com/promote-ml/promote/promote"
)

// appliedMigrations returns the migrations the schema of dsn has recorded.
func appliedMigrations(t *testing.T, dsn string) []string {
	t.Helper()
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	return storetest.RecordedMigrations(t, db)
}

// OpenReadOnly reads a store with a role that may only SELECT, as an
// auditor's: the chain verifies, where Open, which would migrate and
// locks the audit head to write, is refused. A schema at other migrations
// than this binary's is refused naming both, and left as it was.
func TestOpenReadOnly(t *testing.T) {
	dsn := storetest.PostgresDSN(t)
	s := open(t, dsn)
	at := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	for i := range 3 {
		if err := s.Update(t.Context(), func(tx promote.Tx) error {
			_, err := tx.AppendAudit(promote.AuditEvent{Time: at.Add(time.Duration(i) * time.Second), Actor: "ci", Action: promote.ActionHoldSet})
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	reader := storetest.PostgresReaderDSN(t, dsn)

	// A write of any kind (a migration, the audit head locked FOR
	// UPDATE) fails with this role, so a verification that passes has
	// made none.
	if db, err := postgres.Open(t.Context(), reader); err == nil {
		db.Close()
		t.Fatal("Open with a role that may only SELECT = nil error: the test's role may write")
	}
	r, err := postgres.OpenReadOnly(t.Context(), reader)
	if err != nil {
		t.Fatalf("OpenReadOnly with a role that may only SELECT: %v", err)
	}
	res, err := audit.Verify(t.Context(), r)
	if err != nil || !res.OK || res.Events != 3 {
		t.Errorf("Verify with a role that may only SELECT = %+v, %v; want OK with 3 events", res, err)
	}
	if err := r.Update(t.Context(), func(promote.Tx) error { return nil }); err == nil || !strings.Contains(err.Error(), "read-only") {
		t.Errorf("Update on a read-only store = %v, want it refused", err)
	}
	r.Close()

	// An older schema: its newest migration not recorded.
	known := appliedMigrations(t, dsn)
	raw, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.ExecContext(t.Context(), "DELETE FROM schema_migrations WHERE name = $1", known[len(known)-1]); err != nil {
		t.Fatal(err)
	}
	before := appliedMigrations(t, dsn)
	for _, d := range []string{reader, dsn} {
		_, err = postgres.OpenReadOnly(t.Context(), d)
		var se *sqlstore.SchemaError
		if !errors.As(err, &se) || !strings.Contains(err.Error(), "is at migration "+known[len(known)-2]+"; this promote knows up to "+known[len(known)-1]) {
			t.Errorf("OpenReadOnly of an older schema = %v, want a *sqlstore.SchemaError naming %s and %s", err, known[len(known)-2], known[len(known)-1])
		}
		if diff := cmp.Diff(before, appliedMigrations(t, dsn)); diff != "" {
			t.Errorf("OpenReadOnly of an older schema changed its migrations (-before +after):\n%s", diff)
		}
	}
}
