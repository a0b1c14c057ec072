package sqlite_test

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/promote-ml/promote/internal/sqlite"
	"github.com/promote-ml/promote/internal/sqlstore"
	"github.com/promote-ml/promote/internal/storetest"
	"github.com/promote-ml/promote/promote"
)

func open(t *testing.T, dir string) *sqlstore.DB {
	t.Helper()
	db, err := sqlite.Open(t.Context(), dir)
	if err != nil {
		t.Fatalf("Open(%s): %v", dir, err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return db
}

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) promote.Store { return open(t, t.TempDir()) })
}

// TestSharedFile runs the shared contract on two stores over one file, as
// two processes would have: BEGIN IMMEDIATE and the busy timeout serialise
// their writes.
func TestSharedFile(t *testing.T) {
	storetest.RunShared(t, func(t *testing.T) (promote.Store, promote.Store) {
		dir := t.TempDir()
		return open(t, dir), open(t, dir)
	})
}

// raw opens the database file directly, to look at what the store left.
func raw(t *testing.T, dir string) *sql.DB {
	t.Helper()
	u := url.URL{Scheme: "file", Path: filepath.Join(dir, sqlite.FileName)}
	db, err := sql.Open("sqlite", u.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestOpen(t *testing.T) {
	// Characters that mean something in a URI are only characters here.
	dir := filepath.Join(t.TempDir(), "data dir?#%20", "promote")
	db := open(t, dir)
	for _, c := range []struct {
		path string
		mode os.FileMode
	}{{dir, 0o700}, {filepath.Join(dir, sqlite.FileName), 0o600}, {filepath.Join(dir, sqlite.FileName+"-wal"), 0o600}} {
		fi, err := os.Stat(c.path)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != c.mode {
			t.Errorf("mode of %s = %v, want %v", c.path, got, c.mode)
		}
	}
	m := promote.Model{Name: "fraud", CreatedBy: "alice", CreatedAt: time.Unix(1700000000, 5).UTC()}
	if err := db.Update(t.Context(), func(tx promote.Tx) error { _, err := tx.CreateModel(m); return err }); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	// Reopening keeps the data and applies no migration twice.
	db = open(t, dir)
	if err := db.View(t.Context(), func(tx promote.Tx) error {
		got, err := tx.Model("fraud")
		if err == nil && !got.CreatedAt.Equal(m.CreatedAt) {
			t.Errorf("Model(fraud).CreatedAt after reopening = %v, want %v", got.CreatedAt, m.CreatedAt)
		}
		return err
	}); err != nil {
		t.Fatalf("Model(fraud) after reopening: %v", err)
	}
	files, err := filepath.Glob("migrations/*.sql")
	if err != nil {
		t.Fatal(err)
	}
	r := raw(t, dir)
	var applied int
	if err := r.QueryRow("SELECT count(*) FROM schema_migrations").Scan(&applied); err != nil {
		t.Fatal(err)
	}
	if applied != len(files) {
		t.Errorf("schema_migrations has %d rows, want one per migration: %d", applied, len(files))
	}
	var mode string
	if err := r.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil {
		t.Fatal(err)
	}
	if mode != "wal" {
		t.Errorf("journal_mode = %q, want wal", mode)
	}
}

// TestReadsDoNotWait checks the read pool: views run while a write
// transaction is open, and several views run at once.
func TestReadsDoNotWait(t *testing.T) {
	db := open(t, t.TempDir())
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()

	writing, release := make(chan struct{}), make(chan struct{})
	var wg sync.WaitGroup
	var updateErr error
	wg.Go(func() {
		updateErr = db.Update(ctx, func(tx promote.Tx) error {
			if _, err := tx.CreateModel(promote.Model{Name: "pending"}); err != nil {
				return err
			}
			close(writing)
			<-release
			return nil
		})
	})
	<-writing

	// Four views, each waiting inside its transaction until all four are
	// in theirs: they can only finish if they run at the same time, and
	// while the write transaction is still open.
	const views = 4
	var inside sync.WaitGroup
	inside.Add(views)
	errs := make([]error, views)
	var vg sync.WaitGroup
	for i := range views {
		vg.Go(func() {
			errs[i] = db.View(ctx, func(tx promote.Tx) error {
				if _, err := tx.Models(promote.ModelFilter{}); err != nil {
					return err
				}
				inside.Done()
				inside.Wait()
				_, err := tx.Model("pending")
				if promote.ErrorCode(err) != promote.NotFound {
					return fmt.Errorf("Model(pending) before its commit = %v, want NotFound", err)
				}
				return nil
			})
		})
	}
	vg.Wait()
	close(release)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("view %d: %v", i, err)
		}
	}
	if updateErr != nil {
		t.Errorf("Update: %v", updateErr)
	}
}

// TestAuditTamper edits the database file directly and checks that
// verification names each kind of tampering.
func TestAuditTamper(t *testing.T) {
	openRaw := func(t *testing.T) (promote.Store, *sql.DB) {
		dir := t.TempDir()
		return open(t, dir), raw(t, dir)
	}
	storetest.RunTamper(t, openRaw)
	storetest.RunTamperedHead(t, openRaw)
}

func TestAuditActorBackfill(t *testing.T) {
	storetest.RunActorBackfill(t, "migrations/0007_audit_actor.sql", func(t *testing.T) (promote.Store, *sql.DB) {
		dir := t.TempDir()
		return open(t, dir), raw(t, dir)
	})
}

// TestAuditTimeUpgrade applies migration 0013 to a database at schema 0012
// that holds events.
func TestAuditTimeUpgrade(t *testing.T) {
	down := []string{"DROP INDEX audit_events_at", "ALTER TABLE audit_events DROP COLUMN at"}
	storetest.RunAuditTimeUpgrade(t, "0013_audit_time.sql", down, func(t *testing.T) (func(t *testing.T) promote.Store, *sql.DB) {
		dir := t.TempDir()
		return func(t *testing.T) promote.Store { return open(t, dir) }, raw(t, dir)
	})
}

// TestRolloutStepUpgrade applies migration 0016 to a database at schema
// 0015 that holds a rollout.
func TestRolloutStepUpgrade(t *testing.T) {
	down := []string{"ALTER TABLE rollouts DROP COLUMN step_requests", "ALTER TABLE rollouts DROP COLUMN step_needs",
		"ALTER TABLE rollouts DROP COLUMN step_requests_at"}
	storetest.RunRolloutStepUpgrade(t, "0016_rollout_step_requests.sql", down, func(t *testing.T) (func(t *testing.T) promote.Store, *sql.DB) {
		dir := t.TempDir()
		return func(t *testing.T) promote.Store { return open(t, dir) }, raw(t, dir)
	})
}

// TestOlderReplicaWrites runs the statements of the release before
// migrations 0023 and 0024 on a store at this schema. A SQLite store is
// upgraded with its server stopped, so they do not run beside a new server;
// but they are the INSERT this release runs too (0024's trigger numbers the
// model), and its reads must find every model numbered.
func TestOlderReplicaWrites(t *testing.T) {
	dir := t.TempDir()
	storetest.RunOlderReplicaWrites(t, open(t, dir), raw(t, dir))
}

// TestInsertCollisions: each insert's ON CONFLICT stands aside only for
// the collision it means; another unique index broken is an error that
// names it.
func TestInsertCollisions(t *testing.T) {
	dir := t.TempDir()
	storetest.RunInsertCollisions(t, open(t, dir), raw(t, dir))
}

// TestNewerSchemaRefused checks that a data directory a newer Promote has
// migrated is refused, naming the migration this binary lacks, and left as
// it was: an older binary's queries would miss the newer columns.
func TestNewerSchemaRefused(t *testing.T) {
	dir := t.TempDir()
	db := open(t, dir)
	if err := db.Update(t.Context(), func(tx promote.Tx) error {
		_, err := tx.CreateModel(promote.Model{Name: "fraud", CreatedBy: "alice", CreatedAt: time.Unix(1700000000, 0).UTC()})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	r := raw(t, dir)
	const future = "9999_from_a_newer_version.sql"
	if _, err := r.Exec("INSERT INTO schema_migrations (name, applied_at) VALUES (?, 1)", future); err != nil {
		t.Fatal(err)
	}
	// The newer version had also dropped a table this one would create.
	if _, err := r.Exec("DROP TABLE ui_sessions"); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Exec("DELETE FROM schema_migrations WHERE name = '0010_ui_sessions.sql'"); err != nil {
		t.Fatal(err)
	}

	got, err := sqlite.Open(t.Context(), dir)
	if err == nil {
		got.Close()
		t.Fatalf("Open of a database migrated by a newer version succeeded, want an error")
	}
	for _, want := range []string{future, "newer Promote"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Open error = %q, want it to contain %q", err, want)
		}
	}
	var n int
	if err := r.QueryRow("SELECT count(*) FROM sqlite_master WHERE name = 'ui_sessions'").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("the refused Open created ui_sessions: it migrated a newer database")
	}
	if err := r.QueryRow("SELECT count(*) FROM models WHERE name = 'fraud'").Scan(&n); err != nil || n != 1 {
		t.Errorf("models named fraud after the refused Open = %d (%v), want 1", n, err)
	}
}
