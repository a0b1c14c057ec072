package cli

import (
	"context"
	"database/sql"
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/promote-ml/promote/internal/audit"
	"github.com/promote-ml/promote/internal/postgres"
	"github.com/promote-ml/promote/internal/sqlite"
	"github.com/promote-ml/promote/internal/sqlstore"
	"github.com/promote-ml/promote/internal/storetest"
	"github.com/promote-ml/promote/promote"
)

// populatedDataDir returns a data directory whose SQLite store holds a row
// of every kind (storetest.Populate).
func populatedDataDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	db, err := sqlite.Open(t.Context(), dir)
	if err != nil {
		t.Fatal(err)
	}
	storetest.Populate(t, db)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

// rawSQLite runs statements on the SQLite store in dir as a person with
// the sqlite3 shell would, waiting (as the shell's .timeout does) for a
// server that writes to it meanwhile.
func rawSQLite(t *testing.T, dir string, stmts ...string) {
	t.Helper()
	u := url.URL{Scheme: "file", Path: filepath.ToSlash(filepath.Join(dir, sqlite.FileName)), RawQuery: "_busy_timeout=10000"}
	db, err := sql.Open("sqlite", u.String())
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

func openPG(t *testing.T, dsn string) promote.Store {
	t.Helper()
	db, err := postgres.Open(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func openSQLite(t *testing.T, dir string) promote.Store {
	t.Helper()
	db, err := sqlite.Open(t.Context(), dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// wantPGEmpty fails t unless the database dsn holds no Promote data (it may
// hold the schema).
func wantPGEmpty(t *testing.T, dsn string) {
	t.Helper()
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var tables int
	if err := db.QueryRow("SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = 'models'").Scan(&tables); err != nil {
		t.Fatal(err)
	}
	if tables == 0 {
		return // no schema at all
	}
	for _, q := range []string{"SELECT COUNT(*) FROM models", "SELECT COUNT(*) FROM audit_events", "SELECT COUNT(*) FROM tokens",
		"SELECT COUNT(*) FROM leases", "SELECT seq FROM audit_head"} {
		var n int
		if err := db.QueryRow(q).Scan(&n); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		if n != 0 {
			t.Errorf("%s = %d after a copy that failed, want 0: the target must be left empty", q, n)
		}
	}
}

// A populated SQLite store copied into PostgreSQL reads the same there,
// listing by listing; its audit chain verifies with the same head; and new
// rows get keys after the copied ones (and after those SQLite gave out to
// rows since deleted).
func TestStoreCopy(t *testing.T) {
	dsn := storetest.PostgresDSN(t)
	dir := populatedDataDir(t)
	// SQLite gave out webhook delivery keys up to 9, whose rows are gone.
	rawSQLite(t, dir, "UPDATE sqlite_sequence SET seq = 9 WHERE name = 'webhook_deliveries'")

	code, stdout, stderr := run(t, "", "store", "copy", "--data", dir, "--database", dsn)
	if code != ExitOK {
		t.Fatalf("store copy = %d, want 0\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	for _, want := range []string{"copied models: 2 rows\n", "copied audit_events: 4 rows\n", "copied webhook_deliveries: 3 rows\n", "copied ui_sessions: 1 row\n"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("store copy's progress = %q, want it to hold %q", stderr, want)
		}
	}
	if got := strings.Count(stderr, "copied "); got != 17 {
		t.Errorf("store copy reported %d tables, want 17:\n%s", got, stderr)
	}

	src, dst := openSQLite(t, dir), openPG(t, dsn)
	before, after := storetest.ContentsOf(t, src), storetest.ContentsOf(t, dst)
	if diff := cmp.Diff(before, after); diff != "" {
		t.Errorf("PostgreSQL after the copy differs from SQLite (-sqlite +postgres):\n%s", diff)
	}
	srcHead, err := audit.Verify(t.Context(), src)
	if err != nil {
		t.Fatal(err)
	}
	dstHead, err := audit.Verify(t.Context(), dst)
	if err != nil {
		t.Fatal(err)
	}
	if !dstHead.OK || dstHead.HeadSeq != 4 || dstHead.HeadSeq != srcHead.HeadSeq || dstHead.HeadHash != srcHead.HeadHash {
		t.Errorf("audit.Verify(postgres) = %+v, want OK with SQLite's head %d:%s", dstHead, srcHead.HeadSeq, srcHead.HeadHash)
	}
	if want := "head 4:" + srcHead.HeadHash; !strings.Contains(stdout, want) {
		t.Errorf("store copy's summary = %q, want it to name the head %q", stdout, want)
	}
	if code, out, errOut := run(t, "", "audit", "verify", "--local", "--database", dsn); code != ExitOK {
		t.Errorf("audit verify --local on the copy = %d, want 0\n%s%s", code, out, errOut)
	}

	var notes int
	for _, p := range after.Promotions {
		if p.Note != "" {
			notes++
		}
	}
	if notes == 0 {
		t.Errorf("PostgreSQL after the copy has no promotion with a note, want Populate's")
	}

	// New writes get fresh keys.
	var hold promote.Hold
	var delivery promote.WebhookDelivery
	var event promote.AuditEvent
	var model promote.Model
	err = dst.Update(t.Context(), func(tx promote.Tx) (err error) {
		if hold, err = tx.AddHold(promote.Hold{Model: "fraud", Version: "1.0", Environment: "prod", Reason: "after the move", SetBy: "ada", SetAt: time.Now()}); err != nil {
			return err
		}
		if delivery, err = tx.RecordWebhookDelivery(promote.WebhookDelivery{ID: "new", EventID: "e2", EventType: "hold.set", Endpoint: "ops",
			AuditSeq: 5, Attempt: 1, Status: "delivered", Code: 200, At: time.Now()}, promote.WebhookDeliveriesKept); err != nil {
			return err
		}
		if err := tx.CreateVersion(promote.Version{Model: "fraud", Version: "2.0", ArtifactURI: "s3://m/2.0", Digest: "sha256:" + strings.Repeat("cd", 32),
			CreatedBy: "ci", CreatedAt: time.Now()}); err != nil {
			return err
		}
		if _, err := tx.CreatePromotion(promote.Promotion{ID: "p-new", Model: "fraud", Version: "2.0", Environment: "dev", Digest: "sha256:" + strings.Repeat("cd", 32),
			State: promote.StateRequested, RequestedBy: "bob", RequestedAt: time.Now(), UpdatedAt: time.Now()}); err != nil {
			return err
		}
		if _, err := tx.CreateModel(promote.Model{Name: "ranker", CreatedBy: "ci", CreatedAt: time.Now()}); err != nil {
			return err
		}
		if model, err = tx.Model("ranker"); err != nil {
			return err
		}
		event, err = tx.AppendAudit(promote.AuditEvent{Time: time.Now(), Actor: "ada", Action: promote.ActionHoldSet, Model: "fraud", Version: "1.0"})
		return err
	})
	if err != nil {
		t.Fatalf("writes after the copy: %v", err)
	}
	for _, h := range before.Holds {
		if hold.ID <= h.ID {
			t.Errorf("a new hold's ID = %d, want it after every copied one (%d)", hold.ID, h.ID)
		}
	}
	for _, m := range before.Models {
		if model.Seq <= m.Seq {
			t.Errorf("a new model's Seq = %d, want it after every copied one (%s at %d)", model.Seq, m.Name, m.Seq)
		}
	}
	if delivery.Seq != 10 {
		t.Errorf("a new delivery's Seq = %d, want 10: after the last SQLite gave out (9)", delivery.Seq)
	}
	if event.Seq != 5 || event.PrevHash != srcHead.HeadHash {
		t.Errorf("a new audit event = %d after %s, want 5 after the copied head %s", event.Seq, event.PrevHash, srcHead.HeadHash)
	}
	if res, err := audit.Verify(t.Context(), dst); err != nil || !res.OK || res.HeadSeq != 5 {
		t.Errorf("audit.Verify after a new event = %+v, %v, want OK at 5", res, err)
	}
}

// A copy is refused, and writes nothing, when the source is served, the
// target holds data or an older schema, the source's schema or chain is
// not what it should be, or a table is one the copy does not know; bad
// flags are usage errors.
func TestStoreCopyRefusals(t *testing.T) {
	tests := []struct {
		name string
		// prepare readies the data directory and the database for the
		// copy; it returns the arguments of the copy when it names them
		// otherwise.
		prepare func(t *testing.T, dir, dsn string) []string
		code    int
		says    []string
	}{
		{"served", func(t *testing.T, dir, dsn string) []string {
			unlock, err := lockDataDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(unlock)
			return nil
		}, ExitBlocked, []string{"is in use by promote serve", "stop the server"}},
		{"target holds data", func(t *testing.T, dir, dsn string) []string {
			other := populatedDataDir(t)
			if code, _, errOut := run(t, "", "store", "copy", "--data", other, "--database", dsn); code != ExitOK {
				t.Fatalf("first copy = %d: %s", code, errOut)
			}
			return nil
		}, ExitBlocked, []string{"holds data already", "models 2", "nothing was written", "new, empty database"}},
		{"target lease only", func(t *testing.T, dir, dsn string) []string {
			db := openPG(t, dsn)
			if err := db.Update(t.Context(), func(tx promote.Tx) error {
				_, err := tx.AcquireLease("controllers", "replica-a", time.Minute, time.Now())
				return err
			}); err != nil {
				t.Fatal(err)
			}
			return nil
		}, ExitBlocked, []string{"holds data already", "leases 1"}},
		{"target older schema", func(t *testing.T, dir, dsn string) []string {
			openPG(t, dsn)
			pg, err := sql.Open("pgx", dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer pg.Close()
			if _, err := pg.Exec("DELETE FROM schema_migrations WHERE name = '0019_webhook_resend_event.sql'"); err != nil {
				t.Fatal(err)
			}
			return nil
		}, ExitBlocked, []string{"older Promote schema", "0019_webhook_resend_event.sql", "new, empty database"}},
		{"source older schema", func(t *testing.T, dir, dsn string) []string {
			rawSQLite(t, dir, "DELETE FROM schema_migrations WHERE name = '0019_webhook_resend_event.sql'")
			return nil
		}, ExitBlocked, []string{"has not recorded this binary's migrations 0019_webhook_resend_event.sql", "promote store migrate --data"}},
		{"source chain broken", func(t *testing.T, dir, dsn string) []string {
			rawSQLite(t, dir, "UPDATE audit_events SET body = CAST(replace(CAST(body AS TEXT), 'lena', 'mallory') AS BLOB) WHERE seq = 3")
			return nil
		}, ExitBlocked, []string{"does not verify (event 3, modified", "nothing was copied"}},
		{"table the copy does not know", func(t *testing.T, dir, dsn string) []string {
			rawSQLite(t, dir, "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
			return nil
		}, ExitBlocked, []string{"the sqlite database has table notes, which this binary does not copy", "nothing was copied"}},
		{"a row the target refuses", func(t *testing.T, dir, dsn string) []string {
			rawSQLite(t, dir, "UPDATE promotions SET override = 2 WHERE id = 'p-wait'")
			return nil
		}, ExitBlocked, []string{"copy promotions", "column override", "2 is not a boolean"}},
		{"no store in the directory", func(t *testing.T, dir, dsn string) []string {
			return []string{"store", "copy", "--data", filepath.Join(dir, "missing"), "--database", dsn}
		}, ExitUsage, []string{"no SQLite store there", "promote.db does not exist"}},
		{"key=value DSN", func(t *testing.T, dir, dsn string) []string {
			return []string{"store", "copy", "--data", dir, "--database", "host=db password=hunter2"}
		}, ExitUsage, []string{"want a postgres:// URL"}},
		{"no database", func(t *testing.T, dir, dsn string) []string {
			return []string{"store", "copy", "--data", dir, "--database", ""}
		}, ExitUsage, []string{"--database is empty"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dsn := storetest.PostgresDSN(t)
			dir := populatedDataDir(t)
			args := tt.prepare(t, dir, dsn)
			if args == nil {
				args = []string{"store", "copy", "--data", dir, "--database", dsn}
			}
			var before storetest.Contents
			full := tt.name == "target holds data"
			if full {
				before = storetest.ContentsOf(t, openPG(t, dsn))
			}
			code, stdout, stderr := run(t, "", args...)
			if code != tt.code {
				t.Fatalf("store copy = %d, want %d\nstdout: %s\nstderr: %s", code, tt.code, stdout, stderr)
			}
			for _, want := range tt.says {
				if !strings.Contains(stderr, want) {
					t.Errorf("store copy said %q, want it to say %q", stderr, want)
				}
			}
			if strings.Contains(stderr, "hunter2") {
				t.Errorf("store copy showed the DSN's password: %s", stderr)
			}
			switch {
			case full:
				if diff := cmp.Diff(before, storetest.ContentsOf(t, openPG(t, dsn))); diff != "" {
					t.Errorf("a refused copy changed the target (-before +after):\n%s", diff)
				}
			case tt.name != "target lease only":
				wantPGEmpty(t, dsn)
			}
		})
	}
}

// The copy's tables are the schema's: a fresh SQLite store copies into a
// fresh PostgreSQL database, so every table of both catalogues is one the
// copy knows (a migration that adds a table without adding it to the copy
// fails here).
func TestStoreCopyEmpty(t *testing.T) {
	dsn := storetest.PostgresDSN(t)
	dir := t.TempDir()
	db, err := sqlite.Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	code, stdout, stderr := run(t, "", "store", "copy", "--data", dir, "--database", dsn)
	if code != ExitOK {
		t.Fatalf("store copy of an empty store = %d, want 0\n%s%s", code, stdout, stderr)
	}
	// One row: the chain's head, at the genesis.
	if !strings.Contains(stdout, "Copied 17 tables, 1 row,") || !strings.Contains(stdout, "0 events, head 0:"+promote.GenesisHash) {
		t.Errorf("store copy's summary = %q, want 17 tables, 1 row (the head), the genesis head", stdout)
	}
	// The head the target's migrations started is the source's, once.
	if res, err := audit.Verify(t.Context(), openPG(t, dsn)); err != nil || !res.OK || res.HeadSeq != 0 {
		t.Errorf("audit.Verify(copy of an empty store) = %+v, %v, want OK at 0", res, err)
	}
}

// A large table is reported while it is copied, every copyProgressRows
// rows, and once at its end; the summary is as without them.
func TestStoreCopyProgress(t *testing.T) {
	dsn := storetest.PostgresDSN(t)
	dir := populatedDataDir(t)
	rawSQLite(t, dir, `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2500)
		INSERT INTO live_history (model, environment, version, promotion_id, set_by, set_at, reason)
		SELECT 'fraud', 'dev', '1.0', 'p-bulk', 'ci', i, 'bulk' FROM n`)
	var had int64
	db, err := sql.Open("sqlite", filepath.Join(dir, sqlite.FileName))
	if err != nil {
		t.Fatal(err)
	}
	err = db.QueryRow("SELECT COUNT(*) FROM live_history").Scan(&had)
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	rows, every := copyProgressRows, copyProgressEvery
	copyProgressRows, copyProgressEvery = 1000, time.Hour
	t.Cleanup(func() { copyProgressRows, copyProgressEvery = rows, every })

	code, stdout, stderr := run(t, "", "store", "copy", "--data", dir, "--database", dsn)
	if code != ExitOK {
		t.Fatalf("store copy = %d, want 0\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	var got []string
	for _, line := range strings.Split(stderr, "\n") {
		if strings.Contains(line, "live_history") {
			got = append(got, line)
		}
	}
	want := []string{"copying live_history: 1000 rows so far", "copying live_history: 2000 rows so far",
		"copied live_history: " + strconv.FormatInt(had, 10) + " rows"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("store copy's progress for live_history (-want +got):\n%s\nall of it:\n%s", diff, stderr)
	}
	if n := strings.Count(stderr, "copying "); n != 2 {
		t.Errorf("store copy reported %d tables while copying them, want 2 lines, of live_history:\n%s", n, stderr)
	}
}

// Between a large table's batches, a line is written once
// copyProgressEvery has passed since the last, however few rows came.
func TestCopyProgressEvery(t *testing.T) {
	var b strings.Builder
	now := time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC)
	p := newCopyProgress(&b, func() time.Time { return now })
	steps := []struct {
		after time.Duration
		table string
		rows  int64
		done  bool
	}{
		{time.Second, "audit_events", 500, false},
		{copyProgressEvery, "audit_events", 1000, false}, // 6 s since the start
		{time.Second, "audit_events", 1500, false},
		{copyProgressEvery, "audit_events", 2000, false},
		{time.Second, "audit_events", 2100, true},
		{copyProgressEvery - time.Millisecond, "tokens", 1, false},
		{time.Millisecond, "tokens", 2, false},
		{0, "tokens", 2, true},
	}
	for _, s := range steps {
		now = now.Add(s.after)
		p.report(s.table, s.rows, s.done)
	}
	want := "copying audit_events: 1000 rows so far\ncopying audit_events: 2000 rows so far\ncopied audit_events: 2100 rows\n" +
		"copying tokens: 2 rows so far\ncopied tokens: 2 rows\n"
	if diff := cmp.Diff(want, b.String()); diff != "" {
		t.Errorf("progress (-want +got):\n%s", diff)
	}
}

// A server that takes the data directory's lock after the copy found it
// free, and before the copy takes it, gets the copy refused as one found
// running: stop it, not "another --data". The lock held shared, as
// servedBy takes it for a moment, is what lets the check pass and the
// copy's lock fail.
func TestStoreCopyLockTakenMeanwhile(t *testing.T) {
	dsn := storetest.PostgresDSN(t)
	dir := populatedDataDir(t)
	f, err := os.OpenFile(filepath.Join(dir, lockFileName), os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := lockFile(f, false); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := run(t, "", "store", "copy", "--data", dir, "--database", dsn)
	if code != ExitBlocked {
		t.Fatalf("store copy = %d, want 1\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	for _, want := range []string{"is in use by promote serve", "stop the server, then copy"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("store copy said %q, want it to say %q", stderr, want)
		}
	}
	if strings.Contains(stderr, "another --data") {
		t.Errorf("store copy said %q: serve's advice, not the copy's", stderr)
	}
	wantPGEmpty(t, dsn)
}

// -o json writes the summary for scripts: the tables and rows copied and
// the audit chain's verification on PostgreSQL; progress stays on
// standard error. Another format is a usage error.
func TestStoreCopyJSON(t *testing.T) {
	dsn := storetest.PostgresDSN(t)
	dir := populatedDataDir(t)
	code, stdout, stderr := run(t, "", "store", "copy", "--data", dir, "--database", dsn, "-o", "json")
	if code != ExitOK {
		t.Fatalf("store copy -o json = %d, want 0\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	var got storeCopySummary
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatalf("store copy -o json wrote %q: %v", stdout, err)
	}
	head, err := audit.Verify(t.Context(), openSQLite(t, dir))
	if err != nil {
		t.Fatal(err)
	}
	var rows int64
	for _, tbl := range got.Tables {
		rows += tbl.Rows
	}
	if len(got.Tables) != 17 || got.Tables[0] != (sqlstore.CopiedTable{Name: "models", Rows: 2}) || got.Rows != rows || rows == 0 {
		t.Errorf("store copy -o json tables = %+v, rows %d, want 17 tables from models (2 rows), rows their sum", got.Tables, got.Rows)
	}
	if got.From != dir || !strings.HasPrefix(got.To, "postgres://") || got.Audit != head {
		t.Errorf("store copy -o json = from %q to %q, audit %+v; want from %q, to the database, audit %+v", got.From, got.To, got.Audit, dir, head)
	}
	if !strings.Contains(stderr, "copied models: 2 rows\n") {
		t.Errorf("store copy -o json progress = %q, want it on standard error", stderr)
	}

	code, stdout, stderr = run(t, "", "store", "copy", "--data", dir, "--database", dsn, "-o", "yaml")
	if code != ExitUsage || !strings.Contains(stderr, `--output "yaml": want one of text, json`) {
		t.Errorf("store copy -o yaml = %d, %q, want 2 naming the formats", code, stderr)
	}
}
