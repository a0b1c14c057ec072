package postgres_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/promote-ml/promote/internal/audit"
	"github.com/promote-ml/promote/internal/postgres"
	"github.com/promote-ml/promote/internal/sqlstore"
	"github.com/promote-ml/promote/internal/storetest"
	"github.com/promote-ml/promote/promote"
)

func open(t *testing.T, dsn string) *sqlstore.DB {
	t.Helper()
	db, err := postgres.Open(t.Context(), dsn)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return db
}

func TestStore(t *testing.T) {
	storetest.PostgresServer(t)
	storetest.Run(t, func(t *testing.T) promote.Store { return open(t, storetest.PostgresDSN(t)) })
}

// TestSharedDatabase runs the shared contract on two stores over one
// database, as two replicas have: the audit head's row lock and the partial
// unique index hold across them.
func TestSharedDatabase(t *testing.T) {
	storetest.PostgresServer(t)
	storetest.RunShared(t, func(t *testing.T) (promote.Store, promote.Store) {
		dsn := storetest.PostgresDSN(t)
		return open(t, dsn), open(t, dsn)
	})
}

// TestOpenConcurrently opens one new database from several stores at once,
// as replicas starting together do: the migration lock lets one migrate and
// the others find the schema done.
func TestOpenConcurrently(t *testing.T) {
	dsn := storetest.PostgresDSN(t)
	const n = 4
	stores := make([]*sqlstore.DB, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { stores[i], errs[i] = postgres.Open(t.Context(), dsn) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Open %d: %v", i, err)
			continue
		}
		stores[i].Close()
	}

	// Reopening applies nothing again.
	db := open(t, dsn)
	if err := db.Update(t.Context(), func(tx promote.Tx) error {
		_, err := tx.CreateModel(promote.Model{Name: "fraud"})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	db = open(t, dsn)
	if err := db.View(t.Context(), func(tx promote.Tx) error { _, err := tx.Model("fraud"); return err }); err != nil {
		t.Errorf("Model(fraud) after reopening: %v", err)
	}
	files, err := filepath.Glob("migrations/*.sql")
	if err != nil {
		t.Fatal(err)
	}
	conn, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var applied int
	if err := conn.QueryRowContext(t.Context(), "SELECT count(*) FROM schema_migrations").Scan(&applied); err != nil {
		t.Fatal(err)
	}
	if applied != len(files) {
		t.Errorf("schema_migrations has %d rows, want one per migration: %d", applied, len(files))
	}
}

func TestOpenBadDSN(t *testing.T) {
	_, err := postgres.Open(t.Context(), "postgres://promote:s3cret@127.0.0.1:1/x?connect_timeout=1&sslmode=disable")
	if err == nil {
		t.Fatal("Open of an unreachable server = nil, want an error")
	}
	if strings.Contains(err.Error(), "s3cret") {
		t.Errorf("Open error %q shows the password", err)
	}
}

// TestAuditTamper edits the tables directly, as someone with database
// access would, and checks that verification names each kind of tampering.
func TestAuditTamper(t *testing.T) {
	storetest.PostgresServer(t)
	storetest.RunTamper(t, storeAndDB)
	storetest.RunTamperedHead(t, storeAndDB)
}

func TestAuditActorBackfill(t *testing.T) {
	storetest.PostgresServer(t)
	storetest.RunActorBackfill(t, "migrations/0007_audit_actor.sql", storeAndDB)
}

// TestAuditTimeUpgrade applies migration 0013 to a database at schema 0012
// that holds events.
func TestAuditTimeUpgrade(t *testing.T) {
	storetest.PostgresServer(t)
	down := []string{"DROP TRIGGER audit_events_at ON audit_events", "DROP FUNCTION promote_audit_events_at()",
		"DROP FUNCTION promote_audit_nanos(TEXT)", "DROP INDEX audit_events_at", "ALTER TABLE audit_events DROP COLUMN at"}
	storetest.RunAuditTimeUpgrade(t, "0013_audit_time.sql", down, reopenerAndDB)
}

// TestRolloutStepUpgrade applies migration 0016 to a database at schema
// 0015 that holds a rollout.
func TestRolloutStepUpgrade(t *testing.T) {
	storetest.PostgresServer(t)
	down := []string{"ALTER TABLE rollouts DROP COLUMN step_requests", "ALTER TABLE rollouts DROP COLUMN step_needs",
		"ALTER TABLE rollouts DROP COLUMN step_requests_at"}
	storetest.RunRolloutStepUpgrade(t, "0016_rollout_step_requests.sql", down, reopenerAndDB)
}

// TestStepMovedByOlderReplica: during a rolling upgrade, a step an older
// replica moves on starts its request count from 0.
func TestStepMovedByOlderReplica(t *testing.T) {
	s, raw := openRaw(t)
	storetest.RunStepMovedByOlderReplica(t, s, raw)
}

// TestOlderReplicaWrites: during a rolling upgrade across migrations 0023
// and 0024, a replica of the release before them keeps registering models,
// requesting and approving promotions beside a new one: the identity
// numbers its models, and its updates keep the new replica's notes.
func TestOlderReplicaWrites(t *testing.T) {
	s, raw := openRaw(t)
	storetest.RunOlderReplicaWrites(t, s, raw)
}

// TestInsertCollisions: each insert's ON CONFLICT stands aside only for
// the collision it means; another unique index broken is an error that
// names it.
func TestInsertCollisions(t *testing.T) {
	s, raw := openRaw(t)
	storetest.RunInsertCollisions(t, s, raw)
}

// TestNumberTaken: a row whose sequence number the identity gives next is
// already stored (written by hand past the identity, or a restore that
// left the identity behind). The clash on the number fails the insert as a
// Conflict, a collision naming what was written (and the primary key),
// not as the collision the insert means (a model name taken, a slot taken,
// a version or a decision there already), and nothing is stored. SQLite
// numbers a row one above the largest stored, which no row can hold, so
// only PostgreSQL can clash.
func TestNumberTaken(t *testing.T) {
	s, raw := openRaw(t)
	ctx := t.Context()
	at := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	digest := "sha256:" + strings.Repeat("ab", 32)
	version := func(v string) promote.Version {
		return promote.Version{Model: "fraud", Version: v, ArtifactURI: "file:///" + v + ".bin", Digest: digest, CreatedBy: "ci", CreatedAt: at}
	}
	err := s.Update(ctx, func(tx promote.Tx) error {
		if _, err := tx.CreateModel(promote.Model{Name: "fraud", CreatedBy: "ci", CreatedAt: at}); err != nil {
			return err
		}
		return tx.CreateVersion(version("1")) // number 1
	})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		// byHand stores a row at the number the identity gives next,
		// with the digest as $1 when it has one.
		byHand string
		write  func(tx promote.Tx) error
		msgs   []string // the error must mention each
		not    string   // and not this, the answer to the collision meant
		count  string   // counts the rows write would store
	}{
		{
			name: "CreateModel",
			byHand: `INSERT INTO models (name, description, created_by, created_at, n)
				OVERRIDING SYSTEM VALUE VALUES ('by-hand', '', 'dba', 0, 2)`,
			write: func(tx promote.Tx) error {
				_, err := tx.CreateModel(promote.Model{Name: "churn", CreatedBy: "ci", CreatedAt: at})
				return err
			},
			msgs:  []string{`create model "churn"`, "collides"},
			not:   "already exists",
			count: "SELECT count(*) FROM models WHERE name = 'churn'",
		},
		{
			name: "CreateVersion",
			byHand: `INSERT INTO versions (model, version, artifact_uri, digest, size, signatures, metrics, checks, group_stats,
				lineage, created_by, created_at, rejected, rejected_by, reject_reason, n)
				OVERRIDING SYSTEM VALUE VALUES ('fraud', 'by-hand', 'file:///h.bin', $1, 0, '[]', '{}', '{}', '{}', '{}', 'dba', 0,
				false, '', '', 2)`,
			write: func(tx promote.Tx) error { return tx.CreateVersion(version("2")) },
			msgs:  []string{`create version "2" of model "fraud"`, "versions_pkey"},
			not:   "already exists",
			count: "SELECT count(*) FROM versions WHERE version = '2'",
		},
		{
			name: "CreatePromotion",
			byHand: `INSERT INTO promotions (id, model, version, environment, digest, state, active,
				requested_by, requested_at, updated_at, baseline, reason, override, n)
				OVERRIDING SYSTEM VALUE VALUES ('by-hand', 'fraud', '1', 'dev', $1, 'succeeded', false, 'dba', 0, 0, '', '', false, 1)`,
			write: func(tx promote.Tx) error {
				_, err := tx.CreatePromotion(promote.Promotion{ID: "p1", Model: "fraud", Version: "1", Environment: "prod", Digest: digest,
					State: promote.StateRequested, RequestedBy: "ci", RequestedAt: at, UpdatedAt: at})
				return err
			},
			msgs:  []string{`create promotion "p1"`, "promotions_pkey"},
			not:   "active promotion",
			count: "SELECT count(*) FROM promotions WHERE id = 'p1'",
		},
		{
			name: "AddApproval",
			byHand: `INSERT INTO approvals (promotion_id, approver, roles, approve, digest, comment, at, n)
				OVERRIDING SYSTEM VALUE VALUES ('by-hand', 'dba', '[]', true, $1, '', 0, 1)`,
			write: func(tx promote.Tx) error {
				return tx.AddApproval(promote.Approval{PromotionID: "by-hand", Approver: "carol", Approve: true, Digest: digest, At: at})
			},
			msgs:  []string{`add approval by "carol" to promotion "by-hand"`, "approvals_pkey"},
			not:   "already decided",
			count: "SELECT count(*) FROM approvals WHERE approver = 'carol'",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var args []any
			if strings.Contains(tt.byHand, "$1") {
				args = append(args, digest)
			}
			if _, err := raw.ExecContext(ctx, tt.byHand, args...); err != nil {
				t.Fatal(err)
			}
			err := s.Update(ctx, tt.write)
			if promote.ErrorCode(err) != promote.Conflict || strings.Contains(err.Error(), tt.not) {
				t.Errorf("%s with its number taken = %v, want a Conflict, not %q", tt.name, err, tt.not)
			}
			for _, m := range tt.msgs {
				if err != nil && !strings.Contains(err.Error(), m) {
					t.Errorf("%s with its number taken = %v, want it to mention %s", tt.name, err, m)
				}
			}
			var n int
			if err := raw.QueryRowContext(ctx, tt.count).Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n != 0 {
				t.Errorf("%s with its number taken stored %d rows (%s), want 0", tt.name, n, tt.count)
			}
		})
	}
}

// openRaw opens a store on a schema of its own and a plain connection to
// the same schema, for the statements of an older binary.
func openRaw(t *testing.T) (promote.Store, *sql.DB) {
	t.Helper()
	storetest.PostgresServer(t)
	return storeAndDB(t)
}

// storeAndDB opens a store on a schema of its own and a plain connection
// to the same schema.
func storeAndDB(t *testing.T) (promote.Store, *sql.DB) {
	reopen, db := reopenerAndDB(t)
	return reopen(t), db
}

// reopenerAndDB makes a schema of its own, a function opening a store on
// it, and a plain connection to it, which the test closes.
func reopenerAndDB(t *testing.T) (func(t *testing.T) promote.Store, *sql.DB) {
	dsn := storetest.PostgresDSN(t)
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return func(t *testing.T) promote.Store { return open(t, dsn) }, db
}

// TestAuditCopiesFromOlderReplicas checks that events appended by an
// older replica still running during a rolling upgrade, whose statements
// leave out the indexed copies added since (actor in 0007, version in
// 0012, the time in 0013), get them from the body: they verify, and the
// filters find them. Their bodies have no token ID (0017), whose empty
// copy then agrees.
func TestAuditCopiesFromOlderReplicas(t *testing.T) {
	ctx := t.Context()
	s, raw := openRaw(t)
	at := time.Date(2026, 11, 26, 10, 0, 0, 120_000_000, time.UTC)
	if err := s.Update(ctx, func(tx promote.Tx) error {
		_, err := tx.AppendAudit(promote.AuditEvent{Time: at.Add(-time.Hour), Actor: "ci", Action: promote.ActionModelCreated, Model: "m"})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	// The statements of older binaries' AppendAudit.
	older := []struct {
		binary, insert string
	}{
		{"0006", `INSERT INTO audit_events (seq, prev_hash, hash, body, model, environment, promotion_id, action)
			VALUES ($1, $2, $3, $4, 'm', 'prod', '', $5)`},
		{"0011", `INSERT INTO audit_events (seq, prev_hash, hash, body, model, environment, promotion_id, action, actor)
			VALUES ($1, $2, $3, $4, 'm', 'prod', '', $5, 'old')`},
		{"0012", `INSERT INTO audit_events (seq, prev_hash, hash, body, model, version, environment, promotion_id, action, actor)
			VALUES ($1, $2, $3, $4, 'm', '1', 'prod', '', $5, 'old')`},
		// Its bodies have no token ID, so the copy's default is right.
		{"0016", `INSERT INTO audit_events (seq, prev_hash, hash, body, at, model, version, environment, promotion_id, action, actor)
			VALUES ($1, $2, $3, $4, promote_audit_nanos(convert_from($4, 'UTF8')::jsonb ->> 'time'), 'm', '1', 'prod', '', $5, 'old')`},
	}
	var want []int64
	for i, o := range older {
		seq, prev, err := s.AuditHead(ctx)
		if err != nil {
			t.Fatal(err)
		}
		e := promote.AuditEvent{Seq: seq + 1, Time: at.Add(time.Duration(i) * time.Second), Actor: "old", Action: promote.ActionHoldSet,
			Model: "m", Version: "1", Environment: "prod"}
		body, err := e.Body()
		if err != nil {
			t.Fatal(err)
		}
		hash := promote.ChainHash(prev, body)
		if _, err := raw.ExecContext(ctx, o.insert, e.Seq, prev, hash, body, e.Action); err != nil {
			t.Fatalf("the %s binary's insert: %v", o.binary, err)
		}
		if _, err := raw.ExecContext(ctx, "UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1", e.Seq, hash); err != nil {
			t.Fatal(err)
		}
		if res, err := audit.Verify(ctx, s); err != nil || !res.OK || res.HeadSeq != e.Seq {
			t.Fatalf("audit.Verify after the %s binary's append = %+v %+v, %v; want OK through %d", o.binary, res, res.Broken, err, e.Seq)
		}
		want = append(want, e.Seq)
	}
	for _, f := range []promote.AuditFilter{{Since: at}, {Model: "m", Version: "1"}, {Actor: "old"}} {
		var got []int64
		if err := s.View(ctx, func(tx promote.Tx) error {
			evs, err := tx.AuditEvents(f)
			for _, e := range evs {
				got = append(got, e.Seq)
			}
			return err
		}); err != nil {
			t.Fatal(err)
		}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("AuditEvents(%+v) = %v, want the older replicas' events %v", f, got, want)
		}
	}
}

// TestCommitErrorClearedByOlderReplica checks that a live change's commit
// error is cleared when an older replica, built before the error was kept
// (0011), records the change's commit or a new change: its statements leave
// the error out, and it must not stay on a change that was delivered.
func TestCommitErrorClearedByOlderReplica(t *testing.T) {
	ctx := t.Context()
	s, raw := openRaw(t)
	at := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	digest := "sha256:" + strings.Repeat("ab", 32)
	if err := s.Update(ctx, func(tx promote.Tx) error {
		if _, err := tx.CreateModel(promote.Model{Name: "m", CreatedBy: "ci", CreatedAt: at}); err != nil {
			return err
		}
		for _, v := range []string{"1", "2"} {
			if err := tx.CreateVersion(promote.Version{Model: "m", Version: v, ArtifactURI: "s3://m/" + v, Digest: digest,
				Metrics: map[string]float64{"auc": 0.9}, CreatedBy: "ci", CreatedAt: at}); err != nil {
				return err
			}
		}
		for _, env := range []string{"staging", "prod"} {
			if err := tx.SetLive(promote.Live{Model: "m", Environment: env, Version: "1", PromotionID: "p-" + env, SetBy: "ci", SetAt: at}); err != nil {
				return err
			}
			if err := tx.SetLiveCommitError("m", env, "p-"+env, "push refused", at); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	// The statements of the 0010 binary: staging's commit recorded, prod
	// moved on to a new change.
	if _, err := raw.ExecContext(ctx, `UPDATE live SET commit_hash = $1 WHERE model = 'm' AND environment = 'staging' AND promotion_id = 'p-staging'`,
		strings.Repeat("c", 40)); err != nil {
		t.Fatal(err)
	}
	if _, err := raw.ExecContext(ctx, `INSERT INTO live (model, environment, version, promotion_id, set_by, set_at, reason, rollback_of, commit_hash)
		VALUES ('m', 'prod', '2', 'p-prod-2', 'old', $1, '', '', '')
		ON CONFLICT (model, environment) DO UPDATE SET version = excluded.version,
			promotion_id = excluded.promotion_id, set_by = excluded.set_by, set_at = excluded.set_at,
			reason = excluded.reason, rollback_of = excluded.rollback_of, commit_hash = excluded.commit_hash`, at.Add(time.Minute).UnixNano()); err != nil {
		t.Fatal(err)
	}
	var live map[string]promote.Live
	if err := s.View(ctx, func(tx promote.Tx) (err error) {
		live, err = tx.Live("m")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	for _, env := range []string{"staging", "prod"} {
		if e := live[env].CommitError; e != nil {
			t.Errorf("%s: commit error %+v after an older replica's change, want none", env, *e)
		}
	}
	// A new replica's error on a change still waiting stays.
	if err := s.Update(ctx, func(tx promote.Tx) error {
		return tx.SetLiveCommitError("m", "prod", "p-prod-2", "push refused again", at.Add(2*time.Minute))
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.View(ctx, func(tx promote.Tx) (err error) {
		live, err = tx.Live("m")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if e := live["prod"].CommitError; e == nil || e.Message != "push refused again" {
		t.Errorf("prod: commit error %+v, want the new one kept", e)
	}
}

// TestNewerSchemaRefused checks that a database a newer Promote has
// migrated is refused, naming the migration this binary lacks, and left as
// it was.
func TestNewerSchemaRefused(t *testing.T) {
	dsn := storetest.PostgresDSN(t)
	if err := open(t, dsn).Close(); err != nil {
		t.Fatal(err)
	}
	r, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	const future = "9999_from_a_newer_version.sql"
	for _, q := range []string{
		"INSERT INTO schema_migrations (name, applied_at) VALUES ('" + future + "', 1)",
		// The newer version had also dropped a table this one would create.
		"DROP TABLE ui_sessions",
		"DELETE FROM schema_migrations WHERE name = '0010_ui_sessions.sql'",
	} {
		if _, err := r.ExecContext(t.Context(), q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}

	db, err := postgres.Open(t.Context(), dsn)
	if err == nil {
		db.Close()
		t.Fatalf("Open of a database migrated by a newer version succeeded, want an error")
	}
	for _, want := range []string{future, "newer Promote"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Open error = %q, want it to contain %q", err, want)
		}
	}
	var exists bool
	if err := r.QueryRowContext(t.Context(), "SELECT to_regclass('ui_sessions') IS NOT NULL").Scan(&exists); err != nil {
		t.Fatal(err)
	}
	if exists {
		t.Errorf("the refused Open created ui_sessions: it migrated a newer database")
	}
}

// relay is a TCP relay to a PostgreSQL server that can be cut, as a
// network outage or a stopped server cuts it — every relayed connection
// closed, new ones refused — or frozen, as a hung server or a silent
// network freezes it: connections stay open and nothing passes until
// thaw.
type relay struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	conns  []net.Conn
	frozen chan struct{} // closed when not frozen
}

func newRelay(t *testing.T, target string) *relay {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := &relay{ln: ln, target: target, frozen: make(chan struct{})}
	close(c.frozen)
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", target)
			if err != nil {
				in.Close()
				continue
			}
			c.mu.Lock()
			c.conns = append(c.conns, in, out)
			c.mu.Unlock()
			wg.Go(func() { c.copy(out, in); out.Close() })
			wg.Go(func() { c.copy(in, out); in.Close() })
		}
	})
	t.Cleanup(func() { c.thaw(); c.cut(); wg.Wait() })
	return c
}

// copy relays from src to dst, holding what it reads while frozen.
func (c *relay) copy(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			c.mu.Lock()
			frozen := c.frozen
			c.mu.Unlock()
			<-frozen
			if _, err := dst.Write(buf[:n]); err != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (c *relay) cut() {
	c.ln.Close()
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, conn := range c.conns {
		conn.Close()
	}
	c.conns = nil
}

func (c *relay) freeze() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.frozen = make(chan struct{})
}

func (c *relay) thaw() {
	c.mu.Lock()
	defer c.mu.Unlock()
	select {
	case <-c.frozen:
	default:
		close(c.frozen)
	}
}

// throughRelay returns a store on a new database through a relay of its
// own.
func throughRelay(t *testing.T) (*sqlstore.DB, *relay) {
	t.Helper()
	u, err := url.Parse(storetest.PostgresDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	r := newRelay(t, u.Host)
	u.Host = r.ln.Addr().String()
	return open(t, u.String()), r
}

// openChildDSN names, for the child process of
// TestCancelledStatementStopsOnServer, the database it opens.
const openChildDSN = "PROMOTE_TEST_OPEN_CHILD_DSN"

// TestCancelledStatementStopsOnServer checks that a statement whose
// context ends stops in the database before the call returns, not after
// the process is gone. promote serve stopped during its migration (a
// rolling update's pod replaced, a startup probe that gave up) exited at
// once, and the migration went on in the server with its locks held, so
// that every replica's writes waited for it. The child process opens the
// store as serve does, until SIGTERM, and exits as soon as Open returns;
// its migration waits for the advisory lock, which this test holds.
func TestCancelledStatementStopsOnServer(t *testing.T) {
	if dsn := os.Getenv(openChildDSN); dsn != "" {
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
		defer stop()
		if db, err := postgres.Open(ctx, dsn); err == nil {
			db.Close()
		}
		os.Exit(0)
	}
	dsn := storetest.PostgresDSN(t)
	raw, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	holder, err := raw.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := holder.ExecContext(t.Context(), "SELECT pg_advisory_lock($1)", postgres.MigrationLockKey); err != nil {
		t.Fatal(err)
	}
	defer func() {
		holder.ExecContext(context.Background(), "SELECT pg_advisory_unlock($1)", postgres.MigrationLockKey)
		holder.Close()
	}()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	app := fmt.Sprintf("promote-cancel-%d", time.Now().UnixNano())
	q := u.Query()
	q.Set("application_name", app)
	u.RawQuery = q.Encode()
	// count counts the child's sessions that match cond.
	count := func(cond string) int {
		var n int
		if err := raw.QueryRowContext(t.Context(), "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 AND "+cond,
			app).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	child := exec.Command(os.Args[0], "-test.run=^TestCancelledStatementStopsOnServer$")
	child.Env = append(os.Environ(), openChildDSN+"="+u.String())
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- child.Wait() }()
	for deadline := time.Now().Add(10 * time.Second); count("wait_event_type = 'Lock'") == 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			child.Process.Kill()
			t.Fatal("the child's migration never waited for its lock")
		}
	}
	child.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("the child: %v", err)
		}
	case <-time.After(10 * time.Second):
		child.Process.Kill()
		t.Fatal("the child did not exit within 10s of SIGTERM")
	}
	for deadline := time.Now().Add(3 * time.Second); count("state = 'active'") > 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the migration's statement still runs in the server 3s after its process exited")
		}
	}
}

// TestCancelledCallReturnsContextError checks that a call whose context
// ends while its statement waits in the server returns the context's
// error, by which the API answers a timed-out request with 503 and the
// command line an interrupt, although the server answers the cancel with
// an error of its own (TestCancelledStatementStopsOnServer).
func TestCancelledCallReturnsContextError(t *testing.T) {
	dsn := storetest.PostgresDSN(t)
	s := open(t, dsn)
	raw, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()

	// A write waits for the audit head, which another transaction holds.
	other, err := raw.BeginTx(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Rollback()
	if _, err := other.ExecContext(t.Context(), "SELECT seq FROM audit_head WHERE id = 1 FOR UPDATE"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	err = s.Update(ctx, func(tx promote.Tx) error {
		_, err := tx.CreateModel(promote.Model{Name: "fraud", CreatedBy: "ci", CreatedAt: time.Now()})
		return err
	})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Update past its context's deadline = %v, want context.DeadlineExceeded", err)
	}
	other.Rollback()

	// A migration waits for its advisory lock, which another session holds.
	holder, err := raw.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	if _, err := holder.ExecContext(t.Context(), "SELECT pg_advisory_lock($1)", postgres.MigrationLockKey); err != nil {
		t.Fatal(err)
	}
	defer holder.ExecContext(context.Background(), "SELECT pg_advisory_unlock($1)", postgres.MigrationLockKey)
	ctx, cancel = context.WithCancel(t.Context())
	time.AfterFunc(300*time.Millisecond, cancel)
	if db, err := postgres.Open(ctx, dsn); !errors.Is(err, context.Canceled) {
		if err == nil {
			db.Close()
		}
		t.Errorf("Open cancelled while it waits to migrate = %v, want context.Canceled", err)
	}
}

// TestUnavailable: when the database cannot be reached, the store's errors
// say so (promote.ErrUnavailable), so that the API answers 503 rather
// than an internal error; a store error that is not about reaching the
// database does not.
func TestUnavailable(t *testing.T) {
	db, relay := throughRelay(t)
	if err := db.Update(t.Context(), func(tx promote.Tx) error {
		_, err := tx.CreateModel(promote.Model{Name: "fraud"})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	err := db.Update(t.Context(), func(tx promote.Tx) error {
		_, err := tx.CreateModel(promote.Model{Name: "fraud"})
		return err
	})
	if promote.ErrorCode(err) != promote.Conflict || errors.Is(err, promote.ErrUnavailable) {
		t.Errorf("CreateModel(fraud) again = %v, want a Conflict, not ErrUnavailable", err)
	}

	relay.cut()
	for name, op := range map[string]func() error{
		"View": func() error {
			return db.View(t.Context(), func(tx promote.Tx) error { _, err := tx.Models(promote.ModelFilter{}); return err })
		},
		"Update": func() error {
			return db.Update(t.Context(), func(tx promote.Tx) error { _, err := tx.CreateModel(promote.Model{Name: "churn"}); return err })
		},
		"ScanAudit": func() error {
			return db.ScanAudit(t.Context(), 0, func(promote.AuditRecord) error { return nil })
		},
		"AuditHead": func() error { _, _, err := db.AuditHead(t.Context()); return err },
		"Ping":      func() error { return db.Ping(t.Context()) },
	} {
		if err := op(); !errors.Is(err, promote.ErrUnavailable) {
			t.Errorf("%s with the database cut off = %v, want ErrUnavailable", name, err)
		}
	}
}

// TestHungDatabase: when the server stops answering in the middle of a
// transaction, the store's call returns when its context ends, not when
// the server answers again: the statements the transaction used for the
// first time are not prepared then without a deadline.
func TestHungDatabase(t *testing.T) {
	db, relay := throughRelay(t)
	endsAtDeadline(t, relay, "View with the server hung", func(ctx context.Context) error {
		return db.View(ctx, func(tx promote.Tx) error {
			// A query the store has not prepared yet, then the hang.
			if _, err := tx.Models(promote.ModelFilter{}); err != nil {
				return err
			}
			relay.freeze()
			_, err := tx.Models(promote.ModelFilter{})
			return err
		})
	})
}

// TestHungPing: Ping, the readiness check, returns when its context ends
// while the server does not answer, so that /readyz answers 503 within its
// timeout.
func TestHungPing(t *testing.T) {
	db, relay := throughRelay(t)
	if err := db.Ping(t.Context()); err != nil {
		t.Fatalf("Ping = %v, want nil", err)
	}
	relay.freeze()
	endsAtDeadline(t, relay, "Ping with the server hung", db.Ping)
}

// endsAtDeadline checks that call, given a context with a deadline of 1s,
// returns the deadline's error when it passes rather than when relay thaws.
func endsAtDeadline(t *testing.T, relay *relay, what string, call func(ctx context.Context) error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- call(ctx) }()
	select {
	case err := <-done:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%s = %v, want the context's deadline", what, err)
		}
	case <-time.After(15 * time.Second):
		relay.thaw()
		<-done
		t.Fatalf("%s returned only when the server answered again, 15s after its context's deadline of 1s", what)
	}
}

// TestIndexedLists checks the plans PostgreSQL makes for the lists that
// controllers and the pipeline page read at every turn: each reads its
// index, not the whole table.
func TestIndexedLists(t *testing.T) {
	store, raw := openRaw(t)
	storetest.RunIndexedLists(t, store.(*sqlstore.DB).ListQuery, func(t *testing.T, query string, args ...any) string {
		return explain(t, raw, query, args...)
	})
}

// TestLiveChangesSeekNext checks that the change after each live change is
// sought in live_history_newest past the change's (set_at, n), an index
// condition, rather than found by a filter that reads the alias's history
// from its start for every change listed.
func TestLiveChangesSeekNext(t *testing.T) {
	store, raw := openRaw(t)
	q, args, err := store.(*sqlstore.DB).ListQuery(storetest.LiveChangesOfVersion)
	if err != nil {
		t.Fatal(err)
	}
	plan := explain(t, raw, q, args...)
	var seeks bool
	for line := range strings.Lines(plan) {
		if strings.Contains(line, "Filter:") && strings.Contains(line, "set_at") {
			t.Errorf("plan of %q filters on set_at rather than seeking it:\n%s", q, plan)
		}
		seeks = seeks || strings.Contains(line, "Index Cond:") && strings.Contains(line, "set_at")
	}
	if !seeks {
		t.Errorf("plan of %q seeks no set_at in an index:\n%s", q, plan)
	}
}

// explain returns PostgreSQL's plan of query, a line a row, made as for
// a table too large to scan.
func explain(t *testing.T, raw *sql.DB, query string, args ...any) string {
	t.Helper()
	tx, err := raw.BeginTx(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	// An empty table is cheapest to scan: the plan shows which index
	// serves the list when the table is not.
	if _, err := tx.ExecContext(t.Context(), "SET LOCAL enable_seqscan = off"); err != nil {
		t.Fatal(err)
	}
	rows, err := tx.QueryContext(t.Context(), "EXPLAIN "+query, args...)
	if err != nil {
		t.Fatalf("EXPLAIN %s: %v", query, err)
	}
	defer rows.Close()
	var plan strings.Builder
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintln(&plan, line)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return plan.String()
}
